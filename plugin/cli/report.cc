// `hijackguard report --state DIR --html FILE`: the console's fleet page and
// repair list as one self-contained HTML file, read from the state database
// on a read-only connection (safe while the server runs).
#include "plugin/console/report.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "common/file.h"
#include "common/strings.h"
#include "detector/known_issues.h"
#include "detector/traffic/detector_state.h"
#include "detector/traffic/repair_list.h"
#include "plugin/cli/commands.h"
#include "policy/policy.h"
#include "store/sqlite/console_queries.h"
#include "store/sqlite/sqlite_db.h"

namespace hijackguard::plugin::cli {
namespace {

struct ReportFlags {
  std::string state = "./var";
  std::string html;
  std::string tenant;
  std::string catalog;
};

// Most meetings the report lists (as the console's CSV).
constexpr std::size_t kMaxReportItems = 200'000;

int Fail(std::string_view what) {
  std::fprintf(stderr, "report: %.*s\n", static_cast<int>(what.size()),
               what.data());
  return kExitFailed;
}

std::string_view Message(const absl::Status& s) {
  return {s.message().data(), s.message().size()};
}

// `text` into `path`, created 0600 (the report names users and their
// meetings), written whole before it replaces the file.
absl::Status WriteReport(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  const int fd =
      ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::UnavailableError(StrCat(temp, " cannot be created"));
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      ::close(fd);
      ::unlink(temp.c_str());
      return absl::UnavailableError(StrCat(temp, " cannot be written"));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 ||
      std::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    return absl::UnavailableError(StrCat(path, " cannot be written"));
  }
  return absl::OkStatus();
}

int RunReport(const ReportFlags& f) {
  auto catalog = f.catalog.empty()
                     ? detector::KnownIssueCatalog::Builtin()
                     : detector::KnownIssueCatalog::LoadFile(f.catalog);
  if (!catalog.ok()) return Fail(Message(catalog.status()));
  const std::string path =
      (std::filesystem::path(f.state) / store::kStateFileName).string();
  // Schema 9: the list's platform and the fleet's counts (history_tally).
  absl::StatusOr<store::sqlite::Database> db =
      store::sqlite::OpenStateReadOnly(path, 9);
  if (!db.ok()) return Fail(Message(db.status()));

  console::ReportView report;
  report.tenant = f.tenant;
  report.generated_at = absl::Now();
  report.fleet.catalog = &*catalog;
  report.fleet.links = false;
  absl::StatusOr<std::vector<policy::DeviceCount>> counts =
      store::QueryDeviceCounts(*db, f.tenant);
  if (!counts.ok()) return Fail(Message(counts.status()));
  report.fleet.counts = *std::move(counts);
  report.fleet.today = absl::ToUnixSeconds(report.generated_at) / 86400;
  absl::StatusOr<std::vector<detector::EventDay>> days =
      store::QueryEventsByDay(*db, detector::TenantPrefix(f.tenant),
                              (report.fleet.today - report.fleet.days + 1) *
                                  std::int64_t{86400'000});
  if (!days.ok()) return Fail(Message(days.status()));
  report.fleet.event_days = *std::move(days);
  // The policy in force: the newest applied, as the server restores it.
  absl::StatusOr<std::string> document =
      db->QueryText("SELECT document FROM policies ORDER BY seq DESC LIMIT 1");
  std::shared_ptr<const policy::Policy> in_force =
      policy::Policy::Default(*catalog);
  if (document.ok() && !document->empty()) {
    auto parsed = policy::Policy::Parse(*document, *catalog, nullptr);
    if (parsed.ok()) in_force = *parsed;
  }
  report.fleet.mode = in_force->For(f.tenant).mode.value;
  report.fleet.policy_revision = in_force->revision();

  report.repair.standalone = true;
  report.repair.tenant = f.tenant;
  std::string token;
  do {
    absl::StatusOr<detector::RepairPage> page = detector::ReadRepairs(
        [&db](std::string_view prefix, std::string_view after,
              std::size_t limit,
              std::vector<std::pair<std::string, std::string>>* rows) {
          std::map<std::string, std::string, std::less<>> found;
          absl::Status s =
              store::QueryEventsAfter(*db, prefix, after, limit, &found);
          for (auto& [k, v] : found) rows->emplace_back(k, std::move(v));
          return s;
        },
        f.tenant, token, detector::kMaxRepairPageSize);
    if (!page.ok()) return Fail(Message(page.status()));
    for (detector::RepairItem& item : page->items) {
      report.repair.items.push_back(std::move(item));
    }
    if (report.repair.items.size() > kMaxReportItems) {
      return Fail(StrCat("more than ", kMaxReportItems,
                         " meetings need repair: report a tenant at a time "
                         "(--tenant)"));
    }
    token = std::move(page->next_page_token);
  } while (!token.empty());
  for (const detector::RepairItem& item : report.repair.items) {
    report.repair.subjects |= !item.subject.empty();
  }
  if (absl::Status s = WriteReport(f.html, console::RenderReport(report));
      !s.ok()) {
    return Fail(Message(s));
  }
  std::uint64_t devices = 0;
  for (const policy::DeviceCount& c : report.fleet.counts) devices += c.devices;
  std::printf("report: %ju devices and %zu meetings to repair in %s\n",
              static_cast<std::uintmax_t>(devices), report.repair.items.size(),
              f.html.c_str());
  return kExitDone;
}

}  // namespace

void AddReportCommand(CLI::App& app, RunFn* run) {
  auto f = std::make_shared<ReportFlags>();
  CLI::App* c = app.add_subcommand(
      "report",
      "The console's fleet page and repair list as one self-contained HTML "
      "file, from the state database (safe while the server runs)");
  c->add_option("--state", f->state, "State directory")->capture_default_str();
  c->add_option("--html", f->html, "The HTML file to write (mode 0600)")
      ->required();
  c->add_option("--tenant", f->tenant, "One tenant (default: every tenant)");
  c->add_option("--catalog", f->catalog,
                "Known-issue catalog (default: built in)");
  c->callback([f, run] { *run = [f] { return RunReport(*f); }; });
}

}  // namespace hijackguard::plugin::cli
