// libpq, loaded when first needed instead of at exec: the function's process reaches the
// Runtime API's /next before the dynamic loader has mapped libpq and its ~20 dependencies
// (Kerberos, LDAP, GnuTLS, ...), which would otherwise be most of a cold start.
// bootstrap calls preload_libpq() at start, so the load runs beside the first /next.
//
//   auto pq = libpq();                 // waits for the load; thread-safe, once per process
//   if (!pq) return pq.error();        // "cannot load libpq.so.5: ..."
//   PGconn* conn = (*pq)->connectdb_params(keys, values, 0);
#pragma once

#include <libpq-fe.h>

#include "common/result.h"

namespace writegate::lambda {

struct LibPq {
  decltype(&PQconnectdbParams) connectdb_params;
  decltype(&PQstatus) status;
  decltype(&PQerrorMessage) error_message;
  decltype(&PQfinish) finish;
  decltype(&PQenterPipelineMode) enter_pipeline_mode;
  decltype(&PQexitPipelineMode) exit_pipeline_mode;
  decltype(&PQpipelineSync) pipeline_sync;
  decltype(&PQsendQueryParams) send_query_params;
  decltype(&PQgetResult) get_result;
  decltype(&PQresultStatus) result_status;
  decltype(&PQresultErrorField) result_error_field;
  decltype(&PQresultErrorMessage) result_error_message;
  decltype(&PQcmdTuples) cmd_tuples;
  decltype(&PQclear) clear;
  decltype(&PQexec) exec;
  decltype(&PQtransactionStatus) transaction_status;
};

// The loaded library (libpq.so.5), or why it could not be loaded.
Result<const LibPq*> libpq();
// Starts loading libpq in a background thread (returns at once).
void preload_libpq();

}  // namespace writegate::lambda
