// The `re` values of the realdata Sigma rules (realdata/sigma*/**/*.yml), read with a
// line scanner (no YAML library: the core tests and the benchmark use it too). Handles
// what those files use: `Field|re[|flags]: value` and a block list under the key, with
// single-quoted, double-quoted and plain scalars (a plain one ends at ` #`).
#pragma once

#include <fluxcap/sigma/regex.hpp>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sigma_test {

struct realdata_regex {
  std::string pattern;
  fluxcap::sigma::regex_flags flags;
  std::string file;  // the first rule that uses it
  friend bool operator==(const realdata_regex& a, const realdata_regex& b) {
    return a.pattern == b.pattern && a.flags.ignore_case == b.flags.ignore_case &&
           a.flags.multiline == b.flags.multiline && a.flags.dot_all == b.flags.dot_all;
  }
};

inline std::string yaml_scalar(std::string_view v) {
  while (!v.empty() && (v.back() == ' ' || v.back() == '\r')) v.remove_suffix(1);
  std::string out;
  if (!v.empty() && v.front() == '\'') {
    for (std::size_t i = 1; i < v.size(); ++i) {
      if (v[i] == '\'') {
        if (i + 1 < v.size() && v[i + 1] == '\'') {
          out += '\'';
          ++i;
          continue;
        }
        break;
      }
      out += v[i];
    }
    return out;
  }
  if (!v.empty() && v.front() == '"') {
    for (std::size_t i = 1; i < v.size(); ++i) {
      if (v[i] == '"') break;
      if (v[i] == '\\' && i + 1 < v.size()) {
        const char e = v[++i];
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
        continue;
      }
      out += v[i];
    }
    return out;
  }
  if (const auto comment = v.find(" #"); comment != std::string_view::npos)
    v = v.substr(0, comment);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return std::string(v);
}

/// Every distinct (pattern, flags) of the `re` items under `root` (the realdata folder).
inline std::vector<realdata_regex> realdata_regexes(const std::filesystem::path& root) {
  std::vector<realdata_regex> out;
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& top : std::filesystem::directory_iterator(root, ec)) {
    if (top.path().filename().string().rfind("sigma", 0) != 0) continue;
    for (const auto& e : std::filesystem::recursive_directory_iterator(top.path(), ec)) {
      if (e.is_regular_file() && e.path().extension() == ".yml") files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const std::string& l = lines[i];
      const auto re = l.find("|re");
      if (re == std::string::npos) continue;
      std::size_t column = l.find_first_not_of(' ');
      if (column == std::string::npos) continue;
      if (l.compare(column, 2, "- ") == 0) column += 2;
      // The key: a field name, then `|re`, then only flag modifiers, then `:`.
      const auto colon = l.find(':', re);
      if (colon == std::string::npos) continue;
      const std::string modifiers = l.substr(re + 1, colon - re - 1);  // "re|i|m"
      if (modifiers != "re" && modifiers.rfind("re|", 0) != 0) continue;
      bool other_modifier = false;
      fluxcap::sigma::regex_flags flags;
      for (std::size_t p = 3; p < modifiers.size();) {
        const auto bar = modifiers.find('|', p);
        const std::string m =
            modifiers.substr(p, bar == std::string::npos ? std::string::npos : bar - p);
        if (m == "i" || m == "ignorecase") {
          flags.ignore_case = true;
        } else if (m == "m" || m == "multiline") {
          flags.multiline = true;
        } else if (m == "s" || m == "dotall") {
          flags.dot_all = true;
        } else if (!m.empty()) {
          other_modifier = true;  // contains/startswith/endswith: kept out of this list
        }
        if (bar == std::string::npos) break;
        p = bar + 1;
      }
      if (other_modifier) continue;
      std::vector<std::string> values;
      const std::string_view rest = std::string_view(l).substr(colon + 1);
      const auto first = rest.find_first_not_of(' ');
      if (first != std::string_view::npos && rest[first] != '#') {
        values.push_back(yaml_scalar(rest.substr(first)));
      } else {
        for (std::size_t j = i + 1; j < lines.size(); ++j) {
          const std::string& item = lines[j];
          const auto indent = item.find_first_not_of(' ');
          if (indent == std::string::npos || indent <= column || item.compare(indent, 2, "- ") != 0)
            break;
          values.push_back(yaml_scalar(std::string_view(item).substr(indent + 2)));
        }
      }
      for (auto& v : values) {
        realdata_regex r{std::move(v), flags, path.string()};
        if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(std::move(r));
      }
    }
  }
  return out;
}

/// The `CommandLine` values of realdata/sysmon/*.jsonl, JSON-unescaped (`\uXXXX` as UTF-8).
inline std::vector<std::string> sysmon_command_lines(const std::filesystem::path& root) {
  std::vector<std::string> out;
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(root / "sysmon", ec)) {
    if (e.path().extension() == ".jsonl") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  constexpr std::string_view key = "\"CommandLine\":\"";
  for (const auto& path : files) {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      for (std::size_t at = line.find(key); at != std::string::npos; at = line.find(key, at + 1)) {
        if (at == 0 || (line[at - 1] != ',' && line[at - 1] != '{')) continue;
        std::string value;
        std::size_t i = at + key.size();
        for (; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] != '\\' || i + 1 >= line.size()) {
            value += line[i];
            continue;
          }
          const char e = line[++i];
          if (e == 'u' && i + 4 < line.size()) {
            const unsigned cp =
                static_cast<unsigned>(std::stoul(line.substr(i + 1, 4), nullptr, 16));
            i += 4;
            if (cp < 0x80) {
              value += static_cast<char>(cp);
            } else if (cp < 0x800) {
              value += static_cast<char>(0xc0 | (cp >> 6));
              value += static_cast<char>(0x80 | (cp & 0x3f));
            } else {
              value += static_cast<char>(0xe0 | (cp >> 12));
              value += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
              value += static_cast<char>(0x80 | (cp & 0x3f));
            }
            continue;
          }
          value += e == 'n'   ? '\n'
                   : e == 't' ? '\t'
                   : e == 'r' ? '\r'
                   : e == 'b' ? '\b'
                   : e == 'f' ? '\f'
                              : e;
        }
        out.push_back(std::move(value));
        break;
      }
    }
  }
  return out;
}

}  // namespace sigma_test
