// classify() checked against a real PostgreSQL backend: every case of tests/proxy/pinning_cases.h
// that classify() calls harmless or transaction-scoped runs in a fresh session, the transaction
// is ended, and the session state (settings changed in the session, prepared statements,
// cursors, LISTEN channels, advisory locks, temporary objects, the roles, sequence state) must be
// what it was before — else a transaction pooler would hand that state to another client. The
// pinning cases that change state when they run must show a change, so the probe is not blind.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "proxy/pinning.h"
#include "proxy/pinning_cases.h"
#include "support/pg_fixture.h"

namespace writegate::proxy {
namespace {

using testing::must_connect;
using testing::must_exec;

// Everything a session can carry from one transaction to the next that a pooled client could
// notice, as one line of text.
constexpr const char* kProbe = R"sql(
CREATE SCHEMA IF NOT EXISTS probe;
GRANT USAGE ON SCHEMA probe TO PUBLIC;
CREATE OR REPLACE FUNCTION probe.session_state() RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  lv text;
  cv text;
BEGIN
  BEGIN lv := lastval()::text; EXCEPTION WHEN others THEN lv := '-'; END;
  BEGIN cv := currval('public.s')::text; EXCEPTION WHEN others THEN cv := '-'; END;
  RETURN concat_ws(' | ',
    'settings: ' || coalesce((SELECT string_agg(name || '=' || setting, ',' ORDER BY name)
                              FROM pg_settings WHERE source = 'session'
                                AND name NOT LIKE 'transaction\_%'), ''),
    'custom: ' || concat_ws(',', current_setting('x.y', true), current_setting('a.b', true),
                            current_setting('app.user', true)),
    'prepared: ' || coalesce((SELECT string_agg(name, ',' ORDER BY name)
                              FROM pg_prepared_statements), ''),
    'cursors: ' || coalesce((SELECT string_agg(name, ',' ORDER BY name) FROM pg_cursors), ''),
    'listening: ' || coalesce((SELECT string_agg(c, ',' ORDER BY c)
                               FROM pg_listening_channels() c), ''),
    'advisory locks: ' || (SELECT count(*) FROM pg_locks
                           WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
    'temp relations: ' || coalesce((SELECT string_agg(relname, ',' ORDER BY relname)
                                    FROM pg_class WHERE relnamespace = pg_my_temp_schema()), ''),
    'temp functions: ' || coalesce((SELECT string_agg(proname, ',' ORDER BY proname)
                                    FROM pg_proc WHERE pronamespace = pg_my_temp_schema()), ''),
    'roles: ' || current_user || '/' || session_user,
    'lastval: ' || lv,
    'currval(s): ' || cv);
END $f$;
DO $$ BEGIN CREATE ROLE app_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE alice; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
)sql";

// The objects the cases name, made again before each case (cases create and drop things).
constexpr const char* kFixtures = R"sql(
DROP SCHEMA IF EXISTS public CASCADE;
CREATE SCHEMA public;
GRANT ALL ON SCHEMA public TO PUBLIC;
CREATE TABLE public.t (id int PRIMARY KEY, x int, a int);
CREATE TABLE public.x (a int);
CREATE TABLE public.settings (set_config int);
CREATE TABLE public.jobs (id int);
CREATE TABLE public.pgbench_accounts (aid int, abalance int);
CREATE TABLE public."temp" (a int);
CREATE TABLE public."SET" ("set" int, "listen" int);
CREATE SEQUENCE public.s;
CREATE SEQUENCE public.t_id_seq;
CREATE PROCEDURE public.do_things(int) LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION public.my_pg_advisory_lock(int) RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION public.nextval_x(int) RETURNS int LANGUAGE sql AS 'SELECT 1';
INSERT INTO public.t VALUES (1, 1, 1), (2, 2, 2);
INSERT INTO public.pgbench_accounts VALUES (1, 0);
INSERT INTO public.jobs VALUES (7);
GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC;
)sql";

// Reasons whose statements, when they run, leave state the probe sees.
const std::set<PinReason> kVisible = {PinReason::kSet,
                                      PinReason::kSetConfig,
                                      PinReason::kPrepare,
                                      PinReason::kTemporaryObject,
                                      PinReason::kCursorWithHold,
                                      PinReason::kListen,
                                      PinReason::kAdvisoryLock,
                                      PinReason::kSequenceFunction};

class PinningOnPostgres : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::fresh_database("pinning");
    dsn_ = testing::shared_cluster().admin_dsn(db_);
    admin_ = std::make_unique<pgclient::Connection>(must_connect(dsn_));
    must_exec(*admin_, kProbe);
  }

  struct Run {
    bool ran = false;  // the case's SQL ran without an error
    std::string before;
    std::string after;
    std::string error;
  };

  // The case in a fresh session: state before, the SQL, the end of its transaction, state after.
  Run run(const std::string& sql) {
    must_exec(*admin_, kFixtures);
    Run r;
    pgclient::Connection conn = must_connect(dsn_);
    r.before = state(conn);
    auto result = conn.exec(sql);
    r.ran = result.ok();
    if (!result.ok()) r.error = result.error().message();
    (void)conn.exec("COMMIT");  // ends an open or failed transaction block; a warning otherwise
    r.after = state(conn);
    return r;
  }

  static std::string state(pgclient::Connection& conn) {
    auto r = conn.exec("SELECT probe.session_state() AS s");
    if (!r.ok()) return "probe failed: " + r.error().message();
    return r->get(0, "s");
  }

  std::string db_;
  std::string dsn_;
  std::unique_ptr<pgclient::Connection> admin_;
};

TEST_F(PinningOnPostgres, WhatDoesNotPinLeavesNoSessionState) {
  int checked = 0;
  int ran = 0;
  for (const auto* cases : {&trigger_cases(), &harmless_cases()}) {
    for (const PinCase& c : *cases) {
      if (classify(c.sql).pins) continue;
      Run r = run(c.sql);
      ++checked;
      ran += r.ran;
      EXPECT_EQ(r.after, r.before) << c.name << ": " << c.sql << (r.ran ? "" : "\n(failed: ")
                                   << r.error << (r.ran ? "" : ")");
    }
  }
  EXPECT_GE(checked, 45);
  // Most cases are real SQL that runs; the rest fail on purpose (PREPARE TRANSACTION without
  // max_prepared_transactions, an unknown setting) and change nothing either.
  EXPECT_GE(ran, 30) << "too few cases ran: the fixtures no longer match the cases";
}

TEST_F(PinningOnPostgres, WhatPinsForVisibleStateChangesTheSession) {
  int changed = 0;
  for (const PinCase& c : trigger_cases()) {
    Classification got = classify(c.sql);
    if (!got.pins || !kVisible.contains(got.reason) || c.conservative) continue;
    Run r = run(c.sql);
    if (!r.ran) continue;  // e.g. "SET a = 1": not a valid setting name, nothing happens
    EXPECT_NE(r.after, r.before) << c.name << ": " << c.sql;
    ++changed;
  }
  EXPECT_GE(changed, 30) << "too few pinning cases ran: the fixtures no longer match the cases";
}

}  // namespace
}  // namespace writegate::proxy
