// Flags and channel setup shared by the subcommands that call a running
// plugin (checkin, replay --server, device show).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"
#include "plugin/cli/commands.h"

namespace hijackguard::plugin::cli {

struct ClientFlags {
  std::string server;
  double timeout_seconds = 10;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string token_file;

  // Registers --server (required when `server_required`), --timeout (default
  // `default_timeout_seconds`) and the TLS flags.
  void Register(CLI::App* command, bool server_required = true,
                double default_timeout_seconds = 10);

  // A channel to --server; nullptr with `*error` set when the TLS files
  // cannot be read or --tls-cert comes without --tls-key.
  std::shared_ptr<grpc::Channel> Connect(std::string* error) const;

  std::chrono::system_clock::time_point Deadline() const;

  // Sets the deadline and, when there is a token (--token-file, else the
  // HIJACKGUARD_TOKEN environment variable), the authorization metadata.
  // False with `*error` set when the token file cannot be read.
  bool Prepare(grpc::ClientContext* context, std::string* error) const;
};

// Prepare(), or false after printing why to stderr.
bool PrepareOrPrint(const ClientFlags& flags, grpc::ClientContext* context);

// A channel to --server, or nullptr after printing why to stderr.
std::shared_ptr<grpc::Channel> ConnectOrPrint(const ClientFlags& flags);

// The exit status for a failure (plugin/cli/commands.h): kExitUsage when the
// input is missing, unreadable or unusable (NOT_FOUND, PERMISSION_DENIED,
// INVALID_ARGUMENT, including a file over its limit, FAILED_PRECONDITION,
// ALREADY_EXISTS, OUT_OF_RANGE), kExitFailed otherwise (the store or a server
// failed; a full disk is RESOURCE_EXHAUSTED).
int ExitStatusOf(const absl::Status& status);

// One call to --server: the stub and its prepared context.
template <typename Service>
struct Call {
  std::unique_ptr<typename Service::Stub> stub;
  grpc::ClientContext context;
  // Not 0 when the call could not be set up (why is printed): the exit
  // status, kExitUsage (the TLS or token files cannot be read).
  int failed = 0;
};

template <typename Service>
std::unique_ptr<Call<Service>> Dial(const ClientFlags& flags) {
  auto call = std::make_unique<Call<Service>>();
  auto channel = ConnectOrPrint(flags);
  if (channel == nullptr) {
    call->failed = kExitUsage;
    return call;
  }
  call->stub = Service::NewStub(channel);
  if (!PrepareOrPrint(flags, &call->context)) {
    call->failed = kExitUsage;
  }
  return call;
}

// Prints "error: <rpc> failed: <CODE>: <message>" to stderr, and what an
// unanswered connection most likely means given `flags` (a server that wants
// a client certificate closes the TLS handshake without one); returns
// kExitFailed.
int PrintRpcError(std::string_view rpc, const grpc::Status& status,
                  const ClientFlags& flags);

// "INVALID_ARGUMENT" for grpc::StatusCode::INVALID_ARGUMENT.
std::string StatusCodeName(grpc::StatusCode code);

}  // namespace hijackguard::plugin::cli
