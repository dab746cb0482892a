#include "dbadmin/provision.h"

#include <set>

namespace writegate::dbadmin {
namespace {

using pgclient::quote_ident;
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
                  " EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
                  "   JOIN pg_roles u ON u.oid = m.member"
                  "   WHERE g.rolname = 'rds_iam' AND u.rolname = $1) AS in_rds_iam,"
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

  // PUBLIC's privileges on the databases: CONNECT and TEMPORARY are PUBLIC's by default on
  // every database, so without this the writer logs in to `postgres` (or a database made
  // later) and runs DDL there. On the spec's database the writer keeps its own CONNECT.
  // datallowconn false (template0): nobody logs in, nothing to revoke.
  WG_ASSIGN_OR_RETURN(
      auto public_grants,
      admin.query(
          "WITH dbs AS (SELECT d.datname, d.datname = current_database() AS here,"
          "   pg_get_userbyid(d.datdba) AS owner,"
          "   coalesce(d.datacl, acldefault('d', d.datdba)) AS acl,"
          "   pg_has_role(current_user, d.datdba, 'USAGE')"
          "   OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS can_act"
          "   FROM pg_database d WHERE d.datallowconn OR d.datname = current_database()),"
          " held AS (SELECT dbs.*, p.priv, p.ord FROM dbs CROSS JOIN"
          "   unnest(ARRAY['CONNECT', 'TEMPORARY', 'CREATE']) WITH ORDINALITY p(priv, ord)"
          "   WHERE NOT (dbs.here AND p.priv = 'CONNECT')"
          "   AND EXISTS (SELECT 1 FROM aclexplode(dbs.acl) a"
          "     WHERE a.grantee = 0 AND a.privilege_type = p.priv))"
          " SELECT h.datname, h.here, h.owner, h.can_act, h.priv,"
          "  (SELECT string_agg(r.rolname, ',' ORDER BY r.rolname) FROM pg_roles r"
          "   WHERE r.rolcanlogin AND NOT r.rolsuper AND r.rolname <> $1"
          "   AND r.rolname NOT LIKE 'pg\\_%' AND r.rolname NOT IN ('rdsadmin', 'rdsproxyadmin')"
          "   AND NOT EXISTS (SELECT 1 FROM aclexplode(h.acl) a WHERE a.grantee <> 0"
          "     AND a.privilege_type = h.priv AND pg_has_role(r.oid, a.grantee, 'USAGE')))"
          "   AS losers"
          " FROM held h ORDER BY h.here DESC, h.datname, h.ord",
          {db.user}));
  struct DatabaseRevoke {
    std::string database;
    std::vector<std::string> privileges;
  };
  std::vector<DatabaseRevoke> public_revokes;
  std::string loss_text, keep_sql;
  for (std::size_t i = 0; i < public_grants.rows.size(); ++i) {
    const std::string name = public_grants.get(i, "datname");
    const std::string privilege = public_grants.get(i, "priv");
    if (public_grants.get(i, "can_act") != "t") {
      plan.notes.push_back("PUBLIC holds " + privilege + " on database " + name + ", owned by " +
                           public_grants.get(i, "owner") +
                           ", whom this admin cannot act for: ask its owner or a superuser to "
                           "REVOKE " +
                           privilege + " ON DATABASE " + quote_ident(name) +
                           " FROM PUBLIC (`writegate audit` reports it until then)");
      continue;
    }
    if (public_revokes.empty() || public_revokes.back().database != name) {
      public_revokes.push_back({name, {}});
    }
    public_revokes.back().privileges.push_back(privilege);
    const std::string losers = public_grants.get(i, "losers");
    if (losers.empty()) continue;
    PublicLoss loss{name, privilege, {}};
    std::string names, quoted;
    for (std::size_t from = 0; from <= losers.size();) {
      std::size_t to = losers.find(',', from);
      if (to == std::string::npos) to = losers.size();
      loss.roles.push_back(losers.substr(from, to - from));
      names += (names.empty() ? "" : ", ") + loss.roles.back();
      quoted += (quoted.empty() ? "" : ", ") + quote_ident(loss.roles.back());
      from = to + 1;
    }
    loss_text += "\n  " + privilege + " on database " + name + ": " + names;
    keep_sql +=
        "\n  GRANT " + privilege + " ON DATABASE " + quote_ident(name) + " TO " + quoted + ";";
    plan.public_losses.push_back(std::move(loss));
  }
  if (!plan.public_losses.empty() && !options.harden_public) {
    return Error::failed_precondition(
        "revoking PUBLIC's privileges on the databases (so the writer cannot log in to other "
        "databases or create temporary objects) would also take them from other login roles:" +
        loss_text +
        "\nRe-run with --harden-public to go ahead, or first grant those roles what they need:" +
        keep_sql);
  }

  // Memberships other than rds_iam (pg_read_all_data, ...) would bypass every grant below.
  // Read here and quoted on this side: no SQL is built inside the server from identifiers.
  WG_ASSIGN_OR_RETURN(
      auto memberships,
      admin.query("SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
                  " JOIN pg_roles u ON u.oid = m.member"
                  " WHERE u.rolname = $1 AND g.rolname <> 'rds_iam' ORDER BY 1",
                  {db.user}));
  // Direct grants to the writer on other databases.
  WG_ASSIGN_OR_RETURN(
      auto other_grants,
      admin.query("SELECT d.datname FROM pg_database d"
                  " WHERE d.datname <> current_database() AND EXISTS (SELECT 1"
                  "   FROM aclexplode(d.datacl) a JOIN pg_roles u ON u.oid = a.grantee"
                  "   WHERE u.rolname = $1)"
                  " AND (pg_has_role(current_user, d.datdba, 'USAGE')"
                  "   OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))"
                  " ORDER BY 1",
                  {db.user}));

  auto& s = plan.statements;
  s.push_back("SELECT pg_advisory_xact_lock(hashtext('writegate provision'))");
  const bool iam_backend = spec.proxy.backend_auth == "IAM_AUTH";
  if (iam_backend && facts.get(0, "rds_iam_exists") != "t") {
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
  if (iam_backend) {
    // End-to-end IAM: no password anywhere, logins go through IAM tokens only (rds_iam: on
    // Aurora, and locally through pam_writegate.so, no password can log the writer in).
    s.push_back("ALTER ROLE " + user + " PASSWORD NULL");
    s.push_back("GRANT rds_iam TO " + user);
  } else {
    // Standard mode: the proxy logs in with the password its secret holds; removing it would
    // break every proxy login. It is set (with the secret) by `writegate secrets rotate-writer`.
    plan.notes.push_back("standard mode (proxy.backend_auth SECRETS): " + db.user +
                         "'s password is kept as it is; `writegate secrets rotate-writer` sets a "
                         "new one in the database and in the proxy's secret " +
                         db.user_secret + " together");
    // rds_iam would make that password login fail on Aurora (IAM-only): the proxy could never
    // log in. The document grants both; standard mode cannot have rds_iam.
    if (facts.get(0, "in_rds_iam") == "t") {
      s.push_back("REVOKE rds_iam FROM " + user);
      plan.notes.push_back("standard mode (proxy.backend_auth SECRETS): " + db.user +
                           " leaves rds_iam, which on Aurora refuses every password login, the "
                           "proxy's too; for IAM-only logins set proxy.backend_auth: IAM_AUTH");
    }
  }
  for (const auto& row : memberships.rows) {
    s.push_back("REVOKE " + quote_ident(row[0].value_or("")) + " FROM " + user);
  }
  s.push_back("REVOKE ALL ON DATABASE " + dbname + " FROM " + user);
  s.push_back("GRANT CONNECT ON DATABASE " + dbname + " TO " + user);
  for (const auto& row : other_grants.rows) {
    s.push_back("REVOKE ALL ON DATABASE " + quote_ident(row[0].value_or("")) + " FROM " + user);
  }
  // PUBLIC holds TEMPORARY by default: without this, "no DDL" is false (CREATE TEMP TABLE);
  // and CONNECT on every other database.
  for (const auto& revoke : public_revokes) {
    std::string privileges;
    for (const auto& p : revoke.privileges)
      privileges += (privileges.empty() ? "" : ", ") + p;
    s.push_back("REVOKE " + privileges + " ON DATABASE " + quote_ident(revoke.database) +
                " FROM PUBLIC");
  }

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
  for (const auto& loss : plan.public_losses) {
    std::string list;
    for (const auto& r : loss.roles)
      list += (list.empty() ? "" : ", ") + r;
    plan.notes.push_back("--harden-public: these login roles lose " + loss.privilege +
                         " on database " + loss.database + ": " + list);
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
