// OpenSSL's libcrypto, opened at its first use rather than linked: its symbol tables and
// relocations alone are 1.4 MiB of an idle daemon's memory, and an idle daemon hashes,
// encodes and checks nothing (issue 6, case 6: footprint). The prototypes are OpenSSL's own
// (decltype of each function, which needs no libcrypto to build), so every call is checked by
// the compiler as a direct call would be. Modules that link libcrypto (libcurl's, libtorrent's)
// share the same loaded copy.
#pragma once

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

namespace opendo {

// Every libcrypto function opendo's daemon-side code calls outside the modules.
#define OPENDO_LIBCRYPTO_FUNCTIONS(X) \
  X(BIO_ctrl)                         \
  X(BIO_free)                         \
  X(BIO_new)                          \
  X(BIO_new_mem_buf)                  \
  X(BIO_s_mem)                        \
  X(CRYPTO_memcmp)                    \
  X(ERR_clear_error)                  \
  X(EVP_DecodeBlock)                  \
  X(EVP_DigestFinal_ex)               \
  X(EVP_DigestInit_ex)                \
  X(EVP_DigestUpdate)                 \
  X(EVP_EncodeBlock)                  \
  X(EVP_MD_CTX_free)                  \
  X(EVP_MD_CTX_new)                   \
  X(EVP_PKEY_free)                    \
  X(EVP_get_digestbyname)             \
  X(PEM_read_bio_PrivateKey)          \
  X(PEM_read_bio_X509)                \
  X(PEM_write_bio_PrivateKey)         \
  X(PEM_write_bio_X509)               \
  X(RAND_bytes)                       \
  X(X509_check_private_key)           \
  X(X509_free)

struct libcrypto_functions {
// `name` names a function and a member: it cannot be parenthesised.
#define OPENDO_LIBCRYPTO_POINTER(name) \
  decltype(&::name) name = nullptr;  // NOLINT(bugprone-macro-parentheses)
  OPENDO_LIBCRYPTO_FUNCTIONS(OPENDO_LIBCRYPTO_POINTER)
#undef OPENDO_LIBCRYPTO_POINTER
};

// libcrypto's functions, opened (dlopen of its soname, the library the build compiled against)
// at the first call; thread-safe. Throws std::runtime_error naming what is missing when it
// cannot be opened or lacks a function.
const libcrypto_functions& libcrypto();

}  // namespace opendo
