#include "observe/insights.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

namespace writegate::observe {

// ---- expressions ----

struct Expression {
  enum class Kind { kAnd, kOr, kNot, kLike, kNotLike, kRegex, kEqual, kNotEqual, kIsPresent };
  Kind kind = Kind::kLike;
  std::shared_ptr<const Expression> left;
  std::shared_ptr<const Expression> right;
  std::string field;
  std::string text;            // like "text", = "text"
  std::optional<Regex> regex;  // like /re/, =~ /re/
};

namespace {

constexpr std::size_t kMaxQuery = 10000;
constexpr std::size_t kMaxLimit = 10000;
constexpr int kMaxDepth = 64;

struct Token {
  enum class Kind { kWord, kNumber, kString, kRegex, kPunct, kEnd };
  Kind kind = Kind::kEnd;
  std::string text;  // words and punctuation as written; strings and regexes unquoted
  std::size_t start = 0;
  std::size_t end = 0;
};

bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '@' || c == '.' ||
         c == '$';
}

bool numeric(std::string_view s, double& out) {
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && ptr == end;
}

}  // namespace

class QueryParser {
 public:
  explicit QueryParser(std::string_view text) : text_(text) {}

  std::variant<InsightsQuery, QueryParseError> run() {
    if (text_.size() > kMaxQuery) {
      return QueryParseError{"the query is longer than 10000 characters", 0, text_.size()};
    }
    if (auto e = tokenize()) return *e;
    InsightsQuery query;
    if (tokens_.front().kind == Token::Kind::kEnd) {
      return QueryParseError{"the query is empty", 0, 0};
    }
    while (true) {
      auto command = parse_command();
      if (auto* e = std::get_if<QueryParseError>(&command)) return *e;
      query.commands_.push_back(std::move(std::get<InsightsQuery::Command>(command)));
      if (peek().kind == Token::Kind::kEnd) break;
      if (!is_punct("|")) return unexpected(peek(), "'|' between commands");
      ++pos_;
    }
    return query;
  }

 private:
  // "at line L and position P" for a character offset (1-based, as Insights says it).
  std::string where(std::size_t offset) const {
    std::size_t line = 1;
    std::size_t column = 1;
    for (std::size_t i = 0; i < offset && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return "at line " + std::to_string(line) + " and position " + std::to_string(column);
  }

  QueryParseError error_at(std::size_t start, std::size_t end, const std::string& what) const {
    return QueryParseError{what + " " + where(start), start, end};
  }

  QueryParseError unexpected(const Token& t, const std::string& expected) const {
    if (t.kind == Token::Kind::kEnd) {
      return error_at(t.start, t.end, "unexpected end of query, expected " + expected);
    }
    return error_at(t.start, t.end,
                    "unexpected symbol found " +
                        std::string(text_.substr(t.start, t.end - t.start)) + ", expected " +
                        expected + ",");
  }

  std::optional<QueryParseError> tokenize() {
    std::size_t i = 0;
    while (true) {
      while (i < text_.size() && std::isspace(static_cast<unsigned char>(text_[i])))
        ++i;
      if (i < text_.size() && text_[i] == '#') {  // a comment to the end of the line
        while (i < text_.size() && text_[i] != '\n')
          ++i;
        continue;
      }
      Token t;
      t.start = i;
      if (i >= text_.size()) {
        t.kind = Token::Kind::kEnd;
        t.end = i;
        tokens_.push_back(std::move(t));
        return std::nullopt;
      }
      const char c = text_[i];
      if (c == '"' || c == '\'' || c == '/' || c == '`') {
        // Strings (single or double quotes), regexes (/.../), quoted field names (`...`).
        t.kind = c == '/' ? Token::Kind::kRegex : Token::Kind::kString;
        if (c == '`') t.kind = Token::Kind::kWord;
        ++i;
        bool closed = false;
        while (i < text_.size()) {
          const char d = text_[i++];
          if (d == '\\' && i < text_.size()) {
            // In a regex the escape stays for the regex compiler, except an escaped delimiter.
            if (t.kind == Token::Kind::kRegex && text_[i] != '/') t.text += '\\';
            t.text += text_[i++];
          } else if (d == c) {
            closed = true;
            break;
          } else {
            t.text += d;
          }
        }
        if (!closed) {
          return error_at(
              t.start, i,
              std::string("unterminated ") + (c == '/' ? "regular expression" : "string"));
        }
      } else if (word_char(c)) {
        while (i < text_.size() && word_char(text_[i]))
          ++i;
        t.text = std::string(text_.substr(t.start, i - t.start));
        double ignored = 0;
        t.kind = numeric(t.text, ignored) ? Token::Kind::kNumber : Token::Kind::kWord;
      } else {
        t.kind = Token::Kind::kPunct;
        static constexpr std::string_view kTwo[] = {"!=", "<=", ">=", "=~"};
        t.text = std::string(1, c);
        for (auto two : kTwo) {
          if (text_.substr(i, 2) == two) t.text = std::string(two);
        }
        if (std::string_view("|,()*=<>!").find(c) == std::string_view::npos) {
          return error_at(i, i + 1,
                          "unexpected symbol found " + std::string(1, c) + " " + "in the query");
        }
        i += t.text.size();
      }
      t.end = i;
      tokens_.push_back(std::move(t));
    }
  }

  const Token& peek() const { return tokens_[std::min(pos_, tokens_.size() - 1)]; }
  const Token& take() {
    const Token& t = peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  bool is_punct(std::string_view p) const {
    return peek().kind == Token::Kind::kPunct && peek().text == p;
  }
  bool is_word(std::string_view w) const {
    return peek().kind == Token::Kind::kWord && peek().text == w;
  }

  // A field name: @message, @timestamp, a discovered field (`quoted` too).
  std::variant<std::string, QueryParseError> field() {
    const Token& t = peek();
    if (t.kind != Token::Kind::kWord || t.text == "|" || t.text.empty()) {
      return unexpected(t, "a field name");
    }
    ++pos_;
    return t.text;
  }

  // "as NAME" after an expression, if written.
  std::variant<std::string, QueryParseError> alias(std::string name) {
    if (!is_word("as")) return name;
    ++pos_;
    auto f = field();
    if (auto* e = std::get_if<QueryParseError>(&f)) return *e;
    return std::get<std::string>(f);
  }

  std::variant<InsightsQuery::Command, QueryParseError> parse_command() {
    using Kind = InsightsQuery::Command::Kind;
    const Token& head = peek();
    if (head.kind != Token::Kind::kWord) return unexpected(head, "a command");
    const std::string name = head.text;
    ++pos_;
    InsightsQuery::Command command;
    if (name == "fields") {
      command.kind = Kind::kFields;
      while (true) {
        auto f = field();
        if (auto* e = std::get_if<QueryParseError>(&f)) return *e;
        command.fields.push_back(std::get<std::string>(f));
        if (!is_punct(",")) break;
        ++pos_;
      }
      return command;
    }
    if (name == "filter") {
      command.kind = Kind::kFilter;
      auto e = or_expression(0);
      if (auto* err = std::get_if<QueryParseError>(&e)) return *err;
      command.filter = std::get<std::shared_ptr<const Expression>>(e);
      return command;
    }
    if (name == "sort") {
      command.kind = Kind::kSort;
      while (true) {
        auto f = field();
        if (auto* e = std::get_if<QueryParseError>(&f)) return *e;
        InsightsQuery::SortKey key{std::get<std::string>(f), true};  // Insights: desc by default
        if (is_word("asc") || is_word("desc")) key.descending = take().text == "desc";
        command.sort.push_back(std::move(key));
        if (!is_punct(",")) break;
        ++pos_;
      }
      return command;
    }
    if (name == "limit") {
      command.kind = Kind::kLimit;
      const Token& t = peek();
      std::size_t n = 0;
      auto [ptr, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), n);
      if (t.kind != Token::Kind::kNumber || ec != std::errc() ||
          ptr != t.text.data() + t.text.size() || n < 1 || n > kMaxLimit) {
        return unexpected(t, "a limit from 1 to 10000");
      }
      ++pos_;
      command.limit = n;
      return command;
    }
    if (name == "stats") {
      command.kind = Kind::kStats;
      while (true) {
        auto a = aggregate();
        if (auto* e = std::get_if<QueryParseError>(&a)) return *e;
        command.aggregates.push_back(std::get<InsightsQuery::Aggregate>(a));
        if (!is_punct(",")) break;
        ++pos_;
      }
      if (is_word("by")) {
        ++pos_;
        while (true) {
          auto g = group_key();
          if (auto* e = std::get_if<QueryParseError>(&g)) return *e;
          command.groups.push_back(std::get<InsightsQuery::GroupKey>(g));
          if (!is_punct(",")) break;
          ++pos_;
        }
      }
      return command;
    }
    static constexpr std::string_view kKnown[] = {"display", "parse", "dedup",   "unmask",
                                                  "pattern", "diff",  "anomaly", "unnest"};
    for (auto known : kKnown) {
      if (name == known) {
        return error_at(head.start, head.end,
                        "the command " + name +
                            " is not served by this local endpoint (it serves fields, filter, "
                            "sort, limit and stats)");
      }
    }
    return error_at(head.start, head.end,
                    "unexpected symbol found " + name +
                        ", expected a command (fields, filter, "
                        "sort, limit, stats)");
  }

  std::variant<InsightsQuery::Aggregate, QueryParseError> aggregate() {
    const Token& fn = peek();
    if (fn.kind != Token::Kind::kWord || fn.text != "count") {
      return unexpected(fn, "an aggregate function (this endpoint serves count)");
    }
    ++pos_;
    if (!is_punct("(")) return unexpected(peek(), "(");
    ++pos_;
    InsightsQuery::Aggregate a;
    a.function = "count";
    if (is_punct("*")) {
      a.argument = "*";
      ++pos_;
    } else if (!is_punct(")")) {
      auto f = field();
      if (auto* e = std::get_if<QueryParseError>(&f)) return *e;
      a.argument = std::get<std::string>(f);
    }
    if (!is_punct(")")) return unexpected(peek(), ")");
    ++pos_;
    auto name = alias("count(" + a.argument + ")");
    if (auto* e = std::get_if<QueryParseError>(&name)) return *e;
    a.name = std::get<std::string>(name);
    return a;
  }

  std::variant<InsightsQuery::GroupKey, QueryParseError> group_key() {
    InsightsQuery::GroupKey g;
    if (is_word("bin")) {
      ++pos_;
      if (!is_punct("(")) return unexpected(peek(), "(");
      ++pos_;
      const Token& period = peek();
      auto ms = period_ms(period.text);
      if (period.kind != Token::Kind::kWord || !ms) {
        return unexpected(period, "a period such as 5m, 30s, 1h");
      }
      ++pos_;
      if (!is_punct(")")) return unexpected(peek(), ")");
      ++pos_;
      g.bin_ms = *ms;
      g.name = "bin(" + period.text + ")";
    } else {
      auto f = field();
      if (auto* e = std::get_if<QueryParseError>(&f)) return *e;
      g.field = std::get<std::string>(f);
      g.name = g.field;
    }
    auto name = alias(g.name);
    if (auto* e = std::get_if<QueryParseError>(&name)) return *e;
    g.name = std::get<std::string>(name);
    return g;
  }

  static std::optional<int64_t> period_ms(std::string_view text) {
    std::size_t i = 0;
    int64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && n < 1000000)
      n = n * 10 + (text[i++] - '0');
    if (i == 0 || n <= 0 || n >= 1000000) return std::nullopt;
    const std::string_view unit = text.substr(i);
    static const std::map<std::string_view, int64_t> kUnits = {
        {"ms", 1},          {"s", 1000},         {"sec", 1000},       {"second", 1000},
        {"seconds", 1000},  {"m", 60000},        {"min", 60000},      {"minute", 60000},
        {"minutes", 60000}, {"h", 3600000},      {"hr", 3600000},     {"hour", 3600000},
        {"hours", 3600000}, {"d", 86400000},     {"day", 86400000},   {"days", 86400000},
        {"w", 604800000},   {"week", 604800000}, {"weeks", 604800000}};
    auto it = kUnits.find(unit);
    if (it == kUnits.end()) return std::nullopt;
    return n * it->second;
  }

  using ExprResult = std::variant<std::shared_ptr<const Expression>, QueryParseError>;

  static std::shared_ptr<const Expression> binary(Expression::Kind kind,
                                                  std::shared_ptr<const Expression> l,
                                                  std::shared_ptr<const Expression> r) {
    auto e = std::make_shared<Expression>();
    e->kind = kind;
    e->left = std::move(l);
    e->right = std::move(r);
    return e;
  }

  ExprResult or_expression(int depth) {
    if (depth > kMaxDepth) return error_at(peek().start, peek().end, "the filter nests too deep");
    ExprResult left = and_expression(depth);
    while (std::holds_alternative<std::shared_ptr<const Expression>>(left) && is_word("or")) {
      ++pos_;
      ExprResult right = and_expression(depth);
      if (std::holds_alternative<QueryParseError>(right)) return right;
      left = binary(Expression::Kind::kOr, std::get<0>(left), std::get<0>(right));
    }
    return left;
  }

  ExprResult and_expression(int depth) {
    ExprResult left = unary(depth);
    while (std::holds_alternative<std::shared_ptr<const Expression>>(left) && is_word("and")) {
      ++pos_;
      ExprResult right = unary(depth);
      if (std::holds_alternative<QueryParseError>(right)) return right;
      left = binary(Expression::Kind::kAnd, std::get<0>(left), std::get<0>(right));
    }
    return left;
  }

  ExprResult unary(int depth) {
    if (depth > kMaxDepth) return error_at(peek().start, peek().end, "the filter nests too deep");
    if (is_word("not")) {
      ++pos_;
      ExprResult inner = unary(depth + 1);
      if (std::holds_alternative<QueryParseError>(inner)) return inner;
      return binary(Expression::Kind::kNot, std::get<0>(inner), nullptr);
    }
    if (is_punct("(")) {
      ++pos_;
      ExprResult inner = or_expression(depth + 1);
      if (std::holds_alternative<QueryParseError>(inner)) return inner;
      if (!is_punct(")")) return unexpected(peek(), ")");
      ++pos_;
      return inner;
    }
    if (is_word("ispresent")) {
      ++pos_;
      if (!is_punct("(")) return unexpected(peek(), "(");
      ++pos_;
      auto f = field();
      if (auto* e = std::get_if<QueryParseError>(&f)) return *e;
      if (!is_punct(")")) return unexpected(peek(), ")");
      ++pos_;
      auto e = std::make_shared<Expression>();
      e->kind = Expression::Kind::kIsPresent;
      e->field = std::get<std::string>(f);
      return std::shared_ptr<const Expression>(e);
    }
    return comparison();
  }

  ExprResult comparison() {
    auto f = field();
    if (auto* e = std::get_if<QueryParseError>(&f)) return *e;
    auto e = std::make_shared<Expression>();
    e->field = std::get<std::string>(f);
    const Token& op = peek();
    bool regex_only = false;
    if (is_word("like")) {
      e->kind = Expression::Kind::kLike;
    } else if (is_word("not")) {
      ++pos_;
      if (!is_word("like")) return unexpected(peek(), "like after not");
      e->kind = Expression::Kind::kNotLike;
    } else if (is_punct("=~")) {
      e->kind = Expression::Kind::kRegex;
      regex_only = true;
    } else if (is_punct("=") || is_punct("!=")) {
      e->kind = op.text == "=" ? Expression::Kind::kEqual : Expression::Kind::kNotEqual;
    } else {
      return unexpected(op, "like, not like, =~, = or != (this endpoint's filter subset)");
    }
    ++pos_;
    const Token& value = peek();
    if (value.kind == Token::Kind::kRegex) {
      if (e->kind == Expression::Kind::kEqual || e->kind == Expression::Kind::kNotEqual) {
        return unexpected(value, "a string or number after " + op.text);
      }
      auto re = Regex::compile(value.text);
      if (!re) return error_at(value.start, value.end, re.error().message());
      e->regex = std::move(*re);
    } else if (value.kind == Token::Kind::kString && !regex_only) {
      e->text = value.text;
    } else if (value.kind == Token::Kind::kNumber &&
               (e->kind == Expression::Kind::kEqual || e->kind == Expression::Kind::kNotEqual)) {
      e->text = value.text;
    } else {
      return unexpected(value, regex_only ? "a /regular expression/" : "a \"string\" or /regex/");
    }
    ++pos_;
    return std::shared_ptr<const Expression>(e);
  }

  std::string_view text_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
};

std::variant<InsightsQuery, QueryParseError> InsightsQuery::parse(std::string_view text) {
  return QueryParser(text).run();
}

InsightsQuery::InsightsQuery(InsightsQuery&&) noexcept = default;
InsightsQuery& InsightsQuery::operator=(InsightsQuery&&) noexcept = default;
InsightsQuery::~InsightsQuery() = default;

// ---- running ----

struct QueryRun::Record {
  EpochMillis timestamp = 0;
  ResultRow fields;  // @timestamp, @message, @logStream, @log for events; stats columns after

  std::optional<std::string_view> get(std::string_view name) const {
    for (const auto& [k, v] : fields)
      if (k == name) return std::string_view(v);
    return std::nullopt;
  }
};

namespace {

using Lookup = std::optional<std::string_view> (*)(const void*, std::string_view);

bool evaluate(const Expression& e, const void* record, Lookup lookup) {
  switch (e.kind) {
    case Expression::Kind::kAnd:
      return evaluate(*e.left, record, lookup) && evaluate(*e.right, record, lookup);
    case Expression::Kind::kOr:
      return evaluate(*e.left, record, lookup) || evaluate(*e.right, record, lookup);
    case Expression::Kind::kNot:
      return !evaluate(*e.left, record, lookup);
    case Expression::Kind::kIsPresent:
      return lookup(record, e.field).has_value();
    default:
      break;
  }
  const auto value = lookup(record, e.field);
  if (!value) return false;
  switch (e.kind) {
    case Expression::Kind::kLike:
    case Expression::Kind::kRegex:
      return e.regex ? e.regex->search(*value) : value->find(e.text) != std::string_view::npos;
    case Expression::Kind::kNotLike:
      return !(e.regex ? e.regex->search(*value) : value->find(e.text) != std::string_view::npos);
    case Expression::Kind::kEqual:
      return *value == e.text;
    case Expression::Kind::kNotEqual:
      return *value != e.text;
    default:
      return false;
  }
}

// Orders two values as Insights does: numbers as numbers, else as text.
int compare_values(std::optional<std::string_view> a, std::optional<std::string_view> b) {
  if (!a || !b) return a ? 1 : b ? -1 : 0;
  double x = 0;
  double y = 0;
  if (numeric(*a, x) && numeric(*b, y)) return x < y ? -1 : x > y ? 1 : 0;
  return a->compare(*b) < 0 ? -1 : a->compare(*b) > 0 ? 1 : 0;
}

}  // namespace

QueryRun::QueryRun(const InsightsQuery& query) : query_(query) {
  using Kind = InsightsQuery::Command::Kind;
  const auto& commands = query_.commands();
  while (streaming_ < commands.size() && (commands[streaming_].kind == Kind::kFilter ||
                                          commands[streaming_].kind == Kind::kFields)) {
    ++streaming_;
  }
}

QueryRun::~QueryRun() = default;

void QueryRun::add(const EventView& event) {
  ++statistics_.records_scanned;
  statistics_.bytes_scanned += event.message.size();
  struct View {
    const EventView* event;
    mutable std::string timestamp;
  } view{&event, {}};
  auto lookup = [](const void* p, std::string_view name) -> std::optional<std::string_view> {
    const auto* v = static_cast<const View*>(p);
    if (name == "@message") return v->event->message;
    if (name == "@logStream") return v->event->log_stream;
    if (name == "@log") return v->event->log;
    if (name == "@timestamp") {
      if (v->timestamp.empty()) v->timestamp = format_insights_time(v->event->timestamp);
      return std::string_view(v->timestamp);
    }
    return std::nullopt;
  };
  const auto& commands = query_.commands();
  for (std::size_t i = 0; i < streaming_; ++i) {
    const auto& c = commands[i];
    if (c.filter && !evaluate(*c.filter, &view, lookup)) return;
  }
  ++statistics_.records_matched;
  Record r;
  r.timestamp = event.timestamp;
  r.fields = {{"@timestamp", format_insights_time(event.timestamp)},
              {"@message", std::string(event.message)},
              {"@logStream", std::string(event.log_stream)},
              {"@log", std::string(event.log)}};
  records_.push_back(std::move(r));
  // `sort ... | limit N` right after the filters: keep only what can still make the top N.
  if (streaming_ + 1 < commands.size() &&
      commands[streaming_].kind == InsightsQuery::Command::Kind::kSort &&
      commands[streaming_ + 1].kind == InsightsQuery::Command::Kind::kLimit &&
      records_.size() > 4 * commands[streaming_ + 1].limit + 10000) {
    compact();
  }
}

namespace {

// The order of `sort` keys; @timestamp by the event's time, other fields by compare_values.
template <class R>
bool sort_less(const std::vector<InsightsQuery::SortKey>& keys, const R& a, const R& b) {
  for (const auto& k : keys) {
    const int d = k.field == "@timestamp" && a.timestamp != b.timestamp
                      ? (a.timestamp < b.timestamp ? -1 : 1)
                      : compare_values(a.get(k.field), b.get(k.field));
    if (d != 0) return k.descending ? d > 0 : d < 0;
  }
  return false;
}

}  // namespace

void QueryRun::compact() {
  const auto& commands = query_.commands();
  const auto& keys = commands[streaming_].sort;
  std::stable_sort(records_.begin(), records_.end(),
                   [&keys](const Record& a, const Record& b) { return sort_less(keys, a, b); });
  const std::size_t keep = commands[streaming_ + 1].limit;
  if (records_.size() > keep) records_.resize(keep);
}

QueryOutput QueryRun::finish(std::size_t max_rows) {
  using Kind = InsightsQuery::Command::Kind;
  const auto& commands = query_.commands();
  std::vector<std::string> shown = {"@timestamp", "@message"};
  for (std::size_t i = 0; i < streaming_; ++i)
    if (commands[i].kind == Kind::kFields) shown = commands[i].fields;
  auto lookup = [](const void* p, std::string_view name) {
    return static_cast<const Record*>(p)->get(name);
  };
  for (std::size_t i = streaming_; i < commands.size(); ++i) {
    const auto& c = commands[i];
    switch (c.kind) {
      case Kind::kFields:
        shown = c.fields;
        break;
      case Kind::kFilter:
        std::erase_if(records_, [&](const Record& r) { return !evaluate(*c.filter, &r, lookup); });
        break;
      case Kind::kSort: {
        std::stable_sort(records_.begin(), records_.end(), [&c](const Record& a, const Record& b) {
          return sort_less(c.sort, a, b);
        });
        break;
      }
      case Kind::kLimit:
        if (records_.size() > c.limit) records_.resize(c.limit);
        break;
      case Kind::kStats: {
        // Group keys -> counts; the map orders rows by their keys (bins as zero-padded times).
        struct Bucket {
          std::vector<std::string> keys;
          EpochMillis first = 0;
          std::vector<uint64_t> counts;
        };
        std::map<std::vector<std::string>, Bucket> buckets;
        for (const Record& r : records_) {
          std::vector<std::string> keys;
          bool complete = true;
          for (const auto& g : c.groups) {
            if (g.bin_ms > 0) {
              EpochMillis start = r.timestamp - ((r.timestamp % g.bin_ms) + g.bin_ms) % g.bin_ms;
              keys.push_back(format_insights_time(start));
            } else if (auto v = r.get(g.field)) {
              keys.emplace_back(*v);
            } else {
              complete = false;  // Insights leaves out records without a group field
            }
          }
          if (!complete) continue;
          Bucket& b = buckets[keys];
          if (b.counts.empty()) {
            b.keys = keys;
            b.first = r.timestamp;
            b.counts.assign(c.aggregates.size(), 0);
          }
          for (std::size_t a = 0; a < c.aggregates.size(); ++a) {
            const auto& arg = c.aggregates[a].argument;
            if (arg.empty() || arg == "*" || r.get(arg)) ++b.counts[a];
          }
        }
        std::vector<Record> rows;
        if (c.groups.empty() && buckets.empty()) {
          // A count over nothing is one row of zeros.
          Record zero;
          for (const auto& a : c.aggregates)
            zero.fields.emplace_back(a.name, "0");
          rows.push_back(std::move(zero));
        }
        for (auto& [keys, b] : buckets) {
          Record row;
          row.timestamp = b.first;
          for (std::size_t g = 0; g < c.groups.size(); ++g)
            row.fields.emplace_back(c.groups[g].name, b.keys[g]);
          for (std::size_t a = 0; a < c.aggregates.size(); ++a)
            row.fields.emplace_back(c.aggregates[a].name, std::to_string(b.counts[a]));
          rows.push_back(std::move(row));
        }
        records_ = std::move(rows);
        shown.clear();
        for (const auto& g : c.groups)
          shown.push_back(g.name);
        for (const auto& a : c.aggregates)
          shown.push_back(a.name);
        break;
      }
    }
  }
  QueryOutput out;
  out.statistics = statistics_;
  for (const Record& r : records_) {
    if (out.rows.size() >= max_rows) break;
    ResultRow row;
    for (const auto& name : shown) {
      if (auto v = r.get(name)) row.emplace_back(name, std::string(*v));
    }
    out.rows.push_back(std::move(row));
  }
  return out;
}

}  // namespace writegate::observe
