// The parse-only baseline's work: every key and value of a JSON document visited with
// simdjson On-Demand (strings unescaped, numbers parsed). Shared by fluxcap_parse_only and
// the Sigma benchmarks, so that every "same run" ratio against parse-only measures the
// same code.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string_view>

namespace fluxcap_bench {

/// Visits `v` and everything under it; `sink` accumulates something of each value so
/// that nothing is optimised away.
inline simdjson::error_code walk_json(simdjson::ondemand::value v, std::uint64_t& sink) {
  namespace od = simdjson::ondemand;
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  switch (type) {
    case od::json_type::object: {
      od::object o;
      if (auto e = v.get_object().get(o)) return e;
      for (auto field : o) {
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) return e;
        sink += key.size();
        od::value child;
        if (auto e = field.value().get(child)) return e;
        if (auto e = walk_json(child, sink)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array a;
      if (auto e = v.get_array().get(a)) return e;
      for (auto item : a) {
        od::value child;
        if (auto e = item.get(child)) return e;
        if (auto e = walk_json(child, sink)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view s;
      if (auto e = v.get_string().get(s)) return e;
      sink += s.size();
      return simdjson::SUCCESS;
    }
    case od::json_type::number: {
      double d = 0;
      if (auto e = v.get_double().get(d)) return e;
      sink += d > 0 ? 1 : 0;
      return simdjson::SUCCESS;
    }
    case od::json_type::boolean: {
      bool b = false;
      if (auto e = v.get_bool().get(b)) return e;
      sink += b ? 1 : 0;
      return simdjson::SUCCESS;
    }
    case od::json_type::null:
      sink += v.is_null() ? 1 : 0;
      return simdjson::SUCCESS;
  }
  return simdjson::INCORRECT_TYPE;
}

}  // namespace fluxcap_bench
