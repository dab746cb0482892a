// `writegate render sql`: what `writegate provision` runs for a spec, as one psql script a DBA
// can read and run (one transaction, idempotent, commented), and the audit's core checks as a
// read-only script.
//
//   std::string provision = deploy::provision_sql(spec);  // psql -v ON_ERROR_STOP=1 -f ...
//   std::string audit = deploy::audit_sql(spec);          // rows = findings; none = clean
//
// `provision` plans from the catalog and sends only the statements it needs; this script cannot
// know the catalog when it is rendered, so each catalog-dependent step is a DO block that asks
// the catalog at run time and does the same. The result is the same state. It carries no
// secret: in standard mode (SECRETS) the writer's password comes from its secret through psql's
// variable `writer_password` (the CLI script sets it from Secrets Manager without echoing it).
#pragma once

#include <string>

#include "spec/spec.h"

namespace writegate::deploy {

std::string provision_sql(const spec::Spec& spec);
std::string audit_sql(const spec::Spec& spec);

}  // namespace writegate::deploy
