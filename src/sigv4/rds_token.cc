#include "sigv4/rds_token.h"

#include <algorithm>

#include "sigv4/crypto.h"

namespace writegate::sigv4 {
namespace {

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool valid_host(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  if (host.front() == '[') {  // IPv6 literal
    if (host.size() < 3 || host.back() != ']') return false;
    return std::all_of(host.begin() + 1, host.end() - 1, [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
             c == ':' || c == '.';
    });
  }
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '-' || c == '_';
  });
}

// The canonical request of a token: GET / with the sorted auth query, host signed, empty body.
// The query is sorted by encoded name: Action < DBUser < X-Amz-Algorithm < -Credential < -Date
// < -Expires < -Security-Token < -SignedHeaders.
std::string token_canonical_request(std::string_view signed_host, std::string_view user,
                                    std::string_view access_key_id, std::string_view scope,
                                    std::string_view amz_date, std::string_view expires,
                                    const std::string* security_token) {
  std::string c;
  c.reserve(400 + (security_token ? security_token->size() * 3 / 2 : 0));
  c.append("GET\n/\nAction=connect&DBUser=");
  append_uri_encoded(c, user);
  c.append("&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
  append_uri_encoded(c, access_key_id);
  c.append("%2F");
  append_uri_encoded(c, scope);
  c.append("&X-Amz-Date=");
  append_uri_encoded(c, amz_date);
  c.append("&X-Amz-Expires=");
  append_uri_encoded(c, expires);
  if (security_token != nullptr) {
    c.append("&X-Amz-Security-Token=");
    append_uri_encoded(c, *security_token);
  }
  c.append("&X-Amz-SignedHeaders=host\nhost:");
  c.append(signed_host);
  c.append("\n\nhost\n");
  c.append(kEmptyPayloadHash);
  return c;
}

}  // namespace

std::string rds_signed_host(std::string_view host, std::uint16_t port) {
  std::string out;
  out.reserve(host.size() + 6);
  for (char c : host)
    out.push_back(ascii_lower(c));
  if (port != 443) out.append(":").append(std::to_string(port));
  return out;
}

Result<std::string> generate_rds_token(const RdsTokenRequest& request,
                                       const Credentials& credentials, TimePoint now,
                                       SigningKeyCache* cache) {
  if (!valid_host(request.hostname)) {
    return Error::invalid_argument("hostname '" + request.hostname.substr(0, 64) +
                                   "' is not a DNS name or [IPv6] address");
  }
  if (request.port == 0) return Error::invalid_argument("port must be 1..65535");
  if (request.username.empty()) return Error::invalid_argument("the database user is empty");
  if (request.region.empty() || request.region.find('/') != std::string::npos) {
    return Error::invalid_argument("the region is empty or contains '/'");
  }
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return Error::invalid_argument("credentials need an access key id and a secret access key");
  }
  if (credentials.access_key_id.find('/') != std::string::npos) {
    return Error::invalid_argument("access key id must not contain '/'");
  }
  const std::string amz_date = format_amz_date(now);
  const std::string_view date = std::string_view(amz_date).substr(0, 8);
  const std::string scope = credential_scope(date, request.region, kRdsService);
  const std::string expires = std::to_string(kRdsTokenLifetime.count());
  const std::string* token =
      credentials.session_token.empty() ? nullptr : &credentials.session_token;
  std::string creq =
      token_canonical_request(rds_signed_host(request.hostname, request.port), request.username,
                              credentials.access_key_id, scope, amz_date, expires, token);
  SigningKey key =
      cache != nullptr
          ? cache->get(credentials.secret_access_key, date, request.region, kRdsService)
          : derive_signing_key(credentials.secret_access_key, date, request.region, kRdsService);
  std::string signature = compute_signature(key, build_string_to_sign(amz_date, scope, creq));

  // botocore's order: the operation's params, then the auth params, the signature last.
  std::string out;
  out.reserve(creq.size() + 64);
  out.append(request.hostname).append(":").append(std::to_string(request.port));
  out.append("/?Action=connect&DBUser=");
  append_uri_encoded(out, request.username);
  out.append("&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
  append_uri_encoded(out, credentials.access_key_id);
  out.append("%2F");
  append_uri_encoded(out, scope);
  out.append("&X-Amz-Date=").append(amz_date);
  out.append("&X-Amz-Expires=").append(expires);
  out.append("&X-Amz-SignedHeaders=host");
  if (token != nullptr) {
    out.append("&X-Amz-Security-Token=");
    append_uri_encoded(out, *token);
  }
  out.append("&X-Amz-Signature=").append(signature);
  return out;
}

AuthResult<ParsedRdsToken> parse_rds_token(std::string_view token) {
  if (token.size() > kMaxRdsTokenSize) {
    return reject(AuthFailure::kTooLarge, "the token is " + std::to_string(token.size()) +
                                              " bytes, over the limit of " +
                                              std::to_string(kMaxRdsTokenSize));
  }
  if (token.empty()) return reject(AuthFailure::kMalformed, "the token is empty");
  std::size_t slash = token.find('/');
  if (slash == std::string_view::npos || slash + 1 >= token.size() || token[slash + 1] != '?') {
    return reject(AuthFailure::kMalformed, "the token is not of the form host:port/?query");
  }
  std::string_view authority = token.substr(0, slash);
  std::size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos ||
      (authority.front() == '[' && authority[colon - 1] != ']')) {
    return reject(AuthFailure::kBadPort, "the token's host has no :port");
  }
  std::string_view host = authority.substr(0, colon);
  std::string_view port_text = authority.substr(colon + 1);
  if (!valid_host(host)) {
    return reject(AuthFailure::kMalformed, "the token's host is not a DNS name or [IPv6] address");
  }
  if (!is_digits(port_text) || port_text.size() > 5) {
    return reject(AuthFailure::kBadPort, "the token's port is not a number");
  }
  int port = std::stoi(std::string(port_text));
  if (port < 1 || port > 65535) {
    return reject(AuthFailure::kBadPort,
                  "the token's port " + std::to_string(port) + " is not in 1..65535");
  }

  auto params = parse_query(token.substr(slash + 2));
  if (!params) return reject(AuthFailure::kMalformed, params.error().message());

  ParsedRdsToken out;
  out.host = std::string(host);
  out.port = static_cast<std::uint16_t>(port);
  std::optional<std::string_view> action, user, algorithm, credential, date, expires,
      signed_headers, security_token, signature;
  for (const QueryParam& p : *params) {
    std::optional<std::string_view>* slot = nullptr;
    if (p.name == "Action")
      slot = &action;
    else if (p.name == "DBUser")
      slot = &user;
    else if (p.name == "X-Amz-Algorithm")
      slot = &algorithm;
    else if (p.name == "X-Amz-Credential")
      slot = &credential;
    else if (p.name == "X-Amz-Date")
      slot = &date;
    else if (p.name == "X-Amz-Expires")
      slot = &expires;
    else if (p.name == "X-Amz-SignedHeaders")
      slot = &signed_headers;
    else if (p.name == "X-Amz-Security-Token")
      slot = &security_token;
    else if (p.name == "X-Amz-Signature")
      slot = &signature;
    if (slot == nullptr) {
      return reject(AuthFailure::kMalformed, "the token has an unexpected parameter '" +
                                                 uri_encode(p.name.substr(0, 40)) + "'");
    }
    if (slot->has_value()) {
      return reject(AuthFailure::kMalformed, "the token has parameter " + p.name + " twice");
    }
    *slot = p.value;
  }
  struct Required {
    const char* name;
    const std::optional<std::string_view>& value;
  };
  for (const Required& r :
       {Required{"Action", action}, Required{"DBUser", user},
        Required{"X-Amz-Algorithm", algorithm}, Required{"X-Amz-Credential", credential},
        Required{"X-Amz-Date", date}, Required{"X-Amz-Expires", expires},
        Required{"X-Amz-SignedHeaders", signed_headers}, Required{"X-Amz-Signature", signature}}) {
    if (!r.value) {
      return reject(AuthFailure::kMalformed,
                    std::string("the token has no ") + r.name + " parameter");
    }
  }
  if (*action != "connect") {
    return reject(AuthFailure::kMalformed, "the token's Action is not 'connect'");
  }
  if (user->empty()) return reject(AuthFailure::kMalformed, "the token's DBUser is empty");
  if (*algorithm != kAlgorithm) {
    return reject(AuthFailure::kUnsupportedAlgorithm,
                  "the token's X-Amz-Algorithm is not AWS4-HMAC-SHA256");
  }
  // ACCESS_KEY_ID/yyyymmdd/region/rds-db/aws4_request
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    std::size_t s = credential->find('/', start);
    parts.push_back(credential->substr(start, s == std::string_view::npos ? s : s - start));
    if (s == std::string_view::npos) break;
    start = s + 1;
  }
  if (parts.size() != 5 || parts[4] != "aws4_request" ||
      std::any_of(parts.begin(), parts.end(), [](std::string_view p) { return p.empty(); })) {
    return reject(AuthFailure::kMalformed,
                  "the token's X-Amz-Credential is not KEY/yyyymmdd/region/rds-db/aws4_request");
  }
  if (parts[3] != kRdsService) {
    return reject(AuthFailure::kWrongService, "the token is signed for service '" +
                                                  std::string(parts[3].substr(0, 40)) +
                                                  "', not rds-db");
  }
  auto issued = parse_amz_date(*date);
  if (!issued)
    return reject(AuthFailure::kBadDate, "the token's X-Amz-Date: " + issued.error().message());
  if (date->substr(0, 8) != parts[1]) {
    return reject(AuthFailure::kBadDate,
                  "the token's credential date is not the date of its X-Amz-Date");
  }
  if (!is_digits(*expires) || expires->size() > 9) {
    return reject(AuthFailure::kMalformed, "the token's X-Amz-Expires is not a number");
  }
  long lifetime = std::stol(std::string(*expires));
  if (lifetime < 1) return reject(AuthFailure::kMalformed, "the token's X-Amz-Expires is 0");
  if (lifetime > kRdsTokenLifetime.count()) {
    return reject(
        AuthFailure::kExpiresTooLong,
        "the token's X-Amz-Expires " + std::to_string(lifetime) + " is above 900 seconds");
  }
  if (*signed_headers != "host") {
    return reject(AuthFailure::kMalformed, "the token's X-Amz-SignedHeaders is not 'host'");
  }
  if (signature->size() != 64 || !std::all_of(signature->begin(), signature->end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return reject(AuthFailure::kMalformed, "the token's X-Amz-Signature is not 64 hex digits");
  }
  if (security_token && security_token->empty()) {
    return reject(AuthFailure::kMalformed, "the token's X-Amz-Security-Token is empty");
  }
  out.db_user = std::string(*user);
  out.access_key_id = std::string(parts[0]);
  out.scope_date = std::string(parts[1]);
  out.region = std::string(parts[2]);
  out.amz_date = std::string(*date);
  out.issued = *issued;
  out.expires = std::chrono::seconds(lifetime);
  if (security_token) out.security_token = std::string(*security_token);
  out.signature = std::string(*signature);
  out.params = std::move(*params);
  return out;
}

AuthResult<RdsTokenClaims> verify_rds_token(std::string_view token, std::string_view login_user,
                                            const KeyResolver& keys,
                                            const RdsVerifyOptions& options, TimePoint now,
                                            SigningKeyCache* cache) {
  auto parsed = parse_rds_token(token);
  if (!parsed) return std::move(parsed).rejection();
  const ParsedRdsToken& t = *parsed;
  if (t.region != options.region) {
    return reject(AuthFailure::kWrongRegion, "the token is signed for region '" +
                                                 t.region.substr(0, 40) +
                                                 "', this endpoint is in " + options.region);
  }
  const bool known_host = std::any_of(options.endpoint_hosts.begin(), options.endpoint_hosts.end(),
                                      [&](const std::string& h) { return iequals(h, t.host); });
  if (!known_host || t.port != options.port) {
    return reject(AuthFailure::kWrongEndpoint, "the token is for " + t.host.substr(0, 80) + ":" +
                                                   std::to_string(t.port) +
                                                   ", not for this endpoint");
  }
  if (t.db_user != login_user) {
    return reject(AuthFailure::kWrongUser, "the token's DBUser is not the user logging in");
  }
  if (t.issued > now + options.max_future) {
    return reject(AuthFailure::kNotYetValid, "the token is dated " + t.amz_date + ", more than " +
                                                 std::to_string(options.max_future.count()) +
                                                 " s in the future");
  }
  if (now > t.issued + t.expires) {
    return reject(AuthFailure::kExpired, "the token signed at " + t.amz_date + " expired after " +
                                             std::to_string(t.expires.count()) + " s");
  }
  auto key = keys.resolve(t.access_key_id, now);
  if (!key) {
    return reject(AuthFailure::kUnknownKey, "access key " + t.access_key_id.substr(0, 32) +
                                                " is not known: " + key.error().message());
  }
  if (key->expires && *key->expires <= now) {
    return reject(AuthFailure::kSessionExpired,
                  "the session of access key " + t.access_key_id + " has expired");
  }
  if (key->session_token) {
    if (!t.security_token) {
      return reject(AuthFailure::kBadSecurityToken,
                    "the token was made with temporary credentials but has no "
                    "X-Amz-Security-Token");
    }
    if (!detail::constant_time_equal(*t.security_token, *key->session_token)) {
      return reject(AuthFailure::kBadSecurityToken,
                    "the token's X-Amz-Security-Token is not the session's");
    }
  } else if (t.security_token) {
    return reject(AuthFailure::kBadSecurityToken,
                  "the token has an X-Amz-Security-Token but its key is a long-term key");
  }
  const std::string scope = credential_scope(t.scope_date, t.region, kRdsService);
  const std::string expires = std::to_string(t.expires.count());
  const std::string creq =
      token_canonical_request(rds_signed_host(t.host, t.port), t.db_user, t.access_key_id, scope,
                              t.amz_date, expires, t.security_token ? &*t.security_token : nullptr);
  SigningKey signing =
      cache != nullptr
          ? cache->get(key->secret_access_key, t.scope_date, t.region, kRdsService)
          : derive_signing_key(key->secret_access_key, t.scope_date, t.region, kRdsService);
  std::string expected = compute_signature(signing, build_string_to_sign(t.amz_date, scope, creq));
  if (!detail::constant_time_equal(expected, t.signature)) {
    return reject(AuthFailure::kBadSignature,
                  "the token's signature does not match (wrong secret, or the token was changed)");
  }
  RdsTokenClaims c;
  c.principal_arn = key->principal_arn;
  c.access_key_id = t.access_key_id;
  c.host = t.host;
  c.port = t.port;
  c.db_user = t.db_user;
  c.region = t.region;
  c.issued = t.issued;
  c.expires = t.issued + t.expires;
  c.session = key->session_token.has_value();
  return c;
}

}  // namespace writegate::sigv4
