// Fuzzes the SCRAM exchange and base64. Input: "<server-first>\n<server-final>" for the client,
// and the same two lines as client-first/client-final for a server.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "pgwire/scram.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace writegate;
  using namespace writegate::pgwire;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string_view first = in.substr(0, nl);
  std::string_view second = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);

  auto decoded = base64_decode(in);
  if (decoded.ok()) {
    auto again = base64_decode(base64_encode(*decoded));
    WG_FUZZ_CHECK(again.ok() && *again == *decoded, "base64 round trip");
  }
  auto round = base64_decode(base64_encode(in));
  WG_FUZZ_CHECK(round.ok() && *round == in, "base64 encode then decode");

  ScramClientOptions options;
  options.client_nonce = "fuzznonce";
  options.max_iterations = 64;  // keep PBKDF2 cheap
  auto client = ScramClient::create("pencil", options);
  WG_FUZZ_CHECK(client.ok(), "client");
  auto client_final = client->handle_server_first(first);
  if (client_final.ok()) {
    WG_FUZZ_CHECK(client_final->starts_with("c=biws,r=fuzznonce"), *client_final);
    Status s = client->verify_server_final(second);
    WG_FUZZ_CHECK(s.ok() == client->authenticated(), "authenticated iff verified");
  }

  auto secret = make_scram_secret("pencil", "salt", 2);
  WG_FUZZ_CHECK(secret.ok(), "secret");
  auto server = ScramServer::create(*secret, "srv");
  WG_FUZZ_CHECK(server.ok(), "server");
  auto server_first = server->handle_client_first(first);
  if (server_first.ok()) {
    auto server_final = server->handle_client_final(second);
    WG_FUZZ_CHECK(server_final.ok() == server->authenticated(), "server authenticated");
  }
  auto parsed = parse_scram_secret(in);
  if (parsed.ok()) {
    auto again = parse_scram_secret(format_scram_secret(*parsed));
    WG_FUZZ_CHECK(again.ok() && *again == *parsed, "secret round trip");
  }
  return 0;
}
