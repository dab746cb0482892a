// Internal to pgwire (not a public header): a bounds-checked big-endian reader over a message
// body whose every failure is an Error naming the message and the field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace writegate::pgwire::internal {

class WireReader {
 public:
  WireReader(std::string_view message_name, std::string_view body)
      : message_(message_name), data_(body) {}

  size_t remaining() const { return data_.size() - pos_; }

  Result<uint8_t> u8(std::string_view what) {
    WG_RETURN_IF_ERROR(need(1, what));
    return static_cast<uint8_t>(data_[pos_++]);
  }
  Result<uint16_t> u16(std::string_view what) {
    WG_RETURN_IF_ERROR(need(2, what));
    uint16_t v = static_cast<uint16_t>((byte(pos_) << 8) | byte(pos_ + 1));
    pos_ += 2;
    return v;
  }
  Result<int16_t> i16(std::string_view what) {
    WG_ASSIGN_OR_RETURN(uint16_t v, u16(what));
    return static_cast<int16_t>(v);
  }
  Result<uint32_t> u32(std::string_view what) {
    WG_RETURN_IF_ERROR(need(4, what));
    uint32_t v = (uint32_t{byte(pos_)} << 24) | (uint32_t{byte(pos_ + 1)} << 16) |
                 (uint32_t{byte(pos_ + 2)} << 8) | uint32_t{byte(pos_ + 3)};
    pos_ += 4;
    return v;
  }
  Result<int32_t> i32(std::string_view what) {
    WG_ASSIGN_OR_RETURN(uint32_t v, u32(what));
    return static_cast<int32_t>(v);
  }
  // A NUL-terminated string that ends inside the body; the NUL is consumed, not returned.
  Result<std::string_view> cstring(std::string_view what) {
    size_t nul = data_.find('\0', pos_);
    if (nul == std::string_view::npos) {
      return Error::invalid_argument(std::string(message_) + ": " + std::string(what) +
                                     " is not NUL-terminated");
    }
    std::string_view s = data_.substr(pos_, nul - pos_);
    pos_ = nul + 1;
    return s;
  }
  Result<std::string_view> bytes(size_t n, std::string_view what) {
    WG_RETURN_IF_ERROR(need(n, what));
    std::string_view s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string_view rest() {
    std::string_view s = data_.substr(pos_);
    pos_ = data_.size();
    return s;
  }
  // An Int32 length then that many bytes; -1 is NULL (returned as nullopt via `is_null`).
  Result<std::string_view> nullable_bytes(std::string_view what, bool& is_null) {
    WG_ASSIGN_OR_RETURN(int32_t len, i32(what));
    is_null = false;
    if (len == -1) {
      is_null = true;
      return std::string_view();
    }
    if (len < 0) {
      return fail(std::string(what) + " has invalid length " + std::to_string(len));
    }
    return bytes(static_cast<size_t>(len), what);
  }
  Status expect_end() {
    if (pos_ == data_.size()) return Status::ok_status();
    return fail(std::to_string(remaining()) + " unexpected trailing byte" +
                (remaining() == 1 ? "" : "s"));
  }

  Error fail(std::string what) const {
    return Error::invalid_argument(std::string(message_) + ": " + what);
  }

 private:
  unsigned byte(size_t i) const { return static_cast<unsigned char>(data_[i]); }
  Status need(size_t n, std::string_view what) const {
    if (remaining() >= n) return Status::ok_status();
    return Error::invalid_argument(
        std::string(message_) + ": message is truncated: " + std::string(what) + " needs " +
        std::to_string(n) + " bytes, " + std::to_string(remaining()) + " left");
  }

  std::string_view message_;
  std::string_view data_;
  size_t pos_ = 0;
};

// "'Q' (0x51)" for printable type bytes, "0x00" for the others.
inline std::string describe_type_byte(char type) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto u = static_cast<unsigned char>(type);
  std::string hex = {'0', 'x', kHex[u >> 4], kHex[u & 15]};
  if (u >= 0x21 && u < 0x7f) return std::string("'") + type + "' (" + hex + ")";
  return hex;
}

}  // namespace writegate::pgwire::internal
