#include "plugin/siem/transport.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "common/file.h"
#include "common/strings.h"
#include "plugin/siem/formats.h"

// httplib after the system headers (it includes OpenSSL's itself).
#include <httplib.h>

namespace hijackguard::plugin::siem {
namespace {

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

// This machine's name: the syslog HOSTNAME and the HEC `host`.
std::string LocalHostName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0') {
    return host;
  }
  return "-";
}

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

// Syslog over TCP, or TLS when configured; one connection, opened when
// needed and dropped on any error. The socket is non-blocking: connecting,
// the handshake and writing a batch share one deadline (the sink's timeout),
// so a receiver that stops reading holds the sink for that long at most.
class SyslogTransport final : public Transport {
 public:
  SyslogTransport(SinkConfig sink, std::string version,
                  std::unique_ptr<SSL_CTX, SslCtxFree> ctx)
      : sink_(std::move(sink)), ctx_(std::move(ctx)) {
    options_.facility = sink_.facility;
    options_.version = std::move(version);
    options_.hostname = LocalHostName();
  }
  ~SyslogTransport() override { Close(); }

  absl::Status Send(std::span<const SiemEvent> events) override {
    const absl::Time deadline = absl::Now() + sink_.timeout;
    if (fd_ >= 0 && PeerClosed()) {
      Close();
    }
    if (fd_ < 0) {
      if (absl::Status s = Connect(deadline); !s.ok()) {
        Close();
        return s;
      }
    }
    std::string frames;
    for (const SiemEvent& e : events) {
      frames += OctetCounted(FormatSyslog(e, options_));
    }
    if (absl::Status s = WriteAll(frames, deadline); !s.ok()) {
      Close();
      return s;
    }
    return absl::OkStatus();
  }

 private:
  // Waits for `events` on the socket until `deadline`; false when it passed.
  bool WaitFor(short events, absl::Time deadline) const {
    while (true) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      pollfd p{fd_, events, 0};
      const int n =
          poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return false;
    }
  }

  // Whether the receiver closed the connection (or reset it) since the last
  // send. A syslog receiver sends nothing but, over TLS 1.3, session tickets,
  // which are read and dropped here.
  bool PeerClosed() const {
    char buf[4096];
    // Anything the receiver sent is read and dropped (a bounded amount: a
    // receiver that keeps talking is treated as closed).
    for (int i = 0; i < 64; ++i) {
      if (ssl_ == nullptr) {
        const ssize_t n = recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) continue;
        return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      }
      ERR_clear_error();
      const int n = SSL_read(ssl_.get(), buf, sizeof(buf));
      if (n > 0) continue;
      const int error = SSL_get_error(ssl_.get(), n);
      ERR_clear_error();
      return error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE;
    }
    return true;
  }

  absl::Status Connect(absl::Time deadline) {
    const std::size_t colon = sink_.address.rfind(':');
    std::string host = sink_.address.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[') {
      host = host.substr(1, host.size() - 2);
    }
    const std::string port = sink_.address.substr(colon + 1);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
        rc != 0) {
      return absl::UnavailableError(
          StrCat("cannot resolve ", sink_.address, ": ", gai_strerror(rc)));
    }
    std::string why = "no address";
    int addresses = 0;
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) ++addresses;
    for (addrinfo* a = found; a != nullptr && fd_ < 0; a = a->ai_next) {
      // Each address gets its share of the time left, so one that drops
      // packets does not use it all.
      const absl::Time until =
          absl::Now() + (deadline - absl::Now()) / std::max(addresses--, 1);
      fd_ = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                   a->ai_protocol);
      if (fd_ < 0) continue;
      int error = 0;
      if (connect(fd_, a->ai_addr, a->ai_addrlen) != 0) {
        error = errno;
        if (error == EINPROGRESS && WaitFor(POLLOUT, until)) {
          socklen_t len = sizeof(error);
          getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len);
        } else if (error == EINPROGRESS) {
          error = ETIMEDOUT;
        }
      }
      if (error != 0) {
        why = std::strerror(error);
        close(fd_);
        fd_ = -1;
      }
    }
    freeaddrinfo(found);
    if (fd_ < 0) {
      return absl::UnavailableError(
          StrCat("cannot connect to ", sink_.address, ": ", why));
    }
    if (ctx_ == nullptr) {
      return absl::OkStatus();
    }
    ssl_.reset(SSL_new(ctx_.get()));
    const std::string& name =
        sink_.server_name.empty() ? host : sink_.server_name;
    in6_addr ip{};
    const bool literal = inet_pton(AF_INET, name.c_str(), &ip) == 1 ||
                         inet_pton(AF_INET6, name.c_str(), &ip) == 1;
    if (literal) {
      // No SNI for an address (RFC 6066); the certificate must name it.
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), name.c_str());
    } else {
      SSL_ctrl(ssl_.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME,
               TLSEXT_NAMETYPE_host_name, const_cast<char*>(name.c_str()));
      SSL_set1_host(ssl_.get(), name.c_str());
    }
    SSL_set_fd(ssl_.get(), fd_);
    while (true) {
      const int rc = SSL_connect(ssl_.get());
      if (rc == 1) return absl::OkStatus();
      const int error = SSL_get_error(ssl_.get(), rc);
      if ((error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) &&
          WaitFor(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
        continue;
      }
      const long verify = SSL_get_verify_result(ssl_.get());
      return absl::UnavailableError(
          StrCat("TLS handshake with ", sink_.address, " failed: ",
                 verify != X509_V_OK ? X509_verify_cert_error_string(verify)
                 : error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE
                     ? "timed out"
                     : OpenSslError()));
    }
  }

  absl::Status WriteAll(std::string_view data, absl::Time deadline) {
    while (!data.empty()) {
      long n = 0;
      short wait = POLLOUT;
      if (ssl_ != nullptr) {
        ERR_clear_error();
        n = SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size()));
        if (n <= 0) {
          const int error = SSL_get_error(ssl_.get(), static_cast<int>(n));
          if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
            return absl::UnavailableError(StrCat("writing to ", sink_.address,
                                                 " failed: ", OpenSslError()));
          }
          wait = error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
          n = 0;
        }
      } else {
        n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
          if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            return absl::UnavailableError(
                StrCat("writing to ", sink_.address,
                       " failed: ", std::strerror(errno)));
          }
          n = 0;
        }
      }
      data.remove_prefix(static_cast<std::size_t>(n));
      if (!data.empty() && n == 0 && !WaitFor(wait, deadline)) {
        return absl::UnavailableError(
            StrCat("writing to ", sink_.address, " timed out after ",
                   absl::FormatDuration(sink_.timeout)));
      }
    }
    return absl::OkStatus();
  }

  void Close() {
    if (ssl_ != nullptr) {
      SSL_shutdown(ssl_.get());
      ssl_.reset();
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

  const SinkConfig sink_;
  SyslogOptions options_;
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx_;
  std::unique_ptr<SSL, SslFree> ssl_;
  int fd_ = -1;
};

absl::StatusOr<std::unique_ptr<SSL_CTX, SslCtxFree>> MakeTlsContext(
    const SinkConfig& sink) {
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  const int loaded = sink.ca_file.empty()
                         ? SSL_CTX_set_default_verify_paths(ctx.get())
                         : SSL_CTX_load_verify_locations(
                               ctx.get(), sink.ca_file.c_str(), nullptr);
  if (loaded != 1) {
    return absl::InvalidArgumentError(
        StrCat("siem sink ", sink.name, ": ca_file ", sink.ca_file,
               " cannot be read: ", OpenSslError()));
  }
  if (!sink.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), sink.cert_file.c_str()) !=
            1 ||
        SSL_CTX_use_PrivateKey_file(ctx.get(), sink.key_file.c_str(),
                                    SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      return absl::InvalidArgumentError(
          StrCat("siem sink ", sink.name, ": cert_file ", sink.cert_file,
                 " and key_file ", sink.key_file,
                 " cannot be used: ", OpenSslError()));
    }
  }
  return ctx;
}

// A JSON array of events, or Splunk HEC envelopes, POSTed to the URL.
class WebhookTransport final : public Transport {
 public:
  WebhookTransport(SinkConfig sink, std::string token)
      : sink_(std::move(sink)), token_(std::move(token)) {
    // The origin (scheme://host:port) is all that is logged: a path or query
    // may hold a token.
    std::string_view rest = sink_.url;
    const std::size_t scheme_end = rest.find("://") + 3;
    const std::size_t path_start = rest.find_first_of("/?", scheme_end);
    origin_ = std::string(rest.substr(0, path_start));
    path_ = path_start == std::string_view::npos
                ? "/"
                : std::string(rest.substr(path_start));
    if (path_.front() == '?') path_.insert(0, "/");
    host_ = LocalHostName();
  }

  absl::Status Send(std::span<const SiemEvent> events) override {
    if (client_ == nullptr) {
      client_ = sink_.cert_file.empty()
                    ? std::make_unique<httplib::Client>(origin_)
                    : std::make_unique<httplib::Client>(
                          origin_, sink_.cert_file, sink_.key_file);
      const auto seconds = absl::ToInt64Seconds(sink_.timeout);
      const auto micros = absl::ToInt64Microseconds(sink_.timeout) % 1'000'000;
      client_->set_connection_timeout(seconds, micros);
      client_->set_read_timeout(seconds, micros);
      client_->set_write_timeout(seconds, micros);
      client_->set_keep_alive(true);
      if (sink_.tls) {
        client_->enable_server_certificate_verification(true);
        if (!sink_.ca_file.empty()) {
          client_->set_ca_cert_path(sink_.ca_file);
        }
      }
    }
    std::string body;
    const char* type = "application/json";
    if (sink_.format == SinkConfig::Format::kSplunkHec) {
      body = FormatSplunkHec(events, host_);
    } else {
      body = "[";
      for (std::size_t i = 0; i < events.size(); ++i) {
        if (i > 0) body += ",";
        body += FormatJson(events[i]);
      }
      body += "]";
    }
    httplib::Headers headers;
    if (!token_.empty()) {
      if (!sink_.header.empty()) {
        headers.emplace(sink_.header, token_);
      } else {
        headers.emplace(
            "Authorization",
            StrCat(sink_.format == SinkConfig::Format::kSplunkHec ? "Splunk "
                                                                  : "Bearer ",
                   token_));
      }
    }
    httplib::Result result = client_->Post(path_, headers, body, type);
    if (!result) {
      const httplib::Error error = result.error();
      client_.reset();  // a fresh connection next time
      return absl::UnavailableError(
          StrCat("POST to ", origin_, " failed: ", httplib::to_string(error)));
    }
    if (result->status < 200 || result->status > 299) {
      return absl::UnavailableError(
          StrCat("POST to ", origin_, " answered HTTP ", result->status));
    }
    return absl::OkStatus();
  }

 private:
  const SinkConfig sink_;
  const std::string token_;
  std::string origin_;  // scheme://host:port
  std::string path_;
  std::string host_;  // ours, for HEC's `host`
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> MakeTransport(
    const SinkConfig& sink, std::string_view version) {
  if (sink.type == SinkConfig::Type::kSyslog) {
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx;
    if (sink.tls) {
      auto made = MakeTlsContext(sink);
      if (!made.ok()) return made.status();
      ctx = std::move(*made);
    }
    return std::make_unique<SyslogTransport>(sink, std::string(version),
                                             std::move(ctx));
  }
  std::string token;
  if (!sink.token_file.empty()) {
    auto read = ReadNamedFile(StrCat("siem sink ", sink.name, " token_file"),
                              sink.token_file, 4096);
    if (!read.ok()) return read.status();
    token = std::string(absl::StripAsciiWhitespace(*read));
    if (token.empty() || token.find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(
          StrCat("siem sink ", sink.name, ": token_file ", sink.token_file,
                 " must hold one line, the token"));
    }
  }
  if (sink.tls) {
    // Checked now, not at the first delivery.
    auto ctx = MakeTlsContext(sink);
    if (!ctx.ok()) return ctx.status();
  }
  return std::make_unique<WebhookTransport>(sink, std::move(token));
}

}  // namespace hijackguard::plugin::siem
