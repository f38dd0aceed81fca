// The Sigma front-end in one include: every header of include/fluxcap/sigma/ that needs
// no dependency. The adapters are included on their own: fluxcap/sigma/yaml.hpp (target
// fluxcap::yaml, yaml-cpp) and fluxcap/sigma/pcre2.hpp (target fluxcap::sigma_pcre2,
// libpcre2-8). docs/sigma.md describes the whole.
#pragma once

#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/describe.hpp>
#include <fluxcap/sigma/engine.hpp>
#include <fluxcap/sigma/field_accessor.hpp>
#include <fluxcap/sigma/modifiers.hpp>
#include <fluxcap/sigma/profile.hpp>
#include <fluxcap/sigma/regex.hpp>
#include <fluxcap/sigma/rule.hpp>
#include <fluxcap/sigma/sigma_string.hpp>
