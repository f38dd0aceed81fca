// Fuzz target: the tool's Sigma field reader (tools/fluxcap/sigma_fields.hpp) against a
// DOM reference (tests/cli/sigma_fields_reference.hpp). Input: a first line of field
// paths separated by spaces (at most 8; a leading '*' enables every-string
// enumeration), then the JSON line.
//
// Invariants: nothing crashes; when simdjson's DOM parser accepts the line as an
// object, json_fields reports the same values for every bound path (and the same
// strings), or "duplicate field" exactly when a path is found twice; a second parse
// of the same line into the same event gives the same answer; so does a line differing
// in one byte, and the first again, through the same accessor (keys remembered).
#include "../cli/sigma_fields_reference.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = input.find('\n');
  if (nl == std::string_view::npos) return 0;
  std::string_view spec = input.substr(0, nl);
  const std::string_view line = input.substr(nl + 1);

  fluxcap_cli::json_fields_limits limits;
  limits.max_values_per_path = 64;
  fluxcap_cli::json_fields fields(limits);
  if (!spec.empty() && spec.front() == '*') {
    fields.enable_all_strings();
    spec.remove_prefix(1);
  }
  for (int n = 0; n < 8 && !spec.empty(); ++n) {
    const std::size_t sp = spec.find(' ');
    const std::string_view word = spec.substr(0, sp);
    fields.field_handle_for(fluxcap::sigma::field_path::parse(word));
    if (sp == std::string_view::npos) break;
    spec.remove_prefix(sp + 1);
  }

  fluxcap_cli::json_field_event event;
  std::string problem;
  const bool ok = fields.parse(line, event, problem);
  if (!ok && problem.empty()) std::abort();
  simdjson::dom::parser parser;
  const auto ref = sigma_fields_reference::read(parser, line, fields.paths());
  bool too_many = false;  // the fuzz limit on values, lower than any DOM limit
  for (const auto& f : ref.fields)
    too_many = too_many || (f && f->size() > limits.max_values_per_path);
  if (!too_many) {
    const std::string diff = sigma_fields_reference::compare(fields, ok, problem, event, ref);
    if (!diff.empty()) {
      std::fprintf(stderr, "sigma_fields differs from the reference: %s\n", diff.c_str());
      std::abort();
    }
  }
  std::string again;
  if (fields.parse(line, event, again) != ok || again != problem) std::abort();
  if (ok && !too_many && !sigma_fields_reference::compare(fields, ok, again, event, ref).empty())
    std::abort();
  // A line differing in one byte, then the first again, through the same accessor: the
  // keys remembered from one line must not change what the next one reads.
  if (!line.empty()) {
    std::string other(line);
    other[other.size() / 2] = static_cast<char>(other[other.size() / 2] ^ 0x20);
    for (const std::string_view next : {std::string_view(other), line}) {
      std::string why;
      const bool next_ok = fields.parse(next, event, why);
      if (!next_ok && why.empty()) std::abort();
      const auto next_ref = sigma_fields_reference::read(parser, next, fields.paths());
      bool next_too_many = false;
      for (const auto& f : next_ref.fields)
        next_too_many = next_too_many || (f && f->size() > limits.max_values_per_path);
      if (next_too_many) continue;
      const std::string diff =
          sigma_fields_reference::compare(fields, next_ok, why, event, next_ref);
      if (!diff.empty()) {
        std::fprintf(stderr, "sigma_fields differs from the reference after another line: %s\n",
                     diff.c_str());
        std::abort();
      }
    }
  }
  return 0;
}
