// WBXML benchmarks: the pull reader alone, WBXML -> XML text end to end, and
// Debian's libwbxml2 doing WBXML -> XML on the same bodies in the same run
// (its converter builds a tree and renders it); plus extracting the calendar
// fields of a 2 KiB Sync request. Bodies are realistic Sync responses from
// 1 KiB to 1 MiB in two families: calendar items (text-heavy) and e-mail
// headers (many short elements). After the table a summary prints our speed
// as a ratio of libwbxml2's (medians when run with --benchmark_repetitions).
//
//   build/bin/wbxml_bench --benchmark_repetitions=5
//
// With --body=FILE it times WbxmlToXml on that one body instead (what
// tests/bench/decode_bench.py compares the decode command with).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "common/file.h"
#include "common/strings.h"
#include "detector/eas/sync_calendar.h"
#include "detector/wbxml/reader.h"
#include "detector/wbxml/xml.h"
#include "wbxml/wbxml.h"
#include "wbxml/wbxml_conv.h"

namespace hijackguard::detector {
namespace {

std::string ReadTestdata(const char* name) {
  return *ReadFileToString(
      StrCat(HIJACKGUARD_SOURCE_DIR "/tests/testdata/wbxml/", name), 1 << 20);
}

// Two realistic body families: "calendar" (server Adds of meetings, with
// time-zone blobs, attendees and bodies: text-heavy) and "email" (an initial
// mail sync's headers: many short elements).
const char* FamilyFile(const std::string& family) {
  return family == "calendar" ? "sync_response_calendar_add_exceptions.xml"
                              : "sync_response_email_headers.xml";
}

// A Sync response of about `target` bytes: the family's corpus Add repeated
// with distinct ServerIds.
const std::string& SyncResponse(const std::string& family, std::size_t target) {
  using Key = std::pair<std::string, std::size_t>;
  static auto* const cache = new std::map<Key, std::string>();
  const Key key(family, target);
  if (auto it = cache->find(key); it != cache->end()) {
    return it->second;
  }
  const std::string xml = ReadTestdata(FamilyFile(family));
  const std::string first_id = family == "calendar" ? "2:14" : "1:41";
  const std::size_t add_from = xml.find("        <Add>");
  const std::size_t add_to = xml.find("</Add>") + 7;
  const std::string add = xml.substr(add_from, add_to - add_from);
  auto build = [&](int n) {
    std::string adds;
    for (int i = 0; i < n; ++i) {
      std::string one = add;
      one.replace(one.find(first_id), first_id.size(),
                  first_id.substr(0, 2) + std::to_string(100 + i));
      adds += one;
    }
    std::string doc = xml;
    doc.replace(add_from, add_to - add_from, adds);
    return *wbxml::XmlToWbxml(doc);
  };
  // One Add's share of the body, then as many as the target needs.
  const std::size_t one = build(2).size() - build(1).size();
  const std::size_t base = build(1).size() - one;
  const int n = static_cast<int>(
      std::max<std::size_t>(1, (target > base ? target - base : 0) / one + 1));
  std::string body = build(n);
  return cache->emplace(key, std::move(body)).first->second;
}

// A client Sync request of about 2 KiB: a Change to a meeting with attendees.
const std::string& SyncRequest2KiB() {
  static const std::string* const body = [] {
    std::string xml =
        ReadTestdata("sync_request_calendar_change_organizer.xml");
    const std::string attendee =
        "              <calendar:Attendee>\n"
        "                "
        "<calendar:Email>member.of.the.team@example.com</calendar:Email>\n"
        "                <calendar:Name>Member of the team</calendar:Name>\n"
        "                <calendar:AttendeeType>1</calendar:AttendeeType>\n"
        "              </calendar:Attendee>\n";
    std::string encoded;
    while (true) {
      encoded = *wbxml::XmlToWbxml(xml);
      if (encoded.size() >= 2048) {
        break;
      }
      xml.insert(xml.find("            </calendar:Attendees>"), attendee);
    }
    return new std::string(encoded);
  }();
  return *body;
}

// Bytes per second over `body`, and its size.
void ReportBody(benchmark::State& state, const std::string& body) {
  state.SetBytesProcessed(state.iterations() *
                          static_cast<std::int64_t>(body.size()));
  state.counters["body_bytes"] = static_cast<double>(body.size());
}

void BM_PullReader(benchmark::State& state, const std::string& family) {
  const std::string& body =
      SyncResponse(family, static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    wbxml::Reader reader(body);
    wbxml::Event e;
    std::size_t events = 0;
    while (reader.Next(&e)) {
      ++events;
    }
    benchmark::DoNotOptimize(events);
  }
  ReportBody(state, body);
}

void BM_WbxmlToXml(benchmark::State& state, const std::string& family) {
  const std::string& body =
      SyncResponse(family, static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(wbxml::WbxmlToXml(body));
  }
  ReportBody(state, body);
}

void BM_Libwbxml2ToXml(benchmark::State& state, const std::string& family) {
  const std::string& body =
      SyncResponse(family, static_cast<std::size_t>(state.range(0)));
  std::string copy = body;
  for (auto _ : state) {
    WBXMLConvWBXML2XML* conv = nullptr;
    wbxml_conv_wbxml2xml_create(&conv);
    wbxml_conv_wbxml2xml_set_language(conv, WBXML_LANG_ACTIVESYNC);
    wbxml_conv_wbxml2xml_set_gen_type(conv, WBXML_GEN_XML_INDENT);
    WB_UTINY* xml = nullptr;
    WB_ULONG xml_len = 0;
    const WBXMLError err = wbxml_conv_wbxml2xml_run(
        conv, reinterpret_cast<WB_UTINY*>(copy.data()),
        static_cast<WB_ULONG>(copy.size()), &xml, &xml_len);
    wbxml_conv_wbxml2xml_destroy(conv);
    if (err != WBXML_OK) {
      state.SkipWithError("libwbxml2 failed");
      break;
    }
    std::free(xml);
  }
  ReportBody(state, body);
}

void BM_ScanSyncCalendar2KiB(benchmark::State& state) {
  const std::string& body = SyncRequest2KiB();
  eas::SyncCalendarScan scan;
  for (auto _ : state) {
    eas::ScanSyncCalendar(body, &scan);
    benchmark::DoNotOptimize(scan.items.data());
  }
  if (scan.items.size() != 1 || scan.items[0].organizer_email.empty()) {
    state.SkipWithError("extraction found nothing");
  }
  ReportBody(state, body);
}

// --body=FILE: WBXML -> XML on that body alone (ours in memory, and
// libwbxml2), for tests/bench/decode_bench.py.
void RegisterBody(const std::string& path) {
  static const std::string* const body =
      new std::string(*ReadFileToString(path, std::size_t{64} << 20));
  benchmark::RegisterBenchmark("BM_WbxmlToXml_file", [](benchmark::State&
                                                            state) {
    for (auto _ : state) {
      benchmark::DoNotOptimize(wbxml::WbxmlToXml(*body));
    }
    ReportBody(state, *body);
  })->Unit(benchmark::kMillisecond);
}

void Register() {
  for (const std::string family : {"calendar", "email"}) {
    for (const auto& [name, fn] :
         {std::pair{"BM_PullReader", &BM_PullReader},
          std::pair{"BM_WbxmlToXml", &BM_WbxmlToXml},
          std::pair{"BM_Libwbxml2ToXml", &BM_Libwbxml2ToXml}}) {
      benchmark::RegisterBenchmark(
          StrCat(name, "_", family).c_str(),
          [fn = fn, family](benchmark::State& state) { fn(state, family); })
          ->Arg(1 << 10)
          ->Arg(16 << 10)
          ->Arg(256 << 10)
          ->Arg(1 << 20);
    }
  }
  benchmark::RegisterBenchmark("BM_ScanSyncCalendar2KiB",
                               BM_ScanSyncCalendar2KiB);
}

// Console output as usual, plus the bytes/s of each run kept for the summary.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      const bool median =
          run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type == Run::RT_Iteration || median) {
        auto it = run.counters.find("bytes_per_second");
        if (it != run.counters.end()) {
          // An iteration run is replaced by the median when there is one.
          auto& slot = rates_[run.run_name.str()];
          if (median || slot.second == false) {
            slot = {it->second.value, median};
          }
        }
      }
    }
  }

  void PrintSummary() const {
    std::printf(
        "\nSummary (MB/s, 1 MB = 1e6 bytes; medians with repetitions):\n");
    std::printf("%-9s %-9s %10s %10s %10s %10s\n", "family", "body", "reader",
                "ours->XML", "libwbxml2", "XML ratio");
    for (const char* family : {"calendar", "email"}) {
      for (const char* size : {"1024", "16384", "262144", "1048576"}) {
        const std::string suffix = StrCat("_", family, "/", size);
        const double reader = Rate("BM_PullReader" + suffix);
        const double ours = Rate("BM_WbxmlToXml" + suffix);
        const double theirs = Rate("BM_Libwbxml2ToXml" + suffix);
        std::printf("%-9s %-9s %10.1f %10.1f %10.1f %9.1fx\n", family, size,
                    reader / 1e6, ours / 1e6, theirs / 1e6,
                    theirs > 0 ? ours / theirs : 0.0);
      }
    }
  }

 private:
  double Rate(const std::string& name) const {
    const auto it = rates_.find(name);
    return it == rates_.end() ? 0 : it->second.first;
  }
  std::map<std::string, std::pair<double, bool>> rates_;
};

}  // namespace
}  // namespace hijackguard::detector

int main(int argc, char** argv) {
  std::string body;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--body=")) {
      body = std::string(arg.substr(7));
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  if (!body.empty()) {
    hijackguard::detector::RegisterBody(body);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
  }
  hijackguard::detector::Register();
  hijackguard::detector::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintSummary();
  benchmark::Shutdown();
  return 0;
}
