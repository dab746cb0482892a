// Prometheus text exposition helpers shared by the proxy's /metrics and the endpoint's.
//
//   out += "name{ProxyName=\"" + prometheus_label_value(name) + "\"} 1\n";
#pragma once

#include <string>
#include <string_view>

namespace writegate {

// A label value: backslash, double quote and newline escaped.
std::string prometheus_label_value(std::string_view value);

}  // namespace writegate
