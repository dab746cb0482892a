// A CloudFormation template as YAML with the short intrinsic tags (`!Ref`, `!GetAtt A.B`,
// `!Sub`, ...), from the JSON form of the same template: a one-key mapping whose key is `Ref`,
// `Condition` (inside a condition) or `Fn::X` becomes the tag `!X` on its argument.
//
//   nlohmann::ordered_json doc = {{"Resources", ...}};
//   std::string yaml = deploy::to_cloudformation_yaml(doc);   // deterministic: key order kept
//
// Strings are written plain where YAML 1.1 and 1.2 both read them back as the same string, and
// double-quoted (JSON escapes, which YAML's double-quoted style shares) otherwise; multi-line
// strings become literal blocks when they can round-trip exactly. What the writer emits reads
// back (yaml-cpp, PyYAML, cfn-lint) as the JSON it was given.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace writegate::deploy {

std::string to_cloudformation_yaml(const nlohmann::ordered_json& document);

// Would `text` read back as this same string when written without quotes?
bool is_plain_yaml_scalar(const std::string& text);

}  // namespace writegate::deploy
