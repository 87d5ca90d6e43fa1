// The console's alerts page with its live feed, and the audit page.
#include <algorithm>

#include "absl/strings/numbers.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "plugin/console/alerts_page.h"
#include "plugin/console/audit_page.h"
#include "plugin/console/html.h"
#include "plugin/console_app.h"

namespace hijackguard::plugin::console_web {

using console::Section;

namespace {

// Rows per audit page, and the most rows read for one (a viewer of some
// tenants skips the others').
constexpr std::size_t kAuditPageRows = 100;
constexpr std::size_t kAuditRowsRead = 2'000;

// An unsigned number from a query parameter or header; errors name it.
absl::StatusOr<std::uint64_t> Number(std::string_view name,
                                     std::string_view text) {
  std::uint64_t n = 0;
  if (text.empty()) return n;
  if (!absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &n) ||
      n > static_cast<std::uint64_t>(INT64_MAX)) {
    return absl::InvalidArgumentError(
        StrCat(name, ": ", QuoteInput(text),
               " is not a whole number from 0 to ", INT64_MAX));
  }
  return n;
}

// Who may read the feed, judged anew on every wake: the session (or the
// certificate's principal) as the principals in force now, and the alerts
// it may see then.
struct FeedAccess {
  const AccessControl* access;
  ConsoleSessions* sessions;
  std::string cookie;  // "" for a certificate or development mode
  Caller caller;
  std::string tenant;  // the page's filter ("" = every tenant it may see)

  absl::StatusOr<std::function<bool(const policy::ComplianceAlert&)>>
  operator()() {
    if (!cookie.empty()) {
      absl::StatusOr<Caller> resumed = sessions->Resume(cookie);
      if (!resumed.ok()) return resumed.status();
      caller = *std::move(resumed);
    } else if (!access->development()) {
      if (absl::Status s = access->Recheck(&caller, Rpc::kConsole); !s.ok()) {
        return s;
      }
    }
    const bool all = access->development() || caller.principal == nullptr ||
                     caller.principal->all_tenants;
    std::vector<std::string> tenants;
    if (!all) tenants = caller.principal->tenants;
    auto may_see = [all, tenants](std::string_view t) {
      return all ||
             std::find(tenants.begin(), tenants.end(), t) != tenants.end();
    };
    if (!tenant.empty() && !may_see(tenant)) {
      return absl::PermissionDeniedError(
          StrCat("the principal may no longer see tenant ", tenant));
    }
    return [may_see, filter = tenant](const policy::ComplianceAlert& alert) {
      return (filter.empty() || alert.tenant_id == filter) &&
             may_see(alert.tenant_id);
    };
  }
};

}  // namespace

HttpResponse Console::Alerts(const HttpRequest& r, const Admitted& a) const {
  console::AlertsView view;
  view.tenant = std::string(r.Param("tenant").value_or(""));
  if (!view.tenant.empty()) {
    if (absl::Status s = CheckTenant(a, view.tenant); !s.ok()) {
      return MessagePage(403, "Alerts", Message(s), &a.viewer);
    }
  }
  if (!a.viewer.all_tenants) view.tenant_choices = a.viewer.tenants;
  view.kept = d_.alerts->keep();
  view.live = d_.alerts->max_streams() > 0;
  const ConsoleAlertFeed::Since kept = d_.alerts->After(0);
  view.last = kept.last;
  // Newest first.
  for (std::size_t i = kept.alerts.size(); i-- > 0;) {
    const SharedAlert& alert = kept.alerts[i];
    if ((view.tenant.empty() || alert->tenant_id == view.tenant) &&
        a.viewer.MaySee(alert->tenant_id)) {
      view.alerts.push_back(alert);
    }
  }
  return Html(200, console::RenderPage({"Alerts", Section::kAlerts, &a.viewer},
                                       console::RenderAlerts(view)));
}

HttpResponse Console::AlertStream(const HttpRequest& r,
                                  const Admitted& a) const {
  const std::string tenant(r.Param("tenant").value_or(""));
  if (!tenant.empty()) {
    if (absl::Status s = CheckTenant(a, tenant); !s.ok()) {
      return WithHeaders(HttpResponse::FromStatus(s));
    }
  }
  // A browser that reconnects says which alert it had last.
  const std::optional<std::string_view> last_id = r.Header("Last-Event-ID");
  absl::StatusOr<std::uint64_t> after =
      last_id ? Number("Last-Event-ID", *last_id)
              : Number("after", r.Param("after").value_or(""));
  if (!after.ok()) {
    return WithHeaders(HttpResponse::FromStatus(after.status()));
  }
  absl::StatusOr<std::unique_ptr<ConsoleAlertFeed::Slot>> slot =
      d_.alerts->TakeSlot(d_.access->development()
                              ? StrCat("peer:", r.peer)
                              : StrCat("principal:", a.viewer.principal));
  if (!slot.ok()) {
    HttpResponse busy = HttpResponse::FromStatus(slot.status());
    busy.headers.emplace_back("Retry-After", "30");
    return WithHeaders(std::move(busy));
  }
  ConsoleAlertStream::Options o;
  o.feed = d_.alerts;
  o.slot = *std::move(slot);
  o.after = *after;
  o.allowed = FeedAccess{d_.access, d_.sessions, a.cookie, a.caller, tenant};
  o.to_json = [](const policy::ComplianceAlert& alert) {
    return console::AlertFeedJson(alert);
  };
  HttpResponse out;
  // Exactly this: httplib compresses any other text type for a browser
  // that accepts gzip, and a compressor holds events back until it has
  // enough of them. (An event stream is UTF-8 by definition.)
  out.content_type = "text/event-stream";
  out.stream = std::make_shared<ConsoleAlertStream>(std::move(o));
  // A proxy in front (nginx) must pass each event on as it comes.
  out.headers.emplace_back("X-Accel-Buffering", "no");
  return WithHeaders(std::move(out));
}

HttpResponse Console::Audit(const HttpRequest& r, const Admitted& a) const {
  console::AuditView view;
  view.kind = std::string(r.Param("kind").value_or(""));
  absl::StatusOr<std::uint64_t> before =
      Number("before", r.Param("before").value_or(""));
  const auto& kinds = console::AuditKinds();
  if (!before.ok()) {
    view.error = std::string(Message(before.status()));
  } else if (!view.kind.empty() &&
             std::find(kinds.begin(), kinds.end(), view.kind) == kinds.end()) {
    view.error = StrCat("kind: ", QuoteInput(view.kind),
                        " is not a kind the audit log holds (",
                        StrJoin(kinds, ", "), ")");
  }
  view.first_page = !before.ok() || *before == 0;
  console::ChainStatusView& c = view.chain;
  c.audited = d_.store != nullptr && d_.audit != nullptr;
  if (c.audited) {
    const AuditWatchResult last = d_.audit->last();
    c.interval = d_.audit->interval();
    c.verified = last.verified;
    c.verified_at = last.at;
    c.took = last.took;
    c.error = last.error;
    c.ok = last.chain.ok;
    c.rows = last.chain.rows;
    c.first_seq = last.chain.first_seq;
    c.last_seq = last.chain.last_seq;
    c.bad_seq = last.chain.bad_seq;
    c.pruned_through = last.chain.pruned_through;
    c.problem = last.chain.problem;
    // How many rows the log holds says how busy every tenant is.
    c.detailed = a.viewer.all_tenants;
  }
  if (!c.audited && view.error.empty()) {
    view.error = "there is no audit log: state is in memory";
  }
  if (view.error.empty()) {
    // A limited viewer sees its tenants' rows; rows of every tenant (policy,
    // refusals) only a viewer of every tenant. Rows are read a batch at a
    // time until the page is full, at most kAuditRowsRead of them a page.
    std::uint64_t cursor = *before;
    std::size_t read = 0;
    bool more = true;
    while (more && view.rows.size() < kAuditPageRows && read < kAuditRowsRead) {
      absl::StatusOr<std::vector<policy::AuditEntry>> rows =
          d_.store->ReadAudit(view.kind, cursor, kAuditPageRows);
      if (!rows.ok()) {
        return MessagePage(503, "Audit", Message(rows.status()), &a.viewer);
      }
      more = rows->size() == kAuditPageRows;
      for (const policy::AuditEntry& entry : *rows) {
        if (view.rows.size() == kAuditPageRows) {
          more = true;
          break;
        }
        ++read;
        cursor = entry.seq;
        console::AuditRowView row = console::AuditRowOf(entry);
        if (a.viewer.all_tenants ||
            (!row.tenant.empty() && a.viewer.MaySee(row.tenant))) {
          view.rows.push_back(std::move(row));
        } else {
          view.some_hidden = true;
        }
      }
    }
    if (more) view.next_before = cursor;
  }
  const int status = view.error.empty() || !c.audited ? 200 : 400;
  return Html(status, console::RenderPage({"Audit", Section::kAudit, &a.viewer},
                                          console::RenderAudit(view)));
}

}  // namespace hijackguard::plugin::console_web
