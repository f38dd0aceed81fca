// Checks the trees fluxcap::detail::load_documents builds against a naive reading of the
// same text: libyaml's events taken one by one into a plain tree, every node kept, no
// limit, an alias resolved to the node it names, and yaml-cpp's conventions applied (an
// untagged plain scalar is tagged "?" and is null when it reads as null, an untagged
// quoted or block scalar "!", an untagged collection "?"). Types, tags, scalars, marks,
// styles and order must agree. Used by the YAML tests and by fuzz_spec_yaml.
#pragma once

#include <yaml-cpp/yaml.h>

#include <yaml.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace yaml_test {

struct reference_node {
  enum class kind { null, scalar, sequence, map } type = kind::null;
  std::string tag;
  std::string value;
  std::size_t line = 0, column = 0, index = 0;  ///< index: a byte offset (naive_position)
  bool flow = false;
  std::vector<std::size_t> children;  ///< a map's keys and values, alternating
};

/// The documents of `text` as naive trees; `ok` is false on a syntax error or an alias
/// of an unknown anchor.
struct reference_documents {
  bool ok = true;
  std::vector<reference_node> nodes;
  std::vector<std::size_t> roots;  ///< one per document; SIZE_MAX for an empty one
  std::size_t max_depth = 0;       ///< most collections open at once
  /// On ASCII text without CR or a byte order mark, libyaml's own marks must be the ones
  /// naive_position computes (an independent check of what the marks mean).
  bool marks_agree = true;
};

/// libyaml's mark (a character index) as a byte offset, a line ended by '\n' alone and a
/// byte column (a character column in UTF-16 text), walking the text from its start.
inline void naive_position(std::string_view text, const yaml_mark_t& m, reference_node& n) {
  n.index = m.index;
  n.line = m.line;
  n.column = m.column;
  const bool big = text.starts_with("\xFE\xFF");
  const bool utf16 = big || text.starts_with("\xFF\xFE");
  std::size_t byte = text.starts_with("\xEF\xBB\xBF") ? 3 : utf16 ? 2 : 0;
  n.line = n.column = 0;
  for (std::size_t i = 0; i < m.index && byte < text.size(); ++i) {
    std::size_t width = 1;
    bool newline = false;
    if (utf16) {
      // Byte pairs past the end read as zero.
      const auto at = [&](std::size_t k) {
        return k < text.size() ? static_cast<unsigned>(static_cast<unsigned char>(text[k])) : 0U;
      };
      const unsigned unit = big ? at(byte) << 8 | at(byte + 1) : at(byte + 1) << 8 | at(byte);
      width = unit >= 0xD800 && unit <= 0xDBFF ? 4 : 2;
      newline = unit == '\n';
    } else {
      const auto c = static_cast<unsigned char>(text[byte]);
      if (c >= 0xF0)
        width = 4;
      else if (c >= 0xE0)
        width = 3;
      else if (c >= 0xC0)
        width = 2;
      newline = c == '\n';
    }
    if (newline) {
      ++n.line;
      n.column = 0;
    } else {
      n.column += utf16 ? 1 : width;
    }
    byte += width;
  }
  n.index = byte;
}

inline reference_documents read_reference(std::string_view text, std::size_t max_documents = 1000) {
  reference_documents out;
  yaml_parser_t parser;
  if (yaml_parser_initialize(&parser) == 0) {
    out.ok = false;
    return out;
  }
  static constexpr unsigned char empty[1] = {0};  // libyaml asserts a non-null input
  yaml_parser_set_input_string(
      &parser, text.data() != nullptr ? reinterpret_cast<const unsigned char*>(text.data()) : empty,
      text.size());
  const bool plain_ascii = std::none_of(text.begin(), text.end(), [](char c) {
    return c == '\r' || static_cast<unsigned char>(c) >= 0x80;
  });
  std::vector<std::size_t> open;
  std::map<std::string, std::size_t> anchors;
  const auto add = [&](reference_node n, const yaml_char_t* anchor) {
    out.nodes.push_back(std::move(n));
    const std::size_t id = out.nodes.size() - 1;
    if (anchor != nullptr) anchors[reinterpret_cast<const char*>(anchor)] = id;
    return id;
  };
  const auto attach = [&](std::size_t id) {
    if (open.empty())
      out.roots.back() = id;
    else
      out.nodes[open.back()].children.push_back(id);
  };
  for (bool done = false; !done;) {
    yaml_event_t e;
    if (yaml_parser_parse(&parser, &e) == 0) {
      out.ok = false;
      break;
    }
    reference_node n;
    naive_position(text, e.start_mark, n);
    // (At the text's end libyaml starts a new line of its own when the last has no '\n'.)
    if (plain_ascii && e.start_mark.index < text.size() &&
        (n.index != e.start_mark.index || n.line != e.start_mark.line ||
         n.column != e.start_mark.column))
      out.marks_agree = false;
    const auto tag_or = [](const yaml_char_t* tag, const char* untagged) {
      return tag != nullptr ? std::string(reinterpret_cast<const char*>(tag)) : untagged;
    };
    switch (e.type) {
      case YAML_STREAM_END_EVENT:
        done = true;
        break;
      case YAML_DOCUMENT_START_EVENT:
        if (out.roots.size() == max_documents) {
          done = true;
          break;
        }
        out.roots.push_back(SIZE_MAX);
        anchors.clear();
        break;
      case YAML_ALIAS_EVENT: {
        const auto it = anchors.find(reinterpret_cast<const char*>(e.data.alias.anchor));
        if (it == anchors.end()) {
          out.ok = false;
          done = true;
        } else {
          attach(it->second);
        }
        break;
      }
      case YAML_SCALAR_EVENT: {
        const auto& s = e.data.scalar;
        n.value.assign(reinterpret_cast<const char*>(s.value), s.length);
        const bool plain = s.style == YAML_PLAIN_SCALAR_STYLE;
        const bool null = s.tag == nullptr && plain &&
                          (n.value.empty() || n.value == "~" || n.value == "null" ||
                           n.value == "Null" || n.value == "NULL");
        n.type = null ? reference_node::kind::null : reference_node::kind::scalar;
        if (!null) n.tag = tag_or(s.tag, plain ? "?" : "!");
        if (null) n.value.clear();
        attach(add(std::move(n), s.anchor));
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
        n.type = reference_node::kind::sequence;
        n.tag = tag_or(e.data.sequence_start.tag, "?");
        n.flow = e.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE;
        open.push_back(add(std::move(n), e.data.sequence_start.anchor));
        out.max_depth = std::max(out.max_depth, open.size());
        break;
      case YAML_MAPPING_START_EVENT:
        n.type = reference_node::kind::map;
        n.tag = tag_or(e.data.mapping_start.tag, "?");
        n.flow = e.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
        open.push_back(add(std::move(n), e.data.mapping_start.anchor));
        out.max_depth = std::max(out.max_depth, open.size());
        break;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        const std::size_t id = open.back();
        open.pop_back();
        attach(id);
        break;
      }
      default:
        break;
    }
    yaml_event_delete(&e);
  }
  yaml_parser_delete(&parser);
  return out;
}

/// "" when `a` is the reference's tree `root`, else where they differ. Walks at most
/// `max_depth` levels and `budget` nodes (a cyclic alias makes a cyclic tree).
inline std::string tree_difference(const YAML::Node& a, const reference_documents& ref,
                                   std::size_t root, std::size_t max_depth = 64,
                                   std::size_t budget = 100000) {
  struct walker {
    const reference_documents& ref;
    std::size_t max_depth;
    std::size_t budget;
    static std::string where(const YAML::Node& n) {
      const auto m = n.Mark();
      return std::to_string(m.line) + ":" + std::to_string(m.column);
    }
    std::string walk(const YAML::Node& x, std::size_t id, std::size_t depth) {
      if (depth > max_depth || budget == 0) return {};
      --budget;
      if (id == SIZE_MAX) return x.IsNull() ? "" : "non-null at " + where(x);
      const reference_node& y = ref.nodes[id];
      using k = reference_node::kind;
      const auto type = x.Type() == YAML::NodeType::Null       ? k::null
                        : x.Type() == YAML::NodeType::Scalar   ? k::scalar
                        : x.Type() == YAML::NodeType::Sequence ? k::sequence
                        : x.Type() == YAML::NodeType::Map      ? k::map
                                                               : k::null;
      if (!x.IsDefined() || type != y.type) return "type at " + where(x);
      const auto m = x.Mark();
      if (static_cast<std::size_t>(m.pos) != y.index ||
          static_cast<std::size_t>(m.line) != y.line ||
          static_cast<std::size_t>(m.column) != y.column)
        return "mark " + where(x) + " / " + std::to_string(y.line) + ":" + std::to_string(y.column);
      if (y.type == k::null) return {};
      if (x.Tag() != y.tag) return "tag at " + where(x) + ": " + x.Tag() + " / " + y.tag;
      if (y.type == k::scalar) return x.Scalar() == y.value ? "" : "scalar at " + where(x);
      if ((x.Style() == YAML::EmitterStyle::Flow) != y.flow) return "style at " + where(x);
      const std::size_t size = y.type == k::map ? y.children.size() / 2 : y.children.size();
      if (x.size() != size) return "size at " + where(x);
      if (y.type == k::sequence) {
        for (std::size_t i = 0; i < size; ++i)
          if (auto d = walk(x[i], y.children[i], depth + 1); !d.empty()) return d;
      } else {
        std::size_t i = 0;
        for (auto it = x.begin(); it != x.end(); ++it, i += 2) {
          const YAML::Node key = it->first, value = it->second;
          if (auto d = walk(key, y.children[i], depth + 1); !d.empty()) return d;
          if (auto d = walk(value, y.children[i + 1], depth + 1); !d.empty()) return d;
        }
      }
      return {};
    }
  } w{ref, max_depth, budget};
  return w.walk(a, root, 0);
}

}  // namespace yaml_test
