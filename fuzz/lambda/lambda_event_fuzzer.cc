// Fuzzes the writer's event parser and, for events that parse, the SQL planner: no input may
// crash, hang or trip a sanitizer, and every plan must keep its invariants (quoted identifiers,
// one parameter per $n, never a read).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lambda/event.h"
#include "lambda/plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace writegate::lambda;
  static const std::vector<std::string> kSchemas = {"foo", "bar"};
  std::string_view text(reinterpret_cast<const char*>(data), size);
  EventLimits limits;
  limits.max_payload_bytes = 64 * 1024;
  auto event = parse_write_event(text, kSchemas, limits);
  if (!event) return 0;
  if (event->rows.empty() || event->rows.size() > limits.max_rows) std::abort();
  if (!is_valid_identifier(event->schema) || !is_valid_identifier(event->table)) std::abort();
  WritePlan plan = plan_write(*event);
  if (plan.statements.size() != event->rows.size()) std::abort();
  for (const SqlStatement& s : plan.statements) {
    if (s.sql.find("SELECT") != std::string::npos || s.sql.find("RETURNING") != std::string::npos ||
        s.sql.find(';') != std::string::npos) {
      std::abort();
    }
    if (s.sql.find("$" + std::to_string(s.params.size() + 1)) != std::string::npos) std::abort();
  }
  (void)outcome_for_sqlstate(std::string_view(text.data(), std::min<size_t>(size, 5)), plan);
  return 0;
}
