#include "deploy/sql_script.h"

#include <sstream>

#include "pgclient/pgclient.h"

namespace writegate::deploy {
namespace {

using pgclient::quote_ident;
using pgclient::quote_literal;

std::string text_array(const std::vector<std::string>& items) {
  std::string out = "ARRAY[";
  for (std::size_t i = 0; i < items.size(); ++i)
    out += (i ? ", " : "") + quote_literal(items[i]);
  return out + "]::text[]";
}

}  // namespace

std::string provision_sql(const spec::Spec& spec) {
  const auto& db = spec.database;
  const std::string user = quote_ident(db.user);
  const std::string user_literal = quote_literal(db.user);
  const std::string dbname = quote_ident(db.name);
  const bool iam_backend = spec.proxy.backend_auth == "IAM_AUTH";
  std::ostringstream s;
  s << "-- writegate provision for database " << db.name << ", writer " << db.user
    << " (rendered by `writegate render sql`).\n"
       "-- Run as the master user (or another admin role), connected to "
    << db.name
    << ", with psql:\n"
       "--   psql \"host=CLUSTER_ENDPOINT dbname="
    << db.name << " user=" << db.master_user
    << " sslmode=verify-full sslrootcert=global-bundle.pem\" \\\n"
       "--        -v ON_ERROR_STOP=1 -f provision.sql\n"
       "-- One transaction: on any error nothing changes. Running it again changes nothing.\n"
       "-- It does what `writegate provision` does; steps that depend on the catalog ask it here.\n"
       "-- PUBLIC's CONNECT/TEMPORARY/CREATE on the databases are revoked; if other login roles\n"
       "-- hold them only through PUBLIC the script stops and lists them, unless run with\n"
       "-- -v harden_public=on (as `writegate provision --harden-public`).\n";
  if (!iam_backend) {
    s << "-- Standard mode (proxy.backend_auth SECRETS): the writer logs in with the password of\n"
         "-- its secret "
      << db.user_secret
      << ". Pass it as psql's variable writer_password, as a SCRAM-SHA-256\n"
         "-- verifier made on your side (then no server log holds the password) and through\n"
         "-- standard input, as cli/deploy.sh does:\n"
         "--   { printf '\\\\set writer_password %s\\n' \"'SCRAM-SHA-256$4096:...'\"; cat "
         "provision.sql; }\n"
         "--     | psql ... -f -\n"
         "-- Without it the password is left as it is.\n";
  }
  s << "\\set ON_ERROR_STOP on\n"
       "\\if :{?harden_public}\n\\else\n\\set harden_public off\n\\endif\n";
  if (!iam_backend) s << "\\if :{?writer_password}\n\\else\n\\set writer_password ''\n\\endif\n";
  s << "BEGIN;\n"
       "SELECT pg_advisory_xact_lock(hashtext('writegate provision'));\n"
       "SET LOCAL writegate.harden_public = :'harden_public';\n";
  if (!iam_backend) s << "SET LOCAL writegate.writer_password = :'writer_password';\n";
  s << "\n-- The right database, and not as the writer.\n"
       "DO $$\nBEGIN\n"
       "  IF current_database() <> "
    << quote_literal(db.name)
    << " THEN\n"
       "    RAISE EXCEPTION 'connected to database %, the spec names "
    << db.name
    << "', current_database();\n"
       "  END IF;\n"
       "  IF current_user = "
    << user_literal
    << " THEN\n"
       "    RAISE EXCEPTION 'connected as the writer: run this as an admin role';\n"
       "  END IF;\n";
  for (const auto& owner : db.table_owners) {
    s << "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = " << quote_literal(owner)
      << ") THEN\n    RAISE EXCEPTION 'table owner role " << owner
      << " (database.table_owners) does not exist; create it first';\n  END IF;\n";
  }
  s << "END $$;\n\n";

  if (iam_backend) {
    s << "-- Aurora has rds_iam; a plain PostgreSQL gets a stand-in so the grants read the same.\n"
         "DO $$\nBEGIN\n"
         "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN\n"
         "    CREATE ROLE rds_iam NOLOGIN;\n  END IF;\nEND $$;\n\n";
  }
  s << "-- The writer: a login role without any power attribute. Only the attributes that differ\n"
       "-- are changed (changing SUPERUSER/REPLICATION/BYPASSRLS at all needs a superuser, which\n"
       "-- Aurora's master user is not).\n"
       "DO $$\nDECLARE\n  fixes text;\nBEGIN\n"
       "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
    << user_literal
    << ") THEN\n"
       "    CREATE ROLE "
    << user
    << " LOGIN;\n  END IF;\n"
       "  SELECT concat_ws(' ', CASE WHEN NOT rolcanlogin THEN 'LOGIN' END,\n"
       "      CASE WHEN rolsuper THEN 'NOSUPERUSER' END, CASE WHEN rolcreatedb THEN 'NOCREATEDB' "
       "END,\n"
       "      CASE WHEN rolcreaterole THEN 'NOCREATEROLE' END,\n"
       "      CASE WHEN rolreplication THEN 'NOREPLICATION' END,\n"
       "      CASE WHEN rolbypassrls THEN 'NOBYPASSRLS' END, CASE WHEN NOT rolinherit THEN "
       "'INHERIT' END)\n"
       "    INTO fixes FROM pg_roles WHERE rolname = "
    << user_literal
    << ";\n"
       "  IF fixes <> '' THEN\n"
       "    EXECUTE format('ALTER ROLE %I %s', "
    << user_literal << ", fixes);\n  END IF;\nEND $$;\n\n";
  if (iam_backend) {
    s << "-- End-to-end IAM: no password anywhere; logins go through IAM tokens only (rds_iam).\n"
      << "ALTER ROLE " << user << " PASSWORD NULL;\n"
      << "GRANT rds_iam TO " << user << ";\n\n";
  } else {
    s << "-- Standard mode: the proxy logs in with the password of the secret " << db.user_secret
      << ";\n"
         "-- rds_iam would make Aurora refuse that password login, so the writer leaves it.\n"
         "DO $$\nBEGIN\n"
         "  IF current_setting('writegate.writer_password') <> '' THEN\n"
         "    EXECUTE format('ALTER ROLE %I PASSWORD %L', "
      << user_literal
      << ", current_setting('writegate.writer_password'));\n"
         "  END IF;\n"
         "  IF EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid\n"
         "             JOIN pg_roles u ON u.oid = m.member\n"
         "             WHERE g.rolname = 'rds_iam' AND u.rolname = "
      << user_literal
      << ") THEN\n"
         "    EXECUTE format('REVOKE rds_iam FROM %I', "
      << user_literal
      << ");\n  END IF;\nEND $$;\n"
         "-- The password must not stay in this session's settings.\n"
         "SET LOCAL writegate.writer_password = '';\n\n";
  }
  s << "-- Memberships other than rds_iam (pg_read_all_data, ...) would bypass every grant below.\n"
       "DO $$\nDECLARE\n  r record;\nBEGIN\n"
       "  FOR r IN SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid\n"
       "           JOIN pg_roles u ON u.oid = m.member\n"
       "           WHERE u.rolname = "
    << user_literal
    << " AND g.rolname <> 'rds_iam' ORDER BY 1 LOOP\n"
       "    EXECUTE format('REVOKE %I FROM %I', r.rolname, "
    << user_literal << ");\n  END LOOP;\nEND $$;\n\n";
  s << "-- CONNECT on this database only; nothing else on it, nothing on any other database.\n"
    << "REVOKE ALL ON DATABASE " << dbname << " FROM " << user << ";\n"
    << "GRANT CONNECT ON DATABASE " << dbname << " TO " << user << ";\n"
    << "DO $$\nDECLARE\n  r record;\nBEGIN\n"
       "  FOR r IN SELECT d.datname FROM pg_database d\n"
       "           WHERE d.datname <> current_database() AND EXISTS (SELECT 1\n"
       "             FROM aclexplode(d.datacl) a JOIN pg_roles u ON u.oid = a.grantee\n"
       "             WHERE u.rolname = "
    << user_literal
    << ")\n"
       "           AND (pg_has_role(current_user, d.datdba, 'USAGE')\n"
       "             OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))\n"
       "           ORDER BY 1 LOOP\n"
       "    EXECUTE format('REVOKE ALL ON DATABASE %I FROM %I', r.datname, "
    << user_literal << ");\n  END LOOP;\nEND $$;\n\n";
  s << "-- PUBLIC holds TEMPORARY (CREATE TEMP TABLE is DDL) on every database and CONNECT on\n"
       "-- every other one by default. Revoked where this admin may act for the owner; other\n"
       "-- login roles that hold them only through PUBLIC stop the script unless harden_public.\n"
       "DO $$\nDECLARE\n  r record;\n  losers text := '';\n  keep text := '';\nBEGIN\n"
       "  FOR r IN\n"
       "    WITH dbs AS (SELECT d.datname, d.datname = current_database() AS here,\n"
       "        coalesce(d.datacl, acldefault('d', d.datdba)) AS acl\n"
       "        FROM pg_database d WHERE (d.datallowconn OR d.datname = current_database())\n"
       "        AND (pg_has_role(current_user, d.datdba, 'USAGE')\n"
       "          OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))),\n"
       "    held AS (SELECT dbs.*, p.priv, p.ord FROM dbs CROSS JOIN\n"
       "        unnest(ARRAY['CONNECT', 'TEMPORARY', 'CREATE']) WITH ORDINALITY p(priv, ord)\n"
       "        WHERE NOT (dbs.here AND p.priv = 'CONNECT')\n"
       "        AND EXISTS (SELECT 1 FROM aclexplode(dbs.acl) a\n"
       "          WHERE a.grantee = 0 AND a.privilege_type = p.priv))\n"
       "    SELECT h.datname, h.priv,\n"
       "      (SELECT string_agg(quote_ident(o.rolname), ', ' ORDER BY o.rolname) FROM pg_roles o\n"
       "        WHERE o.rolcanlogin AND NOT o.rolsuper AND o.rolname <> "
    << user_literal
    << "\n"
       "        AND o.rolname NOT LIKE 'pg\\_%' AND o.rolname NOT IN ('rdsadmin', "
       "'rdsproxyadmin')\n"
       "        AND NOT EXISTS (SELECT 1 FROM aclexplode(h.acl) a WHERE a.grantee <> 0\n"
       "          AND a.privilege_type = h.priv AND pg_has_role(o.oid, a.grantee, 'USAGE')))\n"
       "        AS losers\n"
       "    FROM held h ORDER BY h.here DESC, h.datname, h.ord\n"
       "  LOOP\n"
       "    IF r.losers IS NOT NULL THEN\n"
       "      losers := losers || format(E'\\n  %s on database %s: %s', r.priv, r.datname, "
       "r.losers);\n"
       "      keep := keep || format(E'\\n  GRANT %s ON DATABASE %I TO %s;', r.priv, r.datname, "
       "r.losers);\n"
       "    END IF;\n"
       "    IF r.losers IS NULL OR current_setting('writegate.harden_public')::bool THEN\n"
       "      EXECUTE format('REVOKE %s ON DATABASE %I FROM PUBLIC', r.priv, r.datname);\n"
       "    END IF;\n"
       "  END LOOP;\n"
       "  IF losers <> '' AND NOT current_setting('writegate.harden_public')::bool THEN\n"
       "    RAISE EXCEPTION 'revoking PUBLIC''s privileges on the databases would also take them "
       "from other login roles:%', losers\n"
       "      USING HINT = 'run with -v harden_public=on to go ahead, or first grant those roles "
       "what they need:' || keep;\n"
       "  END IF;\n"
       "END $$;\n\n";
  for (const auto& schema_name : db.schemas) {
    const std::string schema = quote_ident(schema_name);
    s << "-- Schema " << schema_name
      << ": USAGE, INSERT/UPDATE/DELETE on its tables, USAGE on its sequences; no CREATE,\n"
         "-- no SELECT (revoking SELECT on a table also revokes its column grants).\n"
      << "CREATE SCHEMA IF NOT EXISTS " << schema << ";\n"
      << "REVOKE CREATE ON SCHEMA " << schema << " FROM PUBLIC, " << user << ";\n"
      << "GRANT USAGE ON SCHEMA " << schema << " TO " << user << ";\n"
      << "REVOKE ALL ON ALL TABLES IN SCHEMA " << schema << " FROM " << user << ";\n"
      << "GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " << schema << " TO " << user
      << ";\n"
      << "REVOKE ALL ON ALL SEQUENCES IN SCHEMA " << schema << " FROM " << user << ";\n"
      << "GRANT USAGE ON ALL SEQUENCES IN SCHEMA " << schema << " TO " << user << ";\n";
    // Tables created later get the same grants: FOR ROLE each owner, or (none named) the role
    // running this script.
    std::vector<std::string> owners = db.table_owners;
    if (owners.empty()) owners.push_back("");
    for (const auto& owner_name : owners) {
      s << "-- Tables created later by "
        << (owner_name.empty() ? "the role running this script" : owner_name)
        << " get the same grants.\n";
      const std::string prefix =
          "ALTER DEFAULT PRIVILEGES" +
          (owner_name.empty() ? "" : " FOR ROLE " + quote_ident(owner_name)) + " IN SCHEMA " +
          schema;
      s << prefix << " REVOKE ALL ON TABLES FROM " << user << ";\n"
        << prefix << " GRANT INSERT, UPDATE, DELETE ON TABLES TO " << user << ";\n"
        << prefix << " REVOKE ALL ON SEQUENCES FROM " << user << ";\n"
        << prefix << " GRANT USAGE ON SEQUENCES TO " << user << ";\n";
    }
    s << "\n";
  }
  if (db.write_mode == spec::WriteMode::kKeyed) {
    s << "-- Keyed mode: SELECT on primary-key columns only, so UPDATE/DELETE ... WHERE <key> "
         "work\n"
         "-- (the key values become listable). Tables created later need this script again.\n"
         "DO $$\nDECLARE\n  r record;\nBEGIN\n"
         "  FOR r IN SELECT format('%I.%I', n.nspname, c.relname) AS rel,\n"
         "      (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)\n"
         "        FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid\n"
         "        AND a.attnum = ANY(i.indkey) WHERE i.indrelid = c.oid AND i.indisprimary) AS pk\n"
         "    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace\n"
         "    WHERE n.nspname = ANY("
      << text_array(db.schemas)
      << ") AND c.relkind IN ('r', 'p')\n"
         "    ORDER BY 1 LOOP\n"
         "    IF r.pk IS NOT NULL THEN\n"
         "      EXECUTE format('GRANT SELECT (%s) ON %s TO %I', r.pk, r.rel, "
      << user_literal
      << ");\n"
         "    ELSE\n"
         "      RAISE NOTICE 'table % has no primary key: only INSERT and unconditional "
         "UPDATE/DELETE work on it', r.rel;\n"
         "    END IF;\n  END LOOP;\nEND $$;\n\n";
  } else {
    s << "-- Strict mode: no SELECT at all, so UPDATE/DELETE with a WHERE clause (or RETURNING,\n"
         "-- ON CONFLICT, MERGE) cannot work: PostgreSQL needs SELECT on the columns they "
         "read.\n\n";
  }
  s << "COMMIT;\n";
  return s.str();
}

std::string audit_sql(const spec::Spec& spec) {
  const auto& db = spec.database;
  const std::string u = quote_literal(db.user);
  const std::string schemas = text_array(db.schemas);
  const bool iam_backend = spec.proxy.backend_auth == "IAM_AUTH";
  std::ostringstream s;
  s << "-- writegate audit of " << db.user << " in database " << db.name
    << " (rendered by `writegate render sql`): read-only.\n"
       "-- Each row is a finding (check id, object, what is wrong); no row means clean.\n"
       "-- The check ids are `writegate audit`'s; it also checks what needs more than SQL (a\n"
       "-- login with the proxy's secret, the proxy role's IAM policy, whether the writer has a\n"
       "-- password: pg_authid needs a superuser, which Aurora's master user is not) and\n"
       "-- suggests fixes.\n"
       "--   psql \"host=CLUSTER_ENDPOINT dbname="
    << db.name << " user=" << db.master_user
    << " sslmode=verify-full sslrootcert=global-bundle.pem\" -f audit.sql\n"
       "\\set ON_ERROR_STOP on\n"
       "BEGIN TRANSACTION READ ONLY;\n"
       "WITH w AS (SELECT * FROM pg_roles WHERE rolname = "
    << u
    << "),\n"
       "rel AS (SELECT c.oid, n.nspname, c.relname, c.relkind,\n"
       "    format('%I.%I', n.nspname, c.relname) AS name\n"
       "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace\n"
       "  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')\n"
       "  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE "
       "'pg\\_toast%')\n"
       "SELECT check_id, object, problem FROM (\n"
       "  SELECT 'role-missing' AS check_id, 'role ' || "
    << u
    << " AS object,\n"
       "    'the writer role does not exist' AS problem WHERE NOT EXISTS (SELECT FROM w)\n"
       "  UNION ALL SELECT 'role-attribute', 'role ' || rolname,\n"
       "    'has SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS' FROM w\n"
       "    WHERE rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls\n"
       "  UNION ALL SELECT 'role-cannot-login', 'role ' || rolname, 'is NOLOGIN' FROM w WHERE NOT "
       "rolcanlogin\n"
       "  UNION ALL SELECT 'role-membership', 'role ' || g.rolname, 'the writer is a member'\n"
       "    FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN w ON w.oid = "
       "m.member\n"
       "    WHERE g.rolname <> 'rds_iam'\n";
  if (iam_backend) {
    s << "  UNION ALL SELECT 'rds-iam-missing', 'role ' || rolname, 'not a member of rds_iam' FROM "
         "w\n"
         "    WHERE NOT EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid\n"
         "      WHERE g.rolname = 'rds_iam' AND m.member = w.oid)\n";
  } else {
    s << "  UNION ALL SELECT 'rds-iam-with-secret', 'role ' || rolname,\n"
         "    'a member of rds_iam: Aurora refuses the proxy''s password login' FROM w\n"
         "    WHERE EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid\n"
         "      WHERE g.rolname = 'rds_iam' AND m.member = w.oid)\n";
  }
  s << "  UNION ALL SELECT 'connect-missing', 'database ' || current_database(), 'no CONNECT'\n"
       "    FROM w WHERE NOT has_database_privilege(w.oid, current_database(), 'CONNECT')\n"
       "  UNION ALL SELECT 'database-create', 'database ' || current_database(), 'CREATE'\n"
       "    FROM w WHERE has_database_privilege(w.oid, current_database(), 'CREATE')\n"
       "  UNION ALL SELECT 'database-temp', 'database ' || current_database(),\n"
       "    'TEMPORARY (temporary tables: DDL)'\n"
       "    FROM w WHERE has_database_privilege(w.oid, current_database(), 'TEMPORARY')\n"
       "  UNION ALL SELECT 'other-database-' || lower(p.priv), 'database ' || d.datname, p.priv\n"
       "    FROM w, pg_database d, unnest(ARRAY['CONNECT', 'TEMPORARY', 'CREATE']) p(priv)\n"
       "    WHERE d.datname <> current_database() AND d.datallowconn\n"
       "    AND has_database_privilege(w.oid, d.oid, p.priv)\n"
       "  UNION ALL SELECT 'schema-create', 'schema ' || n.nspname, 'CREATE'\n"
       "    FROM w, pg_namespace n WHERE has_schema_privilege(w.oid, n.oid, 'CREATE')\n"
       "  UNION ALL SELECT 'schema-missing', 'schema ' || s.name, 'does not exist'\n"
       "    FROM unnest("
    << schemas
    << ") s(name)\n"
       "    WHERE NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = s.name)\n"
       "  UNION ALL SELECT 'schema-usage-missing', 'schema ' || n.nspname, 'no USAGE'\n"
       "    FROM w, pg_namespace n WHERE n.nspname = ANY("
    << schemas
    << ")\n"
       "    AND NOT has_schema_privilege(w.oid, n.oid, 'USAGE')\n";
  const bool keyed = db.write_mode == spec::WriteMode::kKeyed;
  // A table-level SELECT, or in strict mode any column's, reads the relation; in keyed mode a
  // table's primary-key columns may be read and any other column is a finding of its own.
  s << "  UNION ALL SELECT 'select-on-relation', 'relation ' || rel.name,\n"
       "    'SELECT (column grants included)'\n"
       "    FROM w, rel WHERE has_table_privilege(w.oid, rel.oid, 'SELECT')\n"
       "    OR ("
    << (keyed ? "rel.relkind NOT IN ('r', 'p')" : "true")
    << " AND has_any_column_privilege(w.oid, rel.oid, 'SELECT'))\n";
  if (keyed) {
    s << "  UNION ALL SELECT 'select-on-column', 'column ' || rel.name || '.' || "
         "quote_ident(a.attname),\n"
         "    'SELECT on a column outside the primary key'\n"
         "    FROM w, rel JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT "
         "a.attisdropped\n"
         "    WHERE rel.relkind IN ('r', 'p') AND NOT has_table_privilege(w.oid, rel.oid, "
         "'SELECT')\n"
         "    AND has_column_privilege(w.oid, rel.oid, a.attnum, 'SELECT')\n"
         "    AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = rel.oid AND "
         "i.indisprimary\n"
         "      AND a.attnum = ANY(i.indkey))\n";
  }
  s << "  UNION ALL SELECT 'write-missing', 'table ' || rel.name, 'missing ' || p.priv\n"
       "    FROM w, rel, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE']) p(priv)\n"
       "    WHERE rel.nspname = ANY("
    << schemas
    << ") AND rel.relkind IN ('r', 'p')\n"
       "    AND NOT has_table_privilege(w.oid, rel.oid, p.priv)\n"
       "  UNION ALL SELECT 'extra-privilege', 'relation ' || rel.name, p.priv\n"
       "    FROM w, rel, unnest(ARRAY['TRUNCATE', 'REFERENCES', 'TRIGGER']) p(priv)\n"
       "    WHERE rel.nspname = ANY("
    << schemas
    << ") AND has_table_privilege(w.oid, rel.oid, p.priv)\n"
       "  UNION ALL SELECT 'privilege-outside-schemas', 'relation ' || rel.name, p.priv\n"
       "    FROM w, rel, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', "
       "'TRIGGER']) p(priv)\n"
       "    WHERE NOT rel.nspname = ANY("
    << schemas
    << ") AND has_table_privilege(w.oid, rel.oid, p.priv)\n"
       "  UNION ALL SELECT 'view-not-security-invoker', 'view ' || rel.name, 'runs with its "
       "owner''s rights'\n"
       "    FROM rel JOIN pg_class c ON c.oid = rel.oid WHERE rel.relkind = 'v'\n"
       "    AND rel.nspname = ANY("
    << schemas
    << ")\n"
       "    AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false)\n"
       "    AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=on'], false)\n"
       "  UNION ALL SELECT 'sequence-privilege', 'sequence ' || format('%I.%I', n.nspname, "
       "c.relname), p.priv\n"
       "    FROM w, pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,\n"
       "      unnest(ARRAY['SELECT', 'UPDATE']) p(priv)\n"
       "    WHERE c.relkind = 'S' AND has_sequence_privilege(w.oid, c.oid, p.priv)\n"
       "  UNION ALL SELECT 'sequence-usage-missing', 'sequence ' || format('%I.%I', n.nspname, "
       "c.relname), 'no USAGE'\n"
       "    FROM w, pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace\n"
       "    WHERE c.relkind = 'S' AND n.nspname = ANY("
    << schemas
    << ")\n"
       "    AND NOT has_sequence_privilege(w.oid, c.oid, 'USAGE')\n"
       "  UNION ALL SELECT 'owns-objects', 'relation ' || rel.name, 'owned by the writer'\n"
       "    FROM w, rel JOIN pg_class c ON c.oid = rel.oid WHERE c.relowner = w.oid\n"
       "  UNION ALL SELECT 'security-definer-function', 'function ' || p.oid::regprocedure::text,\n"
       "    'SECURITY DEFINER, executable by the writer'\n"
       "    FROM w, pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace\n"
       "    WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')\n"
       "    AND has_function_privilege(w.oid, p.oid, 'EXECUTE')\n"
       ") findings ORDER BY 1, 2;\n"
       "COMMIT;\n";
  return s.str();
}

}  // namespace writegate::deploy
