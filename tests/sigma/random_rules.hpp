// Random Sigma rules (YAML text) and random process-creation events, for the engine's
// differential tests against the naive evaluator. Small alphabets, so that patterns
// and values collide often: case variants, wildcards, escapes, dashes for windash.
#pragma once

#include <fluxcap/sigma/field_accessor.hpp>
#include <fluxcap/sigma/profile.hpp>

#include <random>
#include <string>
#include <vector>

namespace sigma_test {

class random_rule_generator {
 public:
  explicit random_rule_generator(std::mt19937& rng) : rng_(rng) {}

  /// The profile the rules are written for: ParentImage and GrandParent/Ancestor fields
  /// are carried, ParentUser is inline.
  [[nodiscard]] fluxcap::sigma::profile profile_for() const {
    fluxcap::sigma::profile p;
    p.name = "random";
    p.source.category = "process_creation";
    p.group = "host";
    p.process_id = "pid";
    p.parent_id = "ppid";
    p.inline_parent_fields = {"ParentUser"};
    return p;
  }

  std::string rules(std::size_t n) {
    std::string out;
    for (std::size_t r = 0; r < n; ++r) {
      if (r) out += "---\n";
      out += "title: rule " + std::to_string(r) + "\nid: r" + std::to_string(r) +
             "\nlogsource: {category: process_creation}\ndetection:\n";
      const int identifiers = 1 + pick(3);
      std::vector<std::string> names;
      for (int d = 0; d < identifiers; ++d) {
        const std::string name = (pick(3) == 0 ? "filter_" : "sel_") + std::to_string(d);
        names.push_back(name);
        out += "  " + name + ":\n" + identifier();
      }
      out += "  condition: " + condition(names, 2) + "\n";
    }
    return out;
  }

  fluxcap::sigma::dense_field_event event(std::size_t i) {
    using fluxcap::sigma::value_kind;
    fluxcap::sigma::dense_field_event e;
    const std::string pid = (i > 0 && pick(20) == 0) ? pids_[pick(static_cast<int>(pids_.size()))]
                                                     : "P" + std::to_string(i);
    std::string ppid = "X" + std::to_string(pick(3));
    if (!pids_.empty() && pick(6) != 0) {
      // Mostly recent parents, so that chains grow deep.
      const int window = std::min<int>(static_cast<int>(pids_.size()), 6);
      ppid = pids_[pids_.size() - 1 - static_cast<std::size_t>(pick(window))];
    }
    pids_.push_back(pid);
    e.set("host", pick(4) == 0 ? "h2" : "h1");
    e.set("pid", pick(5) == 0 ? lower_or_upper(pid) : pid);
    e.set("ppid", ppid);
    for (const char* f : {"Image", "CommandLine", "User", "ParentUser"}) {
      const int k = pick(10);
      if (k == 0) continue;  // absent
      if (k == 1) {
        e.set(f, "", value_kind::null);
      } else if (k == 2) {
        e.set_array(f, {text(), text()});
      } else {
        e.set(f, text());
      }
    }
    const int n = pick(6);
    if (n == 1) e.set("Num", std::to_string(pick(7) - 1), value_kind::number);
    if (n == 2) e.set("Num", "2.5", value_kind::number);
    if (n == 3) e.set("Num", std::to_string(pick(7)));
    static const char* ips[] = {"10.1.2.3", "192.168.0.1", "::1", "10.x", "::ffff:10.0.0.9"};
    if (pick(3) == 0) e.set("Ip", ips[pick(5)]);
    return e;
  }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  std::string lower_or_upper(const std::string& s) {
    std::string out = s;
    for (auto& c : out)
      if (c == 'P') c = 'p';
    return out;
  }

  std::string text() {
    static const char alphabet[] = {'a', 'b', 'A', 'B', 'c', '-', '/', ' ', '*', '?', '\\'};
    std::string out;
    const int n = pick(9);
    for (int i = 0; i < n; ++i) out += alphabet[pick(sizeof alphabet)];
    return out;
  }

  std::string rule_text() {
    static const char alphabet[] = {'a', 'b', 'A', 'c', '-', '/', ' ', '*', '?', '\\', 'B'};
    std::string out;
    const int n = pick(4);
    for (int i = 0; i < n; ++i) out += alphabet[pick(sizeof alphabet)];
    return out;
  }

  static std::string quoted(const std::string& s) { return "'" + s + "'"; }

  std::string values(int n) {
    if (n == 1) return " " + quoted(rule_text()) + "\n";
    std::string out = " [";
    for (int i = 0; i < n; ++i) out += (i ? ", " : "") + quoted(rule_text());
    return out + "]\n";
  }

  std::string item() {
    static const char* fields[] = {"Image",
                                   "CommandLine",
                                   "User",
                                   "ParentUser",
                                   "ParentImage",
                                   "ParentCommandLine",
                                   "GrandParentImage",
                                   "AncestorCommandLine",
                                   "AncestorUser"};
    const std::string field = fields[pick(9)];
    switch (pick(16)) {
      case 0:
        return "    " + field + ":" + values(1 + pick(2));
      case 1:
        return "    " + field + "|contains:" + values(1 + pick(3));
      case 2:
        return "    " + field + "|startswith:" + values(1 + pick(2));
      case 3:
        return "    " + field + "|endswith:" + values(1 + pick(2));
      case 4:
        return "    " + field + "|contains|all:" + values(2 + pick(2));
      case 5:
        return "    " + field + "|contains|cased:" + values(1 + pick(2));
      case 6:
        return "    " + field + "|windash|contains:" + values(1 + pick(2));
      case 7:
        return "    " + field + ": null\n";
      case 8:
        return "    " + field + ": ''\n";
      case 9:
        return "    " + field + "|exists: " + (pick(2) ? "true" : "false") + "\n";
      case 10:
        return "    " + field + "|neq:" + values(1 + pick(2));
      case 11: {
        static const char* ops[] = {"gt", "gte", "lt", "lte"};
        return std::string("    Num|") + ops[pick(4)] + ": " + std::to_string(pick(6)) + "\n";
      }
      case 12:
        return "    Num: " + std::string(pick(2) ? "3" : "2.5") + "\n";
      case 13:
        return "    Ip|cidr: " + std::string(pick(2) ? "10.0.0.0/8" : "'::1/128'") + "\n";
      case 14:
        return "    CommandLine|fieldref" + std::string(pick(2) ? "|contains" : "") + ": User\n";
      default:
        return "    " + field + "|base64offset|contains:" + values(1);
    }
  }

  std::string identifier() {
    if (pick(10) == 0) {  // keywords
      std::string out;
      for (int i = 0, n = 1 + pick(2); i < n; ++i) out += "    - " + quoted(rule_text()) + "\n";
      return out;
    }
    const int maps = pick(4) == 0 ? 2 : 1;
    std::string out;
    for (int m = 0; m < maps; ++m) {
      const int items = 1 + pick(3);
      std::vector<std::string> lines;
      for (int i = 0; i < items; ++i) {
        std::string it = item();
        // One key once per map: duplicate keys are malformed YAML for Sigma.
        const std::string key = it.substr(0, it.find(':'));
        bool dup = false;
        for (const auto& l : lines) dup = dup || l.substr(0, l.find(':')) == key;
        if (!dup) lines.push_back(it);
      }
      for (std::size_t i = 0; i < lines.size(); ++i) {
        std::string l = lines[i];
        if (maps > 1) l = (i == 0 ? "    - " : "      ") + l.substr(4);
        out += l;
      }
    }
    return out;
  }

  std::string condition(const std::vector<std::string>& names, int depth) {
    const int k = depth == 0 ? pick(2) : pick(7);
    switch (k) {
      case 0:
        return names[static_cast<std::size_t>(pick(static_cast<int>(names.size())))];
      case 1:
        return pick(2) ? "1 of sel_*" : "1 of them";
      case 2:
        return "all of sel_*";
      case 3:
        return "not " + condition(names, depth - 1);
      case 4:
        return "(" + condition(names, depth - 1) + " and " + condition(names, depth - 1) + ")";
      case 5:
        return condition(names, depth - 1) + " or " + condition(names, depth - 1);
      default:
        return condition(names, depth - 1) + " and not 1 of filter_*";
    }
  }

  std::mt19937& rng_;
  std::vector<std::string> pids_;
};

}  // namespace sigma_test
