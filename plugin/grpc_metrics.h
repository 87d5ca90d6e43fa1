// Times every gRPC call for the metrics: a server interceptor that records
// the call's method, status code and duration (from its start to its
// status) in Metrics.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/support/server_interceptor.h"
#include "plugin/metrics.h"

namespace hijackguard::plugin {

// The full names ("/pkg.Service/Method") of every method the server serves:
// its own services', the health service's and reflection's.
std::vector<std::string> ServedGrpcMethods();

// One interceptor per call. `metrics` must outlive the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeMetricsInterceptorFactory(Metrics* metrics);

}  // namespace hijackguard::plugin
