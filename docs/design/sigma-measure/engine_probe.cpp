// Inputs: regexes.txt, cmd_lits.txt, hay.txt in the parent of the working directory, written by
// `python3 analyze.py --dump DIR` (run this binary from DIR/probe). Build (Debian 12, after
// apt-get install libvectorscan-dev libre2-dev libpcre2-dev):
//   g++ -O2 -std=c++20 FILE.cpp -lhs -lre2 -lpcre2-8
// Throwaway probe: regex acceptance and literal multi-pattern speed (not project code).
#include <hs/hs.h>
#include <re2/re2.h>
#include <re2/set.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>
static std::vector<std::string> lines(const char* p) {
  std::ifstream f(p);
  std::vector<std::string> v;
  std::string s;
  while (std::getline(f, s)) v.push_back(s);
  return v;
}
static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
int main() {
  auto rx = lines("../regexes.txt");
  auto lits = lines("../cmd_lits.txt");
  auto hay = lines("../hay.txt");
  int ok_re2 = 0, ok_pcre = 0, ok_jit = 0, ok_hs = 0, ok_hs_som = 0;
  for (auto& r : rx) {
    RE2::Options o;
    o.set_log_errors(false);
    RE2 re(r, o);
    if (re.ok())
      ok_re2++;
    else
      printf("RE2 rejects: %s (%s)\n", r.c_str(), re.error().c_str());
    int ec;
    PCRE2_SIZE eo;
    auto* c = pcre2_compile((PCRE2_SPTR)r.data(), r.size(), PCRE2_UTF, &ec, &eo, nullptr);
    if (c) {
      ok_pcre++;
      if (pcre2_jit_compile(c, PCRE2_JIT_COMPLETE) == 0) ok_jit++;
      pcre2_code_free(c);
    } else
      printf("PCRE2 rejects %s\n", r.c_str());
    hs_database_t* db;
    hs_compile_error_t* err;
    if (hs_compile(r.c_str(), HS_FLAG_SINGLEMATCH | HS_FLAG_UTF8, HS_MODE_BLOCK, nullptr, &db,
                   &err) == HS_SUCCESS) {
      ok_hs++;
      hs_free_database(db);
    } else {
      printf("HS rejects %s: %s\n", r.c_str(), err->message);
      hs_free_compile_error(err);
    }
  }
  printf("regexes %zu: RE2 %d PCRE2 %d (JIT %d) vectorscan %d\n", rx.size(), ok_re2, ok_pcre,
         ok_jit, ok_hs);
  // PCRE-only constructs RE2 / HS reject
  const char* probes[] = {"(?<=a)b", "(a)\\1",       "a++",   "(?>a)", "\\bword\\b", "^x$",
                          "(?i)abc", "[[:alpha:]]+", "a{2,}", "\\x41", "(?=a)a"};
  for (auto p : probes) {
    RE2::Options o;
    o.set_log_errors(false);
    RE2 re(p, o);
    hs_database_t* db;
    hs_compile_error_t* err;
    bool h = hs_compile(p, HS_FLAG_SINGLEMATCH, HS_MODE_BLOCK, nullptr, &db, &err) == HS_SUCCESS;
    if (h)
      hs_free_database(db);
    else
      hs_free_compile_error(err);
    printf("probe %-14s RE2 %d HS %d\n", p, re.ok(), h);
  }
  // literal multi-pattern: vectorscan caseless literal db vs naive per-pattern search
  std::vector<const char*> ex;
  std::vector<size_t> lens;
  std::vector<unsigned> ids, flags;
  for (size_t i = 0; i < lits.size(); ++i) {
    ex.push_back(lits[i].c_str());
    lens.push_back(lits[i].size());
    ids.push_back(i);
    flags.push_back(HS_FLAG_CASELESS);
  }
  double t0 = now();
  hs_database_t* db;
  hs_compile_error_t* err;
  if (hs_compile_lit_multi(ex.data(), flags.data(), ids.data(), lens.data(), ex.size(),
                           HS_MODE_BLOCK, nullptr, &db, &err) != HS_SUCCESS) {
    printf("lit compile fail %s\n", err->message);
    return 1;
  }
  double t1 = now();
  size_t dbsz = 0;
  hs_database_size(db, &dbsz);
  hs_scratch_t* sc = nullptr;
  hs_alloc_scratch(db, &sc);
  size_t scsz;
  hs_scratch_size(sc, &scsz);
  printf("hs_compile_lit_multi %zu caseless literals: %.3f s, db %zu bytes, scratch %zu bytes\n",
         lits.size(), t1 - t0, dbsz, scsz);
  size_t bytes = 0;
  for (auto& h : hay) bytes += h.size();
  long matches = 0;
  auto cb = [](unsigned, unsigned long long, unsigned long long, unsigned, void* c) -> int {
    ++*(long*)c;
    return 0;
  };
  int reps = 200;
  t0 = now();
  for (int r = 0; r < reps; ++r)
    for (auto& h : hay) hs_scan(db, h.data(), h.size(), 0, sc, cb, &matches);
  t1 = now();
  printf("vectorscan: %.0f values/s, %.1f MB/s, matches/value %.2f\n",
         reps * hay.size() / (t1 - t0), reps * bytes / (t1 - t0) / 1e6,
         (double)matches / reps / hay.size());
  // naive: per pattern case-insensitive search (ASCII fold), no copy
  auto fold = [](unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; };
  long nm = 0;
  int nreps = 5;
  t0 = now();
  for (int r = 0; r < nreps; ++r)
    for (auto& h : hay)
      for (auto& p : lits) {
        auto it = std::search(h.begin(), h.end(), p.begin(), p.end(),
                              [&](char a, char b) { return fold(a) == (unsigned char)b; });
        if (it != h.end()) ++nm;
      }
  t1 = now();
  printf("naive per-pattern: %.0f values/s, matches/value %.2f\n", nreps * hay.size() / (t1 - t0),
         (double)nm / nreps / hay.size());
  // regexes: PCRE2 JIT one by one vs RE2::Set
  std::vector<pcre2_code*> cs;
  for (auto& r : rx) {
    int ec;
    PCRE2_SIZE eo;
    auto* c = pcre2_compile((PCRE2_SPTR)r.data(), r.size(), 0, &ec, &eo, nullptr);
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
    cs.push_back(c);
  }
  auto* md = pcre2_match_data_create(4, nullptr);
  long pm = 0;
  t0 = now();
  for (int r = 0; r < 50; ++r)
    for (auto& h : hay)
      for (auto* c : cs)
        if (pcre2_jit_match(c, (PCRE2_SPTR)h.data(), h.size(), 0, 0, md, nullptr) >= 0) ++pm;
  t1 = now();
  printf("PCRE2-JIT %zu regexes one by one: %.0f values/s (matches %ld)\n", cs.size(),
         50 * hay.size() / (t1 - t0), pm / 50);
  RE2::Set set(RE2::Options(), RE2::UNANCHORED);
  for (auto& r : rx) set.Add(r, nullptr);
  set.Compile();
  long rm = 0;
  std::vector<int> v;
  t0 = now();
  for (int r = 0; r < 50; ++r)
    for (auto& h : hay) {
      v.clear();
      if (set.Match(h, &v)) rm += v.size();
    }
  t1 = now();
  printf("RE2::Set %zu regexes: %.0f values/s (matches %ld)\n", rx.size(),
         50 * hay.size() / (t1 - t0), rm / 50);
  std::vector<const char*> rex;
  std::vector<unsigned> rf, ri;
  for (size_t i = 0; i < rx.size(); ++i) {
    rex.push_back(rx[i].c_str());
    rf.push_back(HS_FLAG_SINGLEMATCH);
    ri.push_back(i);
  }
  hs_database_t* rdb;
  if (hs_compile_multi(rex.data(), rf.data(), ri.data(), rex.size(), HS_MODE_BLOCK, nullptr, &rdb,
                       &err) == HS_SUCCESS) {
    hs_scratch_t* s2 = nullptr;
    hs_alloc_scratch(rdb, &s2);
    long hm = 0;
    t0 = now();
    for (int r = 0; r < 50; ++r)
      for (auto& h : hay) hs_scan(rdb, h.data(), h.size(), 0, s2, cb, &hm);
    t1 = now();
    printf("vectorscan multi %zu regexes: %.0f values/s (matches %ld)\n", rex.size(),
           50 * hay.size() / (t1 - t0), hm / 50);
  }
  printf("haystack values %zu avg %zu bytes\n", hay.size(), bytes / hay.size());
}
