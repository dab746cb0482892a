#include "dbadmin/probe.h"

#include <sstream>

namespace writegate::dbadmin {

std::vector<ProbeResult> run_probes(pgclient::Connection& writer, const spec::Spec& spec,
                                    const std::string& schema, const std::string& table,
                                    const std::string& outside_table) {
  const std::string t = pgclient::quote_ident(schema) + "." + pgclient::quote_ident(table);
  const bool keyed = spec.database.write_mode == spec::WriteMode::kKeyed;
  struct Probe {
    const char* name;
    std::string sql;
    std::string expected;
    bool commit;
  };
  const std::vector<Probe> probes = {
      {"insert", "INSERT INTO " + t + " (column1, column2) VALUES ('probe', 'writegate')", "ok",
       true},
      {"select", "SELECT * FROM " + t, "42501", false},
      {"select-one-column", "SELECT column1 FROM " + t, "42501", false},
      {"update-keyed", "UPDATE " + t + " SET column2 = 'x' WHERE id = 1", keyed ? "ok" : "42501",
       false},
      {"delete-keyed", "DELETE FROM " + t + " WHERE id = 1", keyed ? "ok" : "42501", false},
      {"update-unconditional", "UPDATE " + t + " SET column2 = 'x'", "ok", false},
      {"returning", "INSERT INTO " + t + " (column1) VALUES ('r') RETURNING column1", "42501",
       false},
      {"create-table", "CREATE TABLE " + pgclient::quote_ident(schema) + ".wg_probe (i int)",
       "42501", false},
      {"create-temp-table", "CREATE TEMP TABLE wg_probe (i int)", "42501", false},
      {"insert-outside-schemas", "INSERT INTO " + outside_table + " DEFAULT VALUES", "42501",
       false},
      {"truncate", "TRUNCATE " + t, "42501", false},
  };
  std::vector<ProbeResult> results;
  for (const auto& probe : probes) {
    ProbeResult r{probe.name, probe.sql, probe.expected, "", false};
    if (!probe.commit) (void)writer.exec("BEGIN");
    auto outcome = writer.exec(probe.sql);
    if (!probe.commit) (void)writer.exec("ROLLBACK");
    if (outcome) {
      r.got = "ok";
    } else {
      r.got = outcome.error().subcode().empty()
                  ? outcome.error().message()
                  : outcome.error().subcode() + " " + outcome.error().message();
    }
    r.passed = probe.expected == "ok"
                   ? outcome.ok()
                   : !outcome.ok() && outcome.error().subcode() == probe.expected;
    results.push_back(std::move(r));
  }
  return results;
}

std::string format_probes(const std::vector<ProbeResult>& results) {
  std::ostringstream out;
  for (const auto& r : results) {
    out << (r.passed ? "PASS  " : "FAIL  ") << r.name << ": " << r.sql << "\n"
        << "      expected " << r.expected << ", got " << r.got << "\n";
  }
  return out.str();
}

}  // namespace writegate::dbadmin
