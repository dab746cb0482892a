// Fuzzes the IAM policy parser (identity and trust) and, for documents that parse, the evaluator
// and the linter: no input may crash, hang or trip a sanitizer.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "iam/evaluator.h"
#include "iam/lint.h"
#include "iam/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace writegate::iam;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)lint_policy(text);
  for (PolicyKind kind : {PolicyKind::kIdentity, PolicyKind::kTrust}) {
    auto policy = parse_policy(text, kind);
    if (!policy) continue;
    NamedPolicy named{"fuzz", std::make_shared<const Policy>(std::move(*policy))};
    RequestContext request;
    request.principal.arn = "arn:aws:iam::123456789012:user/alice";
    request.principal.account = "123456789012";
    request.principal.name = "alice";
    request.action = "rds-db:connect";
    request.resource = "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/u";
    request.keys.add("aws:SourceIp", "10.0.0.1");
    request.keys.add("aws:TagKeys", "a");
    request.keys.add("aws:TagKeys", "b*");
    add_global_keys(request,
                    std::chrono::system_clock::time_point(std::chrono::seconds(1767225600)));
    (void)evaluate(std::span<const NamedPolicy>(&named, 1), request);
  }
  return 0;
}
