// Build: g++ -O2 -std=c++20 backtracking_probe.cpp -lhs -lre2 -lpcre2-8 (the 14-plus regex of a
// real rule)
#include <hs/hs.h>
#include <re2/re2.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <chrono>
#include <cstdio>
#include <string>
static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
int main() {
  const char* p = "\\+.*\\+.*\\+.*\\+.*\\+.*\\+.*\\+.*\\+.*\\+.*\\+.*\\+.*\\+.*\\+.*\\+";
  for (int n : {200, 1000, 4000}) {
    std::string s;
    for (int i = 0; i < 13; ++i) {
      s += "+";
      s += std::string(n / 13, 'a');
    }
    int ec;
    PCRE2_SIZE eo;
    auto* c = pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED, 0, &ec, &eo, nullptr);
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
    auto* md = pcre2_match_data_create(2, nullptr);
    double t0 = now();
    int rc = pcre2_match(c, (PCRE2_SPTR)s.data(), s.size(), 0, 0, md, nullptr);
    double t1 = now();
    RE2 re(p);
    double t2 = now();
    bool m = RE2::PartialMatch(s, re);
    double t3 = now();
    hs_database_t* db;
    hs_compile_error_t* e;
    hs_compile(p, HS_FLAG_SINGLEMATCH, HS_MODE_BLOCK, nullptr, &db, &e);
    hs_scratch_t* sc = nullptr;
    hs_alloc_scratch(db, &sc);
    double t4 = now();
    hs_scan(
        db, s.data(), s.size(), 0, sc,
        [](unsigned, unsigned long long, unsigned long long, unsigned, void*) -> int { return 1; },
        nullptr);
    double t5 = now();
    printf("len %zu: PCRE2-JIT rc=%d %.4f s | RE2 %d %.6f s | vectorscan %.6f s\n", s.size(), rc,
           t1 - t0, m, t3 - t2, t5 - t4);
  }
  uint32_t jit = 0;
  pcre2_config(PCRE2_CONFIG_JIT, &jit);
  printf("PCRE2 JIT available: %u\n", jit);
}
