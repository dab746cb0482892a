// Internal: JSON parsing that refuses what nlohmann::json silently accepts — duplicate object
// keys (the last one would win) and unbounded nesting. Used for policies and the store files.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace writegate::iam::internal {

struct DuplicateKey {
  std::vector<std::string> path;  // keys / array indexes of the object holding the duplicate
  std::string key;
};

struct StrictJson {
  nlohmann::json value;
  std::vector<DuplicateKey> duplicates;  // parsing goes on after a duplicate; callers decide
};

// Syntax errors: invalid_argument "JSON syntax error at line L, column C: ...".
Result<StrictJson> parse_strict_json(std::string_view text, size_t max_depth = 32);

// "string", "number", "object", ... for error messages.
std::string json_type_name(const nlohmann::json& value);

}  // namespace writegate::iam::internal
