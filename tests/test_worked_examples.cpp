// Semantics section 4: the worked examples of the seeds, in exact and bloom mode.
#include "harness.hpp"

#include <doctest/doctest.h>

using namespace fluxcap;
using fluxcap_test::harness;
using fluxcap_test::tag_set;

TEST_CASE_TEMPLATE("ordered temporal a, b, c (rule1)", Memory, FLUXCAP_MEMORY_POLICIES) {
  harness<Memory> h(spec{temporal_rule("rule1", {"a", "b", "c"}).with_ordered()});
  CHECK(h.run({"rule1.b"}) == tag_set{"rule1.b"});
  CHECK(h.run({"rule1.c"}) == tag_set{"rule1.c"});
  CHECK(h.run({"rule1.a"}) == tag_set{"rule1.a"});
  CHECK(h.run({"rule1.c"}) == tag_set{"rule1.a", "rule1.c"});
  CHECK(h.run({"rule1.b"}) == tag_set{"rule1.a", "rule1.b"});
  CHECK(h.run({"rule1.c"}) == tag_set{"rule1.a", "rule1.b", "rule1.c"});
  CHECK(h.run({"rule1.d"}) == tag_set{"rule1.d"});
}

TEST_CASE_TEMPLATE("unordered temporal a, b, c (rule5)", Memory, FLUXCAP_MEMORY_POLICIES) {
  harness<Memory> h(spec{temporal_rule("rule5", {"a", "b", "c"})});
  CHECK(h.run({"rule5.a"}) == tag_set{"rule5.a"});
  CHECK(h.run({"rule5.b"}) == tag_set{"rule5.a", "rule5.b"});
  CHECK(h.run({"rule5.c"}) == tag_set{"rule5.a", "rule5.b", "rule5.c"});
  CHECK(h.run({"rule5.d"}) == tag_set{"rule5.d"});
}

TEST_CASE_TEMPLATE("parent (rule4) consults only the direct parent", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  harness<Memory> h(spec{parent_rule("rule4", "parent_id", "id", {"f"})});
  CHECK(h.run({"rule4.f"}, {{"id", "3"}}) == tag_set{"rule4.f"});
  CHECK(h.run({}, {{"id", "13"}, {"parent_id", "3"}}) == tag_set{"rule4.f"});
  CHECK(h.run({}, {{"id", "133"}, {"parent_id", "13"}}) == tag_set{});
}

TEST_CASE_TEMPLATE("ancestor (rule3) reaches every descendant", Memory, FLUXCAP_MEMORY_POLICIES) {
  harness<Memory> h(spec{ancestor_rule("rule3", "parent_id", "id", {"f"})});
  CHECK(h.run({"rule3.f"}, {{"id", "3"}}) == tag_set{"rule3.f"});
  CHECK(h.run({}, {{"id", "13"}, {"parent_id", "3"}}) == tag_set{"rule3.f"});
  CHECK(h.run({}, {{"id", "133"}, {"parent_id", "13"}}) == tag_set{"rule3.f"});
  CHECK(h.run({}, {{"id", "7"}, {"parent_id", "99"}}) == tag_set{});
}

TEST_CASE_TEMPLATE("ordered with groupby (rule6) keeps contexts apart", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  harness<Memory> h(
      spec{temporal_rule("rule6", {"a", "b", "c"}).with_ordered().with_groupby({"folder"})});
  const fluxcap_test::columns A{{"folder", "folderA"}};
  const fluxcap_test::columns B{{"folder", "folderB"}};
  CHECK(h.run({"rule6.b"}, A) == tag_set{"rule6.b"});
  CHECK(h.run({"rule6.c"}, A) == tag_set{"rule6.c"});
  CHECK(h.run({"rule6.a"}, A) == tag_set{"rule6.a"});
  CHECK(h.run({"rule6.c"}, B) == tag_set{"rule6.c"});  // folderB has seen nothing
  CHECK(h.run({"rule6.c"}, A) == tag_set{"rule6.a", "rule6.c"});
  CHECK(h.run({"rule6.b"}, A) == tag_set{"rule6.a", "rule6.b"});
  CHECK(h.run({"rule6.b"}, B) == tag_set{"rule6.b"});  // b not remembered: no a in B
  CHECK(h.run({"rule6.c"}, A) == tag_set{"rule6.a", "rule6.b", "rule6.c"});
  CHECK(h.run({"rule6.a"}, B) == tag_set{"rule6.a"});
  CHECK(h.run({"rule6.c"}, B) == tag_set{"rule6.a", "rule6.c"});
  CHECK(h.run({"rule6.d"}, A) == tag_set{"rule6.d"});
}
