#include "plugin/cli/client_flags.h"

#include <cstdlib>
#include <iostream>

#include "absl/status/status.h"
#include "common/file.h"
#include "common/strings.h"

namespace hijackguard::plugin::cli {
namespace {

constexpr std::size_t kMaxPemBytes = 1 << 20;

}  // namespace

void ClientFlags::Register(CLI::App* c, bool server_required,
                           double default_timeout_seconds) {
  timeout_seconds = default_timeout_seconds;
  auto* server_option =
      c->add_option("--server", server, "Plugin address host:port");
  if (server_required) {
    server_option->required();
  }
  c->add_option("--timeout", timeout_seconds, "Deadline in seconds")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  c->add_option("--tls-ca", tls_ca,
                "PEM CA bundle to verify the server (enables TLS)")
      ->group("TLS");
  c->add_option("--tls-cert", tls_cert,
                "PEM client certificate chain (mutual TLS)")
      ->group("TLS");
  c->add_option("--tls-key", tls_key, "PEM client private key (mutual TLS)")
      ->group("TLS");
  c->add_option("--token-file", token_file,
                "File holding the bearer token (default: the "
                "HIJACKGUARD_TOKEN environment variable)")
      ->group("Authentication");
}

bool ClientFlags::Prepare(grpc::ClientContext* context,
                          std::string* error) const {
  context->set_deadline(Deadline());
  std::string token;
  if (!token_file.empty()) {
    auto text =
        ReadNamedFile("token file", token_file, 4096, FileKinds::kAlsoStreams);
    if (!text.ok()) {
      *error = std::string(text.status().message());
      return false;
    }
    token = *std::move(text);
  } else if (const char* env = std::getenv("HIJACKGUARD_TOKEN")) {
    token = env;
  }
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' ||
                            token.back() == ' ')) {
    token.pop_back();
  }
  if (!token.empty()) {
    context->AddMetadata("authorization", StrCat("Bearer ", token));
  }
  return true;
}

bool PrepareOrPrint(const ClientFlags& flags, grpc::ClientContext* context) {
  std::string error;
  if (!flags.Prepare(context, &error)) {
    std::cerr << "error: " << error << "\n";
    return false;
  }
  return true;
}

std::shared_ptr<grpc::Channel> ClientFlags::Connect(std::string* error) const {
  if (tls_cert.empty() != tls_key.empty()) {
    *error = "--tls-cert and --tls-key go together";
    return nullptr;
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (tls_ca.empty() && tls_cert.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    for (auto [kind, path, out] :
         {std::tuple{"TLS CA file (--tls-ca)", &tls_ca, &ssl.pem_root_certs},
          std::tuple{"TLS certificate (--tls-cert)", &tls_cert,
                     &ssl.pem_cert_chain},
          std::tuple{"TLS key (--tls-key)", &tls_key, &ssl.pem_private_key}}) {
      if (path->empty()) {
        continue;
      }
      auto pem =
          ReadNamedFile(kind, *path, kMaxPemBytes, FileKinds::kAlsoStreams);
      if (!pem.ok()) {
        *error = std::string(pem.status().message());
        return nullptr;
      }
      *out = *std::move(pem);
    }
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(server, credentials, args);
}

std::chrono::system_clock::time_point ClientFlags::Deadline() const {
  return std::chrono::system_clock::now() +
         std::chrono::milliseconds(static_cast<long>(timeout_seconds * 1000));
}

std::string StatusCodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

std::shared_ptr<grpc::Channel> ConnectOrPrint(const ClientFlags& flags) {
  std::string error;
  auto channel = flags.Connect(&error);
  if (channel == nullptr) {
    std::cerr << "error: " << error << "\n";
  }
  return channel;
}

namespace {

// Why a connection was closed unanswered, when how the call was made says.
std::string_view ClosedConnectionHint(const grpc::Status& status,
                                      const ClientFlags& flags) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
      status.error_message().find("Socket closed") == std::string::npos) {
    return "";
  }
  if (!flags.tls_ca.empty() && flags.tls_cert.empty()) {
    return "the server closed the TLS connection, most likely because it "
           "requires a client certificate (mutual TLS): pass --tls-cert and "
           "--tls-key";
  }
  if (flags.tls_ca.empty() && flags.tls_cert.empty()) {
    return "the server closed the connection: if it serves TLS, pass "
           "--tls-ca (and --tls-cert and --tls-key for mutual TLS)";
  }
  return "";
}

}  // namespace

int PrintRpcError(std::string_view rpc, const grpc::Status& status,
                  const ClientFlags& flags) {
  std::cerr << "error: " << rpc
            << " failed: " << StatusCodeName(status.error_code()) << ": "
            << status.error_message() << "\n";
  if (const std::string_view hint = ClosedConnectionHint(status, flags);
      !hint.empty()) {
    std::cerr << "hint: " << hint << "\n";
  }
  return kExitFailed;
}

int ExitStatusOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
      return kExitUsage;
    default:
      return kExitFailed;
  }
}

}  // namespace hijackguard::plugin::cli
