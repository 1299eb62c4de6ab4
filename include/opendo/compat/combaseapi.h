// <combaseapi.h> for ported Windows code. CoInitializeEx, CoCreateInstance and CoTaskMem* live in
// the COM shim, objbase.h; this name resolves when include/opendo/compat is on the include path.
#pragma once

#include "objbase.h"
