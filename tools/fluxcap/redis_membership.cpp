// The Redis side of worker membership (redis_membership.hpp): heartbeats, leaving, and
// pipelined script calls for the leases of many partitions.
#include "redis_membership.hpp"

#include <algorithm>
#include <charconv>

namespace fluxcap_cli {

std::vector<redis_reply> eval_pipelined(redis_client& c, redis_script& script,
                                        const std::vector<redis_script_call>& calls) {
  std::vector<redis_reply> replies;
  replies.reserve(calls.size());
  if (calls.empty()) return replies;
  if (script.sha.empty()) {
    const redis_reply loaded = c.command({"SCRIPT", "LOAD", script.text});
    script.sha = std::string(reply_text(loaded.get()));
  }
  constexpr std::size_t chunk = 512;
  std::vector<std::string> counts;
  std::vector<std::string_view> argv;
  for (std::size_t begin = 0; begin < calls.size(); begin += chunk) {
    const std::size_t end = std::min(calls.size(), begin + chunk);
    counts.clear();
    for (std::size_t i = begin; i < end; ++i)
      counts.push_back(std::to_string(calls[i].keys.size()));
    for (std::size_t i = begin; i < end; ++i) {
      argv.clear();
      argv.emplace_back("EVALSHA");
      argv.emplace_back(script.sha);
      argv.emplace_back(counts[i - begin]);
      argv.insert(argv.end(), calls[i].keys.begin(), calls[i].keys.end());
      argv.insert(argv.end(), calls[i].args.begin(), calls[i].args.end());
      c.append(argv);
    }
    // Every reply is read before any is acted on: the connection stays in step.
    std::vector<std::size_t> missing;
    for (std::size_t i = begin; i < end; ++i) {
      redis_reply r = c.reply(true);
      if (r->type == REDIS_REPLY_ERROR) {
        if (!reply_text(r.get()).starts_with("NOSCRIPT"))
          throw redis_error("Redis at " + c.where() + ": " + std::string(reply_text(r.get())),
                            false);
        missing.push_back(i);
      }
      replies.push_back(std::move(r));
    }
    for (const std::size_t i : missing) replies[i] = c.eval(script, calls[i].keys, calls[i].args);
  }
  return replies;
}

worker_membership::worker_membership(const std::string& stream, std::string id, unsigned partitions,
                                     unsigned max_partitions, std::uint64_t ttl_ms)
    : members_key_(redis_membership::members_key(stream)),
      max_key_(redis_membership::members_max_key(stream)),
      id_(std::move(id)),
      ttl_(std::to_string(ttl_ms)),
      max_(std::to_string(max_partitions)),
      partitions_(partitions) {}

void worker_membership::heartbeat(redis_client& c) {
  static redis_script script{redis_membership::heartbeat_script, {}};
  const redis_reply r = c.eval(script, {members_key_, max_key_}, {id_, ttl_, max_});
  std::vector<redis_membership::member> live;
  if (r->type == REDIS_REPLY_ARRAY) {
    live.reserve(r->elements / 2);
    for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
      redis_membership::member m;
      m.id = std::string(reply_text(r->element[i]));
      const std::string_view v = reply_text(r->element[i + 1]);
      unsigned max = 0;
      const auto parsed = std::from_chars(v.data(), v.data() + v.size(), max);
      // A value not understood (another version's) counts as no cap.
      m.max_partitions = parsed.ec == std::errc() && max > 0 ? max : redis_protocol::max_partitions;
      live.push_back(std::move(m));
    }
  }
  std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  const bool same =
      live.size() == members_.size() &&
      std::equal(live.begin(), live.end(), members_.begin(), [](const auto& a, const auto& b) {
        return a.id == b.id && a.max_partitions == b.max_partitions;
      });
  if (same && !mine_.empty()) return;
  members_ = std::move(live);
  const auto self =
      std::find_if(members_.begin(), members_.end(), [&](const auto& m) { return m.id == id_; });
  const int me = self == members_.end() ? -2 : static_cast<int>(self - members_.begin());
  const std::vector<int> owner = redis_membership::assign(members_, partitions_);
  mine_.assign(partitions_, 0);
  assigned_.clear();
  for (unsigned p = 0; p < partitions_; ++p)
    if (owner[p] == me) {
      mine_[p] = 1;
      assigned_.push_back(p);
    }
}

void worker_membership::leave(redis_client& c) {
  static redis_script script{redis_membership::leave_script, {}};
  (void)c.eval(script, {members_key_, max_key_}, {id_});
  members_.clear();
  mine_.assign(partitions_, 0);
  assigned_.clear();
}

}  // namespace fluxcap_cli
