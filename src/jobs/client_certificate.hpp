// A job's TLS client certificate (DO's DODownloadProperty_SecurityContext): the certificate and
// its private key as PEM text, checked with OpenSSL. Used by the client library (which reads the
// caller's file with the caller's own credentials) and by opendod (which checks what it is sent).
// No I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace opendo::jobs {

// The most a PEM file with a certificate (and its chain) and key may hold, and so the most each
// of the two PEM texts may: larger is E_INVALIDARG.
inline constexpr std::size_t max_client_certificate_size = std::size_t{64} * 1024;

struct client_certificate_pem {
  std::string certificate;  // PEM: the client certificate, then any intermediate certificates
  std::string private_key;  // PEM (PKCS#8, unencrypted): a secret, never logged or returned
  bool empty() const { return certificate.empty() && private_key.empty(); }
  bool operator==(const client_certificate_pem&) const = default;
};

struct client_certificate_check {
  std::uint32_t code = 0;  // S_OK or E_INVALIDARG
  std::string message;     // what is wrong (never the key's text)
  bool ok() const { return code == 0; }
};

// Reads one PEM text holding the certificate (first), any chain certificates, and the private key
// (unencrypted: an encrypted key is refused, there is no one to ask for its pass phrase), in any
// order, and writes them out again as `out` (normalised PEM). Fails when the text is larger than
// max_client_certificate_size, has no certificate or no key, or the key is not the certificate's.
client_certificate_check parse_client_certificate(std::string_view pem,
                                                  client_certificate_pem& out);

// Checks a certificate and key given apart (what opendod is sent): each a PEM text within the
// size limit, the certificate's first one holding the public half of the key.
client_certificate_check check_client_certificate(const client_certificate_pem& c);

}  // namespace opendo::jobs
