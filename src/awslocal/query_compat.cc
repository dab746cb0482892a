#include "awslocal/query_compat.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/time.h"

namespace writegate::awslocal {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// GetMetricData may carry 500 queries of 30 dimensions (30,000 values); names repeat their path,
// so a small nested body could otherwise grow many times over.
constexpr std::size_t kMaxParams = 40'000;
constexpr std::size_t kMaxParamBytes = 4 * 1024 * 1024;

// ---- CBOR decoding ----------------------------------------------------------------------------
// Not nlohmann's from_cbor: its reader recurses once per nested tag with no bound, so a body of
// a million 0xC1 bytes would exhaust the stack. This one counts arrays, maps and tags against a
// depth cap and refuses every tag but 1 (epoch time), as Smithy RPC v2 uses no other here.

class CborReader {
 public:
  CborReader(std::string_view in, std::size_t max_depth) : in_(in), max_depth_(max_depth) {}

  bool read_document(json& out) {
    if (!item(out, 0)) return false;
    if (pos_ != in_.size()) return fail("trailing bytes after the CBOR item");
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  static constexpr uint8_t kBreak = 0xff;

  bool fail(std::string why) {
    if (error_.empty()) error_ = std::move(why) + " (at byte " + std::to_string(pos_) + ")";
    return false;
  }
  bool byte(uint8_t& b) {
    if (pos_ >= in_.size()) return fail("the CBOR item ends early");
    b = static_cast<uint8_t>(in_[pos_++]);
    return true;
  }
  bool uint_bytes(std::size_t n, uint64_t& out) {
    if (in_.size() - pos_ < n) return fail("the CBOR item ends early");
    out = 0;
    for (std::size_t i = 0; i < n; ++i)
      out = (out << 8) | static_cast<uint8_t>(in_[pos_++]);
    return true;
  }
  // The argument of an initial byte (RFC 8949 3.1); `indefinite` for additional info 31.
  bool argument(uint8_t info, uint64_t& arg, bool& indefinite) {
    indefinite = false;
    if (info < 24) {
      arg = info;
      return true;
    }
    switch (info) {
      case 24:
        return uint_bytes(1, arg);
      case 25:
        return uint_bytes(2, arg);
      case 26:
        return uint_bytes(4, arg);
      case 27:
        return uint_bytes(8, arg);
      case 31:
        indefinite = true;
        return true;
      default:
        return fail("reserved CBOR additional information " + std::to_string(info));
    }
  }
  bool at_break() const { return pos_ < in_.size() && static_cast<uint8_t>(in_[pos_]) == kBreak; }
  // A definite string's bytes, or an indefinite one's chunks (each of the same major type).
  bool string_bytes(uint8_t major, uint64_t length, bool indefinite, std::string& out) {
    if (!indefinite) {
      if (length > in_.size() - pos_) return fail("a CBOR string is longer than the body");
      out.append(in_.substr(pos_, length));
      pos_ += length;
      return true;
    }
    while (!at_break()) {
      uint8_t head = 0;
      if (!byte(head)) return false;
      uint64_t chunk = 0;
      bool chunk_indefinite = false;
      if ((head >> 5) != major) return fail("a CBOR string chunk of another type");
      if (!argument(head & 0x1f, chunk, chunk_indefinite)) return false;
      if (chunk_indefinite) return fail("a nested indefinite CBOR string");
      if (!string_bytes(major, chunk, false, out)) return false;
    }
    ++pos_;  // the break
    return true;
  }
  static bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
      const auto c = static_cast<uint8_t>(s[i]);
      std::size_t n = 0;
      uint32_t cp = 0;
      if (c < 0x80) {
        ++i;
        continue;
      } else if ((c & 0xe0) == 0xc0) {
        n = 1;
        cp = c & 0x1f;
      } else if ((c & 0xf0) == 0xe0) {
        n = 2;
        cp = c & 0x0f;
      } else if ((c & 0xf8) == 0xf0) {
        n = 3;
        cp = c & 0x07;
      } else {
        return false;
      }
      if (s.size() - i <= n) return false;
      for (std::size_t k = 1; k <= n; ++k) {
        const auto cc = static_cast<uint8_t>(s[i + k]);
        if ((cc & 0xc0) != 0x80) return false;
        cp = (cp << 6) | (cc & 0x3f);
      }
      static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
      if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
      i += n + 1;
    }
    return true;
  }
  static double half_to_double(uint16_t h) {
    const int exponent = (h >> 10) & 0x1f;
    const int mantissa = h & 0x3ff;
    double value = 0;
    if (exponent == 0) {
      value = std::ldexp(mantissa, -24);
    } else if (exponent != 31) {
      value = std::ldexp(mantissa + 1024, exponent - 25);
    } else {
      value = mantissa == 0 ? std::numeric_limits<double>::infinity()
                            : std::numeric_limits<double>::quiet_NaN();
    }
    return (h & 0x8000) ? -value : value;
  }

  bool item(json& out, std::size_t depth) {
    if (depth > max_depth_) return fail("CBOR nested deeper than " + std::to_string(max_depth_));
    uint8_t head = 0;
    if (!byte(head)) return false;
    const uint8_t major = head >> 5;
    const uint8_t info = head & 0x1f;
    if (major == 7) return simple(info, out);
    uint64_t arg = 0;
    bool indefinite = false;
    if (!argument(info, arg, indefinite)) return false;
    switch (major) {
      case 0:
        if (indefinite) return fail("an indefinite CBOR integer");
        out = arg;
        return true;
      case 1:
        if (indefinite) return fail("an indefinite CBOR integer");
        if (arg > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return fail("a CBOR negative integer below -2^63");
        }
        out = -1 - static_cast<int64_t>(arg);
        return true;
      case 2: {
        std::string bytes;
        if (!string_bytes(2, arg, indefinite, bytes)) return false;
        out = json::binary(json::binary_t::container_type(bytes.begin(), bytes.end()));
        return true;
      }
      case 3: {
        std::string text;
        if (!string_bytes(3, arg, indefinite, text)) return false;
        if (!valid_utf8(text)) return fail("a CBOR text string that is not UTF-8");
        out = std::move(text);
        return true;
      }
      case 4: {
        out = json::array();
        for (uint64_t i = 0; indefinite ? !at_break() : i < arg; ++i) {
          // Every item takes at least one byte: a count past the body is refused at once.
          if (pos_ >= in_.size()) return fail("the CBOR array ends early");
          json element;
          if (!item(element, depth + 1)) return false;
          out.push_back(std::move(element));
        }
        if (indefinite) ++pos_;
        return true;
      }
      case 5: {
        out = json::object();
        for (uint64_t i = 0; indefinite ? !at_break() : i < arg; ++i) {
          if (pos_ >= in_.size()) return fail("the CBOR map ends early");
          json key;
          if (!item(key, depth + 1)) return false;
          if (!key.is_string()) return fail("a CBOR map key that is not a text string");
          const std::string name = key.get<std::string>();
          if (out.contains(name))
            return fail("the CBOR map key '" + name.substr(0, 64) + "' twice");
          json value;
          if (!item(value, depth + 1)) return false;
          out[name] = std::move(value);
        }
        if (indefinite) ++pos_;
        return true;
      }
      case 6: {
        if (indefinite || arg != 1) return fail("CBOR tag " + std::to_string(arg) + " (only 1)");
        if (!item(out, depth + 1)) return false;
        if (!out.is_number()) return fail("CBOR tag 1 on something else than a number");
        return true;
      }
    }
    return fail("unknown CBOR major type");
  }

  bool simple(uint8_t info, json& out) {
    uint64_t bits = 0;
    switch (info) {
      case 20:
        out = false;
        return true;
      case 21:
        out = true;
        return true;
      case 22:
      case 23:  // undefined: absent, as null
        out = nullptr;
        return true;
      case 25:
        if (!uint_bytes(2, bits)) return false;
        out = half_to_double(static_cast<uint16_t>(bits));
        return true;
      case 26: {
        if (!uint_bytes(4, bits)) return false;
        out = static_cast<double>(std::bit_cast<float>(static_cast<uint32_t>(bits)));
        return true;
      }
      case 27:
        if (!uint_bytes(8, bits)) return false;
        out = std::bit_cast<double>(bits);
        return true;
      case 31:
        return fail("a CBOR break outside an indefinite item");
      default:
        return fail("CBOR simple value " + std::to_string(info));
    }
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  std::size_t max_depth_;
  std::string error_;
};

// ---- CBOR encoding ----------------------------------------------------------------------------

void put_head(std::string& out, uint8_t major, uint64_t arg) {
  const auto first = static_cast<char>(major << 5);
  if (arg < 24) {
    out += static_cast<char>(first | static_cast<char>(arg));
    return;
  }
  int bytes = 8;
  char info = 27;
  if (arg <= 0xff) {
    bytes = 1;
    info = 24;
  } else if (arg <= 0xffff) {
    bytes = 2;
    info = 25;
  } else if (arg <= 0xffffffffULL) {
    bytes = 4;
    info = 26;
  }
  out += static_cast<char>(first | info);
  for (int i = bytes - 1; i >= 0; --i)
    out += static_cast<char>((arg >> (8 * i)) & 0xff);
}

void put_double(std::string& out, double v) {
  out += static_cast<char>(0xfb);
  const auto bits = std::bit_cast<uint64_t>(v);
  for (int i = 7; i >= 0; --i)
    out += static_cast<char>((bits >> (8 * i)) & 0xff);
}

bool named(const std::vector<std::string_view>& names, std::string_view key) {
  return std::find(names.begin(), names.end(), key) != names.end();
}

void encode(std::string& out, const ordered_json& v, bool timestamp,
            const std::vector<std::string_view>& timestamp_members) {
  if (timestamp && v.is_number()) out += static_cast<char>(0xc1);  // tag 1: epoch seconds
  switch (v.type()) {
    case ordered_json::value_t::null:
    case ordered_json::value_t::discarded:
      out += static_cast<char>(0xf6);
      return;
    case ordered_json::value_t::boolean:
      out += static_cast<char>(v.get<bool>() ? 0xf5 : 0xf4);
      return;
    case ordered_json::value_t::number_unsigned:
      put_head(out, 0, v.get<uint64_t>());
      return;
    case ordered_json::value_t::number_integer: {
      const auto n = v.get<int64_t>();
      if (n >= 0) {
        put_head(out, 0, static_cast<uint64_t>(n));
      } else {
        put_head(out, 1, static_cast<uint64_t>(-(n + 1)));
      }
      return;
    }
    case ordered_json::value_t::number_float:
      put_double(out, v.get<double>());
      return;
    case ordered_json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      put_head(out, 3, s.size());
      out += s;
      return;
    }
    case ordered_json::value_t::binary: {
      const auto& b = v.get_binary();
      put_head(out, 2, b.size());
      out.append(b.begin(), b.end());
      return;
    }
    case ordered_json::value_t::array:
      put_head(out, 4, v.size());
      for (const auto& element : v)
        encode(out, element, timestamp, timestamp_members);
      return;
    case ordered_json::value_t::object:
      put_head(out, 5, v.size());
      for (const auto& [key, value] : v.items()) {
        put_head(out, 3, key.size());
        out += key;
        encode(out, value, named(timestamp_members, key), timestamp_members);
      }
      return;
  }
}

// ---- a body as query parameters -----------------------------------------------------------------

// The shortest text that reads back as `v` (60.0 -> "60").
std::string shortest(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("nan");
}

ApiError serialization(std::string message) {
  return make_error(400, "SerializationException", std::move(message));
}

class Flattener {
 public:
  explicit Flattener(const std::vector<std::string_view>& timestamp_members)
      : timestamp_members_(timestamp_members) {}

  std::optional<ApiError> value(const json& v, const std::string& name, bool timestamp) {
    switch (v.type()) {
      case json::value_t::null:
        return std::nullopt;  // absent, as AWS JSON reads null
      case json::value_t::object:
        if (timestamp) return not_a_timestamp(name);
        for (const auto& [key, member] : v.items()) {
          if (key.empty() || key.size() > 128 || key.find('.') != std::string::npos) {
            return serialization("'" + key.substr(0, 64) + "' is not a member name");
          }
          if (auto e = value(member, name.empty() ? key : name + "." + key,
                             named(timestamp_members_, key))) {
            return e;
          }
        }
        return std::nullopt;
      case json::value_t::array:
        if (name.empty()) return serialization("the body must be an object, not an array");
        for (std::size_t i = 0; i < v.size(); ++i) {
          if (auto e = value(v[i], name + ".member." + std::to_string(i + 1), timestamp)) return e;
        }
        return std::nullopt;
      case json::value_t::string:
        if (timestamp) return not_a_timestamp(name);
        return add(name, v.get_ref<const std::string&>());
      case json::value_t::boolean:
        if (timestamp) return not_a_timestamp(name);
        return add(name, v.get<bool>() ? "true" : "false");
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
      case json::value_t::number_float: {
        if (!timestamp) {
          return add(name, v.is_number_float() ? shortest(v.get<double>()) : v.dump());
        }
        const double seconds = v.get<double>();
        // 1970 to 2255: what the system clock's nanoseconds hold (and AWS takes).
        if (!std::isfinite(seconds) || seconds < 0 || seconds >= 9'000'000'000.0) {
          return not_a_timestamp(name);
        }
        // Whole seconds as the query API's clients write them ("...T08:00:00Z").
        const auto ms = static_cast<int64_t>(std::floor(seconds * 1000.0));
        const SystemTime at{std::chrono::milliseconds(ms)};
        return add(name, ms % 1000 == 0 ? format_iso8601(at) : format_iso8601_millis(at));
      }
      case json::value_t::binary:
      case json::value_t::discarded:
        return serialization("'" + name.substr(0, 128) + "' holds bytes, which no member takes");
    }
    return serialization("unexpected value");
  }

  std::vector<sigv4::QueryParam> take() { return std::move(params_); }

 private:
  std::optional<ApiError> add(const std::string& name, std::string value) {
    bytes_ += name.size() + value.size();
    if (params_.size() >= kMaxParams || bytes_ > kMaxParamBytes) {
      return serialization("the request has more members than this endpoint reads (" +
                           std::to_string(kMaxParams) + " values, " +
                           std::to_string(kMaxParamBytes / (1024 * 1024)) + " MiB)");
    }
    params_.push_back({name, std::move(value)});
    return std::nullopt;
  }
  static ApiError not_a_timestamp(const std::string& name) {
    return serialization("'" + name.substr(0, 128) +
                         "' must be a timestamp: a number of seconds since 1970");
  }

  const std::vector<std::string_view>& timestamp_members_;
  std::vector<sigv4::QueryParam> params_;
  std::size_t bytes_ = 0;
};

}  // namespace

std::variant<json, std::string> cbor_decode(std::string_view bytes, std::size_t max_depth) {
  CborReader reader(bytes, max_depth);
  json out;
  if (!reader.read_document(out)) return reader.error();
  return out;
}

std::string cbor_encode(const ordered_json& value,
                        const std::vector<std::string_view>& timestamp_members) {
  std::string out;
  encode(out, value, false, timestamp_members);
  return out;
}

std::variant<std::vector<sigv4::QueryParam>, ApiError> query_params_from_body(
    Protocol protocol, std::string_view body,
    const std::vector<std::string_view>& timestamp_members) {
  if (body.empty()) return std::vector<sigv4::QueryParam>{};
  json document;
  if (protocol == Protocol::kRpcV2Cbor) {
    auto decoded = cbor_decode(body);
    if (auto* why = std::get_if<std::string>(&decoded)) {
      return serialization("the body is not valid CBOR: " + *why);
    }
    document = std::move(std::get<json>(decoded));
  } else {
    document = json::parse(body, nullptr, false);
    if (document.is_discarded()) return serialization("the body is not valid JSON");
  }
  if (!document.is_object()) return serialization("the body must be an object");
  Flattener flattener(timestamp_members);
  if (auto e = flattener.value(document, "", false)) return *e;
  return flattener.take();
}

Response document_response(Protocol protocol, const ordered_json& document,
                           const std::vector<std::string_view>& timestamp_members,
                           std::string_view request_id) {
  Response r;
  r.status = 200;
  r.headers.push_back({"x-amzn-RequestId", std::string(request_id)});
  if (protocol == Protocol::kRpcV2Cbor) {
    r.headers.push_back({"Content-Type", "application/cbor"});
    r.headers.push_back({"smithy-protocol", "rpc-v2-cbor"});
    r.body = cbor_encode(document, timestamp_members);
  } else {
    r.headers.push_back({"Content-Type", "application/x-amz-json-1.0"});
    r.body = document.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return r;
}

}  // namespace writegate::awslocal
