// <bits1_5.h> for ported Windows code: IBackgroundCopyJob2, declared in bits.h with the rest
// of BITS. Only the versioned BITS headers whose interfaces opendo declares exist.
#pragma once

#include "bits.h"
