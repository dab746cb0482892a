// Tests that need root (network namespaces, nftables): they skip, saying why, only when not
// root. Declare their binary with writegate_test(... ROOT_ONLY): run as root (CI), the marker
// printed here makes any skip after it a failure.
//
//   TEST(NetworkLiveTest, SecurityGroupsHold) {
//     WG_REQUIRE_ROOT();
//     ...
//   }
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <iostream>

#define WG_REQUIRE_ROOT()                                                                  \
  do {                                                                                     \
    if (::geteuid() != 0) {                                                                \
      GTEST_SKIP() << "writegate-root-check: not root: this test creates network "         \
                      "namespaces and nftables rules, which needs root (CI runs as root)"; \
    }                                                                                      \
    std::cout << "writegate-root-check: root" << std::endl;                                \
  } while (false)
