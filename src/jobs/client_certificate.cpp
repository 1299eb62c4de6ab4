// A job's TLS client certificate; see client_certificate.hpp.
#include "jobs/client_certificate.hpp"

#include <memory>
#include <vector>

#include "common/libcrypto.hpp"

namespace opendo::jobs {
namespace {

constexpr std::uint32_t kInvalidArg = 0x80070057;

using bio_ptr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using x509_ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

client_certificate_check invalid(std::string message) {
  return {kInvalidArg, "the client certificate: " + std::move(message)};
}

// OpenSSL's default would ask on the terminal for an encrypted key's pass phrase.
int no_pass_phrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) {
  return -1;
}

bio_ptr memory_bio(std::string_view text) {
  return bio_ptr(libcrypto().BIO_new_mem_buf(text.data(), static_cast<int>(text.size())),
                 libcrypto().BIO_free);
}

// Every certificate of the text, in order.
std::vector<x509_ptr> read_certificates(std::string_view text) {
  std::vector<x509_ptr> out;
  bio_ptr bio = memory_bio(text);
  if (!bio) return out;
  for (;;) {
    X509* cert = libcrypto().PEM_read_bio_X509(bio.get(), nullptr, &no_pass_phrase, nullptr);
    if (cert == nullptr) break;
    out.emplace_back(cert, libcrypto().X509_free);
  }
  libcrypto().ERR_clear_error();  // the end of the text reads as an error
  return out;
}

pkey_ptr read_key(std::string_view text, bool& encrypted) {
  encrypted = text.find("ENCRYPTED") != std::string_view::npos;
  bio_ptr bio = memory_bio(text);
  pkey_ptr key(
      bio ? libcrypto().PEM_read_bio_PrivateKey(bio.get(), nullptr, &no_pass_phrase, nullptr)
          : nullptr,
      libcrypto().EVP_PKEY_free);
  libcrypto().ERR_clear_error();
  return key;
}

std::string pem_of(const std::vector<x509_ptr>& certs) {
  bio_ptr bio(libcrypto().BIO_new(libcrypto().BIO_s_mem()), libcrypto().BIO_free);
  for (const auto& c : certs) {
    if (!bio || libcrypto().PEM_write_bio_X509(bio.get(), c.get()) != 1) return {};
  }
  char* data = nullptr;
  const long size =
      libcrypto().BIO_ctrl(bio.get(), BIO_CTRL_INFO, 0, reinterpret_cast<char*>(&data));
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::string pem_of(EVP_PKEY* key) {
  bio_ptr bio(libcrypto().BIO_new(libcrypto().BIO_s_mem()), libcrypto().BIO_free);
  if (!bio || libcrypto().PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                                                   nullptr) != 1) {
    return {};
  }
  char* data = nullptr;
  const long size =
      libcrypto().BIO_ctrl(bio.get(), BIO_CTRL_INFO, 0, reinterpret_cast<char*>(&data));
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::string too_large(std::size_t size) {
  return "the PEM text is " + std::to_string(size) + " bytes; at most " +
         std::to_string(max_client_certificate_size) + " are accepted";
}

// The certificates and key of a text (or two), checked: at least one certificate, a key, and
// the first certificate's public key is the key's.
client_certificate_check read_checked(std::string_view cert_text, std::string_view key_text,
                                      std::vector<x509_ptr>& certs, pkey_ptr& key) {
  for (const std::string_view text : {cert_text, key_text}) {
    if (text.size() > max_client_certificate_size) return invalid(too_large(text.size()));
  }
  certs = read_certificates(cert_text);
  if (certs.empty()) return invalid("no PEM certificate (BEGIN CERTIFICATE) was found");
  bool encrypted = false;
  key = read_key(key_text, encrypted);
  if (!key) {
    return invalid(encrypted ? "the private key is encrypted; give it unencrypted"
                             : "no PEM private key (BEGIN PRIVATE KEY) was found");
  }
  const int matches = libcrypto().X509_check_private_key(certs.front().get(), key.get());
  libcrypto().ERR_clear_error();
  if (matches != 1) return invalid("the private key does not belong to the certificate");
  return {};
}

}  // namespace

client_certificate_check parse_client_certificate(std::string_view pem,
                                                  client_certificate_pem& out) {
  std::vector<x509_ptr> certs;
  pkey_ptr key(nullptr, libcrypto().EVP_PKEY_free);
  client_certificate_check checked = read_checked(pem, pem, certs, key);
  if (!checked.ok()) return checked;
  client_certificate_pem result{pem_of(certs), pem_of(key.get())};
  if (result.certificate.empty() || result.private_key.empty()) {
    return invalid("OpenSSL could not write it out again");
  }
  out = std::move(result);
  return {};
}

client_certificate_check check_client_certificate(const client_certificate_pem& c) {
  std::vector<x509_ptr> certs;
  pkey_ptr key(nullptr, libcrypto().EVP_PKEY_free);
  return read_checked(c.certificate, c.private_key, certs, key);
}

}  // namespace opendo::jobs
