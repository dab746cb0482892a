#include "deploy/yaml_writer.h"

#include <regex>
#include <set>
#include <sstream>

namespace writegate::deploy {
namespace {

using nlohmann::ordered_json;

// The intrinsic functions written as short tags. `!GetAtt` takes "A.B" when neither part has a
// dot; the others keep their argument's shape.
const std::set<std::string>& tagged_functions() {
  static const std::set<std::string> kNames = {
      "Fn::And",    "Fn::Base64", "Fn::Cidr",        "Fn::Equals",    "Fn::FindInMap", "Fn::GetAtt",
      "Fn::GetAZs", "Fn::If",     "Fn::ImportValue", "Fn::Join",      "Fn::Not",       "Fn::Or",
      "Fn::Select", "Fn::Split",  "Fn::Sub",         "Fn::Transform", "Ref",           "Condition"};
  return kNames;
}

bool is_intrinsic(const ordered_json& value) {
  if (!value.is_object() || value.size() != 1) return false;
  const std::string& key = value.begin().key();
  if (key == "Condition") return value.begin()->is_string();
  return tagged_functions().contains(key);
}

// A tag cannot be put on a node that has a tag already: an intrinsic whose argument is itself
// an intrinsic stays a mapping (`Fn::Base64: !Sub ...`).
// A tagged scalar reads back as a string, so only string, list and mapping arguments take a tag.
bool is_tag_form(const ordered_json& value) {
  if (!is_intrinsic(value)) return false;
  const ordered_json& argument = *value.begin();
  return !is_intrinsic(argument) && (argument.is_string() || argument.is_structured());
}

std::string tag_of(const std::string& key) {
  if (key == "Ref" || key == "Condition") return "!" + key;
  return "!" + key.substr(4);  // "Fn::Sub" -> "!Sub"
}

std::string quoted(const std::string& text) {
  // JSON's escapes are YAML's double-quoted escapes; non-ASCII stays UTF-8.
  return ordered_json(text).dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

std::string scalar(const ordered_json& value) {
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    return is_plain_yaml_scalar(text) ? text : quoted(text);
  }
  if (value.is_null()) return "null";
  return value.dump();
}

bool is_flow_scalar_list(const ordered_json& value) {
  if (!value.is_array() || value.empty() || value.size() > 8) return false;
  std::size_t width = 0;
  for (const auto& item : value) {
    if (item.is_structured()) return false;
    width += scalar(item).size() + 2;
  }
  return width < 60;
}

// A literal block (`|`) keeps a multi-line string exactly when no line has trailing spaces or
// tabs, the text ends with exactly one newline ("|" clips to one) and starts with no space.
bool fits_literal_block(const std::string& text) {
  if (text.find('\n') == std::string::npos || text.back() != '\n') return false;
  if (text.size() >= 2 && text[text.size() - 2] == '\n') return false;
  if (text.front() == ' ' || text.front() == '\n') return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const unsigned char ch = static_cast<unsigned char>(text[i]);
    if (ch == '\t' || ch == '\r' || (ch < 0x20 && ch != '\n') || ch == 0x7f) return false;
    if (ch == '\n' && i > 0 && text[i - 1] == ' ') return false;
  }
  return true;
}

class Writer {
 public:
  std::string take() { return out_.str(); }

  // A mapping's entries at `indent`.
  void mapping(const ordered_json& map, int indent) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      pad(indent);
      write_key(it.key(), indent);
      value_after_key(*it, indent);
    }
  }

 private:
  static std::string key(const std::string& text) {
    return is_plain_yaml_scalar(text) ? text : quoted(text);
  }

  void pad(int indent) { out_ << std::string(static_cast<std::size_t>(indent), ' '); }

  // "key:" — or, for a key whose written form passes YAML's 1024-character limit on implicit
  // keys (control characters escape to six each), the explicit "? key" and ":" on the next line.
  void write_key(const std::string& name, int indent) {
    const std::string text = key(name);
    if (text.size() <= 1000) {
      out_ << text << ":";
      return;
    }
    out_ << "? " << text << "\n";
    pad(indent);
    out_ << ":";
  }

  // After "key:" — a scalar or tag on the same line, a block below.
  void value_after_key(const ordered_json& value, int indent) {
    if (is_tag_form(value)) {
      out_ << " ";
      tagged(value, indent);
      return;
    }
    if (value.is_object()) {
      if (value.empty()) {
        out_ << " {}\n";
        return;
      }
      out_ << "\n";
      mapping(value, indent + 2);
      return;
    }
    if (value.is_array()) {
      if (value.empty()) {
        out_ << " []\n";
        return;
      }
      if (is_flow_scalar_list(value)) {
        out_ << " " << flow_list(value) << "\n";
        return;
      }
      out_ << "\n";
      sequence(value, indent + 2);
      return;
    }
    if (value.is_string() && fits_literal_block(value.get_ref<const std::string&>())) {
      literal(value.get_ref<const std::string&>(), indent + 2);
      return;
    }
    out_ << " " << scalar(value) << "\n";
  }

  void literal(const std::string& text, int indent) {
    out_ << " |\n";
    std::size_t from = 0;
    while (from < text.size()) {
      const std::size_t to = text.find('\n', from);
      const std::string line = text.substr(from, to - from);
      if (!line.empty()) pad(indent);
      out_ << line << "\n";
      from = to + 1;
    }
  }

  static std::string flow_list(const ordered_json& list) {
    std::string text = "[";
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::string item = scalar(list[i]);
      // Plain scalars inside a flow sequence must not hold flow indicators.
      if (list[i].is_string() && item.find_first_of(",[]{}") != std::string::npos &&
          item.front() != '"') {
        item = quoted(list[i].get<std::string>());
      }
      text += (i ? ", " : "") + item;
    }
    return text + "]";
  }

  void sequence(const ordered_json& list, int indent) {
    for (const auto& item : list) {
      pad(indent);
      out_ << "-";
      if (is_tag_form(item)) {
        out_ << " ";
        tagged(item, indent + 2);
      } else if (item.is_object() && !item.empty()) {
        // The first entry on the dash's line, the others below it.
        out_ << " ";
        bool first = true;
        for (auto it = item.begin(); it != item.end(); ++it) {
          if (!first) pad(indent + 2);
          first = false;
          write_key(it.key(), indent + 2);
          value_after_key(*it, indent + 2);
        }
      } else if (item.is_array() && !item.empty()) {
        if (is_flow_scalar_list(item)) {
          out_ << " " << flow_list(item) << "\n";
        } else {
          out_ << "\n";
          sequence(item, indent + 2);
        }
      } else {
        value_after_key(item, indent);
      }
    }
  }

  // "!Tag argument" — the caller has written what precedes it on the line.
  void tagged(const ordered_json& value, int indent) {
    const std::string& name = value.begin().key();
    const ordered_json& argument = *value.begin();
    out_ << tag_of(name);
    if (name == "Fn::GetAtt" && argument.is_array() && argument.size() == 2 &&
        argument[0].is_string() && argument[1].is_string()) {
      const std::string joined =
          argument[0].get<std::string>() + "." + argument[1].get<std::string>();
      if (argument[0].get<std::string>().find('.') == std::string::npos &&
          is_plain_yaml_scalar(joined)) {
        out_ << " " << joined << "\n";
        return;
      }
    }
    if (argument.is_array() && !argument.empty()) {
      bool all_scalars = true;
      for (const auto& item : argument)
        all_scalars = all_scalars && !item.is_structured();
      if (all_scalars && is_flow_scalar_list(argument)) {
        out_ << " " << flow_list(argument) << "\n";
        return;
      }
      out_ << "\n";
      sequence(argument, indent + 2);
      return;
    }
    if (argument.is_object() && !argument.empty()) {
      out_ << "\n";
      mapping(argument, indent + 2);
      return;
    }
    value_after_key(argument, indent);
  }

  std::ostringstream out_;
};

}  // namespace

bool is_plain_yaml_scalar(const std::string& text) {
  if (text.empty() || text.size() > 200) return false;
  // Letters, digits and a few safe punctuation marks; no ": ", no " #", no leading indicator.
  static const std::regex kSafe("[A-Za-z_/$][A-Za-z0-9_./:@${}()*+=-]*( [A-Za-z0-9_./@()*+=-]+)*");
  if (!std::regex_match(text, kSafe)) return false;
  if (text.find(": ") != std::string::npos || text.back() == ':') return false;
  if (text.find("${") != std::string::npos) return true;  // Sub strings: safe once matched
  // YAML 1.1's booleans and nulls, in any case, read as something else.
  static const std::set<std::string> kReserved = {"y",     "yes", "n",   "no",   "true",
                                                  "false", "on",  "off", "null", "~"};
  std::string lower;
  for (const char ch : text)
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return !kReserved.contains(lower);
}

std::string to_cloudformation_yaml(const ordered_json& document) {
  Writer writer;
  writer.mapping(document, 0);
  return writer.take();
}

}  // namespace writegate::deploy
