// Compiles and runs against an installed or embedded fluxcap::sigma_pcre2: the regex
// engine of the Sigma `re` modifier, through the library's regex_engine concept.
#include <fluxcap/sigma/pcre2.hpp>
#include <fluxcap/sigma/regex.hpp>

#include <variant>

static_assert(fluxcap::sigma::regex_engine<fluxcap::sigma::pcre2_engine>);

int main() {
  fluxcap::sigma::pcre2_engine engine;
  fluxcap::sigma::regex_flags flags;
  flags.ignore_case = true;
  auto compiled = engine.compile(R"(\\(cmd|powershell)\.exe$)", flags);
  if (compiled.index() != 0) return 1;
  const auto& code = std::get<0>(compiled);
  auto scratch = engine.make_scratch();
  const bool hit = engine.search(code, R"(C:\Windows\System32\CMD.EXE)", scratch);
  const bool miss = engine.search(code, R"(C:\Windows\System32\cmd.exe.bak)", scratch);
  return hit && !miss ? 0 : 2;
}
