#include "sigv4/sigv4.h"

#include <algorithm>
#include <ctime>
#include <string>

#include "common/strings.h"
#include "sigv4/crypto.h"
#include "sigv4/encoding.h"

namespace writegate::sigv4 {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Trims and collapses runs of whitespace to one space (the spec's Trimall).
void append_trimmed(std::string& out, std::string_view value) {
  bool pending_space = false;
  bool any = false;
  for (char c : value) {
    if (is_space(c)) {
      pending_space = any;
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    any = true;
    out.push_back(c);
  }
}

std::string_view date_part(std::string_view amz_date) {
  return amz_date.substr(0, 8);
}

// Headers a signer leaves unsigned (botocore's list): proxies and clients rewrite them.
bool is_unsigned_header(std::string_view lower_name) {
  return lower_name == "authorization" || lower_name == "user-agent" || lower_name == "expect" ||
         lower_name == "x-amzn-trace-id";
}

void remove_headers(HttpRequest& request, std::string_view name) {
  std::erase_if(request.headers, [&](const Header& h) { return iequals(h.name, name); });
}

std::string payload_hash_of(const HttpRequest& request) {
  if (!request.payload_hash.empty()) return request.payload_hash;
  return detail::to_hex(detail::sha256(request.body));
}

bool is_lower_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

struct ParsedCredential {
  std::string access_key_id;
  std::string date;
  std::string region;
  std::string service;
};

AuthResult<ParsedCredential> parse_credential(std::string_view text) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t slash = text.find('/', start);
    parts.push_back(text.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.size() != 5 || parts[4] != "aws4_request") {
    return reject(AuthFailure::kMalformed,
                  "credential is not ACCESS_KEY_ID/yyyymmdd/region/service/aws4_request");
  }
  for (std::string_view p : parts) {
    if (p.empty()) return reject(AuthFailure::kMalformed, "credential has an empty part");
  }
  return ParsedCredential{std::string(parts[0]), std::string(parts[1]), std::string(parts[2]),
                          std::string(parts[3])};
}

}  // namespace

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

// ---- encoding ---------------------------------------------------------------------------------

void append_uri_encoded(std::string& out, std::string_view text, bool keep_slash) {
  detail::append_encoded(out, text, keep_slash);
}

std::string uri_encode(std::string_view text, bool keep_slash) {
  std::string out;
  out.reserve(text.size() + text.size() / 2);
  detail::append_encoded(out, text, keep_slash);
  return out;
}

Result<std::string> percent_decode(std::string_view text) {
  if (!detail::has_valid_escapes(text)) {
    std::size_t i = 0;
    for (i = text.find('%'); i != std::string_view::npos; i = text.find('%', i + 3)) {
      if (i + 2 >= text.size() || hex_value(text[i + 1]) < 0 || hex_value(text[i + 2]) < 0) break;
    }
    return Error::invalid_argument("'%' at offset " + std::to_string(i) +
                                   " is not followed by two hex digits");
  }
  std::string out;
  detail::append_percent_decoded(out, text);
  return out;
}

Result<std::vector<QueryParam>> parse_query(std::string_view raw_query) {
  std::vector<QueryParam> params;
  if (!raw_query.empty() && raw_query.front() == '?') raw_query.remove_prefix(1);
  if (raw_query.empty()) return params;
  std::size_t start = 0;
  while (start <= raw_query.size()) {
    std::size_t amp = raw_query.find('&', start);
    std::string_view pair =
        raw_query.substr(start, amp == std::string_view::npos ? amp : amp - start);
    std::size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    auto decoded_name = percent_decode(name);
    if (!decoded_name) return std::move(decoded_name).error().with_context("query parameter name");
    auto decoded_value = percent_decode(value);
    if (!decoded_value) {
      return std::move(decoded_value)
          .error()
          .with_context("value of query parameter " + uri_encode(*decoded_name));
    }
    params.push_back({std::move(*decoded_name), std::move(*decoded_value)});
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return params;
}

std::string encode_query_string(const std::vector<QueryParam>& params) {
  std::string out;
  for (const QueryParam& p : params) {
    out.push_back(out.empty() ? '?' : '&');
    append_uri_encoded(out, p.name);
    out.push_back('=');
    append_uri_encoded(out, p.value);
  }
  return out;
}

// ---- canonical forms --------------------------------------------------------------------------

std::string canonical_uri(std::string_view path, PathMode mode) {
  if (path.empty()) return "/";
  std::string out;
  if (mode == PathMode::kS3) {
    // Encode once: keep '/' and escapes already present.
    for (std::size_t i = 0; i < path.size(); ++i) {
      if (path[i] == '%' && i + 2 < path.size() && hex_value(path[i + 1]) >= 0 &&
          hex_value(path[i + 2]) >= 0) {
        out.push_back('%');
        out.push_back(static_cast<char>(path[i + 1] >= 'a' ? path[i + 1] - 32 : path[i + 1]));
        out.push_back(static_cast<char>(path[i + 2] >= 'a' ? path[i + 2] - 32 : path[i + 2]));
        i += 2;
        continue;
      }
      append_uri_encoded(out, path.substr(i, 1), /*keep_slash=*/true);
    }
    return out.empty() ? "/" : out;
  }
  // RFC 3986 remove_dot_segments plus removal of empty segments, as the AWS SDKs do.
  std::vector<std::string_view> segments;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    std::string_view seg =
        path.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (!seg.empty() && seg != ".") {
      if (seg == "..") {
        if (!segments.empty()) segments.pop_back();
      } else {
        segments.push_back(seg);
      }
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  out.push_back('/');
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out.push_back('/');
    append_uri_encoded(out, segments[i]);
  }
  if (!segments.empty() && path.back() == '/') out.push_back('/');
  return out;
}

std::string canonical_query(const std::vector<QueryParam>& params, std::string_view skip) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(params.size());
  for (const QueryParam& p : params) {
    if (!skip.empty() && p.name == skip) continue;
    encoded.emplace_back(uri_encode(p.name), uri_encode(p.value));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out.append(name).push_back('=');
    out.append(value);
  }
  return out;
}

CanonicalHeaders canonical_headers(const std::vector<Header>& headers,
                                   const std::vector<std::string_view>& only) {
  // Stable sort by lowercase name keeps repeated headers in their order.
  std::vector<std::pair<std::string, const Header*>> sorted;
  sorted.reserve(headers.size());
  for (const Header& h : headers) {
    std::string lower = ascii_lowercase(h.name);
    // Header names never carry spaces on the wire; be lenient to "Name :" in hand-made input.
    while (!lower.empty() && is_space(lower.back()))
      lower.pop_back();
    if (!only.empty() && std::find(only.begin(), only.end(), lower) == only.end()) continue;
    sorted.emplace_back(std::move(lower), &h);
  }
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  CanonicalHeaders out;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const bool repeat = i > 0 && sorted[i].first == sorted[i - 1].first;
    if (repeat) {
      out.canonical.back() = ',';  // replace the '\n' that ended the previous value
    } else {
      if (!out.signed_headers.empty()) out.signed_headers.push_back(';');
      out.signed_headers.append(sorted[i].first);
      out.canonical.append(sorted[i].first).push_back(':');
    }
    append_trimmed(out.canonical, sorted[i].second->value);
    out.canonical.push_back('\n');
  }
  return out;
}

std::string build_canonical_request(std::string_view method, std::string_view uri,
                                    std::string_view query, const CanonicalHeaders& headers,
                                    std::string_view payload_hash) {
  std::string out;
  out.reserve(method.size() + uri.size() + query.size() + headers.canonical.size() +
              headers.signed_headers.size() + payload_hash.size() + 8);
  out.append(method).push_back('\n');
  out.append(uri).push_back('\n');
  out.append(query).push_back('\n');
  out.append(headers.canonical).push_back('\n');
  out.append(headers.signed_headers).push_back('\n');
  out.append(payload_hash);
  return out;
}

std::string credential_scope(std::string_view date, std::string_view region,
                             std::string_view service) {
  std::string out;
  out.reserve(date.size() + region.size() + service.size() + 16);
  out.append(date).push_back('/');
  out.append(region).push_back('/');
  out.append(service).append("/aws4_request");
  return out;
}

std::string build_string_to_sign(std::string_view amz_date, std::string_view scope,
                                 std::string_view canonical_request) {
  std::string out;
  out.reserve(kAlgorithm.size() + amz_date.size() + scope.size() + 67);
  out.append(kAlgorithm).push_back('\n');
  out.append(amz_date).push_back('\n');
  out.append(scope).push_back('\n');
  detail::append_hex(out, detail::sha256(canonical_request));
  return out;
}

std::string format_amz_date(TimePoint time) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(time);
  const auto day = floor<days>(secs);
  const year_month_day ymd{day};
  const int y = static_cast<int>(ymd.year());
  if (y >= 1000 && y <= 9999) {  // the calendar arithmetic without gmtime_r and strftime
    const hh_mm_ss hms{secs - day};
    std::string out(16, '0');
    auto put = [&](std::size_t at, unsigned value, std::size_t width) {
      for (std::size_t i = at + width; i-- > at; value /= 10)
        out[i] = static_cast<char>('0' + value % 10);
    };
    put(0, static_cast<unsigned>(y), 4);
    put(4, static_cast<unsigned>(ymd.month()), 2);
    put(6, static_cast<unsigned>(ymd.day()), 2);
    out[8] = 'T';
    put(9, static_cast<unsigned>(hms.hours().count()), 2);
    put(11, static_cast<unsigned>(hms.minutes().count()), 2);
    put(13, static_cast<unsigned>(hms.seconds().count()), 2);
    out[15] = 'Z';
    return out;
  }
  std::time_t t = Clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[17];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return std::string(buf, n);
}

Result<TimePoint> parse_amz_date(std::string_view text) {
  auto bad = [&] {
    return Error::invalid_argument("date '" + std::string(text.substr(0, 32)) +
                                   "' is not of the form yyyymmddThhmmssZ");
  };
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return bad();
  auto digits = [&](std::size_t at, std::size_t n, int& out) {
    out = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!digits(0, 4, y) || !digits(4, 2, mo) || !digits(6, 2, d) || !digits(9, 2, h) ||
      !digits(11, 2, mi) || !digits(13, 2, s)) {
    return bad();
  }
  // TimePoint counts nanoseconds in 64 bits and ends in April 2262: later years would overflow.
  if (y < 1970 || y > kMaxAmzYear || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) {
    return bad();
  }
  using namespace std::chrono;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return bad();
  return TimePoint(sys_days(ymd)) + hours(h) + minutes(mi) + seconds(s);
}

std::string compute_signature(const SigningKey& key, std::string_view string_to_sign) {
  return detail::to_hex(detail::hmac_sha256(key.bytes, string_to_sign));
}

namespace {

SigningKey signing_key(SigningKeyCache* cache, std::string_view secret, std::string_view date,
                       std::string_view region, std::string_view service) {
  if (cache != nullptr) return cache->get(secret, date, region, service);
  return derive_signing_key(secret, date, region, service);
}

Status check_signing_inputs(const Credentials& credentials, const SigningParams& params) {
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return Error::invalid_argument("credentials need an access key id and a secret access key");
  }
  if (credentials.access_key_id.find('/') != std::string::npos) {
    return Error::invalid_argument("access key id must not contain '/'");
  }
  if (params.region.empty() || params.service.empty()) {
    return Error::invalid_argument("signing needs a region and a service");
  }
  if (params.region.find('/') != std::string::npos ||
      params.service.find('/') != std::string::npos) {
    return Error::invalid_argument("region and service must not contain '/'");
  }
  return Status::ok_status();
}

SignatureDetails finish_signature(std::string canonical_request, std::string amz_date,
                                  std::string scope, std::string signed_headers,
                                  const SigningKey& key) {
  SignatureDetails d;
  d.string_to_sign = build_string_to_sign(amz_date, scope, canonical_request);
  d.signature = compute_signature(key, d.string_to_sign);
  d.canonical_request = std::move(canonical_request);
  d.amz_date = std::move(amz_date);
  d.credential_scope = std::move(scope);
  d.signed_headers = std::move(signed_headers);
  return d;
}

std::vector<std::string_view> names_to_sign(const HttpRequest& request,
                                            std::vector<std::string>& storage) {
  storage.clear();
  for (const Header& h : request.headers) {
    std::string lower = ascii_lowercase(h.name);
    if (is_unsigned_header(lower)) continue;
    if (std::find(storage.begin(), storage.end(), lower) == storage.end()) {
      storage.push_back(std::move(lower));
    }
  }
  return {storage.begin(), storage.end()};
}

}  // namespace

// ---- client side ------------------------------------------------------------------------------

Result<SignatureDetails> sign_request(HttpRequest& request, const Credentials& credentials,
                                      const SigningParams& params, SigningKeyCache* cache) {
  WG_RETURN_IF_ERROR(check_signing_inputs(credentials, params));
  if (!request.header("host")) {
    return Error::invalid_argument("the request has no Host header to sign");
  }
  remove_headers(request, "authorization");
  remove_headers(request, "x-amz-date");
  remove_headers(request, "x-amz-security-token");
  std::string amz_date = format_amz_date(params.time);
  request.headers.push_back({"X-Amz-Date", amz_date});
  if (!credentials.session_token.empty()) {
    request.headers.push_back(
        {"X-Amz-Security-Token", std::string(credentials.session_token.reveal())});
  }
  if (params.add_content_sha256_header) {
    remove_headers(request, "x-amz-content-sha256");
    request.headers.push_back({"x-amz-content-sha256", payload_hash_of(request)});
  }
  std::string payload = request.header("x-amz-content-sha256")
                            ? std::string(*request.header("x-amz-content-sha256"))
                            : payload_hash_of(request);

  std::vector<std::string> storage;
  CanonicalHeaders headers = canonical_headers(request.headers, names_to_sign(request, storage));
  std::string scope = credential_scope(date_part(amz_date), params.region, params.service);
  std::string creq =
      build_canonical_request(request.method, canonical_uri(request.path, params.path_mode),
                              canonical_query(request.query), headers, payload);
  SigningKey key = signing_key(cache, credentials.secret_access_key.reveal(), date_part(amz_date),
                               params.region, params.service);
  SignatureDetails d = finish_signature(std::move(creq), std::move(amz_date), std::move(scope),
                                        headers.signed_headers, key);
  std::string authorization(kAlgorithm);
  authorization.append(" Credential=")
      .append(credentials.access_key_id)
      .append("/")
      .append(d.credential_scope)
      .append(", SignedHeaders=")
      .append(d.signed_headers)
      .append(", Signature=")
      .append(d.signature);
  request.headers.push_back({"Authorization", std::move(authorization)});
  return d;
}

Result<SignatureDetails> presign_request(HttpRequest& request, const Credentials& credentials,
                                         const SigningParams& params, SigningKeyCache* cache) {
  WG_RETURN_IF_ERROR(check_signing_inputs(credentials, params));
  if (!request.header("host")) {
    return Error::invalid_argument("the request has no Host header to sign");
  }
  if (params.expires.count() < 1 || params.expires.count() > 7 * 24 * 3600) {
    return Error::invalid_argument("presigned URLs expire after 1 to 604800 seconds, not " +
                                   std::to_string(params.expires.count()));
  }
  std::erase_if(request.query, [](const QueryParam& p) {
    return p.name == "X-Amz-Algorithm" || p.name == "X-Amz-Credential" || p.name == "X-Amz-Date" ||
           p.name == "X-Amz-Expires" || p.name == "X-Amz-SignedHeaders" ||
           p.name == "X-Amz-Security-Token" || p.name == "X-Amz-Signature";
  });
  std::string amz_date = format_amz_date(params.time);
  std::string scope = credential_scope(date_part(amz_date), params.region, params.service);
  std::vector<std::string> storage;
  CanonicalHeaders headers = canonical_headers(request.headers, names_to_sign(request, storage));

  std::string credential = credentials.access_key_id + "/" + scope;
  request.query.push_back({"X-Amz-Algorithm", std::string(kAlgorithm)});
  request.query.push_back({"X-Amz-Credential", std::move(credential)});
  request.query.push_back({"X-Amz-Date", amz_date});
  request.query.push_back({"X-Amz-Expires", std::to_string(params.expires.count())});
  request.query.push_back({"X-Amz-SignedHeaders", headers.signed_headers});
  if (!credentials.session_token.empty()) {
    request.query.push_back(
        {"X-Amz-Security-Token", std::string(credentials.session_token.reveal())});
  }
  // S3 presigned URLs sign "UNSIGNED-PAYLOAD": callers set request.payload_hash to it.
  std::string payload = payload_hash_of(request);
  std::string creq =
      build_canonical_request(request.method, canonical_uri(request.path, params.path_mode),
                              canonical_query(request.query), headers, payload);
  SigningKey key = signing_key(cache, credentials.secret_access_key.reveal(), date_part(amz_date),
                               params.region, params.service);
  SignatureDetails d = finish_signature(std::move(creq), std::move(amz_date), std::move(scope),
                                        headers.signed_headers, key);
  request.query.push_back({"X-Amz-Signature", d.signature});
  return d;
}

// ---- server side ------------------------------------------------------------------------------

namespace {

struct AuthFields {
  ParsedCredential credential;
  std::string signed_headers;
  std::string signature;
  std::string amz_date;
  std::optional<std::string> security_token;
  std::chrono::seconds expires{0};  // presigned only
};

constexpr std::size_t kMaxAuthorizationSize = 4096;

AuthResult<AuthFields> parse_authorization_header(const HttpRequest& request) {
  std::string_view auth = *request.header("authorization");
  if (auth.size() > kMaxAuthorizationSize) {
    return reject(AuthFailure::kTooLarge, "Authorization header is over 4 KiB");
  }
  std::size_t space = auth.find(' ');
  if (auth.substr(0, space) != kAlgorithm) {
    return reject(AuthFailure::kUnsupportedAlgorithm,
                  "Authorization must use AWS4-HMAC-SHA256 (Signature Version 4)");
  }
  if (space == std::string_view::npos) {
    return reject(AuthFailure::kMalformed, "Authorization header has no Credential");
  }
  std::string_view rest = auth.substr(space + 1);
  std::optional<std::string_view> credential, signed_headers, signature;
  while (!rest.empty()) {
    std::size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    while (!item.empty() && is_space(item.front()))
      item.remove_prefix(1);
    while (!item.empty() && is_space(item.back()))
      item.remove_suffix(1);
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return reject(AuthFailure::kMalformed, "Authorization component without '='");
    }
    std::string_view name = item.substr(0, eq);
    std::string_view value = item.substr(eq + 1);
    std::optional<std::string_view>* slot = nullptr;
    if (name == "Credential") slot = &credential;
    if (name == "SignedHeaders") slot = &signed_headers;
    if (name == "Signature") slot = &signature;
    if (slot == nullptr) {
      return reject(AuthFailure::kMalformed, "Authorization has an unknown component '" +
                                                 std::string(name.substr(0, 32)) + "'");
    }
    if (slot->has_value()) {
      return reject(AuthFailure::kMalformed, "Authorization repeats " + std::string(name));
    }
    *slot = value;
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (!credential || !signed_headers || !signature) {
    return reject(AuthFailure::kMalformed,
                  "Authorization needs Credential, SignedHeaders and Signature");
  }
  auto cred = parse_credential(*credential);
  if (!cred) return std::move(cred).rejection();
  AuthFields f;
  f.credential = std::move(*cred);
  f.signed_headers = std::string(*signed_headers);
  f.signature = std::string(*signature);
  auto date = request.header("x-amz-date");
  if (!date) return reject(AuthFailure::kMalformed, "the request has no X-Amz-Date header");
  f.amz_date = std::string(*date);
  if (auto token = request.header("x-amz-security-token")) f.security_token = std::string(*token);
  return f;
}

AuthResult<AuthFields> parse_presigned_query(const HttpRequest& request,
                                             const VerifyOptions& options) {
  std::optional<std::string_view> algorithm, credential, date, expires, signed_headers, signature,
      token;
  for (const QueryParam& p : request.query) {
    std::optional<std::string_view>* slot = nullptr;
    if (p.name == "X-Amz-Algorithm") slot = &algorithm;
    if (p.name == "X-Amz-Credential") slot = &credential;
    if (p.name == "X-Amz-Date") slot = &date;
    if (p.name == "X-Amz-Expires") slot = &expires;
    if (p.name == "X-Amz-SignedHeaders") slot = &signed_headers;
    if (p.name == "X-Amz-Signature") slot = &signature;
    if (p.name == "X-Amz-Security-Token") slot = &token;
    if (slot == nullptr) continue;
    if (slot->has_value()) {
      return reject(AuthFailure::kMalformed, "query parameter " + p.name + " appears twice");
    }
    *slot = p.value;
  }
  if (!algorithm) return reject(AuthFailure::kMalformed, "X-Amz-Algorithm is missing");
  if (*algorithm != kAlgorithm) {
    return reject(AuthFailure::kUnsupportedAlgorithm, "X-Amz-Algorithm must be AWS4-HMAC-SHA256");
  }
  if (!credential) return reject(AuthFailure::kMalformed, "X-Amz-Credential is missing");
  if (!date) return reject(AuthFailure::kMalformed, "X-Amz-Date is missing");
  if (!expires) return reject(AuthFailure::kMalformed, "X-Amz-Expires is missing");
  if (!signed_headers) return reject(AuthFailure::kMalformed, "X-Amz-SignedHeaders is missing");
  if (!signature) return reject(AuthFailure::kMalformed, "X-Amz-Signature is missing");
  auto cred = parse_credential(*credential);
  if (!cred) return std::move(cred).rejection();
  if (expires->empty() || expires->size() > 9 ||
      !std::all_of(expires->begin(), expires->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return reject(AuthFailure::kMalformed, "X-Amz-Expires is not a number of seconds");
  }
  long seconds = std::stol(std::string(*expires));
  if (seconds < 1) return reject(AuthFailure::kMalformed, "X-Amz-Expires must be at least 1");
  if (seconds > options.max_expires.count()) {
    return reject(AuthFailure::kExpiresTooLong,
                  "X-Amz-Expires " + std::to_string(seconds) + " is above the limit of " +
                      std::to_string(options.max_expires.count()) + " seconds");
  }
  AuthFields f;
  f.credential = std::move(*cred);
  f.signed_headers = std::string(*signed_headers);
  f.signature = std::string(*signature);
  f.amz_date = std::string(*date);
  f.expires = std::chrono::seconds(seconds);
  if (token) f.security_token = std::string(*token);
  return f;
}

// Splits "host;x-amz-date" and checks it is lowercase, sorted, unique, holds host, and names
// only headers the request has.
AuthResult<std::vector<std::string_view>> parse_signed_headers(std::string_view list,
                                                               const HttpRequest& request) {
  std::vector<std::string_view> names;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t semi = list.find(';', start);
    std::string_view name =
        list.substr(start, semi == std::string_view::npos ? semi : semi - start);
    if (name.empty()) return reject(AuthFailure::kMalformed, "SignedHeaders has an empty name");
    if (ascii_lowercase(name) != name) {
      return reject(AuthFailure::kMalformed, "SignedHeaders must be lowercase");
    }
    if (!names.empty() && !(names.back() < name)) {
      return reject(AuthFailure::kMalformed, "SignedHeaders must be sorted and unique");
    }
    if (!request.header(name)) {
      return reject(AuthFailure::kMalformed, "signed header '" + std::string(name.substr(0, 64)) +
                                                 "' is not in the request");
    }
    names.push_back(name);
    if (semi == std::string_view::npos) break;
    start = semi + 1;
  }
  if (std::find(names.begin(), names.end(), "host") == names.end()) {
    return reject(AuthFailure::kMalformed, "the host header must be signed");
  }
  return names;
}

}  // namespace

AuthResult<VerifiedRequest> verify_request(const HttpRequest& request, const KeyResolver& keys,
                                           const VerifyOptions& options, SigningKeyCache* cache) {
  const bool has_header = request.header("authorization").has_value();
  const bool has_query = std::any_of(request.query.begin(), request.query.end(), [](const auto& p) {
    return p.name == "X-Amz-Signature" || p.name == "X-Amz-Algorithm";
  });
  if (has_header && has_query) {
    return reject(AuthFailure::kMalformed,
                  "the request carries both an Authorization header and a presigned signature");
  }
  if (!has_header && !has_query) {
    return reject(AuthFailure::kMalformed,
                  "the request is not signed (no Authorization header "
                  "and no X-Amz-Signature parameter)");
  }
  const bool presigned = has_query;
  AuthResult<AuthFields> parsed =
      presigned ? parse_presigned_query(request, options) : parse_authorization_header(request);
  if (!parsed) return std::move(parsed).rejection();
  AuthFields& f = *parsed;

  if (!is_lower_hex64(f.signature)) {
    return reject(AuthFailure::kMalformed, "the signature is not 64 lowercase hex digits");
  }
  if (f.credential.service != options.service) {
    return reject(AuthFailure::kWrongService, "the request is signed for service '" +
                                                  f.credential.service.substr(0, 64) +
                                                  "', this endpoint is '" + options.service + "'");
  }
  if (!options.regions.empty() && std::find(options.regions.begin(), options.regions.end(),
                                            f.credential.region) == options.regions.end()) {
    return reject(AuthFailure::kWrongRegion,
                  "the request is signed for region '" + f.credential.region.substr(0, 64) + "'");
  }
  auto signed_at = parse_amz_date(f.amz_date);
  if (!signed_at) return reject(AuthFailure::kBadDate, signed_at.error().message());
  if (date_part(f.amz_date) != f.credential.date) {
    return reject(AuthFailure::kBadDate, "the credential scope date " + f.credential.date +
                                             " is not the date of X-Amz-Date " + f.amz_date);
  }
  if (presigned) {
    if (*signed_at > options.now + options.max_future) {
      return reject(AuthFailure::kNotYetValid,
                    "the presigned request is dated " + f.amz_date + ", in the future");
    }
    if (options.now > *signed_at + f.expires) {
      return reject(AuthFailure::kExpired, "the presigned request signed at " + f.amz_date +
                                               " expired after " +
                                               std::to_string(f.expires.count()) + " seconds");
    }
  } else {
    if (*signed_at > options.now + options.max_skew) {
      return reject(AuthFailure::kNotYetValid,
                    "the request time " + f.amz_date + " is too far in the future");
    }
    if (*signed_at + options.max_skew < options.now) {
      return reject(AuthFailure::kExpired,
                    "the request time " + f.amz_date + " is too far in the past");
    }
  }
  auto names = parse_signed_headers(f.signed_headers, request);
  if (!names) return std::move(names).rejection();
  if (!presigned && f.security_token &&
      std::find(names->begin(), names->end(), "x-amz-security-token") == names->end()) {
    return reject(AuthFailure::kMalformed, "X-Amz-Security-Token must be a signed header");
  }

  auto key = keys.resolve(f.credential.access_key_id, options.now);
  if (!key) {
    return reject(AuthFailure::kUnknownKey, "access key " +
                                                f.credential.access_key_id.substr(0, 32) +
                                                " is not known: " + key.error().message());
  }
  if (key->expires && *key->expires <= options.now) {
    return reject(AuthFailure::kSessionExpired,
                  "the session of access key " + f.credential.access_key_id + " has expired");
  }
  if (key->session_token) {
    if (!f.security_token) {
      return reject(AuthFailure::kBadSecurityToken,
                    "temporary credentials need X-Amz-Security-Token");
    }
    if (!key->session_token->equals(*f.security_token)) {
      return reject(AuthFailure::kBadSecurityToken,
                    "X-Amz-Security-Token is not the token of this session");
    }
  } else if (f.security_token) {
    return reject(AuthFailure::kBadSecurityToken,
                  "X-Amz-Security-Token given for a long-term access key");
  }

  std::string payload;
  if (presigned) {
    payload = payload_hash_of(request);
  } else if (auto declared = request.header("x-amz-content-sha256")) {
    payload = std::string(*declared);
    const bool unsigned_body = payload == kUnsignedPayload || payload.starts_with("STREAMING-");
    if (unsigned_body && !options.allow_unsigned_payload) {
      // Only S3 takes these; every other service hashes the body it received, so AWS answers
      // such a request with a signature mismatch.
      return reject(AuthFailure::kUnsignedPayload,
                    "x-amz-content-sha256 '" + payload.substr(0, 64) +
                        "' leaves the body unsigned; this service needs the body's SHA-256");
    }
    if (!unsigned_body && payload != payload_hash_of(request)) {
      return reject(AuthFailure::kPayloadHashMismatch,
                    "x-amz-content-sha256 does not match the body");
    }
  } else {
    payload = payload_hash_of(request);
  }

  CanonicalHeaders headers = canonical_headers(request.headers, *names);
  std::string creq = build_canonical_request(
      request.method, canonical_uri(request.path, options.path_mode),
      canonical_query(request.query, presigned ? "X-Amz-Signature" : ""), headers, payload);
  SigningKey signing = signing_key(cache, key->secret_access_key.reveal(), f.credential.date,
                                   f.credential.region, f.credential.service);
  std::string scope =
      credential_scope(f.credential.date, f.credential.region, f.credential.service);
  SignatureDetails d = finish_signature(std::move(creq), f.amz_date, std::move(scope),
                                        headers.signed_headers, signing);
  if (!detail::constant_time_equal(d.signature, f.signature)) {
    return reject(AuthFailure::kBadSignature,
                  "the signature does not match (check the secret key, the region, the service "
                  "and that nothing rewrote the request)");
  }
  VerifiedRequest v;
  v.principal_arn = key->principal_arn;
  v.access_key_id = f.credential.access_key_id;
  v.region = f.credential.region;
  v.service = f.credential.service;
  v.signed_at = *signed_at;
  v.presigned = presigned;
  v.session = key->session_token.has_value();
  v.details = std::move(d);
  return v;
}

}  // namespace writegate::sigv4
