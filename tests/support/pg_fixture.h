// Test support: one throwaway PostgreSQL per test binary (started on first use, stopped at exit)
// and helpers to open connections to it.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "localpg/cluster.h"
#include "pgclient/pgclient.h"

namespace writegate::testing {

// The shared cluster of this test binary; starts it on first call. Fails the test if it cannot.
localpg::Cluster& shared_cluster();

// A connection or a test failure.
pgclient::Connection must_connect(const std::string& dsn);

// Runs SQL that must succeed.
pgclient::QueryResult must_exec(pgclient::Connection& conn, const std::string& sql);

// A fresh database on the shared cluster with a unique name; returns its name.
std::string fresh_database(const std::string& prefix = "t");

}  // namespace writegate::testing
