// <bits5_0.h> for ported Windows code: IBackgroundCopyJob5 and its properties, declared in bits.h
// with the rest of BITS. Only the versioned BITS headers whose interfaces opendo declares exist.
#pragma once

#include "bits.h"
