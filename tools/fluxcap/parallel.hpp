// What `fluxcap run --threads N` runs on: a fixed pool of threads that execute one task
// together, and the group states split into partitions by group key.
//
// Groups never share state, so partitioning them by a hash of the group key lets
// threads update them without locks: while a batch of lines is processed, each
// partition (its processor and its store) belongs to one thread, which sees every
// event of its groups in input order. parallel_lines.hpp does the batching and puts the
// output back in input order.
#pragma once

#include <fluxcap/hash.hpp>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace fluxcap_cli {

/// The partition (0 to n-1) of a group key under the run's hash key (keyed, so that
/// crafted host names cannot all land on one thread).
[[nodiscard]] inline unsigned partition_of(std::string_view group_key, unsigned n,
                                           const fluxcap::hash_key& key) noexcept {
  const std::uint64_t h = fluxcap::detail::siphash<1, 3>(key, group_key.data(), group_key.size());
  return static_cast<unsigned>(((h >> 32) * n) >> 32);  // fastrange on the high half
}

/// N workers, the calling thread being worker 0: `run(task)` calls task(i) on worker i
/// for every i at once and returns when all have returned. (The caller works too: on a
/// machine with as many cores as workers, a thread more would only take turns.)
class worker_pool {
 public:
  explicit worker_pool(unsigned workers) : workers_(workers == 0 ? 1 : workers) {
    threads_.reserve(workers_ - 1);
    for (unsigned i = 1; i < workers_; ++i) threads_.emplace_back([this, i] { loop(i); });
  }
  ~worker_pool() {
    {
      const std::lock_guard lock(mutex_);
      stop_ = true;
    }
    start_.notify_all();
    for (auto& t : threads_) t.join();
  }
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  [[nodiscard]] unsigned size() const noexcept { return workers_; }

  /// Runs `task(i)` for i in [0, size()), i = 0 on this thread. Rethrows the first
  /// exception a worker threw, once all of them are done.
  void run(const std::function<void(unsigned)>& task) {
    {
      const std::lock_guard lock(mutex_);
      task_ = &task;
      pending_ = workers_ - 1;
      error_ = nullptr;
      ++round_;
    }
    start_.notify_all();
    std::exception_ptr mine;
    try {
      task(0);
    } catch (...) {
      mine = std::current_exception();
    }
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return pending_ == 0; });
    task_ = nullptr;
    if (mine) std::rethrow_exception(mine);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void loop(unsigned index) {
    std::uint64_t seen = 0;
    for (;;) {
      const std::function<void(unsigned)>* task = nullptr;
      {
        std::unique_lock lock(mutex_);
        start_.wait(lock, [&] { return stop_ || round_ != seen; });
        if (stop_) return;
        seen = round_;
        task = task_;
      }
      std::exception_ptr error;
      try {
        (*task)(index);
      } catch (...) {
        error = std::current_exception();
      }
      {
        const std::lock_guard lock(mutex_);
        if (error && !error_) error_ = error;
        if (--pending_ == 0) done_.notify_one();
      }
    }
  }

  unsigned workers_;
  std::mutex mutex_;
  std::condition_variable start_;
  std::condition_variable done_;
  const std::function<void(unsigned)>* task_ = nullptr;
  std::uint64_t round_ = 0;
  unsigned pending_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

/// A reusable barrier for `count` threads whose last arriving thread runs `completion`
/// before the others go on. (libstdc++ 12's std::barrier wakes waiters with a backoff
/// that cost milliseconds a batch here.)
template <class Completion>
class step_barrier {
 public:
  step_barrier(unsigned count, Completion completion)
      : count_(count), completion_(std::move(completion)) {}

  void arrive_and_wait() {
    std::unique_lock lock(mutex_);
    const std::uint64_t phase = phase_;
    if (++arrived_ == count_) {
      completion_();
      arrived_ = 0;
      ++phase_;
      lock.unlock();
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return phase_ != phase; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  unsigned count_;
  unsigned arrived_ = 0;
  std::uint64_t phase_ = 0;
  Completion completion_;
};

/// The group stores of N partitions seen as one store, for load_store and
/// apply_store_delta (`find` and `assign` route each group to its partition) and
/// save_store and save_store_delta (`size`, `for_each`).
template <class Store>
class partitioned_stores {
 public:
  using state_type = typename Store::state_type;

  partitioned_stores(std::vector<Store*> parts, const fluxcap::hash_key& key)
      : parts_(std::move(parts)), key_(key) {}

  state_type* find(std::string_view key) { return parts_[partition(key)]->find(key); }
  state_type& assign(std::string_view key, state_type state) {
    return parts_[partition(key)]->assign(key, std::move(state));
  }
  [[nodiscard]] std::size_t size() const noexcept {
    std::size_t n = 0;
    for (const Store* s : parts_) n += s->size();
    return n;
  }
  template <class F>
  void for_each(F&& f) const {
    for (const Store* s : parts_) std::as_const(*s).for_each(f);
  }

 private:
  [[nodiscard]] unsigned partition(std::string_view key) const noexcept {
    return partition_of(key, static_cast<unsigned>(parts_.size()), key_);
  }

  std::vector<Store*> parts_;
  fluxcap::hash_key key_;
};

}  // namespace fluxcap_cli
