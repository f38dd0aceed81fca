// A ready-made event type: tags as a dense bitset, columns as string views.
//
// A dense_schema numbers every (rule, tag) and column once; a dense_event is then
// two flat arrays. It is the fastest way to feed fluxcap from code that already
// evaluated its Sigma selections, and what the tests and benchmarks use.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/program.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

/// Dense numbering of tags ("rule.tag" pairs) and columns.
class dense_schema {
 public:
  dense_schema() = default;
  /// Every tag and key column of `prog`, in program order.
  explicit dense_schema(const program& prog) {
    for (const auto& rule : prog.rules)
      for (const auto& tag : rule.tags) add_tag(rule.name, tag.name);
    for (const auto& col : prog.columns()) add_column(col);
  }

  /// Index of (rule, tag), adding it if new.
  std::size_t add_tag(std::string_view rule, std::string_view tag) {
    auto [it, fresh] = tags_.try_emplace(pair_key(rule, tag), tag_names_.size());
    if (fresh) tag_names_.emplace_back(std::string(rule), std::string(tag));
    return it->second;
  }
  /// Index of column `name`, adding it if new.
  std::size_t add_column(std::string_view name) {
    auto [it, fresh] = columns_.try_emplace(std::string(name), column_names_.size());
    if (fresh) column_names_.emplace_back(name);
    return it->second;
  }

  [[nodiscard]] std::optional<std::size_t> tag_index(std::string_view rule,
                                                     std::string_view tag) const {
    auto it = tags_.find(pair_key(rule, tag));
    return it == tags_.end() ? std::nullopt : std::optional<std::size_t>(it->second);
  }
  [[nodiscard]] std::optional<std::size_t> column_index(std::string_view name) const {
    auto it = columns_.find(std::string(name));
    return it == columns_.end() ? std::nullopt : std::optional<std::size_t>(it->second);
  }

  [[nodiscard]] std::size_t tag_count() const noexcept { return tag_names_.size(); }
  [[nodiscard]] std::size_t column_count() const noexcept { return column_names_.size(); }
  /// (rule, tag) of tag index `i`.
  [[nodiscard]] const std::pair<std::string, std::string>& tag_name(std::size_t i) const {
    return tag_names_.at(i);
  }
  [[nodiscard]] const std::string& column_name(std::size_t i) const { return column_names_.at(i); }

 private:
  // A NUL cannot appear in a YAML/JSON name in practice, and is not a separator a
  // rule name could forge: the rule length goes first.
  static std::string pair_key(std::string_view rule, std::string_view tag) {
    std::string k = std::to_string(rule.size());
    k += ':';
    k += rule;
    k += tag;
    return k;
  }

  std::unordered_map<std::string, std::size_t> tags_;
  std::unordered_map<std::string, std::size_t> columns_;
  std::vector<std::pair<std::string, std::string>> tag_names_;
  std::vector<std::string> column_names_;
};

/// An event laid out by a dense_schema. Columns are views: the caller keeps the
/// strings alive while the event is used.
class dense_event {
 public:
  explicit dense_event(const dense_schema& schema)
      : tags_((schema.tag_count() + 63) / 64, 0), columns_(schema.column_count()) {}

  [[nodiscard]] bool tag(std::size_t i) const noexcept { return (tags_[i / 64] >> (i % 64)) & 1U; }
  void set_tag(std::size_t i, bool value) noexcept {
    const std::uint64_t bit = std::uint64_t{1} << (i % 64);
    tags_[i / 64] = value ? (tags_[i / 64] | bit) : (tags_[i / 64] & ~bit);
  }
  [[nodiscard]] std::optional<std::string_view> column(std::size_t i) const noexcept {
    return columns_[i];
  }
  void set_column(std::size_t i, std::optional<std::string_view> value) noexcept {
    columns_[i] = value;
  }
  /// Clears every tag and column, keeping the storage (for reuse in a loop).
  void reset() noexcept {
    for (auto& w : tags_) w = 0;
    for (auto& c : columns_) c.reset();
  }

 private:
  std::vector<std::uint64_t> tags_;
  std::vector<std::optional<std::string_view>> columns_;
};

/// The event_accessor for dense_event.
class dense_accessor {
 public:
  using event_type = dense_event;
  using tag_handle = std::size_t;
  using column_handle = std::size_t;

  explicit dense_accessor(const dense_schema& schema) : schema_(&schema) {}

  [[nodiscard]] tag_handle tag_handle_for(std::string_view rule, std::string_view tag) const {
    if (auto i = schema_->tag_index(rule, tag)) return *i;
    throw std::invalid_argument("fluxcap: dense_schema has no tag '" + std::string(rule) + "." +
                                std::string(tag) + "'");
  }
  [[nodiscard]] column_handle column_handle_for(std::string_view column) const {
    if (auto i = schema_->column_index(column)) return *i;
    throw std::invalid_argument("fluxcap: dense_schema has no column '" + std::string(column) +
                                "'");
  }
  [[nodiscard]] bool get_tag(const dense_event& e, tag_handle t) const noexcept { return e.tag(t); }
  void set_tag(dense_event& e, tag_handle t, bool v) const noexcept { e.set_tag(t, v); }
  [[nodiscard]] std::optional<std::string_view> get_column(const dense_event& e,
                                                           column_handle c) const noexcept {
    return e.column(c);
  }

 private:
  const dense_schema* schema_;
};

FLUXCAP_END_NAMESPACE
