// The observe stack test in network namespaces (root only): the document's queries after the
// same scripted run as on loopback (observe_stack_fixture.h), the refused logins made from the
// Lambda's namespace; then debug logging turned on through the aws CLI reaches the proxy in
// its namespace.
#include "observe/observe_stack_fixture.h"
#include "support/root_only.h"

namespace writegate {
namespace {

TEST_F(ObserveStackTest, NetnsTheDocumentsQueriesCountRefusedLoginsAndDeniedSelects) {
  WG_REQUIRE_ROOT();
  documents_queries_count_refused_logins_and_denied_selects("netns");
  // Debug logging reaches the proxy in its own namespace too (a file and SIGHUP, no socket).
  aws_env_ = credentials_env({"credentials"});
  auto modified =
      aws({"rds", "modify-db-proxy", "--db-proxy-name", "aurora-write-proxy", "--debug-logging"});
  EXPECT_EQ(modified["DBProxy"]["DebugLogging"], true) << last_output_;
  const std::size_t on_at = wait_debug_logging(true, 0);
  ASSERT_NE(on_at, 0u) << "the proxy never logged debug_logging on";
  auto invoke = run({"invoke", "--payload", kDocumentEvent});
  ASSERT_EQ(invoke.exit_code, 0) << invoke.output;
  EXPECT_GE(count_events(proxy_lines(on_at), "parse"), 1u);

  // The endpoint's listener in the proxy's namespace is there for the AWS APIs the proxy calls;
  // the operator's unsigned pages are served on the host's listener only.
  for (const std::string path : {"/metrics", "/dashboard", "/dashboard/data"}) {
    auto inside = run({"exec", "proxy", "--", "curl", "-sS", "--cacert", ca_bundle_, "-w",
                       "\nHTTP %{http_code}", "https://127.0.0.1:4566" + path});
    EXPECT_THAT(inside.output, HasSubstr("HTTP 403")) << path;
    EXPECT_THAT(inside.output, HasSubstr("MissingAuthenticationToken")) << path;
    ProcessOptions options;
    auto host = run_process(
        {"curl", "-sS", "--cacert", ca_bundle_, "-w", "\nHTTP %{http_code}", endpoint_url_ + path},
        options);
    ASSERT_TRUE(host.ok());
    EXPECT_THAT(host->output, HasSubstr("HTTP 200")) << path;
  }
}

}  // namespace
}  // namespace writegate
