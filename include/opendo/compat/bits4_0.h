// <bits4_0.h> for ported Windows code: IBackgroundCopyFile4 (GetPeerDownloadStats), declared in
// bits.h with the rest of BITS. Its IBitsTokenOptions (helper tokens) has no Linux meaning and is
// not declared.
#pragma once

#include "bits.h"
