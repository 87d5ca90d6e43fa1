// The console's HTTP routes (docs/console.md): GET /ui/... pages, the
// sign-in and sign-out forms, and the assets, on the HTTP listener. Every
// page authenticates its viewer (a session cookie, a client certificate, or
// development mode), checks the auditor role and the tenant it shows, and
// carries the console's Content-Security-Policy.
#pragma once

#include "common/clock.h"
#include "detector/traffic/traffic_detector.h"
#include "plugin/access.h"
#include "plugin/audit_watch.h"
#include "plugin/console_alert_feed.h"
#include "plugin/console_sessions.h"
#include "plugin/http_server.h"
#include "plugin/policy_admin_service.h"
#include "policy/engine.h"

namespace hijackguard::plugin {

// Exactly this on every console answer.
inline constexpr std::string_view kConsoleCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' "
    "data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'";

struct ConsoleDeps {
  const AccessControl* access = nullptr;
  ConsoleSessions* sessions = nullptr;
  policy::PolicyEngine* engine = nullptr;
  detector::TrafficDetector* detector = nullptr;
  // The simulate form's SimulateDecision.
  const PolicyAdminService* admin = nullptr;
  // The audit log's reader (policy history); null without a store.
  policy::StateStore* store = nullptr;
  const Clock* clock = nullptr;
  // The listener serves TLS: token sign-in is then allowed from anywhere,
  // else only from loopback.
  bool tls = false;
  // ledger.keep_subjects: the repair list shows meeting subjects.
  bool subjects = false;
  // The alerts page's kept alerts and live feeds (required).
  ConsoleAlertFeed* alerts = nullptr;
  // The audit chain's status, verified in the background; null without a
  // store.
  const AuditWatch* audit = nullptr;
};

// Adds the routes; everything in `deps` must outlive the router's server.
void AddConsoleRoutes(HttpRouter* router, ConsoleDeps deps);

}  // namespace hijackguard::plugin
