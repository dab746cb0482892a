// Fuzzes what a client can send: the frontend FrameDecoder (startup phase and typed messages,
// fed in chunks) and every frontend parser. Input: one control byte (bits 0-3: chunk size,
// 0 = all at once; bit 4: start after the startup phase), then the byte stream.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "pgwire/frame_decoder.h"
#include "pgwire/parse.h"

namespace writegate::pgwire::fuzz {
namespace {

void parse_all_frontend(std::string_view body, char frame_type) {
  // Every parser over every body; each must either refuse or round-trip.
  check_round_trip(parse_query(body), 'Q', body);
  check_round_trip(parse_parse(body), 'P', body);
  check_round_trip(parse_bind(body), 'B', body);
  check_round_trip(parse_describe(body), 'D', body);
  check_round_trip(parse_execute(body), 'E', body);
  check_round_trip(parse_close(body), 'C', body);
  check_round_trip(parse_sync(body), 'S', body);
  check_round_trip(parse_flush(body), 'H', body);
  check_round_trip(parse_terminate(body), 'X', body);
  check_round_trip(parse_function_call(body), 'F', body);
  check_round_trip(parse_copy_fail(body), 'f', body);
  check_round_trip(parse_copy_data(body), 'd', body);
  check_round_trip(parse_copy_done(body), 'c', body);
  check_round_trip(parse_password_message(body), 'p', body);
  check_round_trip(parse_sasl_initial_response(body), 'p', body);
  check_round_trip(parse_sasl_response(body), 'p', body);
  check_round_trip(parse_gss_response(body), 'p', body);
  (void)frame_type;
}

void check_startup_frame(const Frame& f) {
  Result<StartupPacket> p = parse_startup_packet(f);
  // The decoder hands out only valid startup packets.
  WG_FUZZ_CHECK(p.ok(), p.ok() ? "" : p.error().to_string());
  Result<std::string> bytes = encode(*p);
  WG_FUZZ_CHECK(bytes.ok() && *bytes == f.wire, "startup packet round trip");
}

void check_typed_frame(const Frame& f) {
  WG_FUZZ_CHECK(f.wire.size() == f.body.size() + 5, "frame sizes");
  if (f.type == 'p') {
    for (PasswordKind k : {PasswordKind::kPassword, PasswordKind::kSaslInitialResponse,
                           PasswordKind::kSaslResponse, PasswordKind::kGssResponse}) {
      Result<FrontendMessage> m = parse_frontend_message(f, k);
      if (m.ok()) {
        Result<std::string> bytes = encode(*m);
        WG_FUZZ_CHECK(bytes.ok() && *bytes == f.wire, "'p' round trip");
      }
    }
  } else {
    Result<FrontendMessage> m = parse_frontend_message(f);
    WG_FUZZ_CHECK(m.ok(), m.ok() ? "" : m.error().to_string());
    Result<std::string> bytes = encode(*m);
    WG_FUZZ_CHECK(bytes.ok() && *bytes == f.wire, std::string("round trip of ") + f.type);
  }
  parse_all_frontend(f.body, f.type);
}

}  // namespace
}  // namespace writegate::pgwire::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace writegate;
  using namespace writegate::pgwire;
  using namespace writegate::pgwire::fuzz;
  if (size == 0) return 0;
  Control c = control(data[0]);
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  parse_all_frontend(stream, '\0');
  check_round_trip(parse_startup_message(stream), '\0', stream);
  check_round_trip(parse_cancel_request(stream), '\0', stream);

  DecoderOptions options;
  options.limits.max_message = 4096;
  options.limits.max_password_message = 8192;
  FrameDecoder d =
      c.mode ? FrameDecoder::frontend_after_startup(options) : FrameDecoder::frontend(options);
  size_t chunk = c.chunk == 0 ? stream.size() : c.chunk;
  for (size_t pos = 0; pos < stream.size(); pos += chunk) {
    d.feed(stream.substr(pos, chunk));
    for (;;) {
      auto r = d.next();
      if (!r.ok()) {
        WG_FUZZ_CHECK(d.failed(), "an error leaves the decoder failed");
        auto again = d.next();
        WG_FUZZ_CHECK(!again.ok() && again.error().message() == r.error().message(),
                      "the same error again");
        return 0;
      }
      if (!r->ready()) break;
      if (r->frame.kind == FrameKind::kMessage) {
        check_typed_frame(r->frame);
      } else {
        check_startup_frame(r->frame);
      }
    }
  }
  return 0;
}
