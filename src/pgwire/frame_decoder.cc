#include "pgwire/frame_decoder.h"

#include <string>

#include "pgwire/messages.h"
#include "pgwire/parse.h"
#include "pgwire/wire_reader.h"

namespace writegate::pgwire {
namespace {

using internal::describe_type_byte;

uint32_t read_u32(std::string_view s, size_t at) {
  auto b = [&](size_t i) { return uint32_t{static_cast<unsigned char>(s[at + i])}; };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

// Messages whose body has one fixed size; their length word is checked before waiting for the
// body. nullopt for variable-size messages.
std::optional<size_t> fixed_body_size(Direction direction, char type) {
  if (direction == Direction::kFrontend) {
    switch (static_cast<FrontendType>(type)) {
      case FrontendType::kSync:
      case FrontendType::kFlush:
      case FrontendType::kTerminate:
      case FrontendType::kCopyDone:
        return 0;
      default:
        return std::nullopt;
    }
  }
  switch (static_cast<BackendType>(type)) {
    case BackendType::kBindComplete:
    case BackendType::kCloseComplete:
    case BackendType::kCopyDone:
    case BackendType::kEmptyQueryResponse:
    case BackendType::kNoData:
    case BackendType::kParseComplete:
    case BackendType::kPortalSuspended:
      return 0;
    case BackendType::kReadyForQuery:
      return 1;
    case BackendType::kBackendKeyData:
      return 8;
    default:
      return std::nullopt;
  }
}

}  // namespace

FrameDecoder::FrameDecoder(Direction direction, Phase phase, DecoderOptions options)
    : direction_(direction), phase_(phase), options_(options) {}

FrameDecoder FrameDecoder::frontend(DecoderOptions options) {
  return FrameDecoder(Direction::kFrontend, Phase::kStartup, options);
}

FrameDecoder FrameDecoder::frontend_after_startup(DecoderOptions options) {
  return FrameDecoder(Direction::kFrontend, Phase::kMessages, options);
}

FrameDecoder FrameDecoder::backend(DecoderOptions options) {
  return FrameDecoder(Direction::kBackend, Phase::kMessages, options);
}

void FrameDecoder::discard_consumed() {
  consumed_ += pending_;
  pending_ = 0;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ >= 4096 && consumed_ * 2 >= buffer_.size()) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
}

void FrameDecoder::feed(std::string_view bytes) {
  if (failed()) return;
  discard_consumed();
  buffer_.append(bytes);
}

void FrameDecoder::expect_encryption_response() {
  if (direction_ == Direction::kBackend) expect_encryption_response_ = true;
}

Result<Decoded> FrameDecoder::next() {
  if (error_) return *error_;
  discard_consumed();
  Result<Decoded> r = decode_one();
  if (!r) {
    error_ = r.error();
    phase_ = Phase::kFailed;
    buffer_.clear();
    consumed_ = 0;
  }
  return r;
}

Decoded FrameDecoder::take(FrameKind kind, char type, size_t header_size, size_t total_size) {
  std::string_view wire = std::string_view(buffer_).substr(consumed_, total_size);
  pending_ = total_size;
  Decoded d;
  d.status = DecodeStatus::kFrameReady;
  d.frame.kind = kind;
  d.frame.type = type;
  d.frame.wire = wire;
  d.frame.body = wire.substr(header_size);
  return d;
}

Result<Decoded> FrameDecoder::decode_one() {
  if (buffered_bytes() == 0) return Decoded{};
  if (expect_encryption_response_) return decode_encryption_response();
  switch (phase_) {
    case Phase::kStartup:
      return decode_startup_packet();
    case Phase::kMessages:
      return decode_typed_message();
    case Phase::kAfterCancel:
      return Error::invalid_argument("unexpected data after a CancelRequest");
    case Phase::kFailed:
      break;
  }
  return Error::internal("frame decoder used after failure");
}

Result<Decoded> FrameDecoder::decode_encryption_response() {
  char b = buffer_[consumed_];
  if (b == 'S' || b == 'N') {
    expect_encryption_response_ = false;
    return take(FrameKind::kEncryptionResponse, b, 1, 1);
  }
  if (b == 'E') {
    // A server too old to know the request answers with an ErrorResponse.
    expect_encryption_response_ = false;
    return decode_typed_message();
  }
  return Error::invalid_argument("invalid response " + describe_type_byte(b) +
                                 " to an encryption request (expected 'S' or 'N')");
}

Result<Decoded> FrameDecoder::decode_startup_packet() {
  std::string_view data = std::string_view(buffer_).substr(consumed_);
  if (data.size() < 4) return Decoded{};
  uint32_t length = read_u32(data, 0);
  if (length < 8) {
    // Out of range as a length over the cap is: PostgreSQL closes on both without a word.
    return Error::out_of_range("invalid startup packet length " + std::to_string(length) +
                               " (less than 8)");
  }
  size_t body_size = size_t{length} - 4;
  if (length > 0x7fffffffu || body_size > options_.limits.max_startup_packet) {
    return Error::out_of_range("startup packet length " + std::to_string(length) +
                               " exceeds the limit of " +
                               std::to_string(options_.limits.max_startup_packet + 4) + " bytes");
  }
  if (data.size() < 8) return Decoded{};
  uint32_t code = read_u32(data, 4);

  FrameKind kind = FrameKind::kStartupMessage;
  if (code == kSslRequestCode || code == kGssEncRequestCode) {
    std::string_view name = code == kSslRequestCode ? "SSLRequest" : "GSSENCRequest";
    if (length != 8) {
      return Error::invalid_argument(std::string(name) + " has length " + std::to_string(length) +
                                     " (expected 8)");
    }
    bool& seen = code == kSslRequestCode ? ssl_request_seen_ : gssenc_request_seen_;
    if (seen) return Error::invalid_argument(std::string(name) + " received twice");
    seen = true;
    kind = code == kSslRequestCode ? FrameKind::kSslRequest : FrameKind::kGssEncRequest;
  } else if (code == kCancelRequestCode) {
    if (length != 16) {
      // Out of range, as PostgreSQL sees it too: it closes without a word ("invalid length of
      // startup packet").
      return Error::out_of_range("CancelRequest has length " + std::to_string(length) +
                                 " (expected 16)");
    }
    kind = FrameKind::kCancelRequest;
  } else if ((code >> 16) != 3) {
    return Error::invalid_argument("unsupported protocol version " + std::to_string(code >> 16) +
                                   "." + std::to_string(code & 0xffff) +
                                   ": only protocol 3.x is supported");
  }

  if (data.size() < length) return Decoded{};
  if (kind == FrameKind::kStartupMessage) {
    // Always validated: everything after it depends on the startup parameters.
    auto startup = parse_startup_message(data.substr(4, body_size));
    if (!startup) return startup.error();
    phase_ = Phase::kMessages;
  } else if (kind == FrameKind::kCancelRequest) {
    phase_ = Phase::kAfterCancel;
  }
  return take(kind, '\0', 4, length);
}

Result<Decoded> FrameDecoder::decode_typed_message() {
  std::string_view data = std::string_view(buffer_).substr(consumed_);
  char type = data[0];
  bool frontend = direction_ == Direction::kFrontend;
  if (frontend ? !is_frontend_type(type) : !is_backend_type(type)) {
    return Error::invalid_argument(std::string("unknown ") + (frontend ? "frontend" : "backend") +
                                   " message type " + describe_type_byte(type));
  }
  std::string_view name = frontend ? frontend_type_name(type) : backend_type_name(type);
  if (data.size() < 5) return Decoded{};
  uint32_t length = read_u32(data, 1);
  if (length < 4) {
    return Error::invalid_argument(std::string(name) + " has invalid length " +
                                   std::to_string(length) + " (less than 4)");
  }
  size_t body_size = size_t{length} - 4;
  if (auto fixed = fixed_body_size(direction_, type); fixed && body_size != *fixed) {
    return Error::invalid_argument(std::string(name) + " has length " + std::to_string(length) +
                                   " (expected " + std::to_string(*fixed + 4) + ")");
  }
  bool password = frontend && type == static_cast<char>(FrontendType::kPasswordFamily);
  size_t cap = password ? options_.limits.max_password_message : options_.limits.max_message;
  if (length > 0x7fffffffu || body_size > cap) {
    return Error::out_of_range(std::string(name) + " length " + std::to_string(length) +
                               " exceeds the limit of " + std::to_string(cap + 4) + " bytes");
  }
  if (data.size() - 1 < length) return Decoded{};

  Decoded d = take(FrameKind::kMessage, type, 5, size_t{length} + 1);
  if (options_.validate_bodies && !password) {
    Status valid = Status::ok_status();
    if (frontend) {
      auto m = parse_frontend_message(d.frame);
      if (!m) valid = std::move(m).error();
    } else {
      auto m = parse_backend_message(d.frame);
      if (!m) valid = std::move(m).error();
    }
    if (!valid) {
      pending_ = 0;  // nothing consumed
      return std::move(valid).error();
    }
  }
  return d;
}

}  // namespace writegate::pgwire
