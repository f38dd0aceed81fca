// What parsing the YAML of rule files costs, parser alone (bench/README.md, "Sigma rule
// loading"): evidence for choosing a parser, not part of the library.
//
//   fluxcap_yaml_parse_cost PATH... [--repeat R]
//
// Reads every *.yml / *.yaml under the paths into memory first, then times on one thread
// (CPU time of the thread, median of R passes over all files):
//   libyaml_events   libyaml (Debian libyaml-dev): yaml_parser_parse until the stream
//                    ends, each event deleted: tokens and events, no tree;
//   yamlcpp_events   yaml-cpp's YAML::Parser with an event handler that does nothing;
//   yamlcpp_load     YAML::Load: yaml-cpp's events and its node tree;
//   fluxcap_load     fluxcap::detail::load_documents: the tree and the alias-expanded
//                    limits in one pass (what sigma::read_rule_paths does per file);
//   sigma_read_rules sigma::read_rules: that and the Sigma reader walking the trees
//                    (its own cost is the difference).
// A file either mode fails to parse is counted and reported.
#include <fluxcap/sigma/yaml.hpp>
#include <fluxcap/yaml.hpp>

#include <time.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>
#include <yaml.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

double thread_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

/// libyaml's events to the end of the stream; false on a parse error.
bool libyaml_events(const std::string& text, std::size_t& events) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return false;
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  bool ok = true;
  for (bool done = false; !done;) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      ok = false;
      break;
    }
    ++events;
    done = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
  }
  yaml_parser_delete(&parser);
  return ok;
}

struct no_events final : YAML::EventHandler {
  std::size_t events = 0;
  void OnDocumentStart(const YAML::Mark&) override { ++events; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override { ++events; }
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { ++events; }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {
    ++events;
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    ++events;
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    ++events;
  }
  void OnMapEnd() override {}
};

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  int repeat = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--repeat" && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
      continue;
    }
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      for (const auto& e : fs::recursive_directory_iterator(a, ec))
        if (e.path().extension() == ".yml" || e.path().extension() == ".yaml")
          files.push_back(e.path());
    } else {
      files.emplace_back(a);
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> texts;
  std::size_t bytes = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    texts.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    bytes += texts.back().size();
  }
  if (texts.empty()) {
    std::printf("{\"skipped\":\"no YAML files given\"}\n");
    return 0;
  }

  struct mode {
    const char* name;
    std::function<bool(const std::string&)> parse;
    std::vector<double> seconds{};
    std::size_t failures = 0;
  };
  std::size_t sink = 0;
  std::vector<mode> modes;
  modes.push_back(
      {"libyaml_events", [&](const std::string& t) { return libyaml_events(t, sink); }});
  modes.push_back({"yamlcpp_events", [&](const std::string& t) {
                     std::istringstream in(t);
                     YAML::Parser parser(in);
                     no_events handler;
                     while (parser.HandleNextDocument(handler)) {
                     }
                     sink += handler.events;
                     return true;
                   }});
  modes.push_back({"yamlcpp_load", [&](const std::string& t) {
                     sink += YAML::Load(t).size();
                     return true;
                   }});
  modes.push_back(
      {"fluxcap_load", [&](const std::string& t) {
         const auto d = fluxcap::detail::load_documents(t, {10000, 500000, 1U << 24, true});
         sink += d.roots.size();
         return d.exceeded == fluxcap::detail::yaml_scan::limit::none;
       }});
  modes.push_back({"sigma_read_rules", [&](const std::string& t) {
                     sink += fluxcap::sigma::read_rules(t, "r.yml").size();
                     return true;
                   }});
  for (int r = 0; r < repeat; ++r) {
    for (auto& m : modes) {
      m.failures = 0;
      const double begin = thread_seconds();
      for (const auto& t : texts) {
        try {
          if (!m.parse(t)) ++m.failures;
        } catch (const YAML::Exception&) {
          ++m.failures;
        } catch (const fluxcap::sigma::sigma_error&) {
          ++m.failures;
        }
      }
      m.seconds.push_back(thread_seconds() - begin);
    }
  }
  std::printf("{\"files\":%zu,\"bytes\":%zu,\"repeat\":%d", texts.size(), bytes, repeat);
  for (auto& m : modes) {
    std::sort(m.seconds.begin(), m.seconds.end());
    std::printf(",\"%s\":{\"cpu_s\":%.4f,\"failures\":%zu}", m.name,
                m.seconds[m.seconds.size() / 2], m.failures);
  }
  std::printf(",\"sink\":%zu}\n", sink);
  return 0;
}
