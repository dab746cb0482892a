// Fuzzes the client login state machine (ClientLogin) with arbitrary client bytes, fed through
// the frontend FrameDecoder in chunks as reads would bring them, and with the shell's answers
// (token verdict, admission, pool) chosen by the first byte. Beyond not crashing, what the
// proxy relies on: no step comes after the end; a token is asked for and checked only inside
// TLS; a login completes only after a good token; every refusal the client gets is exactly one
// FATAL ErrorResponse (after the 'S' for plaintext pipelined after SSLRequest); the token is
// never echoed to the client.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pgwire/frame_decoder.h"
#include "pgwire/parse.h"
#include "proxy/client_login.h"

namespace {

[[noreturn]] void invariant_failed(const char* what) {
  std::fprintf(stderr, "client login fuzz invariant failed: %s\n", what);
  std::abort();
}

#define WG_FUZZ_CHECK(cond)               \
  do {                                    \
    if (!(cond)) invariant_failed(#cond); \
  } while (false)

// The bytes are one FATAL ErrorResponse and nothing else.
bool one_fatal_error(std::string_view bytes) {
  auto decoder = writegate::pgwire::FrameDecoder::backend();
  decoder.feed(bytes);
  auto decoded = decoder.next();
  if (!decoded.ok() || !decoded->ready() || decoded->frame.type != 'E') return false;
  auto fields = writegate::pgwire::parse_error_response(decoded->frame.body);
  if (!fields.ok() || fields->severity() != "FATAL" || fields->sqlstate().size() != 5) {
    return false;
  }
  return decoder.buffered_bytes() == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace writegate;
  using namespace writegate::proxy;
  if (size == 0) return 0;
  const std::uint8_t controls = data[0];
  std::string_view client(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t chunk = (controls & 0x07u) + 1;  // bytes per "read"

  ClientLogin login(ClientLoginSettings{.databases = {"mydb"}});
  auto decoder = pgwire::FrameDecoder::frontend();
  bool ended = false;
  bool verified_ok = false;
  std::string token;
  auto check = [&](const LoginStep& step) {
    WG_FUZZ_CHECK(!ended);
    if (!token.empty() && token.size() >= 8) {
      WG_FUZZ_CHECK(step.to_client.find(token) == std::string::npos);
    }
    switch (step.action) {
      case LoginAction::kClose:
        WG_FUZZ_CHECK(login.state() == ClientLogin::State::kClosed);
        if (step.outcome == "refused" && !step.to_client.empty()) {
          std::string_view error = step.to_client;
          if (step.reason == "plaintext_after_sslrequest") {
            WG_FUZZ_CHECK(!error.empty() && error[0] == 'S');
            error.remove_prefix(1);
          }
          WG_FUZZ_CHECK(one_fatal_error(error));
        }
        ended = true;
        break;
      case LoginAction::kCancel:
        WG_FUZZ_CHECK(step.cancel.has_value() && step.to_client.empty());
        ended = true;
        break;
      case LoginAction::kDone:
        WG_FUZZ_CHECK(verified_ok && login.tls());
        ended = true;
        break;
      case LoginAction::kVerifyToken:
        WG_FUZZ_CHECK(login.tls());
        break;
      default:
        break;
    }
    return !ended;
  };

  std::size_t offset = 0;
  while (!ended) {
    auto decoded = decoder.next();
    if (!decoded) {
      check(login.on_decode_error(decoded.error()));
      break;
    }
    if (!decoded->ready()) {
      if (offset >= client.size()) {
        check(login.on_client_gone("client_closed"));
        break;
      }
      decoder.feed(client.substr(offset, chunk));
      offset += chunk;
      continue;
    }
    LoginStep step = login.on_client_frame(decoded->frame, decoder.buffered_bytes());
    // The shell's answers to what the step asked for, until it asks for the client again.
    for (;;) {
      if (!check(step)) break;
      if (step.action == LoginAction::kStartTls) {
        login.on_tls_established();
        break;
      }
      if (step.action == LoginAction::kVerifyToken) {
        token = login.token();
        AuthOutcome outcome;
        outcome.ok = (controls & 0x08u) != 0;
        outcome.reason = outcome.ok ? "ok" : "bad_signature";
        verified_ok = outcome.ok;
        step = login.on_token_verified(outcome, (controls & 0x10u) != 0);
        continue;
      }
      if (step.action == LoginAction::kFindPool) {
        if ((controls & 0x20u) != 0) {
          step = login.on_pool_ready("", pgwire::BackendKeyData{.process_id = 1, .secret_key = 2});
        } else {
          BackendLoginError failed;
          failed.reason = "backend_unreachable";
          failed.sqlstate = "57P03";
          failed.client_message = "the database is not reachable";
          step = login.on_pool_failed(failed);
        }
        continue;
      }
      break;  // kRead
    }
  }
  return 0;
}
