#include "dbadmin/audit.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "dbadmin/rotate.h"

namespace writegate::dbadmin {
namespace {

using pgclient::quote_ident;
using pgclient::quote_literal;
using pgclient::text_array;

std::string kind_name(const std::string& relkind) {
  if (relkind == "r") return "table";
  if (relkind == "p") return "partitioned table";
  if (relkind == "v") return "view";
  if (relkind == "m") return "materialized view";
  if (relkind == "f") return "foreign table";
  if (relkind == "S") return "sequence";
  return "relation";
}

// SQL, with $1 the writer's oid: the grantees of the aclitem rows `acl_rows` (a FROM item) that
// give the writer any of `privileges` (a SQL list of literals): PUBLIC, the writer itself, or a
// role it inherits from. As a REVOKE ... FROM list ("PUBLIC, app_role"); NULL when none, i.e.
// the privilege comes from no grant (superuser, ownership of a database, a predefined role).
std::string grant_sources(const std::string& acl_rows, const std::string& privileges) {
  return "(SELECT string_agg(DISTINCT CASE WHEN s.grantee = 0 THEN 'PUBLIC'"
         " ELSE quote_ident(pg_get_userbyid(s.grantee)) END, ', ')"
         " FROM " +
         acl_rows + " s WHERE s.privilege_type IN (" + privileges +
         ") AND (s.grantee = 0 OR pg_has_role($1::oid, s.grantee, 'USAGE')))";
}

// The aclitem rows of relation c: its own ACL (or the owner's default) and its columns' ACLs.
// REVOKE on the table also revokes the column grants of the same grantee.
std::string relation_acl_rows(const std::string& default_kind) {
  return "(SELECT * FROM aclexplode(coalesce(c.relacl, acldefault('" + default_kind +
         "', c.relowner))) UNION ALL SELECT x.* FROM pg_attribute pa,"
         " aclexplode(pa.attacl) x WHERE pa.attrelid = c.oid AND pa.attacl IS NOT NULL)";
}

const char* const kNoGrantExplainsIt =
    "no grant explains it: the writer holds it as a superuser, as an owner or through a "
    "predefined role (see the role-attribute, owns-objects and role-membership findings); fix "
    "those";

// "REVOKE <privileges> ON <target> FROM <sources>;" or "" when no grant explains it.
std::string revoke_from_sources(const std::string& privileges, const std::string& target,
                                const std::string& sources) {
  if (sources.empty()) return "";
  return "REVOKE " + privileges + " ON " + target + " FROM " + sources + ";";
}

std::string via_text(const std::string& sources) {
  return sources.empty() ? "" : " (granted to " + sources + ")";
}

class Auditor {
 public:
  Auditor(pgclient::Connection& conn, const spec::Spec& spec, const AuditOptions& options)
      : conn_(conn), spec_(spec), options_(options) {
    report_.user = spec.database.user;
    report_.mode = spec.database.write_mode;
    user_ = quote_ident(spec.database.user);
  }

  Result<AuditReport> run() {
    WG_ASSIGN_OR_RETURN(
        auto facts,
        conn_.query("SELECT current_database() AS db, current_user AS me,"
                    " (SELECT oid::text FROM pg_roles WHERE rolname = $1) AS user_oid,"
                    " EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam') AS rds_iam_exists",
                    {spec_.database.user}));
    report_.database = facts.get(0, "db");
    me_ = facts.get(0, "me");
    db_ = quote_ident(report_.database);
    if (report_.database != spec_.database.name) {
      report_.notes.push_back("the connection is to database '" + report_.database +
                              "', the spec names '" + spec_.database.name + "'");
    }
    oid_ = facts.get(0, "user_oid");
    if (oid_.empty()) {
      add("role-missing", Severity::kCritical, "role " + spec_.database.user,
          "the writer role does not exist", "",
          "run `writegate provision`: it creates the role with its grants");
      return std::move(report_);
    }
    rds_iam_exists_ = facts.get(0, "rds_iam_exists") == "t";
    WG_RETURN_IF_ERROR(check_role());
    WG_RETURN_IF_ERROR(check_memberships());
    WG_RETURN_IF_ERROR(check_database());
    WG_RETURN_IF_ERROR(check_schemas());
    WG_RETURN_IF_ERROR(check_relations_in_schemas());
    WG_RETURN_IF_ERROR(check_relations_elsewhere());
    WG_RETURN_IF_ERROR(check_sequences());
    WG_RETURN_IF_ERROR(check_ownership());
    WG_RETURN_IF_ERROR(check_default_privileges());
    WG_RETURN_IF_ERROR(check_security_definer());
    check_login();
    check_proxy_connect();
    return std::move(report_);
  }

 private:
  // A finding with runnable SQL, or (fix empty) what a person must decide instead.
  void add(std::string check, Severity severity, std::string object, std::string message,
           std::string fix, std::string decide = {}) {
    if (fix.empty() && decide.empty()) decide = kNoGrantExplainsIt;
    report_.findings.push_back({std::move(check), severity, std::move(object), std::move(message),
                                std::move(fix), std::move(decide)});
  }

  Status check_role() {
    WG_ASSIGN_OR_RETURN(
        auto role,
        conn_.query(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin"
            " FROM pg_roles WHERE oid = $1::oid",
            {oid_}));
    const std::string object = "role " + spec_.database.user;
    const std::pair<const char*, const char*> attributes[] = {{"rolsuper", "SUPERUSER"},
                                                              {"rolcreaterole", "CREATEROLE"},
                                                              {"rolcreatedb", "CREATEDB"},
                                                              {"rolreplication", "REPLICATION"},
                                                              {"rolbypassrls", "BYPASSRLS"}};
    for (const auto& [column, attribute] : attributes) {
      if (role.get(0, column) == "t") {
        add("role-attribute", Severity::kCritical, object,
            std::string("has ") + attribute + ": the writer must hold no role attributes",
            "ALTER ROLE " + user_ + " NO" + attribute + ";");
      }
    }
    if (role.get(0, "rolcanlogin") != "t") {
      add("role-cannot-login", Severity::kMedium, object, "cannot log in (NOLOGIN)",
          "ALTER ROLE " + user_ + " LOGIN;");
    }
    // A password would allow logins around IAM where rds_iam does not stop them. Reading it
    // needs superuser; on Aurora rds_iam makes password logins fail anyway.
    auto password = conn_.query(
        "SELECT rolpassword IS NOT NULL AS has_password FROM pg_authid WHERE oid = $1::oid",
        {oid_});
    if (!password) {
      report_.notes.push_back("password check skipped: " + password.error().message());
    } else if (password->get(0, "has_password") == "t") {
      if (spec_.proxy.backend_auth == "SECRETS") {
        // Standard mode: the proxy logs in with the writer's own secret, so a password is the
        // design, not a finding (it must be known only to the proxy's secret).
        report_.notes.push_back(spec_.database.user +
                                " has a password: expected with proxy.backend_auth SECRETS (the "
                                "proxy's secret " +
                                spec_.database.user_secret + " holds it)");
      } else {
        add("role-has-password", Severity::kHigh, object,
            "has a password, but proxy.backend_auth is IAM_AUTH: logins could bypass IAM",
            "ALTER ROLE " + user_ + " PASSWORD NULL;");
      }
    }
    return {};
  }

  Status check_memberships() {
    const std::string object = "role " + spec_.database.user;
    if (iam_backend() && !rds_iam_exists_) {
      add("rds-iam-missing", Severity::kHigh, object,
          "role rds_iam does not exist, so the writer is not IAM-only",
          "CREATE ROLE rds_iam NOLOGIN; GRANT rds_iam TO " + user_ + ";");
    }
    // MEMBER covers every membership, inherited or not: NOINHERIT roles are one SET ROLE away.
    WG_ASSIGN_OR_RETURN(
        auto members,
        conn_.query(
            "SELECT r.rolname,"
            " EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.roleid = r.oid AND m.member = "
            "$1::oid)"
            "   AS direct,"
            " pg_has_role($1::oid, r.oid, 'USAGE') AS inherited,"
            // The writer's own memberships that lead to r: where the membership comes from.
            " (SELECT string_agg(quote_ident(g.rolname), ', ' ORDER BY g.rolname)"
            "   FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
            "   WHERE m.member = $1::oid AND pg_has_role(g.oid, r.oid, 'MEMBER')) AS via"
            " FROM pg_roles r WHERE r.oid <> $1::oid AND pg_has_role($1::oid, r.oid, 'MEMBER')"
            " ORDER BY r.rolname",
            {oid_}));
    bool has_rds_iam = false;
    for (std::size_t i = 0; i < members.rows.size(); ++i) {
      const std::string role = members.get(i, "rolname");
      if (role == "rds_iam") {
        has_rds_iam = true;
        continue;
      }
      const bool direct = members.get(i, "direct") == "t";
      const bool inherited = members.get(i, "inherited") == "t";
      add("role-membership", Severity::kCritical, object,
          std::string("is a member of ") + role + (direct ? "" : " (through another role)") +
              (inherited ? ", and inherits its privileges"
                         : ", not inherited but reachable with SET ROLE"),
          "REVOKE " + (direct ? quote_ident(role) : members.get(i, "via")) + " FROM " + user_ +
              ";");
    }
    if (iam_backend() && rds_iam_exists_ && !has_rds_iam) {
      add("rds-iam-missing", Severity::kHigh, object,
          "is not a member of rds_iam, so it is not IAM-only on Aurora, and proxy.backend_auth "
          "IAM_AUTH has the proxy log in with a token",
          "GRANT rds_iam TO " + user_ + ";");
    }
    if (!iam_backend() && has_rds_iam) {
      add("rds-iam-with-secret", Severity::kHigh, object,
          "is a member of rds_iam, which on Aurora refuses every password login, but "
          "proxy.backend_auth SECRETS has the proxy log in with the password of its secret: "
          "every proxy login would fail (or set proxy.backend_auth: IAM_AUTH, end-to-end IAM)",
          "REVOKE rds_iam FROM " + user_ + ";");
    }
    return {};
  }

  bool iam_backend() const { return spec_.proxy.backend_auth == "IAM_AUTH"; }

  // End-to-end IAM: the proxy logs in to the cluster with a token of its own role, so that role
  // must be allowed rds-db:connect as the writer, and must not be as the master user.
  void check_proxy_connect() {
    if (!iam_backend()) return;
    if (!options_.proxy_may_connect) {
      report_.notes.push_back(
          "proxy role check skipped: no IAM store at hand to simulate the RDS Proxy role's "
          "rds-db:connect on the cluster (run the audit with the stack's state)");
      return;
    }
    const std::string object = "IAM role " + spec_.iam.proxy_role;
    const std::string grant =
        "give the RDS Proxy role rds-db:connect on the cluster's dbuser ARN for " +
        spec_.database.user + " (`writegate iam seed` renders it)";
    auto writer = options_.proxy_may_connect(spec_.database.user);
    if (!writer) {
      add("proxy-connect-denied", Severity::kHigh, object,
          "the simulation could not run: " + writer.error().message(), "", grant);
    } else if (!writer->allowed) {
      add("proxy-connect-denied", Severity::kHigh, object,
          "may not rds-db:connect to the cluster as " + spec_.database.user +
              ", so with proxy.backend_auth IAM_AUTH every proxy login fails: " + writer->evidence,
          "", grant);
    }
    if (spec_.database.master_user.empty()) return;
    auto master = options_.proxy_may_connect(spec_.database.master_user);
    if (master && master->allowed) {
      add("proxy-connect-master", Severity::kCritical, object,
          "may rds-db:connect to the cluster as the master user " + spec_.database.master_user +
              ": " + master->evidence,
          "",
          "scope the role's rds-db:connect to the writer's dbuser ARN only (no wildcard in the "
          "user name)");
    }
  }

  // CONNECT, TEMPORARY and CREATE on every database of the cluster: PUBLIC holds CONNECT and
  // TEMPORARY on each new database, so a writer that may log in to `postgres` (or a database
  // made after provision) can run DDL there (CREATE TEMP TABLE, pg_temp functions).
  Status check_database() {
    const std::string acl = "aclexplode(coalesce(d.datacl, acldefault('d', d.datdba)))";
    WG_ASSIGN_OR_RETURN(
        auto dbs,
        conn_.query("SELECT d.datname, d.datname = current_database() AS current,"
                    " has_database_privilege($1::oid, d.oid, 'CONNECT') AS can_connect,"
                    " has_database_privilege($1::oid, d.oid, 'CREATE') AS can_create,"
                    " has_database_privilege($1::oid, d.oid, 'TEMPORARY') AS can_temp," +
                        grant_sources(acl, "'CONNECT'") + " AS connect_from," +
                        grant_sources(acl, "'CREATE'") + " AS create_from," +
                        grant_sources(acl, "'TEMPORARY'") +
                        " AS temp_from"
                        // datallowconn false (template0): nobody logs in, so nothing to use.
                        " FROM pg_database d WHERE d.datallowconn OR d.datname = current_database()"
                        " ORDER BY d.datname",
                    {oid_}));
    for (std::size_t i = 0; i < dbs.rows.size(); ++i) {
      const std::string name = dbs.get(i, "datname");
      const std::string db = quote_ident(name);
      const std::string object = "database " + name;
      const bool can_connect = dbs.get(i, "can_connect") == "t";
      const std::string connect_from = dbs.get(i, "connect_from");
      const std::string create_from = dbs.get(i, "create_from");
      const std::string temp_from = dbs.get(i, "temp_from");
      if (dbs.get(i, "current") == "t") {
        if (!can_connect) {
          add("connect-missing", Severity::kMedium, object, "the writer cannot connect",
              "GRANT CONNECT ON DATABASE " + db + " TO " + user_ + ";");
        }
        if (dbs.get(i, "can_create") == "t") {
          add("database-create", Severity::kCritical, object,
              "the writer can CREATE schemas in the database" + via_text(create_from),
              revoke_from_sources("CREATE", "DATABASE " + db, create_from));
        }
        if (dbs.get(i, "can_temp") == "t") {
          add("database-temp", Severity::kHigh, object,
              "the writer can CREATE TEMP TABLE (DDL)" + via_text(temp_from),
              revoke_from_sources("TEMPORARY", "DATABASE " + db, temp_from));
        }
        continue;
      }
      // Another database: the writer has no business there at all. Without CONNECT, TEMPORARY
      // and CREATE wait for the day someone grants it, so they weigh less.
      const std::string elsewhere = " (not the spec's database " + report_.database + ")";
      if (can_connect) {
        add("other-database-connect", Severity::kHigh, object,
            "the writer can connect to this database" + elsewhere + via_text(connect_from),
            revoke_from_sources("CONNECT", "DATABASE " + db, connect_from));
      }
      const std::string unused = can_connect ? "" : "; it cannot connect today";
      if (dbs.get(i, "can_create") == "t") {
        add("other-database-create", can_connect ? Severity::kCritical : Severity::kMedium, object,
            "the writer can CREATE schemas in this database" + elsewhere + via_text(create_from) +
                unused,
            revoke_from_sources("CREATE", "DATABASE " + db, create_from));
      }
      if (dbs.get(i, "can_temp") == "t") {
        add("other-database-temp", can_connect ? Severity::kHigh : Severity::kMedium, object,
            "the writer can CREATE TEMP TABLE (DDL) in this database" + elsewhere +
                via_text(temp_from) + unused,
            revoke_from_sources("TEMPORARY", "DATABASE " + db, temp_from));
      }
    }
    return {};
  }

  Status check_schemas() {
    WG_ASSIGN_OR_RETURN(
        auto created,
        conn_.query(
            "SELECT n.nspname, " +
                grant_sources("aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner)))",
                              "'CREATE'") +
                " AS sources FROM pg_namespace n"
                " WHERE has_schema_privilege($1::oid, n.oid, 'CREATE')"
                " AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast%'"
                " ORDER BY 1",
            {oid_}));
    for (std::size_t i = 0; i < created.rows.size(); ++i) {
      const std::string schema = created.get(i, "nspname");
      const std::string sources = created.get(i, "sources");
      add("schema-create", Severity::kCritical, "schema " + schema,
          "the writer can CREATE objects in this schema (DDL)" + via_text(sources),
          revoke_from_sources("CREATE", "SCHEMA " + quote_ident(schema), sources));
    }
    WG_ASSIGN_OR_RETURN(
        auto wanted,
        conn_.query(
            "SELECT s.name, n.oid IS NOT NULL AS present,"
            " n.oid IS NOT NULL AND has_schema_privilege($1::oid, n.oid, 'USAGE') AS usage"
            " FROM unnest($2::text[]) AS s(name) LEFT JOIN pg_namespace n ON n.nspname = s.name",
            {oid_, text_array(spec_.database.schemas)}));
    for (std::size_t i = 0; i < wanted.rows.size(); ++i) {
      const std::string schema = wanted.get(i, "name");
      if (wanted.get(i, "present") != "t") {
        add("schema-missing", Severity::kMedium, "schema " + schema, "does not exist",
            "CREATE SCHEMA " + quote_ident(schema) + "; GRANT USAGE ON SCHEMA " +
                quote_ident(schema) + " TO " + user_ + ";");
      } else if (wanted.get(i, "usage") != "t") {
        add("schema-usage-missing", Severity::kMedium, "schema " + schema,
            "the writer has no USAGE, so it cannot write to any table in it",
            "GRANT USAGE ON SCHEMA " + quote_ident(schema) + " TO " + user_ + ";");
      }
    }
    return {};
  }

  Status check_relations_in_schemas() {
    // One pass over the schemas' relations; per-column work only where SELECT exists at all.
    WG_ASSIGN_OR_RETURN(
        auto rels,
        conn_.query(
            "WITH rel AS ("
            "  SELECT c.oid, c.relkind::text AS relkind, format('%I.%I', n.nspname, c.relname) AS "
            "name,"
            "   c.reloptions, has_any_column_privilege($1::oid, c.oid, 'SELECT') AS any_select,"
            "   has_table_privilege($1::oid, c.oid, 'SELECT') AS table_select,"
            "   has_table_privilege($1::oid, c.oid, 'INSERT') AS ins,"
            "   has_table_privilege($1::oid, c.oid, 'UPDATE') AS upd,"
            "   has_table_privilege($1::oid, c.oid, 'DELETE') AS del,"
            "   concat_ws(', ',"
            "     CASE WHEN has_table_privilege($1::oid, c.oid, 'TRUNCATE') THEN 'TRUNCATE' END,"
            "     CASE WHEN has_any_column_privilege($1::oid, c.oid, 'REFERENCES')"
            "       THEN 'REFERENCES' END,"
            "     CASE WHEN has_table_privilege($1::oid, c.oid, 'TRIGGER') THEN 'TRIGGER' END)"
            "     AS extra,"
            "   (SELECT i.indkey FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS pk"
            "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            "  WHERE n.nspname = ANY($2::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))"
            " SELECT rel.oid, relkind, name, any_select, table_select, ins, upd, del, extra,"
            "  pk IS NOT NULL AS has_pk,"
            "  EXISTS (SELECT 1 FROM unnest(coalesce(reloptions, '{}')) o WHERE lower(o) IN"
            "   ('security_invoker=true', 'security_invoker=on', 'security_invoker=1',"
            "    'security_invoker=yes')) AS security_invoker,"
            "  CASE WHEN any_select THEN (SELECT string_agg(quote_ident(a.attname), ', '"
            "   ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = rel.oid AND a.attnum > 0"
            "   AND NOT a.attisdropped AND has_column_privilege($1::oid, rel.oid, a.attnum, "
            "'SELECT')"
            "   AND NOT (pk IS NOT NULL AND a.attnum = ANY(pk))) END AS readable_non_key,"
            "  CASE WHEN any_select THEN (SELECT string_agg(quote_ident(a.attname), ', '"
            "   ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = rel.oid AND a.attnum > 0"
            "   AND NOT a.attisdropped AND has_column_privilege($1::oid, rel.oid, a.attnum, "
            "'SELECT'))"
            "   END AS readable_all,"
            "  CASE WHEN pk IS NOT NULL THEN (SELECT string_agg(quote_ident(a.attname), ', '"
            "   ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = rel.oid"
            "   AND a.attnum = ANY(pk)) END AS key_columns,"
            "  CASE WHEN pk IS NOT NULL THEN (SELECT string_agg(quote_ident(a.attname), ', '"
            "   ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = rel.oid"
            "   AND a.attnum = ANY(pk)"
            "   AND NOT has_column_privilege($1::oid, rel.oid, a.attnum, 'SELECT')) END"
            "   AS unreadable_key"
            " FROM rel ORDER BY name",
            {oid_, text_array(spec_.database.schemas)}));
    report_.relations_checked += rels.rows.size();
    const bool keyed = spec_.database.write_mode == spec::WriteMode::kKeyed;
    for (std::size_t i = 0; i < rels.rows.size(); ++i) {
      const std::string kind = rels.get(i, "relkind");
      const std::string name = rels.get(i, "name");
      const std::string object = kind_name(kind) + " " + name;
      const bool is_table = kind == "r" || kind == "p";
      const bool any_select = rels.get(i, "any_select") == "t";
      const bool table_select = rels.get(i, "table_select") == "t";
      const std::string readable_non_key = rels.get(i, "readable_non_key");
      const bool has_pk = rels.get(i, "has_pk") == "t";

      if (keyed && is_table) {
        if (!has_pk) {
          add("keyed-no-primary-key", Severity::kMedium, object,
              "keyed mode, but the table has no primary key: keyed UPDATE/DELETE cannot work", "",
              "choose the key columns and add a primary key to the table (ALTER TABLE ... ADD "
              "PRIMARY KEY), then run `writegate provision`; or use strict mode");
        } else if (const std::string missing = rels.get(i, "unreadable_key"); !missing.empty()) {
          add("keyed-key-not-readable", Severity::kLow, object,
              "keyed mode, but the key columns " + missing +
                  " are not readable, so keyed UPDATE/DELETE fail (a table made after provision?)",
              "GRANT SELECT (" + rels.get(i, "key_columns") + ") ON " + name + " TO " + user_ +
                  ";");
        }
      }
      if (table_select) {
        WG_ASSIGN_OR_RETURN(const std::string select_from,
                            relation_sources(rels.get(i, "oid"), "'SELECT'"));
        add("select-on-relation", Severity::kCritical, object,
            "the writer can SELECT every column" + via_text(select_from),
            revoke_select_fix(name, is_table && keyed && has_pk, select_from, i, rels));
      } else if (any_select && (!keyed || !is_table || !readable_non_key.empty())) {
        WG_ASSIGN_OR_RETURN(const std::string select_from,
                            relation_sources(rels.get(i, "oid"), "'SELECT'"));
        const std::string columns =
            keyed && is_table ? readable_non_key : rels.get(i, "readable_all");
        add(keyed && is_table ? "select-on-column" : "select-on-relation", Severity::kCritical,
            object,
            "the writer can SELECT column(s) " + columns + " through column-level grants" +
                via_text(select_from) +
                (keyed && is_table ? " (keyed mode allows the primary key only)" : ""),
            revoke_from_sources("SELECT (" + columns + ")", name, select_from));
      }
      if (is_table) {
        std::vector<std::string> missing;
        if (rels.get(i, "ins") != "t") missing.push_back("INSERT");
        if (rels.get(i, "upd") != "t") missing.push_back("UPDATE");
        if (rels.get(i, "del") != "t") missing.push_back("DELETE");
        if (!missing.empty()) {
          std::string list;
          for (const auto& p : missing)
            list += (list.empty() ? "" : ", ") + p;
          add("write-missing", Severity::kMedium, object, "the writer lacks " + list,
              "GRANT " + list + " ON " + name + " TO " + user_ + ";");
        }
      }
      if (const std::string extra = rels.get(i, "extra"); !extra.empty()) {
        WG_ASSIGN_OR_RETURN(
            const std::string extra_from,
            relation_sources(rels.get(i, "oid"), "'TRUNCATE', 'REFERENCES', 'TRIGGER'"));
        add("extra-privilege", Severity::kHigh, object,
            "the writer holds " + extra + " (beyond INSERT/UPDATE/DELETE)" + via_text(extra_from),
            revoke_from_sources(extra, name, extra_from));
      }
      if (kind == "v" && rels.get(i, "security_invoker") != "t") {
        add("view-not-security-invoker", Severity::kMedium, object,
            "the view runs with its owner's rights, so writes through it bypass the writer's "
            "grants",
            "ALTER VIEW " + name + " SET (security_invoker = true);");
      }
    }
    return {};
  }

  // Where the writer's `privileges` (a SQL list) on relation `oid` come from; asked only for
  // the relations with a finding, so the big query stays one pass.
  Result<std::string> relation_sources(const std::string& oid, const std::string& privileges) {
    WG_ASSIGN_OR_RETURN(auto found,
                        conn_.query("SELECT " + grant_sources(relation_acl_rows("r"), privileges) +
                                        " AS sources FROM pg_class c WHERE c.oid = $2::oid",
                                    {oid_, oid}));
    return found.get(0, "sources");
  }

  std::string revoke_select_fix(const std::string& name, bool keep_keys, const std::string& sources,
                                std::size_t i, const pgclient::QueryResult& rels) {
    std::string fix = revoke_from_sources("SELECT", name, sources);
    if (keep_keys && !fix.empty()) {
      fix += " GRANT SELECT (" + rels.get(i, "key_columns") + ") ON " + name + " TO " + user_ + ";";
    }
    return fix;
  }

  Status check_relations_elsewhere() {
    WG_ASSIGN_OR_RETURN(
        auto rels,
        conn_.query(
            // The sources only for the relations with a privilege (the outer query).
            "SELECT c.relkind, c.name, c.privileges, CASE WHEN c.privileges <> '' THEN " +
                grant_sources(relation_acl_rows("r"),
                              "'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',"
                              " 'TRIGGER'") +
                " END AS sources FROM ("
                "SELECT c.oid, c.relacl, c.relowner, c.relkind::text AS relkind,"
                " format('%I.%I', n.nspname, c.relname) AS name,"
                " concat_ws(', ',"
                "  CASE WHEN has_any_column_privilege($1::oid, c.oid, 'SELECT') THEN 'SELECT' END,"
                "  CASE WHEN has_any_column_privilege($1::oid, c.oid, 'INSERT') THEN 'INSERT' END,"
                "  CASE WHEN has_any_column_privilege($1::oid, c.oid, 'UPDATE') THEN 'UPDATE' END,"
                "  CASE WHEN has_table_privilege($1::oid, c.oid, 'DELETE') THEN 'DELETE' END,"
                "  CASE WHEN has_table_privilege($1::oid, c.oid, 'TRUNCATE') THEN 'TRUNCATE' END,"
                "  CASE WHEN has_any_column_privilege($1::oid, c.oid, 'REFERENCES') THEN "
                "'REFERENCES' "
                "END,"
                "  CASE WHEN has_table_privilege($1::oid, c.oid, 'TRIGGER') THEN 'TRIGGER' END)"
                "  AS privileges"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE NOT (n.nspname = ANY($2::text[]))"
                " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                " AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'"
                " AND c.relkind IN ('r', 'p', 'v', 'm', 'f') OFFSET 0) c"
                " ORDER BY 2",
            {oid_, text_array(spec_.database.schemas)}));
    report_.relations_checked += rels.rows.size();
    for (std::size_t i = 0; i < rels.rows.size(); ++i) {
      const std::string privileges = rels.get(i, "privileges");
      if (privileges.empty()) continue;
      const std::string name = rels.get(i, "name");
      add("privilege-outside-schemas", Severity::kCritical,
          kind_name(rels.get(i, "relkind")) + " " + name,
          "the writer holds " + privileges + " outside its schemas" +
              via_text(rels.get(i, "sources")),
          revoke_from_sources(privileges, name, rels.get(i, "sources")));
    }
    return {};
  }

  Status check_sequences() {
    WG_ASSIGN_OR_RETURN(
        auto seqs,
        conn_.query(
            "SELECT c.name, c.mine, c.bad, c.usage,"
            " CASE WHEN c.bad <> '' THEN " +
                grant_sources(relation_acl_rows("s"), "'SELECT', 'UPDATE'") +
                " END AS bad_from,"
                " CASE WHEN c.usage AND NOT c.mine THEN " +
                grant_sources(relation_acl_rows("s"), "'USAGE'") +
                " END AS usage_from FROM ("
                "SELECT c.oid, c.relacl, c.relowner, format('%I.%I', n.nspname, c.relname) AS name,"
                " n.nspname = ANY($2::text[]) AS mine,"
                " concat_ws(', ',"
                "  CASE WHEN has_sequence_privilege($1::oid, c.oid, 'SELECT') THEN 'SELECT' END,"
                "  CASE WHEN has_sequence_privilege($1::oid, c.oid, 'UPDATE') THEN 'UPDATE' END)"
                "  AS bad,"
                " has_sequence_privilege($1::oid, c.oid, 'USAGE') AS usage"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                " OFFSET 0)"
                " c ORDER BY 1",
            {oid_, text_array(spec_.database.schemas)}));
    for (std::size_t i = 0; i < seqs.rows.size(); ++i) {
      const std::string name = seqs.get(i, "name");
      const bool mine = seqs.get(i, "mine") == "t";
      if (const std::string bad = seqs.get(i, "bad"); !bad.empty()) {
        add("sequence-privilege", Severity::kHigh, "sequence " + name,
            "the writer holds " + bad + " (reads or resets the sequence; USAGE is enough)" +
                via_text(seqs.get(i, "bad_from")),
            revoke_from_sources(bad, "SEQUENCE " + name, seqs.get(i, "bad_from")));
      }
      if (mine && seqs.get(i, "usage") != "t") {
        add("sequence-usage-missing", Severity::kLow, "sequence " + name,
            "the writer lacks USAGE, so inserts that draw from it fail",
            "GRANT USAGE ON SEQUENCE " + name + " TO " + user_ + ";");
      } else if (!mine && seqs.get(i, "usage") == "t") {
        add("privilege-outside-schemas", Severity::kMedium, "sequence " + name,
            "the writer holds USAGE on a sequence outside its schemas" +
                via_text(seqs.get(i, "usage_from")),
            revoke_from_sources("USAGE", "SEQUENCE " + name, seqs.get(i, "usage_from")));
      }
    }
    return {};
  }

  Status check_ownership() {
    // pg_shdepend records ownership of every object in every database of the cluster.
    WG_ASSIGN_OR_RETURN(
        auto owned,
        conn_.query(
            "SELECT coalesce(db.datname, '(shared)') AS datname,"
            " d.dbid = 0 OR db.datname = current_database() AS here,"
            " CASE WHEN d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            "   OR d.dbid = 0 THEN pg_describe_object(d.classid, d.objid, 0)"
            "   ELSE d.classid::regclass::text || ' ' || d.objid END AS what"
            " FROM pg_shdepend d LEFT JOIN pg_database db ON db.oid = d.dbid"
            " WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = $1::oid AND d.deptype = "
            "'o'"
            " ORDER BY 1, 2",
            {oid_}));
    for (std::size_t i = 0; i < owned.rows.size(); ++i) {
      const std::string db = owned.get(i, "datname");
      // REASSIGN OWNED acts on the current database and the shared objects only.
      const std::string reassign = "REASSIGN OWNED BY " + user_ + " TO " + quote_ident(me_) + ";";
      const bool here = owned.get(i, "here") == "t";
      add("owns-objects", Severity::kCritical, owned.get(i, "what") + " in database " + db,
          "the writer owns it, and an owner can ALTER, DROP and GRANT on it", here ? reassign : "",
          here ? "" : "connect to database " + db + " as an admin and run " + reassign);
    }
    return {};
  }

  Status check_default_privileges() {
    std::vector<std::string> owners = spec_.database.table_owners;
    if (owners.empty()) {
      // Whoever owns tables in the schemas today, and the admin who provisions.
      WG_ASSIGN_OR_RETURN(
          auto found,
          conn_.query("SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c"
                      " JOIN pg_namespace n ON n.oid = c.relnamespace"
                      " WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p') ORDER BY 1",
                      {text_array(spec_.database.schemas)}));
      owners.push_back(me_);
      for (const auto& row : found.rows) {
        const std::string owner = row[0].value_or("");
        if (owner != spec_.database.user &&
            std::find(owners.begin(), owners.end(), owner) == owners.end()) {
          owners.push_back(owner);
        }
      }
    }
    report_.table_owners = owners;
    WG_ASSIGN_OR_RETURN(
        auto acl,
        conn_.query(
            "WITH owners AS (SELECT o.name, r.oid FROM unnest($2::text[]) o(name)"
            "   LEFT JOIN pg_roles r ON r.rolname = o.name),"
            " schemas AS (SELECT oid, nspname FROM pg_namespace WHERE nspname = ANY($3::text[])),"
            " kinds AS (SELECT * FROM (VALUES ('r'), ('S')) k(objtype))"
            " SELECT o.name AS owner, o.oid IS NULL AS owner_missing, s.nspname, k.objtype,"
            "  (SELECT string_agg(DISTINCT x.privilege_type, ',')"
            "   FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) x"
            "   WHERE d.defaclrole = o.oid AND d.defaclobjtype::text = k.objtype"
            "   AND d.defaclnamespace IN (0, s.oid)"
            "   AND (x.grantee = 0 OR pg_has_role($1::oid, x.grantee, 'USAGE'))) AS privileges,"
            // The REVOKEs that remove the forbidden ones where they are set: globally (no IN
            // SCHEMA) or for the schema, to the writer, PUBLIC or a role the writer inherits.
            "  (SELECT string_agg(DISTINCT 'ALTER DEFAULT PRIVILEGES FOR ROLE ' || "
            "quote_ident(o.name)"
            "     || CASE WHEN d.defaclnamespace = 0 THEN ''"
            "        ELSE ' IN SCHEMA ' || quote_ident(s.nspname) END"
            "     || ' REVOKE ' || x.privilege_type || ' ON '"
            "     || CASE k.objtype WHEN 'r' THEN 'TABLES' ELSE 'SEQUENCES' END || ' FROM '"
            "     || CASE WHEN x.grantee = 0 THEN 'PUBLIC'"
            "        ELSE quote_ident(pg_get_userbyid(x.grantee)) END || ';', ' ')"
            "   FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) x"
            "   WHERE d.defaclrole = o.oid AND d.defaclobjtype::text = k.objtype"
            "   AND d.defaclnamespace IN (0, s.oid)"
            "   AND (x.grantee = 0 OR pg_has_role($1::oid, x.grantee, 'USAGE'))"
            "   AND x.privilege_type = ANY(CASE k.objtype WHEN 'r'"
            "     THEN ARRAY['SELECT', 'TRUNCATE', 'REFERENCES', 'TRIGGER']"
            "     ELSE ARRAY['SELECT', 'UPDATE'] END)) AS revokes"
            " FROM owners o CROSS JOIN schemas s CROSS JOIN kinds k ORDER BY 1, 3, 4",
            {oid_, text_array(owners), text_array(spec_.database.schemas)}));
    std::set<std::string> missing_owner_reported;
    for (std::size_t i = 0; i < acl.rows.size(); ++i) {
      const std::string owner = acl.get(i, "owner");
      if (acl.get(i, "owner_missing") == "t") {
        if (missing_owner_reported.insert(owner).second) {
          add("table-owner-missing", Severity::kMedium, "role " + owner,
              "is named in database.table_owners but does not exist",
              "CREATE ROLE " + quote_ident(owner) + " NOLOGIN;");
        }
        continue;
      }
      std::set<std::string> have;
      std::stringstream in(acl.get(i, "privileges"));
      std::string p;
      while (std::getline(in, p, ','))
        have.insert(p);
      const std::string schema = acl.get(i, "nspname");
      const bool tables = acl.get(i, "objtype") == "r";
      const std::vector<std::string> want =
          tables ? std::vector<std::string>{"INSERT", "UPDATE", "DELETE"}
                 : std::vector<std::string>{"USAGE"};
      const std::vector<std::string> forbidden =
          tables ? std::vector<std::string>{"SELECT", "TRUNCATE", "REFERENCES", "TRIGGER"}
                 : std::vector<std::string>{"SELECT", "UPDATE"};
      std::string lacking, extra;
      for (const auto& w : want) {
        if (!have.contains(w)) lacking += (lacking.empty() ? "" : ", ") + w;
      }
      for (const auto& f : forbidden) {
        if (have.contains(f)) extra += (extra.empty() ? "" : ", ") + f;
      }
      const std::string what = tables ? "TABLES" : "SEQUENCES";
      const std::string prefix = "ALTER DEFAULT PRIVILEGES FOR ROLE " + quote_ident(owner) +
                                 " IN SCHEMA " + quote_ident(schema);
      const std::string object = "default privileges of " + owner + " in schema " + schema;
      if (!lacking.empty()) {
        add("default-privileges", Severity::kMedium, object,
            "new " + std::string(tables ? "tables" : "sequences") + " made by " + owner +
                " would not give the writer " + lacking,
            prefix + " GRANT " + lacking + " ON " + what + " TO " + user_ + ";");
      }
      if (!extra.empty()) {
        add("default-privileges", Severity::kCritical, object,
            "new " + std::string(tables ? "tables" : "sequences") + " made by " + owner +
                " would give the writer " + extra,
            acl.get(i, "revokes"));
      }
    }
    return {};
  }

  // The proxy's view: does the secret's password log in? (Re-provisioning used to remove the
  // password and leave every proxy login failing while the audit said clean.)
  void check_login() {
    if (!options_.check_login) return;
    const std::string object = "secret " + spec_.database.user_secret;
    const std::string decide =
        "run `writegate secrets rotate-writer`: it sets a new password on the database and in the "
        "secret together";
    if (spec_.proxy.backend_auth == "IAM_AUTH") {
      report_.notes.push_back(
          "secret login check skipped: proxy.backend_auth is IAM_AUTH (no password logins)");
      return;
    }
    if (!options_.secret_password) {
      add("secret-login-failed", Severity::kHigh, object,
          "the proxy's secret cannot be read, so the proxy cannot log in: " +
              options_.secret_problem,
          "", decide);
      return;
    }
    if (auto login = try_login(options_.conninfo, spec_.database.user, *options_.secret_password);
        !login) {
      add("secret-login-failed", Severity::kHigh, object,
          "the secret's password does not log in as " + spec_.database.user +
              ", so every proxy login fails: " + login.error().message(),
          "", decide);
    }
  }

  Status check_security_definer() {
    WG_ASSIGN_OR_RETURN(
        auto funcs,
        conn_.query(
            "SELECT p.oid::regprocedure::text AS name, pg_get_userbyid(p.proowner) AS owner," +
                grant_sources("aclexplode(coalesce(p.proacl, acldefault('f', p.proowner)))",
                              "'EXECUTE'") +
                " AS sources FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                " AND has_function_privilege($1::oid, p.oid, 'EXECUTE')"
                " AND has_schema_privilege($1::oid, n.oid, 'USAGE')"
                " ORDER BY 1",
            {oid_}));
    for (std::size_t i = 0; i < funcs.rows.size(); ++i) {
      const std::string name = funcs.get(i, "name");
      add("security-definer-function", Severity::kHigh, "function " + name,
          "SECURITY DEFINER, owned by " + funcs.get(i, "owner") +
              ", and the writer can EXECUTE it" + via_text(funcs.get(i, "sources")) +
              ": it runs with its owner's rights",
          revoke_from_sources("EXECUTE", "FUNCTION " + name, funcs.get(i, "sources")));
    }
    return {};
  }

  pgclient::Connection& conn_;
  const spec::Spec& spec_;
  const AuditOptions& options_;
  AuditReport report_;
  std::string oid_;
  std::string user_;
  std::string me_;
  std::string db_;
  bool rds_iam_exists_ = false;
};

}  // namespace

std::string_view severity_name(Severity severity) {
  switch (severity) {
    case Severity::kCritical:
      return "critical";
    case Severity::kHigh:
      return "high";
    case Severity::kMedium:
      return "medium";
    case Severity::kLow:
      return "low";
  }
  return "unknown";
}

const std::vector<std::pair<std::string, std::string>>& audit_checks() {
  static const std::vector<std::pair<std::string, std::string>> kChecks = {
      {"role-missing", "the writer role does not exist"},
      {"role-attribute", "SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS"},
      {"role-cannot-login", "the writer is NOLOGIN"},
      {"role-has-password", "the writer has a password (logins around IAM)"},
      {"role-membership", "member of any role but rds_iam, inherited or not"},
      {"rds-iam-missing", "IAM_AUTH: not a member of rds_iam (or rds_iam does not exist)"},
      {"rds-iam-with-secret", "SECRETS: a member of rds_iam (Aurora refuses the proxy's password)"},
      {"connect-missing", "no CONNECT on the database"},
      {"database-create", "CREATE on the database, directly or through PUBLIC"},
      {"database-temp", "TEMPORARY on the database, directly or through PUBLIC"},
      {"other-database-connect", "CONNECT on another database of the cluster (PUBLIC's default)"},
      {"other-database-temp", "TEMPORARY on another database (PUBLIC's default: temp tables)"},
      {"other-database-create", "CREATE on another database (schemas there)"},
      {"schema-create", "CREATE on any schema"},
      {"schema-missing", "a schema of the spec does not exist"},
      {"schema-usage-missing", "no USAGE on a schema of the spec"},
      {"select-on-relation", "SELECT on any column of a relation (column grants included)"},
      {"select-on-column", "keyed mode: SELECT on a column outside the primary key"},
      {"keyed-no-primary-key", "keyed mode: a table without a primary key"},
      {"keyed-key-not-readable", "keyed mode: primary-key columns not readable"},
      {"write-missing", "INSERT, UPDATE or DELETE missing on a table of the schemas"},
      {"extra-privilege", "TRUNCATE, REFERENCES or TRIGGER on a relation of the schemas"},
      {"privilege-outside-schemas", "any privilege on a relation outside the schemas"},
      {"view-not-security-invoker", "a view in the schemas without security_invoker"},
      {"sequence-privilege", "SELECT or UPDATE on a sequence"},
      {"sequence-usage-missing", "no USAGE on a sequence of the schemas"},
      {"owns-objects", "the writer owns an object in any database"},
      {"default-privileges", "new tables/sequences of an owner would get the wrong grants"},
      {"table-owner-missing", "a role named in database.table_owners does not exist"},
      {"security-definer-function", "a SECURITY DEFINER function the writer can execute"},
      {"secret-login-failed", "--check-secret: the password of the proxy's secret does not log in"},
      {"proxy-connect-denied", "IAM_AUTH: the proxy role may not rds-db:connect as the writer"},
      {"proxy-connect-master", "IAM_AUTH: the proxy role may rds-db:connect as the master user"},
  };
  return kChecks;
}

Result<AuditReport> audit(pgclient::Connection& admin, const spec::Spec& spec,
                          const AuditOptions& options) {
  Auditor auditor(admin, spec, options);
  auto report = auditor.run();
  if (!report) return std::move(report).error().with_context("audit");
  std::stable_sort(report->findings.begin(), report->findings.end(),
                   [](const Finding& a, const Finding& b) { return a.severity < b.severity; });
  return report;
}

std::string format_text(const AuditReport& report) {
  std::ostringstream out;
  out << "writegate audit: database " << report.database << ", user " << report.user << ", "
      << spec::write_mode_name(report.mode) << " mode, " << report.relations_checked
      << " relations checked\n";
  for (const auto& f : report.findings) {
    out << "\n"
        << severity_name(f.severity) << "  " << f.check << "  " << f.object << "\n"
        << "    " << f.message << "\n"
        << (f.fix.empty() ? "    decide: " + f.decide : "    fix: " + f.fix) << "\n";
  }
  for (const auto& note : report.notes)
    out << "\nnote: " << note << "\n";
  std::map<Severity, int> counts;
  for (const auto& f : report.findings)
    ++counts[f.severity];
  if (report.findings.empty()) {
    out << "\nclean: no findings\n";
  } else {
    out << "\n" << report.findings.size() << " finding(s):";
    for (const auto& [severity, count] : counts)
      out << " " << count << " " << severity_name(severity);
    out << "\n";
  }
  return out.str();
}

std::string format_json(const AuditReport& report) {
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& f : report.findings) {
    findings.push_back({{"check", f.check},
                        {"severity", severity_name(f.severity)},
                        {"object", f.object},
                        {"message", f.message},
                        {"fix", f.fix.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.fix)},
                        {"decide", f.decide}});
  }
  nlohmann::json doc = {{"database", report.database},
                        {"user", report.user},
                        {"write_mode", spec::write_mode_name(report.mode)},
                        {"relations_checked", report.relations_checked},
                        {"table_owners", report.table_owners},
                        {"clean", report.findings.empty()},
                        {"findings", findings},
                        {"notes", report.notes}};
  return doc.dump(2) + "\n";
}

}  // namespace writegate::dbadmin
