#include "pki/pki.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace writegate::pki {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

Error openssl_error(const std::string& what) {
  char buf[256] = "unknown error";
  if (const unsigned long code = ERR_get_error()) ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  return Error::internal(what + ": " + buf);
}

Result<PkeyPtr> new_key() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return openssl_error("generating an EC key");
  return key;
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

Result<Certificate> to_pem(X509* cert, EVP_PKEY* key) {
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio || !PEM_write_bio_X509(cert_bio.get(), cert) ||
      !PEM_write_bio_PrivateKey(key_bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return openssl_error("writing PEM");
  }
  return Certificate{bio_string(cert_bio.get()), bio_string(key_bio.get())};
}

Status add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return openssl_error("making extension " + value);
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (!ok) return openssl_error("adding extension");
  return {};
}

// An unsigned certificate for `key`, issued by `issuer` (or self-issued when null).
Result<X509Ptr> make_cert(EVP_PKEY* key, const std::string& common_name, X509* issuer) {
  X509Ptr cert(X509_new());
  if (!cert) return openssl_error("X509_new");
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("writegate"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  return cert;
}

}  // namespace

Result<CertificateAuthority> CertificateAuthority::create(const std::string& common_name) {
  WG_ASSIGN_OR_RETURN(PkeyPtr key, new_key());
  WG_ASSIGN_OR_RETURN(X509Ptr cert, make_cert(key.get(), common_name, nullptr));
  WG_RETURN_IF_ERROR(
      add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE"));
  WG_RETURN_IF_ERROR(
      add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  WG_RETURN_IF_ERROR(add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (!X509_sign(cert.get(), key.get(), EVP_sha256())) return openssl_error("signing the CA");
  WG_ASSIGN_OR_RETURN(Certificate pem, to_pem(cert.get(), key.get()));
  return CertificateAuthority(std::move(pem));
}

Result<CertificateAuthority> CertificateAuthority::load(const Certificate& ca) {
  BioPtr bio(BIO_new_mem_buf(ca.cert_pem.data(), static_cast<int>(ca.cert_pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return openssl_error("reading the CA certificate");
  return CertificateAuthority(ca);
}

Result<Certificate> CertificateAuthority::issue_server(
    const std::vector<std::string>& dns_names, const std::vector<std::string>& ip_addresses) const {
  if (dns_names.empty() && ip_addresses.empty()) {
    return Error::invalid_argument("a server certificate needs at least one name or address");
  }
  BioPtr cert_bio(BIO_new_mem_buf(ca_.cert_pem.data(), static_cast<int>(ca_.cert_pem.size())));
  X509Ptr ca_cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  BioPtr key_bio(BIO_new_mem_buf(ca_.key_pem.data(), static_cast<int>(ca_.key_pem.size())));
  PkeyPtr ca_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!ca_cert || !ca_key) return openssl_error("reading the CA");

  WG_ASSIGN_OR_RETURN(PkeyPtr key, new_key());
  const std::string cn = dns_names.empty() ? ip_addresses.front() : dns_names.front();
  WG_ASSIGN_OR_RETURN(X509Ptr cert, make_cert(key.get(), cn, ca_cert.get()));
  std::string san;
  for (const auto& dns : dns_names)
    san += (san.empty() ? "DNS:" : ",DNS:") + dns;
  for (const auto& ip : ip_addresses)
    san += (san.empty() ? "IP:" : ",IP:") + ip;
  WG_RETURN_IF_ERROR(add_extension(cert.get(), ca_cert.get(), NID_subject_alt_name, san));
  WG_RETURN_IF_ERROR(
      add_extension(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  WG_RETURN_IF_ERROR(
      add_extension(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature"));
  WG_RETURN_IF_ERROR(add_extension(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth"));
  WG_RETURN_IF_ERROR(
      add_extension(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always"));
  if (!X509_sign(cert.get(), ca_key.get(), EVP_sha256())) return openssl_error("signing");
  return to_pem(cert.get(), key.get());
}

Status write_file(const std::string& path, const std::string& contents, unsigned mode) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Error::io("cannot write " + tmp + ": " + std::strerror(errno));
  ::fchmod(fd, mode);
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return Error::io("cannot write " + tmp + ": " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return Error::io("cannot write " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Error::io("cannot rename " + tmp + ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace writegate::pki
