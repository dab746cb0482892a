// The connection caps, without sockets.
#include "proxy/admission.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace writegate::proxy {
namespace {

TEST(AdmissionTest, TheTotalCapCountsLoggedInClientsToo) {
  AdmissionControl admission(
      {.max_clients = 2, .max_unauthenticated = 10, .max_unauthenticated_per_source = 10});
  auto a = admission.admit("10.0.0.1");
  auto b = admission.admit("10.0.0.2");
  ASSERT_TRUE(a.ok() && b.ok());
  a->authenticated();
  b->authenticated();
  auto c = admission.admit("10.0.0.3");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().subcode(), "too_many_clients");
  EXPECT_EQ(c.error().message(), "too many client connections to the proxy (2)");
}

TEST(AdmissionTest, UnauthenticatedClientsHaveACapOfTheirOwn) {
  AdmissionControl admission(
      {.max_clients = 100, .max_unauthenticated = 2, .max_unauthenticated_per_source = 10});
  auto a = admission.admit("10.0.0.1");
  auto b = admission.admit("10.0.0.2");
  ASSERT_TRUE(a.ok() && b.ok());
  auto c = admission.admit("10.0.0.3");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().subcode(), "too_many_unauthenticated");
  // Once one logs in, its place among the unauthenticated frees up.
  a->authenticated();
  EXPECT_TRUE(admission.admit("10.0.0.3").ok());
  EXPECT_EQ(admission.counts().clients, 2u);  // the temporary above is gone again
}

TEST(AdmissionTest, ThePerSourceCapRefusesOnlyThatSource) {
  AdmissionControl admission(
      {.max_clients = 100, .max_unauthenticated = 100, .max_unauthenticated_per_source = 2});
  std::vector<AdmissionTicket> held;
  for (int i = 0; i < 2; ++i) {
    auto t = admission.admit("10.0.0.1");
    ASSERT_TRUE(t.ok());
    held.push_back(std::move(*t));
  }
  auto over = admission.admit("10.0.0.1");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().subcode(), "too_many_from_source");
  EXPECT_EQ(over.error().message(),
            "too many connections from 10.0.0.1 are logging in at once (2)");
  EXPECT_TRUE(admission.admit("10.0.0.2").ok());
  // A logged-in client no longer counts against its source.
  held[0].authenticated();
  EXPECT_TRUE(admission.admit("10.0.0.1").ok());
}

TEST(AdmissionTest, TicketsGiveTheirPlacesBackExactlyOnce) {
  AdmissionControl admission(
      {.max_clients = 3, .max_unauthenticated = 3, .max_unauthenticated_per_source = 3});
  {
    auto a = admission.admit("s");
    ASSERT_TRUE(a.ok());
    AdmissionTicket moved = std::move(*a);
    moved.authenticated();
    moved.authenticated();  // idempotent
    EXPECT_EQ(admission.counts().clients, 1u);
    EXPECT_EQ(admission.counts().unauthenticated, 0u);
    moved.release();
    moved.release();  // idempotent
    EXPECT_EQ(admission.counts().clients, 0u);
  }
  {
    auto b = admission.admit("s");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(admission.counts().unauthenticated, 1u);
  }
  EXPECT_EQ(admission.counts().clients, 0u);
  EXPECT_EQ(admission.counts().unauthenticated, 0u);
}

}  // namespace
}  // namespace writegate::proxy
