// writegate::pgwire::FrameDecoder — splits a PostgreSQL v3 byte stream into frames.
//
// No sockets: the owner feeds the bytes it read and asks for the next frame. next() answers
// NeedMoreData, a complete frame, or an error. A frame is handed out only once it is complete
// and valid (length within the caps, known type byte, and — unless switched off — a body that
// the typed parser of pgwire/parse.h accepts); nothing is consumed before that. Any error is
// terminal: the stream is out of sync, the decoder stays failed and returns the same error
// from then on, so the connection must be closed (after sending an ErrorResponse, 08P01).
//
// Every length the peer sends is checked against Limits as soon as the 5-byte (or 4-byte)
// header has arrived, so a peer cannot make the decoder wait for, or buffer, more than the cap.
// Call next() until it answers NeedMoreData after each feed(): the buffer then never holds more
// than one capped frame plus the last read.
//
// A frontend decoder (what a client sends) starts in the untyped startup phase: SSLRequest,
// GSSENCRequest (each at most once), CancelRequest (ends the stream) or StartupMessage (moves
// on to typed messages). A backend decoder (what a server sends) is typed from the start; call
// expect_encryption_response() after sending SSLRequest/GSSENCRequest to read the one-byte
// 'S'/'N' answer.
//
//   auto decoder = pgwire::FrameDecoder::frontend();
//   decoder.feed(bytes_read_from_socket);
//   for (;;) {
//     WG_ASSIGN_OR_RETURN(pgwire::Decoded d, decoder.next());   // error: close the connection
//     if (!d.ready()) break;                                     // read more bytes
//     if (d.frame.kind == pgwire::FrameKind::kStartupMessage) {
//       WG_ASSIGN_OR_RETURN(auto startup, pgwire::parse_startup_message(d.frame.body));
//       ...
//     }
//   }
//
// Security note: after answering an SSLRequest with 'S' (or, as a client, receiving 'S'), check
// buffered_bytes() == 0 before the TLS handshake: bytes that arrived in plaintext before the
// handshake must not be treated as if they came over TLS (CVE-2021-23214 / CVE-2021-23222).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace writegate::pgwire {

// Caps on the body size (the bytes after the 4-byte length word) of what a peer sends.
struct Limits {
  // Untyped first packets; PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
  size_t max_startup_packet = 10000;
  // Frontend 'p' messages (password, SASL, GSS). RDS IAM tokens are long; must be >= 64 KiB.
  size_t max_password_message = 128 * 1024;
  // Every other typed message; PostgreSQL's PQ_LARGE_MESSAGE_LIMIT (1 GiB - 1) by default.
  // A proxy should set a lower value.
  size_t max_message = 0x3fffffff;
};

struct DecoderOptions {
  Limits limits;
  // Run the typed parser over each frame before handing it out, so that every frame that
  // leaves the decoder is well-formed. Frontend 'p' frames are only length-checked (their
  // meaning depends on the authentication state): parse them with parse_password_family().
  bool validate_bodies = true;
};

enum class FrameKind {
  kMessage,             // a typed message: `type` + `body`
  kSslRequest,          // untyped, frontend startup phase
  kGssEncRequest,       // untyped, frontend startup phase
  kCancelRequest,       // untyped, frontend startup phase; the stream ends after it
  kStartupMessage,      // untyped, frontend startup phase
  kEncryptionResponse,  // backend: the single byte 'S' or 'N' answering SSLRequest/GSSENCRequest
};

// A view of one complete frame inside the decoder's buffer. The views stay valid until the
// next call to a non-const member of the decoder.
struct Frame {
  FrameKind kind = FrameKind::kMessage;
  // kMessage: the type byte. kEncryptionResponse: 'S' or 'N'. Otherwise '\0'.
  char type = 0;
  // kMessage: the bytes after the length word. Untyped packets: the bytes after the length
  // word, starting with the 4-byte request code / protocol version. kEncryptionResponse: "".
  std::string_view body;
  // The whole frame as received (type byte and length included), for relaying unchanged.
  std::string_view wire;
};

enum class DecodeStatus {
  kNeedMoreData,
  kFrameReady,
};

struct Decoded {
  DecodeStatus status = DecodeStatus::kNeedMoreData;
  Frame frame;  // meaningful when status == kFrameReady
  bool ready() const { return status == DecodeStatus::kFrameReady; }
};

enum class Direction {
  kFrontend,  // decodes what a client sends (the proxy's client side)
  kBackend,   // decodes what a server sends (the proxy's server side)
};

class FrameDecoder {
 public:
  enum class Phase {
    kStartup,      // frontend: untyped first packets
    kMessages,     // typed messages
    kAfterCancel,  // frontend: a CancelRequest was decoded; any further byte is an error
    kFailed,       // terminal
  };

  // A decoder of client bytes, starting in the untyped startup phase.
  static FrameDecoder frontend(DecoderOptions options = {});
  // A decoder of client bytes for a session whose startup is already done (typed phase).
  static FrameDecoder frontend_after_startup(DecoderOptions options = {});
  // A decoder of server bytes.
  static FrameDecoder backend(DecoderOptions options = {});

  // Appends bytes read from the peer. Ignored once failed. Invalidates earlier Frame views.
  void feed(std::string_view bytes);

  // Consumes the previous frame and decodes the next one.
  Result<Decoded> next();

  // Backend direction: the next byte is the server's answer to SSLRequest or GSSENCRequest
  // ('S' or 'N', handed out as a kEncryptionResponse frame). An 'E' is decoded as the
  // ErrorResponse of a server that does not know the request; any other byte is an error.
  void expect_encryption_response();

  Direction direction() const { return direction_; }
  Phase phase() const { return phase_; }
  bool failed() const { return phase_ == Phase::kFailed; }
  // Bytes fed but not yet handed out in a frame.
  size_t buffered_bytes() const { return buffer_.size() - consumed_ - pending_; }
  const DecoderOptions& options() const { return options_; }

 private:
  FrameDecoder(Direction direction, Phase phase, DecoderOptions options);

  void discard_consumed();
  Result<Decoded> decode_one();
  Result<Decoded> decode_startup_packet();
  Result<Decoded> decode_encryption_response();
  Result<Decoded> decode_typed_message();
  Decoded take(FrameKind kind, char type, size_t header_size, size_t total_size);

  Direction direction_;
  Phase phase_;
  DecoderOptions options_;
  std::string buffer_;
  size_t consumed_ = 0;  // bytes of buffer_ handed out already
  size_t pending_ = 0;   // bytes of the frame handed out last, consumed at the next call
  bool expect_encryption_response_ = false;
  bool ssl_request_seen_ = false;
  bool gssenc_request_seen_ = false;
  std::optional<Error> error_;
};

}  // namespace writegate::pgwire
