// <winhttp.h> for ported Windows code: only the SECURITY_FLAG_IGNORE_* values that Delivery
// Optimization's SecurityFlags property takes (DODownloadProperty_SecurityFlags). opendo has no
// WinHTTP API.
#pragma once

#define SECURITY_FLAG_IGNORE_UNKNOWN_CA 0x00000100
#define SECURITY_FLAG_IGNORE_CERT_WRONG_USAGE 0x00000200
#define SECURITY_FLAG_IGNORE_CERT_CN_INVALID 0x00001000
#define SECURITY_FLAG_IGNORE_CERT_DATE_INVALID 0x00002000
