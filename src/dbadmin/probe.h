// Functional probes: statements run AS the writer whose outcome proves the grants work —
// INSERT succeeds; SELECT, CREATE TABLE and CREATE TEMP TABLE fail with 42501; keyed UPDATE
// fails in strict mode and works in keyed mode. The architecture document's tests 2-4, run live.
//
//   auto writer = pgclient::Connection::open(writer_dsn);          // logged in as the writer
//   auto results = dbadmin::run_probes(*writer, spec, "foo", "test_table");
//   bool all_ok = std::all_of(..., [](auto& r) { return r.passed; });
#pragma once

#include <string>
#include <vector>

#include "pgclient/pgclient.h"
#include "spec/spec.h"

namespace writegate::dbadmin {

struct ProbeResult {
  std::string name;
  std::string sql;
  std::string expected;  // "ok" or a SQLSTATE
  std::string got;       // "ok" or the SQLSTATE and message
  bool passed = false;
};

// `table` must have columns (id <integer primary key>, column1 text, column2 text) as the
// document's test_table; `outside_table` a table outside the schemas (document's test 4).
// Every probe but the INSERT runs in a transaction that is rolled back.
std::vector<ProbeResult> run_probes(pgclient::Connection& writer, const spec::Spec& spec,
                                    const std::string& schema, const std::string& table,
                                    const std::string& outside_table = "public.some_table");

// "PASS  insert  INSERT INTO ...  (expected ok, got ok)" lines.
std::string format_probes(const std::vector<ProbeResult>& results);

}  // namespace writegate::dbadmin
