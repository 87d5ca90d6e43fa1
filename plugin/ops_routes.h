// The operator's HTTP routes: GET /metrics (Prometheus; a principal with the
// `metrics` role, by "Authorization: Bearer <token>" or client certificate),
// and GET /healthz and /readyz (open: they say nothing of any device).
#pragma once

#include <functional>

#include "absl/status/status.h"
#include "plugin/access.h"
#include "plugin/http_server.h"
#include "plugin/metrics.h"

namespace hijackguard::plugin {

// `ready` answers OK once the server may take traffic (the state is loaded
// and the store can write), else why not (shown to anyone: keep it free of
// paths and secrets). All must outlive the router's server.
void AddOpsRoutes(HttpRouter* router, const AccessControl* access,
                  const Metrics* metrics, std::function<absl::Status()> ready);

// The credentials of an HTTP request that authenticates with
// "Authorization: Bearer <token>" (or its client certificate).
Credentials BearerCredentials(const HttpRequest& request);

}  // namespace hijackguard::plugin
