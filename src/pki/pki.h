// A small certificate authority for local TLS: the test harness, the local stack's PostgreSQL
// and writegate-proxy get real certificates from it, and clients verify them (verify-full).
//
//   auto ca = writegate::pki::CertificateAuthority::create("writegate local CA");
//   auto server = ca->issue_server({"localhost", "aurora-write-proxy.local"}, {"127.0.0.1"});
//   write_pem_files(*server, "server.crt", "server.key");   // key file mode 0600
//
// Keys are ECDSA P-256; certificates are X.509 v3 with SubjectAltName and a 1-year lifetime.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace writegate::pki {

struct Certificate {
  std::string cert_pem;
  std::string key_pem;  // secret: written with mode 0600, never logged
};

class CertificateAuthority {
 public:
  static Result<CertificateAuthority> create(const std::string& common_name);
  static Result<CertificateAuthority> load(const Certificate& ca);

  // A server certificate valid for these DNS names and IP addresses (first DNS name is the CN).
  Result<Certificate> issue_server(const std::vector<std::string>& dns_names,
                                   const std::vector<std::string>& ip_addresses) const;

  const Certificate& certificate() const { return ca_; }

 private:
  explicit CertificateAuthority(Certificate ca) : ca_(std::move(ca)) {}
  Certificate ca_;
};

// Writes a file atomically with the given mode (0600 for keys).
Status write_file(const std::string& path, const std::string& contents, unsigned mode);

}  // namespace writegate::pki
