// SecretString: the one holder for passwords, tokens and secret keys kept beyond a call.
//
// It owns its bytes in a buffer of exactly their size (it never grows, so no stale copy is left
// behind by a reallocation) and wipes them with OPENSSL_cleanse when it is destroyed, cleared or
// assigned over. Moving hands the buffer over: the moved-from holder keeps no byte of it. Taking
// a std::string by rvalue copies its bytes and then wipes the string (its small-string buffer
// would otherwise keep them). There is no implicit conversion to std::string and no
// operator<<, so a secret cannot end up in a log line or an error by accident: the one way to
// the bytes is the explicit, greppable reveal(). Comparison is in constant time. Making one from
// text is implicit (a std::string becomes a SecretString where a struct field changes type, and
// an rvalue one is wiped on the way), turning one back into text never is.
//
//   SecretString password(std::move(text_from_file));   // text_from_file is wiped
//   conn.set_password(password.reveal());               // a view; copy it only where needed
//   std::cerr << password;                              // does not compile
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/strings.h"

namespace writegate {

namespace detail {
// OPENSSL_cleanse: a wipe the compiler may not remove.
void wipe_bytes(void* data, std::size_t size);
}  // namespace detail

// Allocator is a parameter so tests can watch the buffer at the moment it is given back.
template <typename Allocator = std::allocator<char>>
class BasicSecretString {
  using Traits = std::allocator_traits<Allocator>;

 public:
  BasicSecretString() = default;
  BasicSecretString(std::string_view bytes,  // NOLINT: implicit on purpose (see above)
                    const Allocator& alloc = Allocator())
      : alloc_(alloc) {
    assign_bytes(bytes);
  }
  BasicSecretString(const std::string& text,  // NOLINT: implicit
                    const Allocator& alloc = Allocator())
      : BasicSecretString(std::string_view(text), alloc) {}
  // Takes the bytes of `text` and wipes `text` (left empty).
  BasicSecretString(std::string&& text,  // NOLINT: implicit
                    const Allocator& alloc = Allocator())
      : alloc_(alloc) {
    assign_bytes(text);
    detail::wipe_bytes(text.data(), text.size());
    text.clear();  // (wipe_string, below, does the same for strings that stay std::string)
  }
  BasicSecretString(const char* bytes,  // NOLINT: implicit
                    const Allocator& alloc = Allocator())
      : BasicSecretString(std::string_view(bytes), alloc) {}

  BasicSecretString(const BasicSecretString& other)
      : alloc_(Traits::select_on_container_copy_construction(other.alloc_)) {
    assign_bytes(other.reveal());
  }
  BasicSecretString& operator=(const BasicSecretString& other) {
    if (this != &other) {
      release();
      assign_bytes(other.reveal());
    }
    return *this;
  }
  BasicSecretString(BasicSecretString&& other) noexcept
      : alloc_(other.alloc_),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  BasicSecretString& operator=(BasicSecretString&& other) noexcept {
    if (this != &other) {
      release();
      alloc_ = other.alloc_;
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~BasicSecretString() { release(); }

  // The bytes, for the one call that needs them. Do not keep the view beyond this holder.
  std::string_view reveal() const { return {data_, size_}; }
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  // Wipes and frees the bytes.
  void clear() { release(); }

  friend bool operator==(const BasicSecretString& a, const BasicSecretString& b) {
    return constant_time_equal(a.reveal(), b.reveal());
  }
  bool equals(std::string_view bytes) const { return constant_time_equal(reveal(), bytes); }

 private:
  void assign_bytes(std::string_view bytes) {
    if (bytes.empty()) return;
    data_ = Traits::allocate(alloc_, bytes.size());
    std::uninitialized_copy(bytes.begin(), bytes.end(), data_);
    size_ = bytes.size();
  }
  void release() noexcept {
    if (data_ == nullptr) return;
    detail::wipe_bytes(data_, size_);
    Traits::deallocate(alloc_, data_, size_);
    data_ = nullptr;
    size_ = 0;
  }

  [[no_unique_address]] Allocator alloc_{};
  char* data_ = nullptr;
  std::size_t size_ = 0;
};

using SecretString = BasicSecretString<>;

// Wipes and empties a std::string that held a secret on its way elsewhere (a parsed body).
inline void wipe_string(std::string& text) {
  detail::wipe_bytes(text.data(), text.size());
  text.clear();
}

}  // namespace writegate
