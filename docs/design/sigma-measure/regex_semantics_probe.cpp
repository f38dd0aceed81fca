// Build: g++ -O2 -std=c++20 regex_semantics_probe.cpp -lhs -lre2 -lpcre2-8
#include <hs/hs.h>
#include <re2/re2.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <cstdio>
#include <string>
static bool hs(const char* p, unsigned fl, const std::string& s) {
  hs_database_t* db;
  hs_compile_error_t* e;
  if (hs_compile(p, fl | HS_FLAG_SINGLEMATCH, HS_MODE_BLOCK, nullptr, &db, &e) != HS_SUCCESS) {
    printf("  hs compile error %s\n", e->message);
    return false;
  }
  hs_scratch_t* sc = nullptr;
  hs_alloc_scratch(db, &sc);
  bool m = false;
  hs_scan(
      db, s.data(), s.size(), 0, sc,
      [](unsigned, unsigned long long, unsigned long long, unsigned, void* c) -> int {
        *(bool*)c = true;
        return 1;
      },
      &m);
  return m;
}
static bool pc(const char* p, unsigned fl, const std::string& s) {
  int ec;
  PCRE2_SIZE eo;
  auto* c = pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED, fl, &ec, &eo, nullptr);
  auto* md = pcre2_match_data_create(2, nullptr);
  bool m = pcre2_match(c, (PCRE2_SPTR)s.data(), s.size(), 0, 0, md, nullptr) >= 0;
  return m;
}
int main() {
  std::string s = "abc\n";
  printf("'abc$' on \"abc\\n\": RE2 %d PCRE2 %d PCRE2+DOLLAR_ENDONLY %d vectorscan %d\n",
         RE2::PartialMatch(s, "abc$"), pc("abc$", 0, s), pc("abc$", PCRE2_DOLLAR_ENDONLY, s),
         hs("abc$", 0, s));
  std::string u = "\xc3\x89T\xc3\x89";  // ÉTÉ
  printf(
      "caseless 'été' on 'ÉTÉ': RE2(?i) %d PCRE2 i+UTF %d PCRE2 i+UTF+UCP %d HS CASELESS|UTF8 %d "
      "HS CASELESS|UTF8|UCP %d\n",
      RE2::PartialMatch(u, "(?i)\xc3\xa9t\xc3\xa9"),
      pc("\xc3\xa9t\xc3\xa9", PCRE2_CASELESS | PCRE2_UTF, u),
      pc("\xc3\xa9t\xc3\xa9", PCRE2_CASELESS | PCRE2_UTF | PCRE2_UCP, u),
      hs("\xc3\xa9t\xc3\xa9", HS_FLAG_CASELESS | HS_FLAG_UTF8, u),
      hs("\xc3\xa9t\xc3\xa9", HS_FLAG_CASELESS | HS_FLAG_UTF8 | HS_FLAG_UCP, u));
  std::string w =
      "a\xe2\x80\x83"
      "b";  // a EM SPACE b
  printf(
      "'a\\sb' on 'a<U+2003>b': RE2 %d PCRE2 UTF %d PCRE2 UTF+UCP %d HS UTF8 %d HS UTF8|UCP %d\n",
      RE2::PartialMatch(w, "a\\sb"), pc("a\\sb", PCRE2_UTF, w),
      pc("a\\sb", PCRE2_UTF | PCRE2_UCP, w), hs("a\\sb", HS_FLAG_UTF8, w),
      hs("a\\sb", HS_FLAG_UTF8 | HS_FLAG_UCP, w));
  std::string bad =
      "a\xff"
      "b";
  printf("'a.b' on invalid UTF-8 'a\\xffb': RE2(default UTF8) %d RE2 Latin1 %d PCRE2 no-UTF %d\n",
         RE2::PartialMatch(bad, "a.b"), RE2::PartialMatch(bad, RE2("a.b", RE2::Latin1)),
         pc("a.b", 0, bad));
  printf("'^b' on 'a\\nb' m-flag: RE2 %d PCRE2 %d HS %d\n", RE2::PartialMatch("a\nb", "(?m)^b"),
         pc("^b", PCRE2_MULTILINE, "a\nb"), hs("^b", HS_FLAG_MULTILINE, "a\nb"));
  printf("'a.b' on 'a\\nb' no s: RE2 %d PCRE2 %d HS %d; with s: RE2 %d PCRE2 %d HS %d\n",
         RE2::PartialMatch("a\nb", "a.b"), pc("a.b", 0, "a\nb"), hs("a.b", 0, "a\nb"),
         RE2::PartialMatch("a\nb", "(?s)a.b"), pc("a.b", PCRE2_DOTALL, "a\nb"),
         hs("a.b", HS_FLAG_DOTALL, "a\nb"));
}
