// fluxcap: stateful, bounded-memory correlation of Sigma detection tags.
// Umbrella header: includes every core header (not the optional YAML adapter).
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/accessor.hpp>
#include <fluxcap/checkpoint.hpp>
#include <fluxcap/condition.hpp>
#include <fluxcap/dense_event.hpp>
#include <fluxcap/error.hpp>
#include <fluxcap/event_time.hpp>
#include <fluxcap/flux_capacitor.hpp>
#include <fluxcap/group_state.hpp>
#include <fluxcap/hash.hpp>
#include <fluxcap/memory.hpp>
#include <fluxcap/memory_config.hpp>
#include <fluxcap/program.hpp>
#include <fluxcap/serialize.hpp>
#include <fluxcap/spec.hpp>
#include <fluxcap/state_store.hpp>
#include <fluxcap/version.hpp>
