// How an MDM server calls hijackguard at device check-in, in C++.
//
//   mdm_checkin_client --server 127.0.0.1:50051 --user-agent
//   Apple-iPhone4C1/1001.403
//
// It sends what the MDM knows about the device, then acts on the answer: ALLOW
// keeps the device syncing, WARN shows the user alert, QUARANTINE/BLOCK stop
// ActiveSync. Exit status: 0 when the call succeeded, 1 when it failed, 2 on
// usage errors.
#include <chrono>
#include <cstring>
#include <iostream>
#include <string>

#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"

namespace {

int Usage() {
  std::cerr << "usage: mdm_checkin_client --server HOST:PORT [--user-agent UA] "
               "[--device-os OS] [--tenant T] [--device-id ID] [--user UPN]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server;
  hijackguard::v1::CheckInRequest request;
  request.set_tenant_id("example-tenant");
  request.mutable_device()->set_eas_device_id("ApplDMPFXZABDFHW");
  request.mutable_device()->set_user_principal("alice@example.com");
  request.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
  request.mutable_eas()->set_device_type("iPhone");
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      return Usage();
    }
    const std::string value = argv[++i];
    if (flag == "--server") {
      server = value;
    } else if (flag == "--user-agent") {
      request.mutable_eas()->set_user_agent(value);
    } else if (flag == "--device-os") {
      request.mutable_eas()->set_device_os(value);
    } else if (flag == "--tenant") {
      request.set_tenant_id(value);
    } else if (flag == "--device-id") {
      request.mutable_device()->set_eas_device_id(value);
    } else if (flag == "--user") {
      request.mutable_device()->set_user_principal(value);
    } else {
      return Usage();
    }
  }
  if (server.empty()) {
    return Usage();
  }

  // One channel per process, reused for every check-in (channels are expensive
  // to create).
  auto stub = hijackguard::v1::CompliancePlugin::NewStub(
      grpc::CreateChannel(server, grpc::InsecureChannelCredentials()));

  grpc::ClientContext context;
  // Always set a deadline: a check-in must not hang on a slow or unreachable
  // plugin. What to do then (fail open or closed) is the MDM's decision.
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(2));
  hijackguard::v1::CheckInResponse response;
  const grpc::Status status = stub->CheckIn(&context, request, &response);
  if (!status.ok()) {
    std::cerr << "CheckIn failed: " << status.error_code() << " "
              << status.error_message() << "\n";
    return 1;
  }

  // `action` is what to enforce; in monitor mode it is ALLOW and
  // evaluated_action says what enforce would have returned.
  std::cout << "decision " << response.decision_id() << ": "
            << hijackguard::v1::Action_Name(response.action()) << " (evaluated "
            << hijackguard::v1::Action_Name(response.evaluated_action()) << ", "
            << hijackguard::v1::PolicyMode_Name(response.mode()) << ", score "
            << response.score() << ")\n";
  const auto& fp = response.fingerprint();
  std::cout << "client: iOS " << fp.os_version() << " (" << fp.build()
            << ") on " << fp.model_name() << "\n";
  for (const auto& issue : fp.known_issues()) {
    std::cout << "known issue: " << issue.id() << " ("
              << hijackguard::v1::Confidence_Name(issue.confidence()) << ")\n";
  }
  for (const auto& reason : response.reasons()) {
    std::cout << "reason " << reason.code() << ": " << reason.message() << "\n";
  }
  if (response.has_user_alert()) {
    std::cout << "alert for the user: " << response.user_alert().title()
              << "\n  " << response.user_alert().message() << "\n  "
              << response.user_alert().remediation() << "\n";
  }
  return 0;
}
