#include "plugin/tls_files.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "absl/status/status.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace hijackguard::plugin {
namespace {

constexpr std::size_t kMaxPemBytes = 1 << 20;
// How often gRPC's watcher looks at the copies (cheap: three small reads).
constexpr unsigned kRefreshSeconds = 1;
constexpr const char* kCurrent = "current";

struct PemFiles {
  std::string cert;
  std::string key;
  std::string ca;
};

absl::Status Invalid(std::string_view key, const std::string& path,
                     std::string_view why) {
  return absl::InvalidArgumentError(StrCat("tls.", key, " ", path, ": ", why));
}

// The certificates in `pem` (at least one), parsed.
absl::Status CheckCertificates(std::string_view key, const std::string& path,
                               const std::string& pem, X509** first) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  int count = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (count++ == 0 && first != nullptr) {
      *first = cert;
    } else {
      X509_free(cert);
    }
  }
  BIO_free(bio);
  if (count == 0) {
    return Invalid(key, path, "holds no PEM certificate");
  }
  return absl::OkStatus();
}

absl::StatusOr<PemFiles> ReadAndCheck(const TlsConfig& config) {
  PemFiles pem;
  for (auto [key, path, out] :
       {std::tuple{"cert_file", &config.cert_file, &pem.cert},
        std::tuple{"key_file", &config.key_file, &pem.key},
        std::tuple{"client_ca_file", &config.client_ca_file, &pem.ca}}) {
    if (path->empty()) continue;
    auto text = ReadFileToString(*path, kMaxPemBytes);
    if (!text.ok()) {
      return absl::InvalidArgumentError(
          StrCat("tls.", key, ": ", text.status().message()));
    }
    *out = *std::move(text);
  }
  X509* cert = nullptr;
  RETURN_IF_ERROR(
      CheckCertificates("cert_file", config.cert_file, pem.cert, &cert));
  BIO* bio = BIO_new_mem_buf(pem.key.data(), static_cast<int>(pem.key.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  absl::Status status;
  if (key == nullptr) {
    status = Invalid("key_file", config.key_file,
                     "holds no PEM private key (or it is encrypted)");
  } else if (X509_check_private_key(cert, key) != 1) {
    status =
        Invalid("key_file", config.key_file,
                StrCat("does not match the certificate in ", config.cert_file));
  }
  EVP_PKEY_free(key);
  X509_free(cert);
  RETURN_IF_ERROR(status);
  if (!config.client_ca_file.empty()) {
    RETURN_IF_ERROR(CheckCertificates("client_ca_file", config.client_ca_file,
                                      pem.ca, nullptr));
  }
  return pem;
}

}  // namespace

TlsFiles::TlsFiles(TlsConfig config, std::string dir, bool temporary)
    : config_(std::move(config)), dir_(std::move(dir)), temporary_(temporary) {}

TlsFiles::~TlsFiles() {
  if (temporary_) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

absl::StatusOr<std::unique_ptr<TlsFiles>> TlsFiles::Create(
    const TlsConfig& config, std::string dir) {
  bool temporary = false;
  if (dir.empty()) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "hijackguard-tls-XXXXXX")
            .string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError("cannot create a directory for TLS files");
    }
    dir = pattern;
    temporary = true;
  } else {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec || ::chmod(dir.c_str(), 0700) != 0) {
      return absl::FailedPreconditionError(
          StrCat("cannot create the TLS directory ", dir));
    }
    // Copies left by an earlier run go (only ours: generations count from
    // 1 again).
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with("gen-") || name == kCurrent ||
          name == StrCat(kCurrent, ".new")) {
        std::filesystem::remove_all(entry.path(), ec);
      }
    }
  }
  std::unique_ptr<TlsFiles> files(
      new TlsFiles(config, std::move(dir), temporary));
  RETURN_IF_ERROR(files->Install(config));
  const std::string current =
      (std::filesystem::path(files->dir_) / kCurrent).string();
  auto provider =
      config.client_ca_file.empty()
          ? std::make_shared<
                grpc::experimental::FileWatcherCertificateProvider>(
                current + "/key.pem", current + "/cert.pem", kRefreshSeconds)
          : std::make_shared<
                grpc::experimental::FileWatcherCertificateProvider>(
                current + "/key.pem", current + "/cert.pem",
                current + "/ca.pem", kRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!config.client_ca_file.empty()) {
    options.watch_root_certs();
    options.set_cert_request_type(
        config.client_cert_optional
            ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY
            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  files->credentials_ = grpc::experimental::TlsServerCredentials(options);
  return files;
}

std::shared_ptr<grpc::ServerCredentials> TlsFiles::credentials() const {
  return credentials_;
}

absl::Status TlsFiles::Reload(const TlsConfig& config) {
  if (config.client_ca_file.empty() != config_.client_ca_file.empty() ||
      config.client_cert_optional != config_.client_cert_optional) {
    return absl::FailedPreconditionError(
        "whether client certificates are asked for (tls.client_ca_file, "
        "tls.client_cert) changes only with a restart");
  }
  return Install(config);
}

absl::Status TlsFiles::Install(const TlsConfig& config) {
  namespace fs = std::filesystem;
  const fs::path base(dir_);
  for (const std::string* path :
       {&config.cert_file, &config.key_file, &config.client_ca_file}) {
    std::error_code ec;
    const fs::path file = fs::weakly_canonical(*path, ec);
    const fs::path ours = fs::weakly_canonical(base, ec);
    if (!path->empty() && file.string().starts_with(ours.string() + "/")) {
      return absl::InvalidArgumentError(
          StrCat(*path, " is inside ", dir_,
                 ", which the server manages; keep the TLS files elsewhere"));
    }
  }
  ASSIGN_OR_RETURN(PemFiles pem, ReadAndCheck(config));
  absl::MutexLock lock(&mu_);
  // gRPC's watcher compares modification times to the second and reads the
  // key and the certificate separately: swaps less than a second apart
  // could hand it a key of one generation with the certificate of the next.
  const absl::Duration since = absl::Now() - last_swap_;
  if (since < absl::Milliseconds(1100)) {
    absl::SleepFor(absl::Milliseconds(1100) - since);
  }
  const std::string name = StrCat("gen-", ++generation_);
  std::error_code ec;
  fs::remove_all(base / name, ec);
  fs::create_directory(base / name, ec);
  if (ec) {
    return absl::InternalError(
        StrCat("cannot create ", (base / name).string(), ": ", ec.message()));
  }
  for (auto [file, text] :
       {std::pair{"cert.pem", &pem.cert}, std::pair{"key.pem", &pem.key},
        std::pair{"ca.pem", &pem.ca}}) {
    RETURN_IF_ERROR(WritePrivateFile((base / name / file).string(), *text));
  }
  // Swap the link in one rename: the watcher sees the old pair or the new.
  const fs::path link = base / kCurrent;
  const fs::path staged = base / StrCat(kCurrent, ".new");
  fs::remove(staged, ec);
  fs::create_directory_symlink(name, staged, ec);
  if (!ec) fs::rename(staged, link, ec);
  if (ec) {
    return absl::InternalError(
        StrCat("cannot switch ", link.string(), ": ", ec.message()));
  }
  last_swap_ = absl::Now();
  // The generation before this one may still be being read; older ones go.
  if (generation_ > 2) {
    fs::remove_all(base / StrCat("gen-", generation_ - 2), ec);
  }
  return absl::OkStatus();
}

}  // namespace hijackguard::plugin
