// SecretString: owns its bytes, wipes them before giving the buffer back, never converts to text
// implicitly. Wiping is observed with an allocator that inspects each buffer as it is returned.
#include "common/secret_string.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

namespace writegate {
namespace {

// What the allocator saw when each buffer came back: its size and whether every byte was 0.
struct Returned {
  std::size_t size;
  bool all_zero;
};
std::vector<Returned>& returned() {
  static std::vector<Returned> log;
  return log;
}

template <typename T>
struct InspectingAllocator {
  using value_type = T;
  InspectingAllocator() = default;
  template <typename U>
  InspectingAllocator(const InspectingAllocator<U>&) {}  // NOLINT: allocator rebinding
  T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, std::size_t n) {
    // The buffer is still ours here: reading it is defined.
    const bool zero = std::all_of(p, p + n, [](T c) { return c == T{}; });
    returned().push_back({n, zero});
    std::allocator<T>().deallocate(p, n);
  }
  bool operator==(const InspectingAllocator&) const = default;
};
using WatchedSecret = BasicSecretString<InspectingAllocator<char>>;

class SecretStringTest : public ::testing::Test {
 protected:
  void SetUp() override { returned().clear(); }
};

TEST_F(SecretStringTest, DestructionWipesBeforeFreeing) {
  { WatchedSecret s(std::string_view("correct horse battery staple")); }
  ASSERT_EQ(returned().size(), 1u);
  EXPECT_EQ(returned()[0].size, 28u);
  EXPECT_TRUE(returned()[0].all_zero);
}

TEST_F(SecretStringTest, ClearAndAssignmentWipeTheOldBytes) {
  WatchedSecret s(std::string_view("first-secret"));
  s.clear();
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.reveal(), "");
  ASSERT_EQ(returned().size(), 1u);
  EXPECT_TRUE(returned()[0].all_zero);

  s = WatchedSecret(std::string_view("second"));
  s = WatchedSecret(std::string_view("third-value"));  // "second" goes
  ASSERT_EQ(returned().size(), 2u);
  EXPECT_EQ(returned()[1].size, 6u);
  EXPECT_TRUE(returned()[1].all_zero);

  const WatchedSecret copy(std::string_view("copied"));
  s = copy;  // "third-value" goes
  ASSERT_EQ(returned().size(), 3u);
  EXPECT_EQ(returned()[2].size, 11u);
  EXPECT_TRUE(returned()[2].all_zero);
  EXPECT_EQ(s.reveal(), "copied");
}

TEST_F(SecretStringTest, MoveHandsTheBufferOverAndLeavesNothingBehind) {
  WatchedSecret a(std::string_view("token-123"));
  const char* buffer = a.reveal().data();
  WatchedSecret b(std::move(a));
  EXPECT_EQ(b.reveal().data(), buffer);  // the same bytes, not a copy left behind
  EXPECT_EQ(b.reveal(), "token-123");
  EXPECT_TRUE(a.empty());                 // NOLINT(bugprone-use-after-move): checked on purpose
  EXPECT_EQ(a.reveal().data(), nullptr);  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(returned().empty());        // nothing freed by the move
  WatchedSecret c;
  c = std::move(b);
  EXPECT_EQ(c.reveal(), "token-123");
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  c.clear();
  ASSERT_EQ(returned().size(), 1u);
  EXPECT_TRUE(returned()[0].all_zero);
}

TEST_F(SecretStringTest, TakingAStringWipesIt) {
  std::string heap(100, 'k');  // beyond any small-string buffer
  SecretString from_heap(std::move(heap));
  EXPECT_TRUE(heap.empty());  // NOLINT(bugprone-use-after-move): the constructor clears it
  EXPECT_EQ(from_heap.reveal(), std::string(100, 'k'));

  std::string small = "pw";
  SecretString from_small(std::move(small));
  EXPECT_TRUE(small.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(from_small.reveal(), "pw");

  const std::string kept = "still-here";
  SecretString copied(kept);  // an lvalue is copied, not wiped
  EXPECT_EQ(kept, "still-here");
  EXPECT_EQ(copied.reveal(), "still-here");
}

TEST_F(SecretStringTest, WipeStringEmptiesTheString) {
  std::string body = R"({"SecretString":"pw"})";
  wipe_string(body);
  EXPECT_TRUE(body.empty());
  std::string empty;
  wipe_string(empty);
  EXPECT_TRUE(empty.empty());
}

TEST_F(SecretStringTest, ComparesByContent) {
  const SecretString a("abc");
  EXPECT_TRUE(a == SecretString("abc"));
  EXPECT_FALSE(a == SecretString("abd"));
  EXPECT_FALSE(a == SecretString("abcd"));
  EXPECT_TRUE(a.equals("abc"));
  EXPECT_FALSE(a.equals(""));
  EXPECT_TRUE(SecretString().equals(""));
  EXPECT_EQ(a.size(), 3u);
}

// The type never turns into text by itself, and cannot be streamed.
template <typename T>
concept Streamable = requires(std::ostream& out, const T& value) {
  out << value;
};
static_assert(!std::is_convertible_v<SecretString, std::string>);
static_assert(!std::is_convertible_v<SecretString, std::string_view>);
static_assert(!std::is_convertible_v<SecretString, const char*>);
static_assert(!Streamable<SecretString>);
static_assert(std::is_convertible_v<std::string, SecretString>);  // the way in is easy

}  // namespace
}  // namespace writegate
