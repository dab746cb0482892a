#include "dbadmin/provision.h"

#include <set>

namespace writegate::dbadmin {
namespace {

using pgclient::quote_ident;
using pgclient::quote_literal;
using pgclient::text_array;

}  // namespace

Result<ProvisionPlan> plan_provision(pgclient::Connection& admin, const spec::Spec& spec,
                                     const ProvisionOptions& options) {
  const auto& db = spec.database;
  ProvisionPlan plan;
  WG_ASSIGN_OR_RETURN(
      auto facts,
      admin.query("SELECT current_database() AS db, current_user AS me,"
                  " EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS user_exists,"
                  " EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam') AS rds_iam_exists,"
                  " (SELECT concat_ws(' ', CASE WHEN NOT rolcanlogin THEN 'LOGIN' END,"
                  "   CASE WHEN rolsuper THEN 'NOSUPERUSER' END, CASE WHEN rolcreatedb THEN "
                  "'NOCREATEDB' END,"
                  "   CASE WHEN rolcreaterole THEN 'NOCREATEROLE' END,"
                  "   CASE WHEN rolreplication THEN 'NOREPLICATION' END,"
                  "   CASE WHEN rolbypassrls THEN 'NOBYPASSRLS' END, CASE WHEN NOT rolinherit THEN "
                  "'INHERIT' END)"
                  "   FROM pg_roles WHERE rolname = $1) AS attribute_fixes",
                  {db.user}));
  plan.database = facts.get(0, "db");
  const std::string me = facts.get(0, "me");
  if (plan.database != db.name) {
    return Error::invalid_argument(
        "the connection is to database '" + plan.database + "' but the spec names '" + db.name +
        "': connect to it (dbname=" + db.name + ") or set database.name in the spec");
  }
  if (me == db.user) {
    return Error::invalid_argument("connected as the writer '" + db.user +
                                   "': provision must run as an admin role");
  }
  const std::string user = quote_ident(db.user);
  const std::string dbname = quote_ident(plan.database);
  std::vector<std::string> owners = db.table_owners;
  if (owners.empty()) owners.push_back(me);

  // Owners named in the spec must exist: default privileges FOR ROLE need them.
  WG_ASSIGN_OR_RETURN(auto known_owners,
                      admin.query("SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])",
                                  {text_array(owners)}));
  std::set<std::string> existing;
  for (const auto& row : known_owners.rows)
    existing.insert(row[0].value_or(""));
  for (const auto& owner : owners) {
    if (!existing.contains(owner)) {
      return Error::not_found("table owner role '" + owner +
                              "' (database.table_owners) does not exist; create it first");
    }
  }

  // Who would lose TEMPORARY when PUBLIC's grant goes: login roles, not superusers, with no
  // direct grant of their own.
  WG_ASSIGN_OR_RETURN(
      auto temp,
      admin.query(
          "SELECT EXISTS (SELECT 1 FROM pg_database d, aclexplode(coalesce(d.datacl,"
          "   acldefault('d', d.datdba))) a WHERE d.datname = current_database()"
          "   AND a.grantee = 0 AND a.privilege_type = 'TEMPORARY') AS public_temp,"
          " (SELECT string_agg(r.rolname, ', ' ORDER BY r.rolname) FROM pg_roles r"
          "   WHERE r.rolcanlogin AND NOT r.rolsuper AND r.rolname <> $1"
          "   AND r.rolname NOT LIKE 'pg\\_%' AND r.rolname NOT IN ('rdsadmin', 'rdsproxyadmin')"
          "   AND NOT EXISTS (SELECT 1 FROM pg_database d, aclexplode(d.datacl) a"
          "     WHERE d.datname = current_database() AND a.grantee = r.oid"
          "     AND a.privilege_type = 'TEMPORARY')) AS losers",
          {db.user}));
  const bool public_temp = temp.get(0, "public_temp") == "t";
  if (public_temp && !temp.get(0, "losers").empty()) {
    const std::string losers = temp.get(0, "losers");
    std::string name;
    for (char c : losers + ",") {
      if (c == ',') {
        plan.temp_losers.push_back(name);
        name.clear();
      } else if (c != ' ') {
        name += c;
      }
    }
    if (!options.harden_public) {
      return Error::failed_precondition(
          "revoking TEMPORARY on database " + plan.database +
          " from PUBLIC (so the writer cannot CREATE TEMP TABLE) would also take it from: " +
          losers + ". Re-run with --harden-public to go ahead, or GRANT TEMPORARY ON DATABASE " +
          dbname + " to those roles first.");
    }
  }

  auto& s = plan.statements;
  s.push_back("SELECT pg_advisory_xact_lock(hashtext('writegate provision'))");
  if (facts.get(0, "rds_iam_exists") != "t") {
    // Aurora has rds_iam; a plain PostgreSQL gets a stand-in so the grants read the same.
    s.push_back("CREATE ROLE rds_iam NOLOGIN");
  }
  if (facts.get(0, "user_exists") != "t") {
    s.push_back("CREATE ROLE " + user + " LOGIN");
  }
  // Only the attributes that differ: changing SUPERUSER/REPLICATION/BYPASSRLS at all needs a
  // real superuser, which Aurora's master user is not.
  if (const std::string fixes = facts.get(0, "attribute_fixes"); !fixes.empty()) {
    s.push_back("ALTER ROLE " + user + " " + fixes);
  }
  // No password anywhere: logins go through IAM (rds_iam on Aurora, the proxy locally).
  s.push_back("ALTER ROLE " + user + " PASSWORD NULL");
  s.push_back("GRANT rds_iam TO " + user);
  // Memberships other than rds_iam (pg_read_all_data, ...) would bypass every grant below.
  s.push_back(
      "DO $wg$ DECLARE r record; BEGIN FOR r IN SELECT g.rolname FROM pg_auth_members m"
      " JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member"
      " WHERE u.rolname = " +
      quote_literal(db.user) +
      " AND g.rolname <> 'rds_iam' LOOP"
      " EXECUTE format('REVOKE %I FROM %I', r.rolname, " +
      quote_literal(db.user) + "); END LOOP; END $wg$");
  s.push_back("REVOKE ALL ON DATABASE " + dbname + " FROM " + user);
  s.push_back("GRANT CONNECT ON DATABASE " + dbname + " TO " + user);
  // PUBLIC holds TEMPORARY by default: without this, "no DDL" is false (CREATE TEMP TABLE).
  s.push_back("REVOKE TEMPORARY ON DATABASE " + dbname + " FROM PUBLIC");

  for (const auto& schema_name : db.schemas) {
    const std::string schema = quote_ident(schema_name);
    s.push_back("CREATE SCHEMA IF NOT EXISTS " + schema);
    s.push_back("REVOKE CREATE ON SCHEMA " + schema + " FROM PUBLIC, " + user);
    s.push_back("GRANT USAGE ON SCHEMA " + schema + " TO " + user);
    // Revoking SELECT on a table also revokes its column-level SELECT grants.
    s.push_back("REVOKE ALL ON ALL TABLES IN SCHEMA " + schema + " FROM " + user);
    s.push_back("GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + schema + " TO " + user);
    s.push_back("REVOKE ALL ON ALL SEQUENCES IN SCHEMA " + schema + " FROM " + user);
    s.push_back("GRANT USAGE ON ALL SEQUENCES IN SCHEMA " + schema + " TO " + user);
    for (const auto& owner_name : owners) {
      const std::string owner = quote_ident(owner_name);
      const std::string prefix =
          "ALTER DEFAULT PRIVILEGES FOR ROLE " + owner + " IN SCHEMA " + schema;
      s.push_back(prefix + " REVOKE ALL ON TABLES FROM " + user);
      s.push_back(prefix + " GRANT INSERT, UPDATE, DELETE ON TABLES TO " + user);
      s.push_back(prefix + " REVOKE ALL ON SEQUENCES FROM " + user);
      s.push_back(prefix + " GRANT USAGE ON SEQUENCES TO " + user);
    }
  }

  if (db.write_mode == spec::WriteMode::kKeyed) {
    WG_ASSIGN_OR_RETURN(
        auto keys,
        admin.query(
            "SELECT format('%I.%I', n.nspname, c.relname) AS rel,"
            " (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)"
            "   FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            "   AND a.attnum = ANY(i.indkey) WHERE i.indrelid = c.oid AND i.indisprimary) AS pk"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p')"
            " ORDER BY 1",
            {text_array(db.schemas)}));
    std::vector<std::string> keyless;
    for (std::size_t i = 0; i < keys.rows.size(); ++i) {
      const std::string rel = keys.get(i, "rel");
      const std::string pk = keys.get(i, "pk");
      if (pk.empty()) {
        keyless.push_back(rel);
        continue;
      }
      s.push_back("GRANT SELECT (" + pk + ") ON " + rel + " TO " + user);
    }
    plan.notes.push_back(
        "keyed mode: " + db.user +
        " may read primary-key columns only, so UPDATE/DELETE ... WHERE <key> = ... work and the "
        "key values are listable. Tables created later need `writegate provision` again "
        "(`writegate audit` reports them).");
    for (const auto& rel : keyless) {
      plan.notes.push_back("table " + rel +
                           " has no primary key: only INSERT and unconditional UPDATE/DELETE "
                           "work on it");
    }
  } else {
    plan.notes.push_back(
        "strict mode: " + db.user +
        " has no SELECT at all, so UPDATE/DELETE with a WHERE clause (or RETURNING, ON CONFLICT, "
        "MERGE) cannot work: PostgreSQL needs SELECT on the columns they read. Use "
        "write_mode: keyed for keyed updates.");
  }
  if (!plan.temp_losers.empty()) {
    std::string list;
    for (const auto& r : plan.temp_losers)
      list += (list.empty() ? "" : ", ") + r;
    plan.notes.push_back("--harden-public: these login roles lose TEMPORARY on " + plan.database +
                         ": " + list);
  }
  return plan;
}

Status apply_provision(pgclient::Connection& admin, const ProvisionPlan& plan) {
  WG_RETURN_IF_ERROR(admin.exec("BEGIN"));
  for (const auto& statement : plan.statements) {
    auto done = admin.exec(statement);
    if (!done) {
      (void)admin.exec("ROLLBACK");
      return std::move(done).error().with_context("provision rolled back; failed at: " + statement);
    }
  }
  auto committed = admin.exec("COMMIT");
  if (!committed) return std::move(committed).error().with_context("provision commit");
  return {};
}

}  // namespace writegate::dbadmin
