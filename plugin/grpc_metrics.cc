#include "plugin/grpc_metrics.h"

#include "absl/time/clock.h"
#include "google/protobuf/descriptor.h"

namespace hijackguard::plugin {
namespace {

using grpc::experimental::InterceptionHookPoints;

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(Metrics* metrics, const char* method)
      : metrics_(metrics), method_(method), start_(absl::Now()) {}

  // A call that ends without sending a status (the client went away) is
  // counted as CANCELLED.
  ~MetricsInterceptor() override {
    if (!observed_) {
      metrics_->ObserveGrpc(method_, grpc::StatusCode::CANCELLED,
                            absl::Now() - start_);
    }
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!observed_ && methods->QueryInterceptionHookPoint(
                          InterceptionHookPoints::PRE_SEND_STATUS)) {
      observed_ = true;
      metrics_->ObserveGrpc(method_, methods->GetSendStatus().error_code(),
                            absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  Metrics* const metrics_;
  const std::string_view method_;  // gRPC's, for the call's life
  const absl::Time start_;
  bool observed_ = false;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(Metrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(
        metrics_, info->method() != nullptr ? info->method() : "");
  }

 private:
  Metrics* const metrics_;
};

}  // namespace

std::vector<std::string> ServedGrpcMethods() {
  std::vector<std::string> out;
  for (const char* service :
       {"hijackguard.v1.CompliancePlugin", "hijackguard.v1.PolicyAdmin"}) {
    const google::protobuf::ServiceDescriptor* d =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            service);
    for (int i = 0; d != nullptr && i < d->method_count(); ++i) {
      out.push_back("/" + d->full_name() + "/" + d->method(i)->name());
    }
  }
  for (const char* method :
       {"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"}) {
    out.emplace_back(method);
  }
  return out;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeMetricsInterceptorFactory(Metrics* metrics) {
  return std::make_unique<MetricsInterceptorFactory>(metrics);
}

}  // namespace hijackguard::plugin
