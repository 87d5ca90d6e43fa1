// The console's routes: who the viewer is, sign-in and sign-out, and which
// page answers (the pages are in console_*_routes.cc).
#include "plugin/console_routes.h"

#include "common/strings.h"
#include "common/url_form.h"
#include "plugin/console/assets.h"
#include "plugin/console/html.h"
#include "plugin/console_app.h"

namespace hijackguard::plugin {
namespace console_web {

using console::Section;
using console::Viewer;

HttpResponse WithHeaders(HttpResponse r) {
  r.headers.emplace_back("Content-Security-Policy", std::string(kConsoleCsp));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  // same-origin, not no-referrer: with no-referrer a browser posts forms
  // with "Origin: null", which would hide where they come from.
  r.headers.emplace_back("Referrer-Policy", "same-origin");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Connection", "close");
  return r;
}

HttpResponse Html(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::move(body);
  return WithHeaders(std::move(r));
}

HttpResponse Redirect(std::string location) {
  HttpResponse r;
  r.status = 303;
  r.headers.emplace_back("Location", std::move(location));
  r.content_type = "text/plain; charset=utf-8";
  r.body = "See Other\n";
  return WithHeaders(std::move(r));
}

HttpResponse MessagePage(int status, std::string_view title,
                         std::string_view message, const Viewer* viewer) {
  return Html(status,
              console::RenderPage({std::string(title), Section::kNone, viewer},
                                  console::RenderMessage(message)));
}

HttpResponse SignInPage(int status, std::string_view message) {
  return Html(status, console::RenderPage({"Sign in", Section::kNone, nullptr},
                                          console::RenderSignIn(message)));
}

std::string_view Message(const absl::Status& s) {
  return {s.message().data(), s.message().size()};
}

// A form posted from another site is refused (the cookie is SameSite
// Strict too; this also covers the sign-in form, which has no cookie yet).
// Browsers say where a request comes from in Sec-Fetch-Site, older ones in
// Origin; a request with neither is not a browser's cross-site form.
bool SameOrigin(const HttpRequest& r) {
  if (const auto site = r.Header("Sec-Fetch-Site")) {
    return *site == "same-origin" || *site == "none";
  }
  const std::optional<std::string_view> origin = r.Header("Origin");
  if (!origin) return true;
  const std::string_view host = r.Header("Host").value_or("");
  return *origin == StrCat("http://", host) ||
         *origin == StrCat("https://", host);
}

namespace {

bool LoopbackPeer(std::string_view peer) {
  return peer.starts_with("ipv4:127.") || peer == "ipv6:::1" ||
         peer.starts_with("ipv6:::ffff:127.");
}

// In development mode every caller is an administrator: a page is served
// only under a loopback name, so that a web site the developer visits
// cannot rebind its own name to 127.0.0.1 and read the console.
constexpr std::string_view kNotLoopbackHost =
    "in development mode the console answers only at a loopback address or "
    "localhost";

bool LoopbackHost(const HttpRequest& r) {
  std::string_view host = r.Header("Host").value_or("");
  if (host.starts_with("[")) {
    host = host.substr(0, host.find(']') + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  if (host == "localhost" || host == "[::1]") return true;
  if (!host.starts_with("127.")) return false;
  return host.find_first_not_of("0123456789.") == std::string_view::npos;
}

}  // namespace

std::variant<Console::Admitted, HttpResponse> Console::Admit(
    const HttpRequest& r) const {
  if (d_.access->development() && !LoopbackHost(r)) {
    return MessagePage(421, "Not allowed", kNotLoopbackHost, nullptr);
  }
  absl::StatusOr<Caller> caller;
  bool session = false;
  const std::string_view cookie =
      SessionCookieValue(r.Header("Cookie").value_or(""));
  if (d_.access->development() || r.cert) {
    Credentials c;
    c.peer = r.peer;
    c.cert = r.cert;
    c.token_hint = "the console's sign-in page";
    caller = d_.access->Admit(c, Rpc::kConsole);
  }
  // A certificate that names no principal counts as none: the session, if
  // any, decides (browsers present certificates on their own).
  if (!d_.access->development() && (!r.cert || !caller.ok()) &&
      !cookie.empty()) {
    caller = d_.sessions->Resume(cookie);
    session = true;
  } else if (!d_.access->development() && !r.cert) {
    return Redirect("/ui/login");
  }
  if (!caller.ok()) {
    if (caller.status().code() == absl::StatusCode::kUnauthenticated) {
      return SignInPage(401, Message(caller.status()));
    }
    return MessagePage(403, "Not allowed", Message(caller.status()), nullptr);
  }
  Admitted a{*caller, {}, session ? std::string(cookie) : std::string()};
  a.viewer.session = session;
  if (d_.access->development() || caller->principal == nullptr) {
    a.viewer.principal = caller->actor.principal;
    a.viewer.all_tenants = true;
  } else {
    a.viewer.principal = caller->principal->id;
    a.viewer.all_tenants = caller->principal->all_tenants;
    a.viewer.tenants = caller->principal->tenants;
  }
  return a;
}

absl::Status Console::CheckTenant(const Admitted& a,
                                  std::string_view tenant) const {
  return d_.access->CheckTenant(a.caller, Rpc::kConsole, tenant);
}

HttpResponse Console::Get(const HttpRequest& r) const {
  if (r.path.starts_with("/ui/assets/")) {
    std::optional<console::Asset> asset =
        console::FindAsset(std::string_view(r.path).substr(11));
    if (!asset) return MessagePage(404, "Not found", "no such asset", nullptr);
    HttpResponse out;
    out.content_type = std::string(asset->content_type);
    out.body = std::string(asset->body);
    return WithHeaders(std::move(out));
  }
  if (r.path == "/ui/login") return SignInPage(200, "");
  auto admitted = Admit(r);
  if (auto* refused = std::get_if<HttpResponse>(&admitted)) {
    return std::move(*refused);
  }
  const Admitted& a = std::get<Admitted>(admitted);
  if (!r.query_error.ok()) {
    return MessagePage(400, "Bad request", Message(r.query_error), &a.viewer);
  }
  if (r.path == "/ui/") return Fleet(r, a);
  if (r.path == "/ui/devices") return Devices(r, a);
  if (r.path == "/ui/device") return Device(r, a);
  if (r.path == "/ui/repair") return Repairs(r, a);
  if (r.path == "/ui/policy") return Policy(a, {}, 200);
  if (r.path == "/ui/repair.csv") return RepairCsv(r, a);
  if (r.path == "/ui/alerts") return Alerts(r, a);
  if (r.path == "/ui/alerts/stream") return AlertStream(r, a);
  if (r.path == "/ui/audit") return Audit(r, a);
  return MessagePage(404, "Not found", "There is no such console page.",
                     &a.viewer);
}

HttpResponse Console::SignIn(const HttpRequest& r) const {
  if (!SameOrigin(r)) {
    return SignInPage(403, "the sign-in form was posted from another site");
  }
  if (d_.access->development() && !LoopbackHost(r)) {
    return SignInPage(421, kNotLoopbackHost);
  }
  if (!d_.tls && !LoopbackPeer(r.peer)) {
    return SignInPage(403,
                      "token sign-in over plaintext HTTP is allowed only from "
                      "loopback: serve the console over TLS (http.tls)");
  }
  absl::StatusOr<FormFields> form = ParseForm(r.body);
  if (!form.ok()) {
    return SignInPage(400, StrCat("the form: ", Message(form.status())));
  }
  const std::string_view token = FormValue(*form, "token");
  if (token.empty()) return SignInPage(400, "enter a token");
  Credentials c;
  c.peer = r.peer;
  c.token = std::string(token);
  c.token_hint = "the console's sign-in page";
  absl::StatusOr<Caller> caller = d_.access->Admit(c, Rpc::kConsole);
  if (!caller.ok()) {
    const bool unauthenticated =
        caller.status().code() == absl::StatusCode::kUnauthenticated;
    return SignInPage(unauthenticated ? 401 : 403,
                      unauthenticated ? std::string_view("that token is not "
                                                         "known")
                                      : Message(caller.status()));
  }
  if (d_.access->development()) {
    // Development mode needs no session.
    return Redirect("/ui/");
  }
  // A sign-in replaces the browser's session: the old one ends now.
  if (const std::string_view old =
          SessionCookieValue(r.Header("Cookie").value_or(""));
      !old.empty()) {
    d_.sessions->End(old);
  }
  absl::StatusOr<std::string> id = d_.sessions->Create(*std::move(caller));
  // The old session's live feeds (and any a full principal's oldest
  // session had) end now.
  if (d_.alerts != nullptr) d_.alerts->Wake();
  if (!id.ok()) return SignInPage(429, Message(id.status()));
  HttpResponse out = Redirect("/ui/");
  out.headers.emplace_back(
      "Set-Cookie", StrCat(kSessionCookie, "=", *id, "; Path=/; Max-Age=",
                           absl::ToInt64Seconds(d_.sessions->ttl()),
                           "; HttpOnly; Secure; SameSite=Strict"));
  return out;
}

HttpResponse Console::SignOut(const HttpRequest& r) const {
  if (!SameOrigin(r)) {
    return SignInPage(403, "the sign-out form was posted from another site");
  }
  const std::string_view cookie =
      SessionCookieValue(r.Header("Cookie").value_or(""));
  if (!cookie.empty()) {
    d_.sessions->End(cookie);
    // The session's live feeds end now, not at their next heartbeat.
    if (d_.alerts != nullptr) d_.alerts->Wake();
  }
  HttpResponse out = Redirect("/ui/login");
  out.headers.emplace_back("Set-Cookie",
                           StrCat(kSessionCookie,
                                  "=; Path=/; Max-Age=0; HttpOnly; Secure; "
                                  "SameSite=Strict"));
  return out;
}

absl::StatusOr<std::string> Console::ListTenant(const HttpRequest& r,
                                                const Admitted& a) const {
  std::string tenant(r.Param("tenant").value_or(""));
  if (tenant.empty() && !a.viewer.all_tenants && !a.viewer.tenants.empty()) {
    tenant = a.viewer.tenants.front();
  }
  if (absl::Status s = CheckTenant(a, tenant); !s.ok()) return s;
  return tenant;
}

}  // namespace console_web

// A gate that refuses a form body over `max` bytes, or of no announced
// length, before any of it is read (the console's forms are small; the
// listener's own limit is for the gateway's bodies).
HttpGate FormAtMost(std::size_t max) {
  return [max](const HttpRequest& r) -> absl::Status {
    const std::string_view length = r.Header("Content-Length").value_or("");
    std::size_t n = 0;
    if (length.empty() || length.size() > 12 ||
        length.find_first_not_of("0123456789") != std::string_view::npos ||
        (n = std::stoull(std::string(length))) > max) {
      return absl::InvalidArgumentError(
          StrCat("a console form is at most ", max,
                 " bytes, sent with a Content-Length"));
    }
    return absl::OkStatus();
  };
}

namespace {

// The handler with the time it took in a Server-Timing header (a browser's
// developer tools show it; the console benchmark reads it).
HttpHandler Timed(std::function<HttpResponse(const HttpRequest&)> handler) {
  return [handler = std::move(handler)](const HttpRequest& r) {
    const absl::Time start = absl::Now();
    HttpResponse out = handler(r);
    out.headers.emplace_back(
        "Server-Timing",
        StrCat(
            "app;dur=",
            FormatFixed(absl::ToDoubleMilliseconds(absl::Now() - start), 3)));
    return out;
  };
}

}  // namespace

void AddConsoleRoutes(HttpRouter* router, ConsoleDeps deps) {
  using console_web::Console;
  auto console = std::make_shared<const Console>(deps);
  router->Add("GET", "/ui",
              [](const HttpRequest&) { return console_web::Redirect("/ui/"); });
  auto get = Timed([console](const HttpRequest& r) { return console->Get(r); });
  router->AddPrefix("GET", "/ui/", get);
  // An exact path answers for every method it has: GET here too.
  router->Add("GET", "/ui/login", get);
  router->Add("POST", "/ui/login", Timed([console](const HttpRequest& r) {
                return console->SignIn(r);
              }),
              FormAtMost(4096));
  router->Add("POST", "/ui/logout", Timed([console](const HttpRequest& r) {
                return console->SignOut(r);
              }),
              FormAtMost(4096));
  router->Add("POST", "/ui/simulate", Timed([console](const HttpRequest& r) {
                return console->Simulate(r);
              }),
              FormAtMost(console_web::kMaxSimulateForm));
}

}  // namespace hijackguard::plugin
