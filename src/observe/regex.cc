#include "observe/regex.h"

#include <cctype>
#include <memory>

namespace writegate::observe {

namespace {

constexpr std::size_t kMaxPattern = 4096;
constexpr int kMaxDepth = 64;
constexpr std::size_t kMaxProgram = 20000;
constexpr int kMaxRepeat = 1000;

struct Node {
  enum class Kind { kSet, kBegin, kEnd, kConcat, kAlt, kRepeat };
  Kind kind = Kind::kConcat;
  std::bitset<256> set;
  std::vector<std::unique_ptr<Node>> kids;
  int min = 0;
  int max = -1;  // -1: unbounded
};

using NodePtr = std::unique_ptr<Node>;

std::bitset<256> class_of(char c) {
  std::bitset<256> s;
  for (int b = 0; b < 256; ++b) {
    const auto u = static_cast<unsigned char>(b);
    bool in = false;
    switch (c) {
      case 'd':
      case 'D':
        in = std::isdigit(u) != 0;
        break;
      case 'w':
      case 'W':
        in = std::isalnum(u) != 0 || u == '_';
        break;
      case 's':
      case 'S':
        in = u == ' ' || u == '\t' || u == '\n' || u == '\r' || u == '\f' || u == '\v';
        break;
      default:
        break;
    }
    s[static_cast<std::size_t>(b)] = in;
  }
  if (std::isupper(static_cast<unsigned char>(c))) s.flip();
  return s;
}

}  // namespace

class RegexCompiler {
 public:
  explicit RegexCompiler(std::string_view p) : p_(p) {}

  Result<Regex> run() {
    if (p_.size() > kMaxPattern) {
      return Error::invalid_argument("the regular expression is longer than 4096 bytes");
    }
    if (p_.substr(0, 4) == "(?i)") {
      fold_ = true;
      pos_ = 4;
    }
    WG_ASSIGN_OR_RETURN(NodePtr root, alternation(0));
    if (pos_ < p_.size()) return fail("unmatched )");
    Regex re;
    re.pattern_ = std::string(p_);
    out_ = &re;
    WG_RETURN_IF_ERROR(emit(*root));
    WG_RETURN_IF_ERROR(push({Regex::Op::kMatch, 0, 0}));
    return re;
  }

 private:
  Error fail(const std::string& what) const {
    return Error::invalid_argument("invalid regular expression /" + std::string(p_.substr(0, 200)) +
                                   "/: " + what + " at offset " + std::to_string(pos_));
  }

  bool at_end() const { return pos_ >= p_.size(); }
  char peek() const { return p_[pos_]; }

  std::bitset<256> fold(std::bitset<256> s) const {
    if (!fold_) return s;
    for (int c = 'a'; c <= 'z'; ++c) {
      const auto lower = static_cast<std::size_t>(c);
      const auto upper = static_cast<std::size_t>(c - 'a' + 'A');
      if (s[lower] || s[upper]) s[lower] = s[upper] = true;
    }
    return s;
  }

  static NodePtr make(Node::Kind kind) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    return n;
  }

  Result<NodePtr> alternation(int depth) {
    if (depth > kMaxDepth) return fail("nesting deeper than 64");
    WG_ASSIGN_OR_RETURN(NodePtr first, concatenation(depth));
    if (at_end() || peek() != '|') return first;
    NodePtr alt = make(Node::Kind::kAlt);
    alt->kids.push_back(std::move(first));
    while (!at_end() && peek() == '|') {
      ++pos_;
      WG_ASSIGN_OR_RETURN(NodePtr next, concatenation(depth));
      alt->kids.push_back(std::move(next));
    }
    return alt;
  }

  Result<NodePtr> concatenation(int depth) {
    NodePtr seq = make(Node::Kind::kConcat);
    while (!at_end() && peek() != '|' && peek() != ')') {
      WG_ASSIGN_OR_RETURN(NodePtr atom_node, atom(depth));
      WG_ASSIGN_OR_RETURN(NodePtr repeated, repetition(std::move(atom_node)));
      seq->kids.push_back(std::move(repeated));
    }
    return seq;
  }

  // Reads "{m}", "{m,}", "{m,n}" at pos_ (on '{'); false when it is not a quantifier.
  bool braces(int& min, int& max) {
    std::size_t i = pos_ + 1;
    auto number = [&](int& out) {
      std::size_t start = i;
      long value = 0;
      while (i < p_.size() && std::isdigit(static_cast<unsigned char>(p_[i])) && value <= 100000)
        value = value * 10 + (p_[i++] - '0');
      out = static_cast<int>(value);
      return i > start;
    };
    if (!number(min)) return false;
    max = min;
    if (i < p_.size() && p_[i] == ',') {
      ++i;
      if (!number(max)) max = -1;
    }
    if (i >= p_.size() || p_[i] != '}') return false;
    pos_ = i + 1;
    return true;
  }

  Result<NodePtr> repetition(NodePtr atom_node) {
    while (!at_end()) {
      int min = 0;
      int max = -1;
      const char c = peek();
      if (c == '*') {
        ++pos_;
      } else if (c == '+') {
        min = 1;
        ++pos_;
      } else if (c == '?') {
        max = 1;
        ++pos_;
      } else if (c == '{' && braces(min, max)) {
        if (min > kMaxRepeat || max > kMaxRepeat || (max >= 0 && max < min)) {
          return fail("bad repetition {" + std::to_string(min) + "," + std::to_string(max) + "}");
        }
      } else {
        break;
      }
      if (!at_end() && peek() == '?') ++pos_;  // lazy: the same answer for match/no match
      if (atom_node->kind == Node::Kind::kBegin || atom_node->kind == Node::Kind::kEnd) {
        return fail("repetition of an anchor");
      }
      NodePtr rep = make(Node::Kind::kRepeat);
      rep->min = min;
      rep->max = max;
      rep->kids.push_back(std::move(atom_node));
      atom_node = std::move(rep);
    }
    return atom_node;
  }

  Result<std::bitset<256>> escape() {
    // pos_ is after the backslash.
    if (at_end()) return fail("trailing backslash");
    const char c = p_[pos_++];
    std::bitset<256> s;
    switch (c) {
      case 'd':
      case 'D':
      case 'w':
      case 'W':
      case 's':
      case 'S':
        return class_of(c);
      case 'n':
        s.set('\n');
        return s;
      case 't':
        s.set('\t');
        return s;
      case 'r':
        s.set('\r');
        return s;
      default:
        if (std::isalnum(static_cast<unsigned char>(c))) {
          return fail(std::string("unsupported escape \\") + c);
        }
        s.set(static_cast<unsigned char>(c));
        return s;
    }
  }

  Result<std::bitset<256>> bracket() {
    // pos_ is after '['.
    std::bitset<256> s;
    bool negate = false;
    if (!at_end() && peek() == '^') {
      negate = true;
      ++pos_;
    }
    bool first = true;
    while (true) {
      if (at_end()) return fail("unterminated [");
      char c = p_[pos_];
      if (c == ']' && !first) {
        ++pos_;
        break;
      }
      first = false;
      std::bitset<256> item;
      int low = -1;
      if (c == '\\') {
        ++pos_;
        WG_ASSIGN_OR_RETURN(item, escape());
        if (item.count() == 1) {
          for (int b = 0; b < 256; ++b)
            if (item[static_cast<std::size_t>(b)]) low = b;
        }
      } else {
        ++pos_;
        low = static_cast<unsigned char>(c);
        item.set(static_cast<std::size_t>(low));
      }
      if (low >= 0 && pos_ + 1 < p_.size() && p_[pos_] == '-' && p_[pos_ + 1] != ']') {
        ++pos_;
        int high = static_cast<unsigned char>(p_[pos_++]);
        if (high == '\\') {
          WG_ASSIGN_OR_RETURN(auto h, escape());
          if (h.count() != 1) return fail("bad range");
          for (int b = 0; b < 256; ++b)
            if (h[static_cast<std::size_t>(b)]) high = b;
        }
        if (high < low) return fail("bad range");
        for (int b = low; b <= high; ++b)
          item.set(static_cast<std::size_t>(b));
      }
      s |= item;
    }
    s = fold(s);
    if (negate) s.flip();
    return s;
  }

  Result<NodePtr> atom(int depth) {
    const char c = p_[pos_++];
    NodePtr n = make(Node::Kind::kSet);
    switch (c) {
      case '(': {
        if (!at_end() && peek() == '?') {
          if (p_.substr(pos_, 2) != "?:") return fail("unsupported group (?");
          pos_ += 2;
        }
        WG_ASSIGN_OR_RETURN(NodePtr inner, alternation(depth + 1));
        if (at_end() || peek() != ')') return fail("unmatched (");
        ++pos_;
        return inner;
      }
      case '*':
      case '+':
      case '?':
        return fail("nothing to repeat");
      case '^':
        return make(Node::Kind::kBegin);
      case '$':
        return make(Node::Kind::kEnd);
      case '.':
        n->set.set();
        n->set.reset('\n');
        return n;
      case '[': {
        WG_ASSIGN_OR_RETURN(n->set, bracket());
        return n;
      }
      case '\\': {
        WG_ASSIGN_OR_RETURN(n->set, escape());
        n->set = fold(n->set);
        return n;
      }
      default:
        n->set.set(static_cast<unsigned char>(c));
        n->set = fold(n->set);
        return n;
    }
  }

  Status push(Regex::Inst inst) {
    if (out_->program_.size() >= kMaxProgram) {
      return Error::invalid_argument("the regular expression /" + std::string(p_.substr(0, 200)) +
                                     "/ is too large");
    }
    out_->program_.push_back(inst);
    return {};
  }
  int here() const { return static_cast<int>(out_->program_.size()); }

  Status emit(const Node& n) {
    switch (n.kind) {
      case Node::Kind::kSet:
        out_->sets_.push_back(n.set);
        return push({Regex::Op::kSet, static_cast<int>(out_->sets_.size()) - 1, 0});
      case Node::Kind::kBegin:
        return push({Regex::Op::kBegin, 0, 0});
      case Node::Kind::kEnd:
        return push({Regex::Op::kEnd, 0, 0});
      case Node::Kind::kConcat:
        for (const auto& kid : n.kids)
          WG_RETURN_IF_ERROR(emit(*kid));
        return {};
      case Node::Kind::kAlt: {
        std::vector<int> jumps;
        for (std::size_t i = 0; i < n.kids.size(); ++i) {
          if (i + 1 < n.kids.size()) {
            const int split = here();
            WG_RETURN_IF_ERROR(push({Regex::Op::kSplit, split + 1, 0}));
            WG_RETURN_IF_ERROR(emit(*n.kids[i]));
            jumps.push_back(here());
            WG_RETURN_IF_ERROR(push({Regex::Op::kJump, 0, 0}));
            out_->program_[static_cast<std::size_t>(split)].y = here();
          } else {
            WG_RETURN_IF_ERROR(emit(*n.kids[i]));
          }
        }
        for (int j : jumps)
          out_->program_[static_cast<std::size_t>(j)].x = here();
        return {};
      }
      case Node::Kind::kRepeat: {
        const Node& kid = *n.kids.front();
        for (int i = 0; i < n.min; ++i)
          WG_RETURN_IF_ERROR(emit(kid));
        if (n.max < 0) {
          const int split = here();
          WG_RETURN_IF_ERROR(push({Regex::Op::kSplit, split + 1, 0}));
          WG_RETURN_IF_ERROR(emit(kid));
          WG_RETURN_IF_ERROR(push({Regex::Op::kJump, split, 0}));
          out_->program_[static_cast<std::size_t>(split)].y = here();
          return {};
        }
        std::vector<int> splits;
        for (int i = n.min; i < n.max; ++i) {
          splits.push_back(here());
          WG_RETURN_IF_ERROR(push({Regex::Op::kSplit, here() + 1, 0}));
          WG_RETURN_IF_ERROR(emit(kid));
        }
        for (int s : splits)
          out_->program_[static_cast<std::size_t>(s)].y = here();
        return {};
      }
    }
    return {};
  }

  std::string_view p_;
  std::size_t pos_ = 0;
  bool fold_ = false;
  Regex* out_ = nullptr;
};

Result<Regex> Regex::compile(std::string_view pattern) {
  return RegexCompiler(pattern).run();
}

bool Regex::search(std::string_view text) const {
  const std::size_t n = program_.size();
  // Sparse sets of program counters (the Pike VM's thread lists); `seen` dedupes per step.
  std::vector<int> current;
  std::vector<int> next;
  std::vector<std::size_t> seen(n, static_cast<std::size_t>(-1));
  std::vector<int> stack;
  current.reserve(n);
  next.reserve(n);
  // Follows jumps, splits and anchors from pc at text position pos; adds the threads that consume
  // a byte (or match) to `list`. Returns true when Match is reachable.
  auto add = [&](std::vector<int>& list, int start_pc, std::size_t pos) {
    stack.clear();
    stack.push_back(start_pc);
    while (!stack.empty()) {
      const int pc = stack.back();
      stack.pop_back();
      auto& mark = seen[static_cast<std::size_t>(pc)];
      if (mark == pos) continue;
      mark = pos;
      const Inst& inst = program_[static_cast<std::size_t>(pc)];
      switch (inst.op) {
        case Op::kJump:
          stack.push_back(inst.x);
          break;
        case Op::kSplit:
          stack.push_back(inst.y);
          stack.push_back(inst.x);
          break;
        case Op::kBegin:
          if (pos == 0) stack.push_back(pc + 1);
          break;
        case Op::kEnd:
          if (pos == text.size()) stack.push_back(pc + 1);
          break;
        case Op::kMatch:
          return true;
        case Op::kSet:
          list.push_back(pc);
          break;
      }
    }
    return false;
  };
  for (std::size_t pos = 0;; ++pos) {
    // Unanchored search: a new thread starts at every position.
    if (add(current, 0, pos)) return true;
    if (pos == text.size()) return false;
    const auto byte = static_cast<unsigned char>(text[pos]);
    next.clear();
    for (int pc : current) {
      const Inst& inst = program_[static_cast<std::size_t>(pc)];
      if (sets_[static_cast<std::size_t>(inst.x)][byte] && add(next, pc + 1, pos + 1)) return true;
    }
    std::swap(current, next);
  }
}

}  // namespace writegate::observe
