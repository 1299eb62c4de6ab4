// <windows.h> for code ported from Windows: the COM shim (objbase.h) and the memory macros that
// Windows samples use with it. Nothing else of the Win32 API is provided.
#pragma once

#include <cstring>

#include "objbase.h"

#define ZeroMemory(destination, length) std::memset((destination), 0, (length))
#define FillMemory(destination, length, fill) std::memset((destination), (fill), (length))
#define CopyMemory(destination, source, length) std::memcpy((destination), (source), (length))
#define MoveMemory(destination, source, length) std::memmove((destination), (source), (length))
#define ARRAYSIZE(array) (sizeof(array) / sizeof((array)[0]))
