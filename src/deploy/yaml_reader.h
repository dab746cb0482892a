// Reads a CloudFormation template in YAML (short intrinsic tags included) or JSON into its JSON
// form: `!Ref x` becomes {"Ref": "x"}, `!GetAtt A.B` {"Fn::GetAtt": ["A", "B"]}, `!Sub s`
// {"Fn::Sub": "s"}, `!Condition c` {"Condition": "c"}, any other `!Name` {"Fn::Name": ...}.
// Plain scalars take YAML's core schema (integers, floats, true/false, null); quoted ones stay
// strings. Bad YAML, an unknown tag, a mapping key that is not a string or is longer than 1024
// bytes, a duplicate key, or a document nested deeper than 64 levels is an error naming the
// line and column.
//
//   auto doc = deploy::read_cloudformation(text);   // Result<nlohmann::ordered_json>
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "common/result.h"

namespace writegate::deploy {

Result<nlohmann::ordered_json> read_cloudformation(std::string_view text);

}  // namespace writegate::deploy
