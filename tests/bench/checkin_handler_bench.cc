// Microbenchmarks of the CheckIn path without the transport: what one check-in
// costs in fingerprinting, catalog matching, deciding and building the
// response.
#include <benchmark/benchmark.h>

#include "detector/fingerprint.h"
#include "detector/known_issues.h"
#include "plugin/check_in.h"
#include "plugin/detector_evidence.h"
#include "policy/engine.h"

namespace hijackguard {
namespace {

const detector::FingerprintInput kInput = {
    .user_agent = "Apple-iPhone4C1/1001.403",
    .device_type = "iPhone",
    .device_os = "iOS 6.0 10A403",
    .device_model = "iPhone4C1",
    .protocol_version = "14.1",
    .inventory_product_name = "iPhone4,1",
    .inventory_os_version = "6.0",
    .inventory_build_version = "10A403"};

std::shared_ptr<const detector::KnownIssueCatalog> Catalog() {
  static auto* const catalog =
      new std::shared_ptr<const detector::KnownIssueCatalog>(
          std::make_shared<detector::KnownIssueCatalog>(
              *detector::KnownIssueCatalog::Builtin()));
  return *catalog;
}

void BM_ComputeFingerprint(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(detector::ComputeFingerprint(kInput));
  }
}
BENCHMARK(BM_ComputeFingerprint);

// The shipped default policy, in enforce mode (the device gets WARN and an
// alert, the costliest common outcome).
std::shared_ptr<const policy::Policy> EnforcePolicy() {
  return *policy::Policy::Parse(
      R"({"apiVersion": "hijackguard/v1", "mode": "enforce"})", *Catalog(),
      nullptr);
}

void BM_MatchAndDecide(benchmark::State& state) {
  detector::Fingerprint fp = detector::ComputeFingerprint(kInput);
  const auto catalog = Catalog();
  const auto policy = EnforcePolicy();
  policy::EvaluationInput in;
  in.policy = policy.get();
  in.fingerprint = &fp;
  in.subject.tenant_id = "bench-tenant";
  in.subject.eas_device_id = "ApplDMPFXZABDFHW";
  in.now = absl::Now();
  for (auto _ : state) {
    fp.known_issues = catalog->Match(fp);
    benchmark::DoNotOptimize(policy::Evaluate(in));
  }
}
BENCHMARK(BM_MatchAndDecide);

v1::CheckInRequest BenchRequest() {
  v1::CheckInRequest request;
  request.set_tenant_id("bench-tenant");
  request.mutable_device()->set_eas_device_id("ApplDMPFXZABDFHW");
  request.mutable_eas()->set_user_agent(std::string(kInput.user_agent));
  request.mutable_eas()->set_device_type(std::string(kInput.device_type));
  request.mutable_eas()->set_device_os(std::string(kInput.device_os));
  request.mutable_eas()->set_device_model(std::string(kInput.device_model));
  request.mutable_inventory()->set_product_name(
      std::string(kInput.inventory_product_name));
  request.mutable_inventory()->set_os_version(
      std::string(kInput.inventory_os_version));
  request.mutable_inventory()->set_build_version(
      std::string(kInput.inventory_build_version));
  return request;
}

// The response on the heap, as a plain gRPC service would allocate it.
void BM_CheckInHandler(benchmark::State& state) {
  policy::PolicyEngine engine(Catalog(), EnforcePolicy(), &RealClock(),
                              nullptr);
  const plugin::CheckInHandler handler(Catalog(), &RealClock(), {}, &engine);
  const v1::CheckInRequest request = BenchRequest();
  for (auto _ : state) {
    v1::CheckInResponse response;
    benchmark::DoNotOptimize(handler.CheckIn(request, &response));
  }
}
BENCHMARK(BM_CheckInHandler);

// The response on a per-call arena with an inline first block, as the server
// allocates it (plugin/compliance_service.cc).
void RunOnArena(benchmark::State& state,
                const plugin::CheckInHandler& handler) {
  const v1::CheckInRequest request = BenchRequest();
  alignas(16) char block[4096];
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = sizeof(block);
  for (auto _ : state) {
    google::protobuf::Arena arena(options);
    auto* response =
        google::protobuf::Arena::CreateMessage<v1::CheckInResponse>(&arena);
    benchmark::DoNotOptimize(handler.CheckIn(request, response));
  }
}

void BM_CheckInHandlerArena(benchmark::State& state) {
  policy::PolicyEngine engine(Catalog(), EnforcePolicy(), &RealClock(),
                              nullptr);
  const plugin::CheckInHandler handler(Catalog(), &RealClock(), {}, &engine);
  RunOnArena(state, handler);
}
BENCHMARK(BM_CheckInHandlerArena);

// As the server runs it: with the traffic detector, which learns the device
// from each check-in and supplies its events.
void BM_CheckInHandlerWithTraffic(benchmark::State& state) {
  detector::TrafficDetector traffic(Catalog());
  const plugin::DetectorEvidence evidence(&traffic);
  policy::PolicyEngine engine(Catalog(), EnforcePolicy(), &RealClock(),
                              &evidence);
  const plugin::CheckInHandler handler(Catalog(), &RealClock(), {}, &engine,
                                       &traffic);
  RunOnArena(state, handler);
}
BENCHMARK(BM_CheckInHandlerWithTraffic);

}  // namespace
}  // namespace hijackguard

BENCHMARK_MAIN();
