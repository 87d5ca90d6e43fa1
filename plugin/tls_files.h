// The gRPC listener's TLS credentials, rotated without a restart: the
// configured PEM files are checked (they parse, and the key matches the
// certificate) and copied into a directory of the server's own, behind a
// symlink that is swapped atomically; gRPC's file watcher picks the new pair
// up within a second. A broken file never reaches gRPC: the pair in force
// stays.
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "plugin/config.h"

namespace grpc {
class ServerCredentials;
}  // namespace grpc

namespace hijackguard::plugin {

class TlsFiles {
 public:
  // Checks and copies `config`'s files into `dir` (created 0700; "" = a new
  // temporary directory, removed with this object). INVALID_ARGUMENT naming
  // the file for one that cannot be read or does not parse, or a key that
  // does not match the certificate.
  static absl::StatusOr<std::unique_ptr<TlsFiles>> Create(
      const TlsConfig& config, std::string dir);
  ~TlsFiles();
  TlsFiles(const TlsFiles&) = delete;
  TlsFiles& operator=(const TlsFiles&) = delete;

  // Credentials that follow the copies (client certificates requested as
  // `config.client_cert_optional` says).
  std::shared_ptr<grpc::ServerCredentials> credentials() const;

  // Checks and copies the files anew (SIGHUP). On any problem the pair in
  // force stays and the status says which file. Whether client certificates
  // are requested cannot change without a restart (FAILED_PRECONDITION).
  [[nodiscard]] absl::Status Reload(const TlsConfig& config);

 private:
  TlsFiles(TlsConfig config, std::string dir, bool temporary);
  [[nodiscard]] absl::Status Install(const TlsConfig& config);

  const TlsConfig config_;  // as at start
  const std::string dir_;
  const bool temporary_;
  absl::Mutex mu_;
  int generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_swap_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Set once, by Create (they watch the files themselves).
  std::shared_ptr<grpc::ServerCredentials> credentials_;
};

}  // namespace hijackguard::plugin
