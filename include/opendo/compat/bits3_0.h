// <bits3_0.h> for ported Windows code: IBackgroundCopyJob4, IBackgroundCopyFile3 and
// IBackgroundCopyCallback2, declared in bits.h with the rest of BITS. Only the versioned BITS
// headers whose interfaces opendo declares exist.
#pragma once

#include "bits.h"
