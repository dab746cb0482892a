// The observe stack test in network namespaces (root only): the document's queries after the
// same scripted run as on loopback (observe_stack_fixture.h), the refused logins made from the
// Lambda's namespace.
#include "observe/observe_stack_fixture.h"
#include "support/root_only.h"

namespace writegate {
namespace {

TEST_F(ObserveStackTest, NetnsTheDocumentsQueriesCountRefusedLoginsAndDeniedSelects) {
  WG_REQUIRE_ROOT();
  documents_queries_count_refused_logins_and_denied_selects("netns");
}

}  // namespace
}  // namespace writegate
