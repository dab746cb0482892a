#include "deploy/yaml_reader.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>
#include <string>

namespace writegate::deploy {
namespace {

using nlohmann::ordered_json;

constexpr int kMaxDepth = 64;
constexpr std::size_t kMaxKey = 1024;

Error error_at(const YAML::Node& node, const std::string& what) {
  const YAML::Mark mark = node.Mark();
  return Error::invalid_argument("template:" + std::to_string(mark.line + 1) + ":" +
                                 std::to_string(mark.column + 1) + ": " + what);
}

// YAML 1.2 core schema for plain scalars.
ordered_json plain_scalar(const std::string& text) {
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  if (std::regex_match(text, kInt) && text.size() < 19) return std::stoll(text);
  if (std::regex_match(text, kFloat)) {
    // Out of a double's range (1e400) stays the text CloudFormation would see.
    errno = 0;
    const double value = std::strtod(text.c_str(), nullptr);
    if (errno != ERANGE && std::isfinite(value)) return value;
  }
  return text;
}

const std::set<std::string>& known_functions() {
  static const std::set<std::string> kNames = {
      "And",    "Base64", "Cidr",        "Equals",    "FindInMap", "GetAtt",
      "GetAZs", "If",     "ImportValue", "Join",      "Not",       "Or",
      "Select", "Split",  "Sub",         "Transform", "Length",    "ToJsonString"};
  return kNames;
}

Result<ordered_json> convert(const YAML::Node& node, int depth) {
  if (depth > kMaxDepth) return error_at(node, "nested deeper than 64 levels");
  const std::string& tag = node.Tag();
  ordered_json value;
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      value = nullptr;
      break;
    case YAML::NodeType::Scalar:
      // yaml-cpp gives "!" to quoted scalars and "?" to plain ones.
      value = tag == "?" ? plain_scalar(node.Scalar()) : ordered_json(node.Scalar());
      break;
    case YAML::NodeType::Sequence:
      value = ordered_json::array();
      for (const auto& item : node) {
        WG_ASSIGN_OR_RETURN(auto converted, convert(item, depth + 1));
        value.push_back(std::move(converted));
      }
      break;
    case YAML::NodeType::Map:
      value = ordered_json::object();
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) return error_at(entry.first, "a mapping key is not a string");
        const std::string key = entry.first.Scalar();
        // YAML's implicit keys stop at 1024 characters; no CloudFormation name comes near (a
        // logical id is at most 255).
        if (key.size() > kMaxKey) {
          return error_at(entry.first, "a mapping key longer than 1024 bytes");
        }
        if (value.contains(key)) return error_at(entry.first, "duplicate key '" + key + "'");
        WG_ASSIGN_OR_RETURN(auto converted, convert(entry.second, depth + 1));
        value[key] = std::move(converted);
      }
      break;
  }
  if (tag.empty() || tag == "?" || tag == "!") return value;
  if (!tag.starts_with('!') || tag.starts_with("!!") || tag.starts_with("tag:")) {
    return error_at(node, "unsupported tag '" + tag + "'");
  }
  const std::string name = tag.substr(1);
  if (name == "Ref") return ordered_json{{"Ref", value}};
  if (name == "Condition") return ordered_json{{"Condition", value}};
  if (!known_functions().contains(name)) {
    return error_at(node, "unknown intrinsic function tag '" + tag + "'");
  }
  if (name == "GetAtt" && value.is_string()) {
    const std::string text = value.get<std::string>();
    const std::size_t dot = text.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == text.size()) {
      return error_at(node, "!GetAtt '" + text + "' is not Resource.Attribute");
    }
    value = ordered_json::array({text.substr(0, dot), text.substr(dot + 1)});
  }
  return ordered_json{{"Fn::" + name, value}};
}

}  // namespace

Result<ordered_json> read_cloudformation(std::string_view text) {
  if (text.size() > 1024 * 1024) {
    return Error::out_of_range("the template is larger than 1 MiB (CloudFormation's limit)");
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Error::invalid_argument("template:" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  try {
    WG_ASSIGN_OR_RETURN(auto document, convert(root, 0));
    if (!document.is_object()) {
      return Error::invalid_argument("the template is not a mapping of sections");
    }
    return document;
  } catch (const YAML::Exception& e) {
    return Error::invalid_argument(std::string("template: ") + e.what());
  }
}

}  // namespace writegate::deploy
