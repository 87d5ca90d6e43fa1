// The console's request handling, shared by its route files (internal to
// plugin/): console_routes.cc (who the viewer is, sign-in, dispatch),
// console_fleet_routes.cc (fleet, devices, repair list),
// console_policy_routes.cc (policy, simulate) and console_live_routes.cc
// (alerts and their live feed, audit).
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <variant>

#include "absl/status/statusor.h"
#include "plugin/console/html.h"
#include "plugin/console/policy_page.h"
#include "plugin/console_routes.h"
#include "plugin/http_server.h"

namespace hijackguard::plugin::console_web {

// The simulate form's largest body.
inline constexpr std::size_t kMaxSimulateForm = 1 << 20;

// The console's headers on `r`: the CSP, nosniff, no framing, the referrer
// policy, and Connection: close (a browser's idle keep-alive connection
// would hold one of the listener's threads, which the gateway needs).
HttpResponse WithHeaders(HttpResponse r);
HttpResponse Html(int status, std::string body);
HttpResponse Redirect(std::string location);
// A page that says only `message`; `viewer` null draws no navigation.
HttpResponse MessagePage(int status, std::string_view title,
                         std::string_view message,
                         const console::Viewer* viewer);
HttpResponse SignInPage(int status, std::string_view message);
std::string_view Message(const absl::Status& s);
// False for a form a browser posted from another site (Sec-Fetch-Site, or
// Origin where that is absent).
bool SameOrigin(const HttpRequest& r);

class Console {
 public:
  explicit Console(ConsoleDeps deps) : d_(deps) {}

  HttpResponse Get(const HttpRequest& r) const;
  HttpResponse SignIn(const HttpRequest& r) const;
  HttpResponse SignOut(const HttpRequest& r) const;
  HttpResponse Simulate(const HttpRequest& r) const;

 private:
  struct Admitted {
    Caller caller;
    console::Viewer viewer;
    std::string cookie;  // the session's, when it came with one
  };
  // The viewer of a page, or the answer that refuses it (a redirect to the
  // sign-in page for a browser without a session).
  std::variant<Admitted, HttpResponse> Admit(const HttpRequest& r) const;
  // OK when the viewer may see `tenant` ("" = every tenant); the refusal is
  // recorded in the audit log.
  absl::Status CheckTenant(const Admitted& a, std::string_view tenant) const;
  // The tenant a list page shows: the one asked for, else the viewer's
  // first (every tenant for a viewer of all); the refusal is audited.
  absl::StatusOr<std::string> ListTenant(const HttpRequest& r,
                                         const Admitted& a) const;

  HttpResponse Fleet(const HttpRequest& r, const Admitted& a) const;
  HttpResponse Devices(const HttpRequest& r, const Admitted& a) const;
  HttpResponse Device(const HttpRequest& r, const Admitted& a) const;
  HttpResponse Repairs(const HttpRequest& r, const Admitted& a) const;
  HttpResponse RepairCsv(const HttpRequest& r, const Admitted& a) const;
  HttpResponse Policy(const Admitted& a, console::PolicyView view,
                      int status) const;
  HttpResponse Alerts(const HttpRequest& r, const Admitted& a) const;
  HttpResponse AlertStream(const HttpRequest& r, const Admitted& a) const;
  HttpResponse Audit(const HttpRequest& r, const Admitted& a) const;

  ConsoleDeps d_;
  // CSV exports running now (each reads a tenant's whole list).
  mutable std::atomic<int> csv_exports_{0};
};

}  // namespace hijackguard::plugin::console_web
