#include "observe/prometheus_text.h"

#include <cmath>
#include <cstdlib>

namespace writegate::observe {

std::string_view PrometheusSample::label(std::string_view label_name) const {
  for (const auto& [n, v] : labels)
    if (n == label_name) return v;
  return {};
}

namespace {

bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool name_char(char c) {
  return name_start(c) || (c >= '0' && c <= '9');
}

std::string_view take_name(std::string_view& rest, bool colons) {
  std::size_t n = 0;
  while (n < rest.size() && (n == 0 ? name_start(rest[n]) || (colons && rest[n] == ':')
                                    : name_char(rest[n]) || (colons && rest[n] == ':'))) {
    ++n;
  }
  std::string_view out = rest.substr(0, n);
  rest.remove_prefix(n);
  return out;
}

void skip_blanks(std::string_view& rest) {
  while (!rest.empty() && (rest[0] == ' ' || rest[0] == '\t'))
    rest.remove_prefix(1);
}

// "+Inf", "-Inf", "NaN" or a decimal/exponent number, all of it.
bool parse_value(std::string_view text, double& out) {
  if (text == "+Inf" || text == "Inf") {
    out = HUGE_VAL;
    return true;
  }
  if (text == "-Inf") {
    out = -HUGE_VAL;
    return true;
  }
  if (text == "NaN") {
    out = std::nan("");
    return true;
  }
  if (text.empty() || text.size() > 64) return false;
  for (char c : text) {
    const bool ok =
        (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E';
    if (!ok) return false;
  }
  const std::string copy(text);
  char* end = nullptr;
  out = std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size();
}

Error bad_line(std::size_t line_no, const std::string& what) {
  return Error::invalid_argument("line " + std::to_string(line_no) + " of the metrics: " + what);
}

}  // namespace

Result<std::vector<PrometheusSample>> parse_prometheus_text(std::string_view text,
                                                            const PrometheusTextLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Error::invalid_argument("the metrics are over " + std::to_string(limits.max_bytes) +
                                   " bytes");
  }
  std::vector<PrometheusSample> out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    skip_blanks(line);
    if (line.empty() || line[0] == '#') continue;
    if (out.size() >= limits.max_samples) {
      return Error::invalid_argument("more than " + std::to_string(limits.max_samples) +
                                     " samples in the metrics");
    }
    PrometheusSample sample;
    sample.name = std::string(take_name(line, true));
    if (sample.name.empty()) return bad_line(line_no, "no metric name");
    if (!line.empty() && line[0] == '{') {
      line.remove_prefix(1);
      while (true) {
        skip_blanks(line);
        if (!line.empty() && line[0] == '}') {
          line.remove_prefix(1);
          break;
        }
        if (sample.labels.size() >= limits.max_labels) return bad_line(line_no, "too many labels");
        std::string label(take_name(line, false));
        if (label.empty()) return bad_line(line_no, "a label has no name");
        skip_blanks(line);
        if (line.size() < 2 || line[0] != '=' || line[1] != '"') {
          return bad_line(line_no, "label " + label.substr(0, 64) + " has no =\"value\"");
        }
        line.remove_prefix(2);
        std::string value;
        bool closed = false;
        while (!line.empty()) {
          const char c = line[0];
          line.remove_prefix(1);
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (line.empty()) break;
            const char e = line[0];
            line.remove_prefix(1);
            value += e == 'n' ? '\n' : e;
            continue;
          }
          value += c;
        }
        if (!closed) return bad_line(line_no, "an unterminated label value");
        sample.labels.emplace_back(std::move(label), std::move(value));
        skip_blanks(line);
        if (!line.empty() && line[0] == ',') line.remove_prefix(1);
      }
    }
    skip_blanks(line);
    const std::size_t end = line.find_first_of(" \t");
    const std::string_view value_text = line.substr(0, end);
    if (!parse_value(value_text, sample.value)) {
      return bad_line(line_no, "the value is not a number");
    }
    out.push_back(std::move(sample));
  }
  return out;
}

}  // namespace writegate::observe
