#include "iam/strict_json.h"

namespace writegate::iam::internal {
namespace {

using nlohmann::json;

class StrictSax : public nlohmann::json_sax<json> {
 public:
  explicit StrictSax(size_t max_depth) : max_depth_(max_depth) {}

  bool null() override { return add(json(nullptr)) != nullptr; }
  bool boolean(bool value) override { return add(json(value)) != nullptr; }
  bool number_integer(number_integer_t value) override { return add(json(value)) != nullptr; }
  bool number_unsigned(number_unsigned_t value) override { return add(json(value)) != nullptr; }
  bool number_float(number_float_t value, const string_t&) override {
    return add(json(value)) != nullptr;
  }
  bool string(string_t& value) override { return add(json(std::move(value))) != nullptr; }
  bool binary(binary_t&) override {
    error_ = "binary values are not JSON";
    return false;
  }
  bool start_object(std::size_t) override { return open(json::object()); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(json::array()); }
  bool end_array() override { return close(); }
  bool key(string_t& value) override {
    json* object = stack_.back();
    if (object->contains(value)) duplicates_.push_back({path_, value});
    pending_key_ = std::move(value);
    return true;
  }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    std::string what = ex.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error ..."
    auto bracket = what.find("] ");
    if (bracket != std::string::npos) what = what.substr(bracket + 2);
    error_ = "JSON " + what;
    return false;
  }

  json root_;
  std::vector<DuplicateKey> duplicates_;
  std::string error_;

 private:
  json* add(json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    json* parent = stack_.back();
    if (parent->is_array()) {
      parent->push_back(std::move(value));
      return &parent->back();
    }
    json& slot = (*parent)[pending_key_];
    slot = std::move(value);
    return &slot;
  }
  bool open(json container) {
    if (stack_.size() >= max_depth_) {
      error_ = "JSON nesting deeper than " + std::to_string(max_depth_) + " levels";
      return false;
    }
    std::string name;
    if (!stack_.empty()) {
      json* parent = stack_.back();
      name = parent->is_array() ? std::to_string(parent->size()) : pending_key_;
    }
    json* slot = add(std::move(container));
    if (!stack_.empty()) path_.push_back(std::move(name));
    stack_.push_back(slot);
    return true;
  }
  bool close() {
    stack_.pop_back();
    if (!stack_.empty()) path_.pop_back();
    return true;
  }

  size_t max_depth_;
  std::vector<json*> stack_;
  std::vector<std::string> path_;
  std::string pending_key_;
};

}  // namespace

Result<StrictJson> parse_strict_json(std::string_view text, size_t max_depth) {
  StrictSax sax(max_depth);
  bool ok = json::sax_parse(text.begin(), text.end(), &sax);
  if (!ok) {
    if (sax.error_.empty()) sax.error_ = "JSON could not be parsed";
    return Error::invalid_argument(sax.error_);
  }
  return StrictJson{std::move(sax.root_), std::move(sax.duplicates_)};
}

std::string json_type_name(const nlohmann::json& value) {
  if (value.is_number()) return "number";
  return value.type_name();
}

}  // namespace writegate::iam::internal
