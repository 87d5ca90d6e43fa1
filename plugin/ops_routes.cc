#include "plugin/ops_routes.h"

#include <string>
#include <utility>

#include "common/strings.h"

namespace hijackguard::plugin {

Credentials BearerCredentials(const HttpRequest& request) {
  Credentials c;
  c.peer = request.peer;
  c.cert = request.cert;
  c.token_hint = "an \"Authorization: Bearer <token>\" header";
  const std::size_t count = request.HeaderCount("Authorization");
  if (count > 1) {
    c.token_error =
        absl::UnauthenticatedError("more than one Authorization header");
  } else if (count == 1) {
    const std::string_view value = *request.Header("Authorization");
    // The scheme is case-insensitive (RFC 7235).
    if (value.size() <= 7 || !EqualsIgnoreCase(value.substr(0, 7), "Bearer ")) {
      c.token_error = absl::UnauthenticatedError(
          "the Authorization header is not \"Bearer <token>\"");
    } else {
      c.token = std::string(value.substr(7));
    }
  }
  return c;
}

void AddOpsRoutes(HttpRouter* router, const AccessControl* access,
                  const Metrics* metrics, std::function<absl::Status()> ready) {
  router->Add("GET", "/metrics", [access, metrics](const HttpRequest& request) {
    absl::StatusOr<Caller> caller =
        access->Admit(BearerCredentials(request), Rpc::kMetrics);
    if (!caller.ok()) {
      HttpResponse refused = HttpResponse::FromStatus(caller.status());
      if (refused.status == 401) {
        refused.headers.emplace_back("WWW-Authenticate",
                                     "Bearer realm=\"hijackguard\"");
      }
      return refused;
    }
    HttpResponse r;
    r.content_type = std::string(Metrics::kContentType);
    r.body = metrics->Render();
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  });
  router->Add("GET", "/healthz", [](const HttpRequest&) {
    HttpResponse r;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "ok\n";
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  });
  router->Add("GET", "/readyz", [ready = std::move(ready)](const HttpRequest&) {
    const absl::Status status = ready();
    HttpResponse r;
    r.content_type = "text/plain; charset=utf-8";
    r.headers.emplace_back("Cache-Control", "no-store");
    if (status.ok()) {
      r.body = "ready\n";
    } else {
      r.status = 503;
      r.body = "not ready: " + std::string(status.message()) + "\n";
    }
    return r;
  });
}

}  // namespace hijackguard::plugin
