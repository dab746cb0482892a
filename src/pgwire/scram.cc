#include "pgwire/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace writegate::pgwire {
namespace {

constexpr size_t kKeySize = 32;  // SHA-256
constexpr size_t kNonceBytes = 18;

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Holds key material and wipes it when going out of scope.
class SecretBytes {
 public:
  explicit SecretBytes(size_t n) : data_(n, '\0') {}
  ~SecretBytes() { OPENSSL_cleanse(data_.data(), data_.size()); }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  unsigned char* data() { return reinterpret_cast<unsigned char*>(data_.data()); }
  std::string_view view() const { return data_; }

 private:
  std::string data_;
};

Status check_password(std::string_view password) {
  for (char c : password) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return Error::invalid_argument(
          "SCRAM: the password contains non-ASCII characters, whose SASLprep normalization is "
          "not implemented; use an ASCII password");
    }
  }
  return Status::ok_status();
}

Status salted_password(std::string_view password, std::string_view salt, uint32_t iterations,
                       SecretBytes& out) {
  if (iterations == 0 || iterations > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
    return Error::invalid_argument("SCRAM: invalid iteration count " + std::to_string(iterations));
  }
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        kKeySize, out.data()) != 1) {
    return Error::internal("SCRAM: PBKDF2 failed");
  }
  return Status::ok_status();
}

std::string hmac(std::string_view key, std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       reinterpret_cast<unsigned char*>(out.data()), &len);
  out.resize(len);
  return out;
}

std::string digest(const EVP_MD* md, std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len, md,
             nullptr);
  out.resize(len);
  return out;
}

std::string xor_bytes(std::string_view a, std::string_view b) {
  std::string out(a);
  for (size_t i = 0; i < out.size() && i < b.size(); ++i)
    out[i] = static_cast<char>(a[i] ^ b[i]);
  return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::string> random_nonce() {
  std::array<unsigned char, kNonceBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return Error::unavailable("SCRAM: the random number generator failed");
  }
  return base64_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// A nonce is printable ASCII other than ','.
bool valid_nonce(std::string_view nonce) {
  if (nonce.empty()) return false;
  for (char c : nonce) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

// Splits "a=x,b=y" into attributes; each must look like <letter>=<value>.
struct Attribute {
  char name;
  std::string_view value;
};

Result<std::vector<Attribute>> split_attributes(std::string_view text, std::string_view what) {
  std::vector<Attribute> out;
  size_t pos = 0;
  while (true) {
    size_t comma = text.find(',', pos);
    std::string_view part = text.substr(pos, comma == std::string_view::npos ? comma : comma - pos);
    if (part.size() < 2 || part[1] != '=' ||
        !((part[0] >= 'a' && part[0] <= 'z') || (part[0] >= 'A' && part[0] <= 'Z'))) {
      return Error::invalid_argument("SCRAM: malformed attribute in the " + std::string(what));
    }
    out.push_back({part[0], part.substr(2)});
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

Result<uint32_t> parse_iterations(std::string_view text) {
  if (text.empty() || text.size() > 10) {
    return Error::invalid_argument("SCRAM: invalid iteration count");
  }
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return Error::invalid_argument("SCRAM: invalid iteration count");
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v == 0 || v > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    return Error::invalid_argument("SCRAM: invalid iteration count");
  }
  return static_cast<uint32_t>(v);
}

// "=2C" -> ",", "=3D" -> "=" (RFC 5802 saslname).
std::string escape_username(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

// ---- base64 -----------------------------------------------------------------------------------

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto b = [&](size_t k) { return uint32_t{static_cast<unsigned char>(bytes[k])}; };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (b(i) << 16) | (b(i + 1) << 8) | b(i + 2);
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += kBase64Alphabet[(v >> 6) & 63];
    out += kBase64Alphabet[v & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t v = b(i) << 16;
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    uint32_t v = (b(i) << 16) | (b(i + 1) << 8);
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += kBase64Alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return Error::invalid_argument("invalid base64: length is not a multiple of 4");
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    int v[4];
    int padding = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++padding;
        continue;
      }
      if (padding > 0) return Error::invalid_argument("invalid base64: misplaced padding");
      v[k] = base64_value(c);
      if (v[k] < 0) return Error::invalid_argument("invalid base64: unexpected character");
    }
    uint32_t n =
        (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out += static_cast<char>(n >> 16);
    if (padding < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (padding < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

// ---- ScramClient ------------------------------------------------------------------------------

Result<ScramClient> ScramClient::create(std::string_view password, ScramClientOptions options) {
  WG_RETURN_IF_ERROR(check_password(password));
  ScramClient c;
  if (options.client_nonce.empty()) {
    WG_ASSIGN_OR_RETURN(options.client_nonce, random_nonce());
  } else if (!valid_nonce(options.client_nonce)) {
    return Error::invalid_argument("SCRAM: the client nonce must be printable ASCII without ','");
  }
  switch (options.channel_binding) {
    case ChannelBinding::kNone:
      c.gs2_header_ = "n,,";
      break;
    case ChannelBinding::kSupportedNotUsed:
      c.gs2_header_ = "y,,";
      break;
    case ChannelBinding::kTlsServerEndPoint:
      if (options.channel_binding_data.empty()) {
        return Error::invalid_argument(
            "SCRAM: tls-server-end-point channel binding needs the server certificate hash");
      }
      c.gs2_header_ = "p=tls-server-end-point,,";
      break;
  }
  c.client_first_bare_ = "n=" + escape_username(options.username) + ",r=" + options.client_nonce;
  c.client_first_ = c.gs2_header_ + c.client_first_bare_;
  c.password_ = password;
  c.options_ = std::move(options);
  return c;
}

ScramClient::ScramClient(ScramClient&& other) noexcept
    : state_(other.state_),
      options_(std::move(other.options_)),
      password_(std::move(other.password_)),
      gs2_header_(std::move(other.gs2_header_)),
      client_first_bare_(std::move(other.client_first_bare_)),
      client_first_(std::move(other.client_first_)),
      expected_server_signature_(std::move(other.expected_server_signature_)) {
  other.wipe();
}

ScramClient& ScramClient::operator=(ScramClient&& other) noexcept {
  if (this != &other) {
    wipe();
    state_ = other.state_;
    options_ = std::move(other.options_);
    password_ = std::move(other.password_);
    gs2_header_ = std::move(other.gs2_header_);
    client_first_bare_ = std::move(other.client_first_bare_);
    client_first_ = std::move(other.client_first_);
    expected_server_signature_ = std::move(other.expected_server_signature_);
    other.wipe();
  }
  return *this;
}

ScramClient::~ScramClient() {
  wipe();
}

void ScramClient::wipe() {
  OPENSSL_cleanse(password_.data(), password_.size());
  password_.clear();
  OPENSSL_cleanse(expected_server_signature_.data(), expected_server_signature_.size());
  expected_server_signature_.clear();
}

std::string_view ScramClient::mechanism() const {
  return options_.channel_binding == ChannelBinding::kTlsServerEndPoint ? kScramSha256Plus
                                                                        : kScramSha256;
}

Result<std::string> ScramClient::handle_server_first(std::string_view server_first) {
  if (state_ != State::kStart) {
    return Error::failed_precondition("SCRAM: server-first-message received out of order");
  }
  state_ = State::kFailed;  // until this succeeds
  if (server_first.starts_with("m=")) {
    return Error::invalid_argument("SCRAM: the server requires an unsupported extension");
  }
  WG_ASSIGN_OR_RETURN(auto attrs, split_attributes(server_first, "server-first-message"));
  if (attrs.size() < 3 || attrs[0].name != 'r' || attrs[1].name != 's' || attrs[2].name != 'i') {
    return Error::invalid_argument(
        "SCRAM: the server-first-message must start with r=, s= and i= attributes");
  }
  std::string_view nonce = attrs[0].value;
  if (!valid_nonce(nonce) || !nonce.starts_with(options_.client_nonce) ||
      nonce.size() == options_.client_nonce.size()) {
    return Error::invalid_argument("SCRAM: the server nonce does not extend the client nonce");
  }
  auto salt = base64_decode(attrs[1].value);
  if (!salt || salt->empty()) return Error::invalid_argument("SCRAM: invalid salt");
  WG_ASSIGN_OR_RETURN(uint32_t iterations, parse_iterations(attrs[2].value));
  if (iterations > options_.max_iterations) {
    return Error::out_of_range("SCRAM: the server asks for " + std::to_string(iterations) +
                               " iterations, more than the limit of " +
                               std::to_string(options_.max_iterations));
  }

  SecretBytes salted(kKeySize);
  WG_RETURN_IF_ERROR(salted_password(password_, *salt, iterations, salted));
  OPENSSL_cleanse(password_.data(), password_.size());
  password_.clear();

  std::string cbind_input = gs2_header_;
  if (options_.channel_binding == ChannelBinding::kTlsServerEndPoint) {
    cbind_input += options_.channel_binding_data;
  }
  std::string without_proof = "c=" + base64_encode(cbind_input) + ",r=" + std::string(nonce);
  std::string auth_message =
      client_first_bare_ + "," + std::string(server_first) + "," + without_proof;

  std::string client_key = hmac(salted.view(), "Client Key");
  std::string stored_key = digest(EVP_sha256(), client_key);
  std::string client_signature = hmac(stored_key, auth_message);
  std::string proof = xor_bytes(client_key, client_signature);
  std::string server_key = hmac(salted.view(), "Server Key");
  expected_server_signature_ = hmac(server_key, auth_message);
  OPENSSL_cleanse(client_key.data(), client_key.size());
  OPENSSL_cleanse(server_key.data(), server_key.size());

  state_ = State::kSentFinal;
  return without_proof + ",p=" + base64_encode(proof);
}

Status ScramClient::verify_server_final(std::string_view server_final) {
  if (state_ != State::kSentFinal) {
    return Error::failed_precondition("SCRAM: server-final-message received out of order");
  }
  state_ = State::kFailed;
  if (server_final.starts_with("e=")) {
    std::string_view reason = server_final.substr(2);
    reason = reason.substr(0, reason.find(','));
    return Error::unauthenticated("SCRAM: the server reports an error: " + std::string(reason));
  }
  WG_ASSIGN_OR_RETURN(auto attrs, split_attributes(server_final, "server-final-message"));
  if (attrs[0].name != 'v') {
    return Error::invalid_argument("SCRAM: the server-final-message has no verifier");
  }
  auto signature = base64_decode(attrs[0].value);
  if (!signature || !equal_constant_time(*signature, expected_server_signature_)) {
    return Error::unauthenticated(
        "SCRAM: the server signature is wrong (the server does not know the password)");
  }
  state_ = State::kDone;
  return Status::ok_status();
}

// ---- Secrets ----------------------------------------------------------------------------------

Result<ScramSecret> make_scram_secret(std::string_view password, std::string_view salt,
                                      uint32_t iterations) {
  WG_RETURN_IF_ERROR(check_password(password));
  if (salt.empty()) return Error::invalid_argument("SCRAM: the salt is empty");
  SecretBytes salted(kKeySize);
  WG_RETURN_IF_ERROR(salted_password(password, salt, iterations, salted));
  ScramSecret s;
  s.iterations = iterations;
  s.salt = salt;
  std::string client_key = hmac(salted.view(), "Client Key");
  s.stored_key = digest(EVP_sha256(), client_key);
  OPENSSL_cleanse(client_key.data(), client_key.size());
  s.server_key = hmac(salted.view(), "Server Key");
  return s;
}

Result<ScramSecret> parse_scram_secret(std::string_view text) {
  const Error bad = Error::invalid_argument(
      "not a SCRAM-SHA-256 secret (expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:"
      "<ServerKey>)");
  constexpr std::string_view kPrefix = "SCRAM-SHA-256$";
  if (!text.starts_with(kPrefix)) return bad;
  text.remove_prefix(kPrefix.size());
  size_t colon1 = text.find(':');
  size_t dollar = text.find('$');
  if (colon1 == std::string_view::npos || dollar == std::string_view::npos || dollar < colon1) {
    return bad;
  }
  size_t colon2 = text.find(':', dollar);
  if (colon2 == std::string_view::npos) return bad;
  auto iterations = parse_iterations(text.substr(0, colon1));
  auto salt = base64_decode(text.substr(colon1 + 1, dollar - colon1 - 1));
  auto stored = base64_decode(text.substr(dollar + 1, colon2 - dollar - 1));
  auto server = base64_decode(text.substr(colon2 + 1));
  if (!iterations || !salt || salt->empty() || !stored || stored->size() != kKeySize || !server ||
      server->size() != kKeySize) {
    return bad;
  }
  return ScramSecret{*iterations, *salt, *stored, *server};
}

std::string format_scram_secret(const ScramSecret& s) {
  return "SCRAM-SHA-256$" + std::to_string(s.iterations) + ":" + base64_encode(s.salt) + "$" +
         base64_encode(s.stored_key) + ":" + base64_encode(s.server_key);
}

// ---- ScramServer ------------------------------------------------------------------------------

Result<ScramServer> ScramServer::create(ScramSecret secret, std::string server_nonce) {
  if (secret.stored_key.size() != kKeySize || secret.server_key.size() != kKeySize ||
      secret.salt.empty() || secret.iterations == 0) {
    return Error::invalid_argument("SCRAM: incomplete secret");
  }
  if (server_nonce.empty()) {
    WG_ASSIGN_OR_RETURN(server_nonce, random_nonce());
  } else if (!valid_nonce(server_nonce)) {
    return Error::invalid_argument("SCRAM: the server nonce must be printable ASCII without ','");
  }
  ScramServer s;
  s.secret_ = std::move(secret);
  s.server_nonce_ = std::move(server_nonce);
  return s;
}

Result<std::string> ScramServer::handle_client_first(std::string_view client_first) {
  if (state_ != State::kStart) {
    return Error::failed_precondition("SCRAM: client-first-message received out of order");
  }
  state_ = State::kFailed;
  if (client_first.starts_with("p=")) {
    return Error::invalid_argument(
        "SCRAM: the client requires channel binding, which was not offered");
  }
  if (!client_first.starts_with("n,") && !client_first.starts_with("y,")) {
    return Error::invalid_argument("SCRAM: malformed gs2 header in the client-first-message");
  }
  if (client_first.size() < 3 || client_first[2] != ',') {
    return Error::invalid_argument("SCRAM: authorization identities are not supported");
  }
  gs2_header_ = client_first.substr(0, 3);
  std::string_view bare = client_first.substr(3);
  if (bare.starts_with("m=")) {
    return Error::invalid_argument("SCRAM: the client requires an unsupported extension");
  }
  WG_ASSIGN_OR_RETURN(auto attrs, split_attributes(bare, "client-first-message"));
  if (attrs.size() < 2 || attrs[0].name != 'n' || attrs[1].name != 'r') {
    return Error::invalid_argument("SCRAM: the client-first-message must hold n= and r=");
  }
  if (!valid_nonce(attrs[1].value)) return Error::invalid_argument("SCRAM: invalid client nonce");
  client_first_bare_ = bare;
  nonce_ = std::string(attrs[1].value) + server_nonce_;
  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(secret_.salt) +
                  ",i=" + std::to_string(secret_.iterations);
  state_ = State::kSentFirst;
  return server_first_;
}

Result<std::string> ScramServer::handle_client_final(std::string_view client_final) {
  if (state_ != State::kSentFirst) {
    return Error::failed_precondition("SCRAM: client-final-message received out of order");
  }
  state_ = State::kFailed;
  WG_ASSIGN_OR_RETURN(auto attrs, split_attributes(client_final, "client-final-message"));
  if (attrs.size() < 3 || attrs[0].name != 'c' || attrs[1].name != 'r' ||
      attrs.back().name != 'p') {
    return Error::invalid_argument("SCRAM: the client-final-message must hold c=, r= and p=");
  }
  auto cbind = base64_decode(attrs[0].value);
  if (!cbind || *cbind != gs2_header_) {
    return Error::invalid_argument("SCRAM: the channel binding does not match the gs2 header");
  }
  if (attrs[1].value != nonce_) return Error::invalid_argument("SCRAM: the nonce does not match");
  auto proof = base64_decode(attrs.back().value);
  if (!proof || proof->size() != kKeySize) return Error::invalid_argument("SCRAM: invalid proof");

  size_t without_proof_len = client_final.rfind(",p=");
  std::string auth_message = client_first_bare_ + "," + server_first_ + "," +
                             std::string(client_final.substr(0, without_proof_len));
  std::string client_signature = hmac(secret_.stored_key, auth_message);
  std::string client_key = xor_bytes(*proof, client_signature);
  bool ok = equal_constant_time(digest(EVP_sha256(), client_key), secret_.stored_key);
  OPENSSL_cleanse(client_key.data(), client_key.size());
  if (!ok) return Error::unauthenticated("SCRAM: wrong password");
  state_ = State::kDone;
  return "v=" + base64_encode(hmac(secret_.server_key, auth_message));
}

// ---- MD5 --------------------------------------------------------------------------------------

Result<std::string> md5_password_response(std::string_view user, std::string_view password,
                                          std::string_view salt) {
  if (salt.size() != 4) return Error::invalid_argument("MD5 salt must be 4 bytes");
  auto hex = [](std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (char c : bytes) {
      auto u = static_cast<unsigned char>(c);
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
    return out;
  };
  std::string inner_input = std::string(password) + std::string(user);
  std::string inner = hex(digest(EVP_md5(), inner_input));
  OPENSSL_cleanse(inner_input.data(), inner_input.size());
  std::string result = "md5" + hex(digest(EVP_md5(), inner + std::string(salt)));
  OPENSSL_cleanse(inner.data(), inner.size());
  return result;
}

}  // namespace writegate::pgwire
