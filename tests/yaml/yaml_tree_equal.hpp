// Compares two yaml-cpp trees: the one fluxcap::detail::load_documents builds and the
// one yaml-cpp's own YAML::Load builds must be the same (types, tags, scalars, marks,
// styles, order; an alias shares the node it refers to in both). Used by the YAML tests
// and by fuzz_spec_yaml.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>

namespace yaml_test {

/// "" when `a` and `b` are the same tree, else where they differ. Walks at most
/// `max_depth` levels and `budget` nodes (a cyclic alias makes a cyclic tree).
inline std::string tree_difference(const YAML::Node& a, const YAML::Node& b,
                                   std::size_t max_depth = 64, std::size_t budget = 100000) {
  struct walker {
    std::size_t max_depth;
    std::size_t budget;
    std::string where(const YAML::Node& n) const {
      const auto m = n.Mark();
      return std::to_string(m.line) + ":" + std::to_string(m.column);
    }
    std::string walk(const YAML::Node& x, const YAML::Node& y, std::size_t depth) {
      if (depth > max_depth || budget == 0) return {};
      --budget;
      if (x.Type() != y.Type()) return "type at " + where(x) + " / " + where(y);
      const auto mx = x.Mark(), my = y.Mark();
      if (mx.pos != my.pos || mx.line != my.line || mx.column != my.column)
        return "mark " + where(x) + " / " + where(y);
      if (x.Tag() != y.Tag()) return "tag at " + where(x) + ": " + x.Tag() + " / " + y.Tag();
      if (x.Style() != y.Style()) return "style at " + where(x);
      if (x.IsScalar() && x.Scalar() != y.Scalar()) return "scalar at " + where(x);
      if (x.size() != y.size()) return "size at " + where(x);
      if (x.IsSequence()) {
        for (std::size_t i = 0; i < x.size(); ++i)
          if (auto d = walk(x[i], y[i], depth + 1); !d.empty()) return d;
      } else if (x.IsMap()) {
        auto i = x.begin();
        auto j = y.begin();
        for (; i != x.end() && j != y.end(); ++i, ++j) {
          const YAML::Node xk = i->first, yk = j->first, xv = i->second, yv = j->second;
          if (auto d = walk(xk, yk, depth + 1); !d.empty()) return d;
          if (auto d = walk(xv, yv, depth + 1); !d.empty()) return d;
        }
      }
      return {};
    }
  } w{max_depth, budget};
  return w.walk(a, b, 0);
}

}  // namespace yaml_test
