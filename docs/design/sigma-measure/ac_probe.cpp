// Inputs: regexes.txt, cmd_lits.txt, hay.txt in the parent of the working directory, written by
// `python3 analyze.py --dump DIR` (run this binary from DIR/probe). Build (Debian 12, after
// apt-get install libvectorscan-dev libre2-dev libpcre2-dev):
//   g++ -O2 -std=c++20 FILE.cpp -lhs -lre2 -lpcre2-8
// Throwaway probe: a byte-class Aho-Corasick DFA with ASCII case folding (not project code).
#include <hs/hs.h>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <queue>
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
static unsigned char fold(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}
int main(int argc, char** argv) {
  auto lits = lines("../cmd_lits.txt");
  auto hay = lines("../hay.txt");
  int copies =
      argc > 1 ? atoi(argv[1]) : 1;  // replicate patterns with a suffix to simulate more rules
  std::vector<std::string> pats;
  for (int c = 0; c < copies; ++c)
    for (auto& p : lits) pats.push_back(c == 0 ? p : p + char('a' + c % 26) + std::to_string(c));
  double t0 = now();
  uint8_t cls[256] = {0};
  int ncls = 1;
  for (auto& p : pats)
    for (unsigned char ch : p) {
      unsigned char f = fold(ch);
      if (!cls[f]) cls[f] = ncls++;
    }
  for (int c = 'A'; c <= 'Z'; ++c) cls[c] = cls[c + 32];
  std::vector<std::vector<int32_t>> tr(1, std::vector<int32_t>(ncls, -1));
  std::vector<std::vector<int>> out(1);
  for (size_t i = 0; i < pats.size(); ++i) {
    int s = 0;
    for (unsigned char ch : pats[i]) {
      int k = cls[fold(ch)];
      if (tr[s][k] < 0) {
        tr[s][k] = tr.size();
        tr.emplace_back(ncls, -1);
        out.emplace_back();
      }
      s = tr[s][k];
    }
    out[s].push_back(i);
  }
  std::vector<int> fail(tr.size(), 0), olink(tr.size(), -1);
  std::queue<int> q;
  for (int k = 0; k < ncls; ++k) {
    if (tr[0][k] < 0)
      tr[0][k] = 0;
    else {
      fail[tr[0][k]] = 0;
      q.push(tr[0][k]);
    }
  }
  while (!q.empty()) {
    int s = q.front();
    q.pop();
    for (int k = 0; k < ncls; ++k) {
      int t = tr[s][k];
      if (t < 0) {
        tr[s][k] = tr[fail[s]][k];
        continue;
      }
      fail[t] = tr[fail[s]][k];
      olink[t] = out[fail[t]].empty() ? olink[fail[t]] : fail[t];
      q.push(t);
    }
  }
  std::vector<uint32_t> flat(tr.size() * ncls);
  for (size_t s = 0; s < tr.size(); ++s)
    for (int k = 0; k < ncls; ++k) flat[s * ncls + k] = tr[s][k];
  double t1 = now();
  printf("patterns %zu states %zu classes %d table %.1f MB build %.3f s\n", pats.size(), tr.size(),
         ncls, flat.size() * 4 / 1e6, t1 - t0);
  std::vector<uint32_t> stamp(pats.size(), 0);
  uint32_t gen = 0;
  long hits = 0;
  int reps = 200;
  size_t bytes = 0;
  for (auto& h : hay) bytes += h.size();
  t0 = now();
  for (int r = 0; r < reps; ++r)
    for (auto& h : hay) {
      ++gen;
      uint32_t s = 0;
      for (unsigned char ch : h) {
        s = flat[s * ncls + cls[ch]];
        for (int o = out[s].empty() ? olink[s] : (int)s; o >= 0; o = olink[o])
          for (int id : out[o])
            if (stamp[id] != gen) {
              stamp[id] = gen;
              ++hits;
            }
      }
    }
  t1 = now();
  printf("AC: %.0f values/s %.1f MB/s distinct hits/value %.2f\n", reps * hay.size() / (t1 - t0),
         reps * bytes / (t1 - t0) / 1e6, (double)hits / reps / hay.size());
  // vectorscan literal with SINGLEMATCH for the same set
  std::vector<const char*> ex;
  std::vector<size_t> lens;
  std::vector<unsigned> ids, flags;
  for (size_t i = 0; i < pats.size(); ++i) {
    ex.push_back(pats[i].c_str());
    lens.push_back(pats[i].size());
    ids.push_back(i);
    flags.push_back(HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH);
  }
  hs_database_t* db;
  hs_compile_error_t* err;
  t0 = now();
  if (hs_compile_lit_multi(ex.data(), flags.data(), ids.data(), lens.data(), ex.size(),
                           HS_MODE_BLOCK, nullptr, &db, &err) != HS_SUCCESS) {
    printf("fail %s\n", err->message);
    return 1;
  }
  t1 = now();
  size_t dbsz;
  hs_database_size(db, &dbsz);
  hs_scratch_t* sc = nullptr;
  hs_alloc_scratch(db, &sc);
  long m = 0;
  auto cb = [](unsigned, unsigned long long, unsigned long long, unsigned, void* c) -> int {
    ++*(long*)c;
    return 0;
  };
  double t2 = now();
  for (int r = 0; r < reps; ++r)
    for (auto& h : hay) hs_scan(db, h.data(), h.size(), 0, sc, cb, &m);
  double t3 = now();
  printf("vectorscan lit SINGLEMATCH: compile %.3f s db %.2f MB, %.0f values/s, hits/value %.2f\n",
         t1 - t0, dbsz / 1e6, reps * hay.size() / (t3 - t2), (double)m / reps / hay.size());
}
