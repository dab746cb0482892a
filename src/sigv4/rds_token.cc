#include "sigv4/rds_token.h"

#include <algorithm>
#include <charconv>

#include "common/strings.h"
#include "sigv4/crypto.h"
#include "sigv4/encoding.h"

namespace writegate::sigv4 {
namespace {

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

// Parses a string of at most 9 digits (checked by the caller).
long digits_value(std::string_view s) {
  long v = 0;
  for (char c : s)
    v = v * 10 + (c - '0');
  return v;
}

// "host" lowercased, with ":port" unless the port is 443, in a stack buffer (hosts are checked
// to be at most 255 bytes by valid_host()).
class SignedHost {
 public:
  SignedHost(std::string_view host, std::uint16_t port) {
    std::size_t n = 0;
    for (char c : host)
      buf_[n++] = ascii_lower(c);
    if (port != 443) {
      buf_[n++] = ':';
      n = static_cast<std::size_t>(std::to_chars(buf_ + n, buf_ + sizeof buf_, port).ptr - buf_);
    }
    size_ = n;
  }
  std::string_view view() const { return {buf_, size_}; }

 private:
  char buf_[256 + 6];
  std::size_t size_ = 0;
};

// The token's query sorted by encoded name, as the canonical request has it: Action < DBUser <
// X-Amz-Algorithm < -Credential < -Date < -Expires < -Security-Token < -SignedHeaders. Every
// value is in canonical (uri_encode) form.
struct CanonicalQueryParts {
  std::string_view user;
  std::string_view credential;  // KEY%2Fyyyymmdd%2Fregion%2Frds-db%2Faws4_request
  std::string_view amz_date;
  std::string_view expires;
  std::string_view security_token;  // empty when the token has none
};

// hex(HMAC(key, string to sign)) of a token, hashing the canonical request from its pieces
// without assembling it.
void token_signature(const SigningKey& key, std::string_view signed_host,
                     const CanonicalQueryParts& q, std::string_view scope_date,
                     std::string_view region, char (&hex)[64]) {
  const std::string_view creq[] = {
      "GET\n/\nAction=connect&DBUser=",
      q.user,
      "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=",
      q.credential,
      "&X-Amz-Date=",
      q.amz_date,
      "&X-Amz-Expires=",
      q.expires,
      q.security_token.empty() ? std::string_view() : "&X-Amz-Security-Token=",
      q.security_token,
      "&X-Amz-SignedHeaders=host\nhost:",
      signed_host,
      "\n\nhost\n",
      kEmptyPayloadHash,
  };
  char creq_hex[64];
  detail::Digest creq_hash = detail::sha256(creq);
  static constexpr char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < creq_hash.size(); ++i) {
    creq_hex[2 * i] = kDigits[creq_hash[i] >> 4];
    creq_hex[2 * i + 1] = kDigits[creq_hash[i] & 0xf];
  }
  const std::string_view string_to_sign[] = {"AWS4-HMAC-SHA256\n",
                                             q.amz_date,
                                             "\n",
                                             scope_date,
                                             "/",
                                             region,
                                             "/rds-db/aws4_request\n",
                                             std::string_view(creq_hex, sizeof creq_hex)};
  detail::Digest mac = detail::hmac_sha256(key.bytes, string_to_sign);
  for (std::size_t i = 0; i < mac.size(); ++i) {
    hex[2 * i] = kDigits[mac[i] >> 4];
    hex[2 * i + 1] = kDigits[mac[i] & 0xf];
  }
}

SigningKey rds_signing_key(SigningKeyCache* cache, std::string_view secret, std::string_view date,
                           std::string_view region) {
  return cache != nullptr ? cache->get(secret, date, region, kRdsService)
                          : derive_signing_key(secret, date, region, kRdsService);
}

// A token taken apart by parse_token(), borrowing from the token text: values without escapes
// are views of it, the others are decoded into the DecodedText members. Not movable.
struct TokenParts {
  std::string_view query;  // what follows "/?"
  std::string_view host;
  std::uint16_t port = 0;
  // The parameters as written (still percent-encoded).
  std::optional<std::string_view> action, user, algorithm, credential, date, expires,
      signed_headers, security_token, signature;
  detail::DecodedText db_user;
  detail::DecodedText credential_text;
  std::string_view access_key_id, scope_date, region;
  detail::DecodedText amz_date;
  TimePoint issued;
  long lifetime = 0;
  detail::DecodedText signature_text;
};

// The strict parse behind parse_rds_token() and verify_rds_token(): nullopt when the token is
// well formed.
std::optional<Rejection> parse_token(std::string_view token, TokenParts& t) {
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
  long port = digits_value(port_text);
  if (port < 1 || port > 65535) {
    return reject(AuthFailure::kBadPort,
                  "the token's port " + std::to_string(port) + " is not in 1..65535");
  }
  t.host = host;
  t.port = static_cast<std::uint16_t>(port);

  // The query, split as parse_query() splits it; its error messages for a bad escape.
  t.query = token.substr(slash + 2);
  std::string_view query = t.query;
  if (!query.empty() && query.front() == '?') query.remove_prefix(1);
  if (!detail::has_valid_escapes(query)) {
    auto params = parse_query(t.query);
    return reject(AuthFailure::kMalformed,
                  params.ok() ? "the token has a '%' not followed by two hex digits"
                              : params.error().message());
  }
  for (std::size_t start = 0; !query.empty();) {
    std::size_t amp = query.find('&', start);
    std::string_view pair = query.substr(start, amp == std::string_view::npos ? amp : amp - start);
    std::size_t eq = pair.find('=');
    detail::DecodedText name(pair.substr(0, eq));
    std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    std::string_view n = name.view();
    std::optional<std::string_view>* slot = nullptr;
    if (n == "Action")
      slot = &t.action;
    else if (n == "DBUser")
      slot = &t.user;
    else if (n == "X-Amz-Algorithm")
      slot = &t.algorithm;
    else if (n == "X-Amz-Credential")
      slot = &t.credential;
    else if (n == "X-Amz-Date")
      slot = &t.date;
    else if (n == "X-Amz-Expires")
      slot = &t.expires;
    else if (n == "X-Amz-SignedHeaders")
      slot = &t.signed_headers;
    else if (n == "X-Amz-Security-Token")
      slot = &t.security_token;
    else if (n == "X-Amz-Signature")
      slot = &t.signature;
    if (slot == nullptr) {
      return reject(AuthFailure::kMalformed,
                    "the token has an unexpected parameter '" + uri_encode(n.substr(0, 40)) + "'");
    }
    if (slot->has_value()) {
      return reject(AuthFailure::kMalformed,
                    "the token has parameter " + std::string(n) + " twice");
    }
    *slot = value;
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  struct Required {
    const char* name;
    const std::optional<std::string_view>& value;
  };
  for (const Required& r :
       {Required{"Action", t.action}, Required{"DBUser", t.user},
        Required{"X-Amz-Algorithm", t.algorithm}, Required{"X-Amz-Credential", t.credential},
        Required{"X-Amz-Date", t.date}, Required{"X-Amz-Expires", t.expires},
        Required{"X-Amz-SignedHeaders", t.signed_headers},
        Required{"X-Amz-Signature", t.signature}}) {
    if (!r.value) {
      return reject(AuthFailure::kMalformed,
                    std::string("the token has no ") + r.name + " parameter");
    }
  }
  if (detail::DecodedText action(*t.action); action.view() != "connect") {
    return reject(AuthFailure::kMalformed, "the token's Action is not 'connect'");
  }
  t.db_user.assign(*t.user);
  if (t.db_user.view().empty()) {
    return reject(AuthFailure::kMalformed, "the token's DBUser is empty");
  }
  if (detail::DecodedText algorithm(*t.algorithm); algorithm.view() != kAlgorithm) {
    return reject(AuthFailure::kUnsupportedAlgorithm,
                  "the token's X-Amz-Algorithm is not AWS4-HMAC-SHA256");
  }
  // ACCESS_KEY_ID/yyyymmdd/region/rds-db/aws4_request
  t.credential_text.assign(*t.credential);
  const std::string_view credential = t.credential_text.view();
  std::string_view parts[5];
  std::size_t count = 0;
  bool any_empty = false;
  for (std::size_t start = 0;;) {
    std::size_t s = credential.find('/', start);
    std::string_view part = credential.substr(start, s == std::string_view::npos ? s : s - start);
    any_empty = any_empty || part.empty();
    if (count < 5) parts[count] = part;
    ++count;
    if (s == std::string_view::npos) break;
    start = s + 1;
  }
  if (count != 5 || parts[4] != "aws4_request" || any_empty) {
    return reject(AuthFailure::kMalformed,
                  "the token's X-Amz-Credential is not KEY/yyyymmdd/region/rds-db/aws4_request");
  }
  if (parts[3] != kRdsService) {
    return reject(AuthFailure::kWrongService, "the token is signed for service '" +
                                                  std::string(parts[3].substr(0, 40)) +
                                                  "', not rds-db");
  }
  t.amz_date.assign(*t.date);
  const std::string_view date = t.amz_date.view();
  auto issued = parse_amz_date(date);
  if (!issued)
    return reject(AuthFailure::kBadDate, "the token's X-Amz-Date: " + issued.error().message());
  if (date.substr(0, 8) != parts[1]) {
    return reject(AuthFailure::kBadDate,
                  "the token's credential date is not the date of its X-Amz-Date");
  }
  detail::DecodedText expires(*t.expires);
  if (!is_digits(expires.view()) || expires.view().size() > 9) {
    return reject(AuthFailure::kMalformed, "the token's X-Amz-Expires is not a number");
  }
  long lifetime = digits_value(expires.view());
  if (lifetime < 1) return reject(AuthFailure::kMalformed, "the token's X-Amz-Expires is 0");
  if (lifetime > kRdsTokenLifetime.count()) {
    return reject(
        AuthFailure::kExpiresTooLong,
        "the token's X-Amz-Expires " + std::to_string(lifetime) + " is above 900 seconds");
  }
  if (detail::DecodedText signed_headers(*t.signed_headers); signed_headers.view() != "host") {
    return reject(AuthFailure::kMalformed, "the token's X-Amz-SignedHeaders is not 'host'");
  }
  t.signature_text.assign(*t.signature);
  const std::string_view signature = t.signature_text.view();
  if (signature.size() != 64 || !std::all_of(signature.begin(), signature.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return reject(AuthFailure::kMalformed, "the token's X-Amz-Signature is not 64 hex digits");
  }
  // An escape decodes to one byte, so the decoded token is empty exactly when the raw one is.
  if (t.security_token && t.security_token->empty()) {
    return reject(AuthFailure::kMalformed, "the token's X-Amz-Security-Token is empty");
  }
  t.access_key_id = parts[0];
  t.scope_date = parts[1];
  t.region = parts[2];
  t.issued = *issued;
  t.lifetime = lifetime;
  return std::nullopt;
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
  const std::string_view token = credentials.session_token.reveal();

  // botocore's order: the operation's params, then the auth params, the signature last. Each
  // value is encoded once, here; the canonical request hashes the same text in sorted order.
  std::string out;
  out.reserve(request.hostname.size() + 260 +
              3 * (request.username.size() + token.size() + credentials.access_key_id.size() +
                   request.region.size()));
  out.append(request.hostname).push_back(':');
  char port[8];
  out.append(port, std::to_chars(port, port + sizeof port, request.port).ptr);
  out.append("/?Action=connect&DBUser=");
  const std::size_t user_at = out.size();
  append_uri_encoded(out, request.username);
  const std::size_t user_end = out.size();
  out.append("&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
  const std::size_t credential_at = out.size();
  append_uri_encoded(out, credentials.access_key_id);
  out.append("%2F").append(date).append("%2F");
  append_uri_encoded(out, request.region);
  out.append("%2Frds-db%2Faws4_request");
  const std::size_t credential_end = out.size();
  out.append("&X-Amz-Date=").append(amz_date);
  out.append("&X-Amz-Expires=900&X-Amz-SignedHeaders=host");
  std::size_t token_at = out.size();
  if (!token.empty()) {
    out.append("&X-Amz-Security-Token=");
    token_at = out.size();
    append_uri_encoded(out, token);
  }
  const std::size_t token_end = out.size();
  static_assert(kRdsTokenLifetime.count() == 900);

  const std::string_view text = out;
  CanonicalQueryParts q{
      .user = text.substr(user_at, user_end - user_at),
      .credential = text.substr(credential_at, credential_end - credential_at),
      .amz_date = amz_date,
      .expires = "900",
      .security_token = text.substr(token_at, token_end - token_at),
  };
  SigningKey key =
      rds_signing_key(cache, credentials.secret_access_key.reveal(), date, request.region);
  char signature[64];
  token_signature(key, SignedHost(request.hostname, request.port).view(), q, date, request.region,
                  signature);
  out.append("&X-Amz-Signature=").append(signature, sizeof signature);
  return out;
}

AuthResult<ParsedRdsToken> parse_rds_token(std::string_view token) {
  TokenParts t;
  if (auto rejected = parse_token(token, t)) return std::move(*rejected);
  auto params = parse_query(t.query);
  if (!params) return reject(AuthFailure::kMalformed, params.error().message());
  ParsedRdsToken out;
  out.host = std::string(t.host);
  out.port = t.port;
  out.db_user = std::string(t.db_user.view());
  out.access_key_id = std::string(t.access_key_id);
  out.scope_date = std::string(t.scope_date);
  out.region = std::string(t.region);
  out.amz_date = std::string(t.amz_date.view());
  out.issued = t.issued;
  out.expires = std::chrono::seconds(t.lifetime);
  if (t.security_token) out.security_token = *percent_decode(*t.security_token);
  out.signature = std::string(t.signature_text.view());
  out.params = std::move(*params);
  return out;
}

AuthResult<RdsTokenClaims> verify_rds_token(std::string_view token, std::string_view login_user,
                                            const KeyResolver& keys,
                                            const RdsVerifyOptions& options, TimePoint now,
                                            SigningKeyCache* cache) {
  TokenParts t;
  if (auto rejected = parse_token(token, t)) return std::move(*rejected);
  if (t.region != options.region) {
    return reject(AuthFailure::kWrongRegion, "the token is signed for region '" +
                                                 std::string(t.region.substr(0, 40)) +
                                                 "', this endpoint is in " + options.region);
  }
  const bool known_host = std::any_of(options.endpoint_hosts.begin(), options.endpoint_hosts.end(),
                                      [&](const std::string& h) { return iequals(h, t.host); });
  if (!known_host || t.port != options.port) {
    return reject(AuthFailure::kWrongEndpoint,
                  "the token is for " + std::string(t.host.substr(0, 80)) + ":" +
                      std::to_string(t.port) + ", not for this endpoint");
  }
  if (t.db_user.view() != login_user) {
    return reject(AuthFailure::kWrongUser, "the token's DBUser is not the user logging in");
  }
  const std::string_view amz_date = t.amz_date.view();
  const std::chrono::seconds lifetime(t.lifetime);
  if (t.issued > now + options.max_future) {
    return reject(AuthFailure::kNotYetValid,
                  "the token is dated " + std::string(amz_date) + ", more than " +
                      std::to_string(options.max_future.count()) + " s in the future");
  }
  if (now > t.issued + lifetime) {
    return reject(AuthFailure::kExpired, "the token signed at " + std::string(amz_date) +
                                             " expired after " + std::to_string(t.lifetime) + " s");
  }
  auto key = keys.resolve(t.access_key_id, now);
  if (!key) {
    return reject(AuthFailure::kUnknownKey, "access key " +
                                                std::string(t.access_key_id.substr(0, 32)) +
                                                " is not known: " + key.error().message());
  }
  if (key->expires && *key->expires <= now) {
    return reject(AuthFailure::kSessionExpired,
                  "the session of access key " + std::string(t.access_key_id) + " has expired");
  }
  if (key->session_token) {
    if (!t.security_token) {
      return reject(AuthFailure::kBadSecurityToken,
                    "the token was made with temporary credentials but has no "
                    "X-Amz-Security-Token");
    }
    if (!detail::decoded_equals_constant_time(*t.security_token, key->session_token->reveal())) {
      return reject(AuthFailure::kBadSecurityToken,
                    "the token's X-Amz-Security-Token is not the session's");
    }
  } else if (t.security_token) {
    return reject(AuthFailure::kBadSecurityToken,
                  "the token has an X-Amz-Security-Token but its key is a long-term key");
  }
  // The signature covers the parameters as the client encoded them; hashing them as written is
  // exact when that encoding is canonical, which CanonicalText checks (re-encoding otherwise).
  // Action, X-Amz-Algorithm and X-Amz-SignedHeaders were checked to decode to their only value.
  const detail::CanonicalText user(*t.user);
  const detail::CanonicalText credential(*t.credential);
  const detail::CanonicalText expires(*t.expires);
  const detail::CanonicalText security_token(t.security_token.value_or(std::string_view()));
  CanonicalQueryParts q{.user = user.view(),
                        .credential = credential.view(),
                        .amz_date = amz_date,  // checked: yyyymmddThhmmssZ needs no escape
                        .expires = expires.view(),
                        .security_token = security_token.view()};
  SigningKey signing =
      rds_signing_key(cache, key->secret_access_key.reveal(), t.scope_date, t.region);
  char expected[64];
  token_signature(signing, SignedHost(t.host, t.port).view(), q, t.scope_date, t.region, expected);
  if (!detail::constant_time_equal(std::string_view(expected, sizeof expected),
                                   t.signature_text.view())) {
    return reject(AuthFailure::kBadSignature,
                  "the token's signature does not match (wrong secret, or the token was changed)");
  }
  RdsTokenClaims c;
  c.principal_arn = std::move(key->principal_arn);
  c.access_key_id = std::string(t.access_key_id);
  c.host = std::string(t.host);
  c.port = t.port;
  c.db_user = std::string(t.db_user.view());
  c.region = std::string(t.region);
  c.issued = t.issued;
  c.expires = t.issued + lifetime;
  c.session = key->session_token.has_value();
  return c;
}

}  // namespace writegate::sigv4
