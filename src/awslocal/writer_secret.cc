
#include "awslocal/writer_secret.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "awslocal/secret_store.h"

namespace writegate::awslocal {

struct WriterSecret::State {
  std::unique_ptr<awslocal::SecretStore> store;
  std::string name;
  std::optional<std::string> previous;  // the value before store(); nullopt: there was none
};

WriterSecret::WriterSecret(std::unique_ptr<State> state) : state_(std::move(state)) {}
WriterSecret::WriterSecret(WriterSecret&&) noexcept = default;
WriterSecret& WriterSecret::operator=(WriterSecret&&) noexcept = default;
WriterSecret::~WriterSecret() = default;

Result<WriterSecret> WriterSecret::open(const std::string& state_dir, const std::string& name) {
  WG_ASSIGN_OR_RETURN(auto store, awslocal::SecretStore::open(state_dir));
  auto state = std::make_unique<State>();
  state->store = std::move(store);
  state->name = name;
  return WriterSecret(std::move(state));
}

Result<std::string> WriterSecret::password() const {
  WG_ASSIGN_OR_RETURN(auto value, state_->store->get_value(state_->name));
  if (!value.secret_string) {
    return Error::invalid_argument("secret " + state_->name + " holds binary data, not JSON");
  }
  const auto doc = nlohmann::json::parse(value.secret_string->reveal(), nullptr, false);
  if (!doc.is_object() || !doc.contains("password") || !doc["password"].is_string()) {
    return Error::invalid_argument("secret " + state_->name +
                                   " is not a JSON object with a string \"password\"");
  }
  return doc["password"].get<std::string>();
}

Status WriterSecret::store(const std::string& user, const std::string& password) {
  nlohmann::json doc = nlohmann::json::object();
  auto current = state_->store->get_value(state_->name);
  if (current) {
    if (current->secret_string) {
      state_->previous = std::string(current->secret_string->reveal());
      auto parsed = nlohmann::json::parse(current->secret_string->reveal(), nullptr, false);
      if (parsed.is_object()) doc = std::move(parsed);  // keep host, port, engine, ...
    }
  } else if (current.error().code() != ErrorCode::kNotFound) {
    return std::move(current).error();
  }
  doc["username"] = user;
  doc["password"] = password;
  auto stored = state_->store->upsert(state_->name, awslocal::SecretPayload::text(doc.dump()),
                                      std::chrono::system_clock::now());
  if (!stored) return std::move(stored).error().with_context("secret " + state_->name);
  return {};
}

Status WriterSecret::restore() {
  if (!state_->previous) {
    // There was no secret before: an empty password logs in nowhere, and says so.
    auto stored = state_->store->upsert(
        state_->name, awslocal::SecretPayload::text(R"({"username":"","password":""})"),
        std::chrono::system_clock::now());
    if (!stored) return std::move(stored).error();
    return {};
  }
  auto stored =
      state_->store->upsert(state_->name, awslocal::SecretPayload::text(*state_->previous),
                            std::chrono::system_clock::now());
  if (!stored) return std::move(stored).error().with_context("secret " + state_->name);
  return {};
}

}  // namespace writegate::awslocal
