// Policy documents: defaults, revisions, tenant merging, and a corpus of
// broken policies each rejected with every problem at the right pointer.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/exemptions.h"
#include "policy/policy.h"
#include "tests/common/builtin_catalog.h"
#include "tests/policy/broken_corpus.h"

namespace hijackguard::policy {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

const detector::KnownIssueCatalog& Catalog() {
  return *::hijackguard::testing::BuiltinCatalog();
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(PolicyParseTest, MinimalDocumentGetsEveryDefault) {
  std::vector<PolicyProblem> problems;
  auto p = Policy::Parse(R"({"apiVersion": "hijackguard/v1"})", Catalog(),
                         &problems);
  ASSERT_TRUE(p.ok()) << p.status();
  const Settings& s = (*p)->global();
  EXPECT_EQ(s.mode.value, Mode::kMonitor);
  EXPECT_EQ(s.warn_threshold.value, 25);
  EXPECT_EQ(s.quarantine_threshold.value, 50);
  EXPECT_FALSE(s.block_threshold.value.has_value());
  EXPECT_EQ(s.grace.value, absl::Hours(72));
  EXPECT_EQ(s.half_life.value, absl::Hours(168));
  EXPECT_EQ(s.restrict_warn.value, Scope::kNone);
  EXPECT_EQ(s.restrict_quarantine.value, Scope::kDevice);
  EXPECT_EQ(s.templates.size(), 5u) << "en, de, fr, es, ja";
  EXPECT_EQ((*p)->revision(), Policy::Default(Catalog())->revision());
  EXPECT_EQ((*p)->revision().size(), 64u);
}

// examples/policies/default.json spells out exactly the built-in defaults.
TEST(PolicyParseTest, ShippedDefaultFileEqualsTheBuiltInDefaults) {
  const std::string text =
      ReadFile(std::filesystem::path(HIJACKGUARD_SOURCE_DIR) /
               "examples/policies/default.json");
  auto p = Policy::Parse(text, Catalog(), nullptr);
  ASSERT_TRUE(p.ok()) << p.status();
  const Settings& a = (*p)->global();
  const std::shared_ptr<const Policy> defaults = Policy::Default(Catalog());
  const Settings& b = defaults->global();
  EXPECT_EQ(a.mode.value, b.mode.value);
  ASSERT_EQ(a.priors.size(), b.priors.size());
  for (const auto& [id, table] : b.priors) {
    for (std::size_t c = 0; c < 3; ++c) {
      EXPECT_EQ(a.priors.at(id).by_confidence[c].value,
                table.by_confidence[c].value);
    }
  }
  for (std::size_t k = 0; k < a.weights.size(); ++k) {
    EXPECT_EQ(a.weights[k].value, b.weights[k].value);
  }
  ASSERT_EQ(a.attendee_multiplier.value.size(),
            b.attendee_multiplier.value.size());
  for (std::size_t i = 0; i < a.attendee_multiplier.value.size(); ++i) {
    EXPECT_EQ(a.attendee_multiplier.value[i].at_least,
              b.attendee_multiplier.value[i].at_least);
    EXPECT_EQ(a.attendee_multiplier.value[i].factor,
              b.attendee_multiplier.value[i].factor);
  }
  EXPECT_EQ(a.half_life.value, b.half_life.value);
  EXPECT_EQ(a.warn_threshold.value, b.warn_threshold.value);
  EXPECT_EQ(a.quarantine_threshold.value, b.quarantine_threshold.value);
  EXPECT_EQ(a.block_threshold.value, b.block_threshold.value);
  EXPECT_EQ(a.grace.value, b.grace.value);
  EXPECT_EQ(a.restrict_warn.value, b.restrict_warn.value);
  EXPECT_EQ(a.restrict_quarantine.value, b.restrict_quarantine.value);
  EXPECT_EQ(a.admin_insert.value, b.admin_insert.value);
}

TEST(PolicyParseTest, EveryExamplePolicyIsValid) {
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(HIJACKGUARD_SOURCE_DIR) /
           "examples/policies")) {
    if (entry.path().extension() != ".json") {
      continue;
    }
    SCOPED_TRACE(entry.path().string());
    auto p = Policy::LoadFile(entry.path().string(), Catalog(), nullptr);
    EXPECT_TRUE(p.ok()) << p.status();
  }
}

TEST(PolicyParseTest, RevisionIgnoresLayoutAndKeyOrder) {
  auto a = Policy::Parse(
      R"({"apiVersion": "hijackguard/v1", "mode": "enforce",
          "thresholds": {"warn": 20, "quarantine": 40}})",
      Catalog(), nullptr);
  auto b = Policy::Parse(
      "{\"thresholds\":{\"quarantine\":40,\"warn\":20},\n"
      "  \"mode\":\"enforce\",\"apiVersion\":\"hijackguard/v1\"}",
      Catalog(), nullptr);
  auto c = Policy::Parse(
      R"({"apiVersion": "hijackguard/v1", "mode": "enforce",
          "thresholds": {"warn": 20, "quarantine": 41}})",
      Catalog(), nullptr);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ((*a)->revision(), (*b)->revision());
  EXPECT_NE((*a)->revision(), (*c)->revision());
  auto d = Policy::Parse(
      R"({"apiVersion": "hijackguard/v1", "mode": "enforce",
          "thresholds": {"warn": 20.0, "quarantine": 4e1}})",
      Catalog(), nullptr);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*a)->revision(), (*d)->revision()) << "20.0 is 20";
  // docs/policy.md: a comment is part of the document.
  auto e = Policy::Parse(
      R"({"apiVersion": "hijackguard/v1", "mode": "enforce", "$comment": "x",
          "thresholds": {"warn": 20, "quarantine": 40}})",
      Catalog(), nullptr);
  ASSERT_TRUE(e.ok());
  EXPECT_NE((*a)->revision(), (*e)->revision());
  EXPECT_EQ((*a)->canonical(),
            R"({"apiVersion":"hijackguard/v1","mode":"enforce",)"
            R"("thresholds":{"quarantine":40,"warn":20}})");
}

TEST(PolicyParseTest, TenantOverridesMergeMemberByMember) {
  auto p = Policy::Parse(R"({
    "apiVersion": "hijackguard/v1",
    "thresholds": {"warn": 20, "quarantine": 40},
    "exemptions": [{"kind": "user", "value": "a@x.com", "reason": "r",
                    "expires": "2030-01-01T00:00:00Z"}],
    "tenants": {
      "acme": {"thresholds": {"quarantine": 60}, "mode": "enforce",
               "exemptions": [{"kind": "device", "value": "D1", "reason": "r",
                               "expires": "2030-01-01T00:00:00Z"}]}
    }})",
                         Catalog(), nullptr);
  ASSERT_TRUE(p.ok()) << p.status();
  const Settings& acme = (*p)->For("acme");
  EXPECT_EQ(acme.warn_threshold.value, 20);
  EXPECT_EQ(acme.warn_threshold.pointer, "/thresholds/warn");
  EXPECT_EQ(acme.quarantine_threshold.value, 60);
  EXPECT_EQ(acme.quarantine_threshold.pointer,
            "/tenants/acme/thresholds/quarantine");
  EXPECT_EQ(acme.mode.value, Mode::kEnforce);
  EXPECT_EQ(acme.exemptions.size(), 1u) << "its own; the top level's apply";
  EXPECT_EQ((*p)->For("globex").mode.value, Mode::kMonitor);
  EXPECT_EQ((*p)->exemptions().size(), 2u);
}

TEST(PolicyParseTest, ExemptionExpiryMustBeAFiniteTimeIn1970To9999) {
  for (const char* expires : {"infinite-future", "10000-01-01T00:00:00Z",
                              "1969-12-31T23:59:59Z", "2027-02-30T00:00:00Z"}) {
    SCOPED_TRACE(expires);
    std::vector<PolicyProblem> problems;
    const std::string doc =
        std::string(R"({"apiVersion": "hijackguard/v1", "exemptions": [)"
                    R"({"kind": "user", "value": "a@x", "reason": "r", )"
                    R"("expires": ")") +
        expires + "\"}]}";
    EXPECT_FALSE(Policy::Parse(doc, Catalog(), &problems).ok());
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].pointer, "/exemptions/0/expires");
  }
}

TEST(PolicyParseTest, ProblemsAreCappedWithACount) {
  std::string doc = R"({"apiVersion": "hijackguard/v1")";
  for (int i = 0; i < 500; ++i) {
    doc += ",\n\"unknown" + std::to_string(i) + "\": 1";
  }
  doc += "}";
  std::vector<PolicyProblem> problems;
  EXPECT_FALSE(Policy::Parse(doc, Catalog(), &problems).ok());
  ASSERT_EQ(problems.size(), 101u);
  EXPECT_EQ(problems[0].line, 2) << "in document order";
  EXPECT_THAT(problems.back().message, HasSubstr("400 more problems"));
}

TEST(PolicyParseTest, WideDocumentsWithLongKeysStayBounded) {
  // 2 MiB key over an array of 500k elements: pointers would need 1 TB.
  std::string doc = R"({"apiVersion": "hijackguard/v1", ")";
  doc.append(2 << 20, 'k');
  doc += "\": [";
  for (int i = 0; i < 500'000; ++i) {
    doc += i ? ",0" : "0";
  }
  doc += "]}";
  std::vector<PolicyProblem> problems;
  EXPECT_FALSE(Policy::Parse(doc, Catalog(), &problems).ok());
  ASSERT_FALSE(problems.empty());
}

TEST(PolicyParseTest, TooManyTenantsIsOneProblem) {
  std::string doc = R"({"apiVersion": "hijackguard/v1", "tenants": {)";
  for (int i = 0; i < 1500; ++i) {
    doc += (i ? ",\"tenant-" : "\"tenant-") + std::to_string(i) + "\": {}";
  }
  doc += "}}";
  std::vector<PolicyProblem> problems;
  EXPECT_FALSE(Policy::Parse(doc, Catalog(), &problems).ok());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0].message, HasSubstr("more than 1000 tenant"));
}

TEST(PolicyParseTest, LoadFileNamesThePath) {
  auto missing =
      Policy::LoadFile("/nonexistent/policy.json", Catalog(), nullptr);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("/nonexistent/policy.json"));
}

TEST(PolicyParseTest, TooLargeIsRejectedWithoutParsing) {
  std::string huge = R"({"apiVersion": "hijackguard/v1", "$comment": ")";
  huge.append(5 << 20, 'x');
  huge += "\"}";
  std::vector<PolicyProblem> problems;
  EXPECT_FALSE(Policy::Parse(huge, Catalog(), &problems).ok());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0].message, HasSubstr("at most 4194304"));
}

TEST(PolicyParseTest, DeepNestingIsAProblemNotACrash) {
  std::string deep = R"({"apiVersion": "hijackguard/v1", "$comment": )";
  for (int i = 0; i < 100000; ++i) deep += '[';
  for (int i = 0; i < 100000; ++i) deep += ']';
  deep += '}';
  std::vector<PolicyProblem> problems;
  auto p = Policy::Parse(deep, Catalog(), &problems);
  // Either it is rejected with a problem, or ($comment is ignored) accepted.
  if (!p.ok()) {
    EXPECT_FALSE(problems.empty());
  }
}

// tests/policy/broken/: each file is rejected with exactly the problems
// expected.txt lists, each located by line and column.
TEST(PolicyParseTest, BrokenCorpusReportsEveryProblemAtItsPointer) {
  const std::filesystem::path dir = ::hijackguard::testing::BrokenCorpusDir();
  int files = 0;
  int multi = 0;
  for (const auto& [path, pointers] :
       ::hijackguard::testing::ReadBrokenCorpus()) {
    const std::string file = path.filename().string();
    SCOPED_TRACE(file);
    std::vector<PolicyProblem> problems;
    auto p = Policy::Parse(ReadFile(dir / file), Catalog(), &problems);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    std::vector<std::string> got;
    for (const PolicyProblem& problem : problems) {
      got.push_back(problem.pointer);
      EXPECT_GT(problem.line, 0) << problem.ToString();
      EXPECT_GT(problem.column, 0) << problem.ToString();
      EXPECT_FALSE(problem.message.empty());
    }
    EXPECT_THAT(got, ElementsAreArray(pointers));
    // The status lists every problem too.
    for (const PolicyProblem& problem : problems) {
      EXPECT_THAT(std::string(p.status().message()),
                  HasSubstr(problem.ToString()));
    }
    ++files;
    multi += problems.size() > 1 ? 1 : 0;
  }
  EXPECT_GE(files, 30);
  EXPECT_GE(multi, 4);
  // Every file in the directory is listed.
  int on_disk = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    on_disk += entry.path().extension() == ".json" ? 1 : 0;
  }
  EXPECT_EQ(on_disk, files);
}

TEST(ExemptionIndexTest, LooksUpByTenantKindAndValue) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  std::vector<Exemption> list;
  for (int i = 0; i < 1000; ++i) {
    list.push_back({Exemption::Kind::kGroup, "group-" + std::to_string(i), "r",
                    now + absl::Hours(1), i % 2 ? "acme" : "", "api", "", ""});
  }
  const ExemptionIndex index(std::move(list));
  EXPECT_EQ(index.size(), 1000u);
  const std::vector<std::string> groups = {"nope", "GROUP-7"};
  Subject s;
  s.tenant_id = "acme";
  s.groups = groups;
  const Exemption* e = index.Find(s, now);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->value, "group-7");
  s.tenant_id = "globex";
  EXPECT_EQ(index.Find(s, now), nullptr) << "group-7 is acme's";
  const std::vector<std::string> global = {"group-8"};
  s.groups = global;
  EXPECT_NE(index.Find(s, now), nullptr) << "group-8 is every tenant's";
  EXPECT_EQ(index.Find(s, now + absl::Hours(1)), nullptr) << "expired";
}

}  // namespace
}  // namespace hijackguard::policy
