// Fuzzes what a server can send: the backend FrameDecoder (optionally starting with the 'S'/'N'
// answer to SSLRequest) fed in chunks, and every backend parser. Input: one control byte
// (bits 0-3: chunk size, 0 = all at once; bit 4: expect an encryption response first), then
// the byte stream.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "pgwire/frame_decoder.h"
#include "pgwire/parse.h"

namespace writegate::pgwire::fuzz {
namespace {

void parse_all_backend(std::string_view body) {
  check_round_trip(parse_authentication(body), 'R', body);
  check_round_trip(parse_backend_key_data(body), 'K', body);
  check_round_trip(parse_parameter_status(body), 'S', body);
  check_round_trip(parse_negotiate_protocol_version(body), 'v', body);
  check_round_trip(parse_ready_for_query(body), 'Z', body);
  check_round_trip(parse_error_response(body), 'E', body);
  check_round_trip(parse_notice_response(body), 'N', body);
  check_round_trip(parse_notification_response(body), 'A', body);
  check_round_trip(parse_parse_complete(body), '1', body);
  check_round_trip(parse_bind_complete(body), '2', body);
  check_round_trip(parse_close_complete(body), '3', body);
  check_round_trip(parse_no_data(body), 'n', body);
  check_round_trip(parse_empty_query_response(body), 'I', body);
  check_round_trip(parse_portal_suspended(body), 's', body);
  check_round_trip(parse_parameter_description(body), 't', body);
  check_round_trip(parse_row_description(body), 'T', body);
  check_round_trip(parse_data_row(body), 'D', body);
  check_round_trip(parse_command_complete(body), 'C', body);
  check_round_trip(parse_function_call_response(body), 'V', body);
  check_round_trip(parse_copy_in_response(body), 'G', body);
  check_round_trip(parse_copy_out_response(body), 'H', body);
  check_round_trip(parse_copy_both_response(body), 'W', body);
  check_round_trip(parse_copy_data(body), 'd', body);
  check_round_trip(parse_copy_done(body), 'c', body);
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
  parse_all_backend(stream);

  DecoderOptions options;
  options.limits.max_message = 4096;
  FrameDecoder d = FrameDecoder::backend(options);
  if (c.mode) d.expect_encryption_response();
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
      const Frame& f = r->frame;
      if (f.kind == FrameKind::kEncryptionResponse) {
        WG_FUZZ_CHECK(f.wire == "S" || f.wire == "N", "encryption response byte");
        continue;
      }
      WG_FUZZ_CHECK(f.kind == FrameKind::kMessage, "backend frames are typed");
      Result<BackendMessage> m = parse_backend_message(f);
      WG_FUZZ_CHECK(m.ok(), m.ok() ? "" : m.error().to_string());
      Result<std::string> bytes = encode(*m);
      WG_FUZZ_CHECK(bytes.ok() && *bytes == f.wire, std::string("round trip of ") + f.type);
      parse_all_backend(f.body);
    }
  }
  return 0;
}
