// Child processes for tests: this test binary run again with one test case, the child's
// task in an environment variable. Not a bare fork: a forked child of a process with
// threads (RocksDB's, one a test started) may wait forever on a lock one of them held,
// and in a forked child new heap blocks may reuse the parent's freed ones.
#pragma once

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

namespace fluxcap_test {

/// Runs this binary again with only the test case `name` and the environment variable
/// `variable` set to `task` (the case sees it, does its part and exits); returns the
/// wait status. An exec that fails exits 127; a name matching no case exits 0.
inline int run_in_fresh_process(const char* name, const char* variable, const std::string& task) {
  // Everything the child needs is made before the fork (after it, only exec is safe).
  const std::string setting = std::string(variable) + "=" + task;
  const std::size_t variable_length = std::strlen(variable);
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, variable, variable_length) != 0 || (*e)[variable_length] != '=')
      env.push_back(*e);
  env.push_back(const_cast<char*>(setting.c_str()));
  env.push_back(nullptr);
  std::string program = "test";
  std::string filter = std::string("--test-case=") + name;
  char* argv[] = {program.data(), filter.data(), nullptr};
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::execve("/proc/self/exe", argv, env.data());
    ::_exit(127);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

}  // namespace fluxcap_test
