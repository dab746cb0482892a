// writegate::Result<T> and writegate::Status — the one error type of the project.
//
// Every path a user or the network can reach returns one of these instead of throwing.
// An Error carries a machine-readable code, a message for the user (what was wrong and what
// to do) and an optional context chain added while the error travels outwards.
//
//   Result<int> parse_port(std::string_view text) {
//     int port = 0;
//     if (!absl_like_parse(text, &port)) return Error::invalid_argument("port is not a number");
//     return port;
//   }
//   auto port = parse_port("5432");
//   if (!port) return port.error().with_context("reading --port");
//   use(*port);
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace writegate {

enum class ErrorCode {
  kInvalidArgument,     // the caller's input is malformed
  kNotFound,            // a named thing does not exist
  kAlreadyExists,       // a named thing exists already
  kPermissionDenied,    // authenticated, but not allowed
  kUnauthenticated,     // identity could not be established
  kFailedPrecondition,  // the system is not in a state that allows this
  kOutOfRange,          // a value or size is beyond a limit
  kUnavailable,         // a peer or resource could not be reached; may work later
  kIo,                  // a local I/O failure
  kInternal,            // a bug: an invariant did not hold
};

std::string_view error_code_name(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Error invalid_argument(std::string m) {
    return {ErrorCode::kInvalidArgument, std::move(m)};
  }
  static Error not_found(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
  static Error already_exists(std::string m) { return {ErrorCode::kAlreadyExists, std::move(m)}; }
  static Error permission_denied(std::string m) {
    return {ErrorCode::kPermissionDenied, std::move(m)};
  }
  static Error unauthenticated(std::string m) {
    return {ErrorCode::kUnauthenticated, std::move(m)};
  }
  static Error failed_precondition(std::string m) {
    return {ErrorCode::kFailedPrecondition, std::move(m)};
  }
  static Error out_of_range(std::string m) { return {ErrorCode::kOutOfRange, std::move(m)}; }
  static Error unavailable(std::string m) { return {ErrorCode::kUnavailable, std::move(m)}; }
  static Error io(std::string m) { return {ErrorCode::kIo, std::move(m)}; }
  static Error internal(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // A domain-specific code next to the generic one: the SQLSTATE of a database error, the
  // reason code of a refused token. Empty when there is none.
  const std::string& subcode() const { return subcode_; }
  Error with_subcode(std::string subcode) && {
    subcode_ = std::move(subcode);
    return std::move(*this);
  }

  // Prefixes the message with where the error was met: "reading spec: line 3: ...".
  Error with_context(std::string_view context) && {
    message_ = std::string(context) + ": " + message_;
    return std::move(*this);
  }
  Error with_context(std::string_view context) const& {
    Error copy = *this;
    return std::move(copy).with_context(context);
  }

  // "invalid_argument: message"
  std::string to_string() const;

 private:
  ErrorCode code_;
  std::string message_;
  std::string subcode_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& {
    assert(!ok());
    return std::get<1>(state_);
  }
  Error&& error() && {
    assert(!ok());
    return std::get<1>(std::move(state_));
  }

 private:
  std::variant<T, Error> state_;
};

// Status is a Result without a value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit

  static Status ok_status() { return {}; }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& {
    assert(!ok_);
    return error_;
  }
  Error&& error() && {
    assert(!ok_);
    return std::move(error_);
  }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

}  // namespace writegate

// Returns early with the error of a Status or Result expression.
#define WG_RETURN_IF_ERROR(expr)                           \
  do {                                                     \
    auto wg_status_ = (expr);                              \
    if (!wg_status_) return std::move(wg_status_).error(); \
  } while (false)

#define WG_CONCAT_INNER_(a, b) a##b
#define WG_CONCAT_(a, b) WG_CONCAT_INNER_(a, b)
// WG_ASSIGN_OR_RETURN(auto x, make_x()); — binds the value or returns the error.
#define WG_ASSIGN_OR_RETURN(lhs, expr) \
  WG_ASSIGN_OR_RETURN_IMPL_(WG_CONCAT_(wg_result_, __LINE__), lhs, expr)
#define WG_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp) return std::move(tmp).error();        \
  lhs = std::move(tmp).value()
