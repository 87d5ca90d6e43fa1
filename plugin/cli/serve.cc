// `hijackguard serve`: runs the plugin until SIGINT or SIGTERM.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "common/file.h"
#include "common/log.h"
#include "common/strings.h"
#include "plugin/cli/client_flags.h"
#include "plugin/cli/commands.h"
#include "plugin/cli/state_dir.h"
#include "plugin/config.h"
#include "plugin/grpc_log.h"
#include "plugin/server.h"
#include "plugin/server_options.h"
#include "store/postgres/pg_store.h"

namespace hijackguard::plugin::cli {
namespace {

struct ServeFlags {
  std::string pid_file;
  std::string config;
  std::string listen;
  std::string state;
  std::string http_listen;
  bool accept_broken_audit = false;
};

// Writes this process's id to `path` (replacing it atomically), for
// `kill -HUP "$(cat FILE)"` and service managers.
absl::Status WritePidFile(const std::string& path) {
  // A new file of our own next to it (never one someone placed there, nor
  // through a symlink), then renamed over it.
  const std::string tmp = StrCat(path, ".", ::getpid(), ".tmp");
  const int fd = ::open(
      tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::FailedPreconditionError(StrCat("pid file ", path,
                                                ": cannot create ", tmp, " (",
                                                std::strerror(errno), ")"));
  }
  const std::string text = StrCat(::getpid(), "\n");
  const bool written = ::write(fd, text.data(), text.size()) ==
                           static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return absl::FailedPreconditionError(StrCat(
        "pid file ", path, ": cannot write it (", std::strerror(err), ")"));
  }
  return absl::OkStatus();
}

// Removes the pid file at exit if it still names this process.
void RemovePidFile(const std::string& path) {
  auto text = ReadFileToString(path, 64);
  int pid = 0;
  if (text.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid) &&
      pid == static_cast<int>(::getpid())) {
    std::remove(path.c_str());
  }
}

// SIGHUP: re-reads the configuration's auth section and TLS files; a broken
// file keeps what is in force. Keys that only take effect at start are named.
void ReloadConfig(const std::string& path, std::string& text,
                  PluginServer& server) {
  auto keep = [](const absl::Status& why) {
    LogError(
        StrCat("SIGHUP: configuration not re-read; what is in force "
               "stays: ",
               why.message()));
  };
  auto now = ReadFileToString(path, 1 << 20);
  if (!now.ok()) {
    keep(now.status());
    return;
  }
  auto parsed = ParseServerConfig(*now, StrCat("configuration ", path));
  if (!parsed.ok()) {
    keep(parsed.status());
    return;
  }
  const std::vector<std::string> restart = KeysNeedingRestart(text, *now);
  if (!restart.empty()) {
    LogWarning(StrCat("SIGHUP: configuration keys ",
                      absl::StrJoin(restart, ", "),
                      " changed; they take effect at the next restart"));
  }
  if (parsed->http.tls && server.has_http_tls()) {
    const absl::Status reloaded = server.ReloadHttpTls(*parsed->http.tls);
    if (!reloaded.ok()) {
      LogWarning(
          StrCat("SIGHUP: http.tls files not swapped (those in force "
                 "stay): ",
                 reloaded.message()));
    } else {
      LogInfo("SIGHUP: http.tls files re-read");
    }
  }
  if (parsed->tls && server.has_tls()) {
    const absl::Status reloaded = server.ReloadTls(*parsed->tls);
    if (reloaded.ok()) {
      LogInfo("SIGHUP: TLS files re-read (new connections use them)");
    } else {
      LogError(StrCat("SIGHUP: TLS files not changed: ", reloaded.message()));
    }
  }
  if (parsed->auth) {
    const absl::Status reloaded = server.ReloadAuth(
        std::make_shared<const AuthConfig>(*std::move(parsed->auth)));
    if (reloaded.ok()) {
      LogInfo("SIGHUP: auth section re-read");
    } else {
      LogWarning(
          StrCat("SIGHUP: auth section not applied: ", reloaded.message()));
    }
  }
  text = *std::move(now);
}

// Where the server keeps its state, for the start's log line.
std::string StateDescription(const ServerConfig& config,
                             const ServerOptions& options,
                             PluginServer& server) {
  if (!options.postgres.dsn.empty()) {
    // The connection string holds no password (refused at parse), but it
    // is the operator's: the log names the replica, not the string.
    const auto* pg = dynamic_cast<const store::PostgresStore*>(server.store());
    return StrCat("in PostgreSQL (postgres.dsn), replica ",
                  pg != nullptr ? pg->replica_id() : "?");
  }
  if (options.state_path.empty()) {
    return "in memory only (state_store \"memory\")";
  }
  return StrCat(options.state_path, " (synchronous=", config.state_synchronous,
                ")");
}

// What the server runs with, in the log.
void LogStart(const ServerConfig& config, const ServerOptions& options,
              PluginServer& server) {
  const std::string catalog_name = config.catalog_path.empty()
                                       ? std::string("built-in")
                                       : config.catalog_path;
  const policy::PolicyEngine::PolicyInfo policy = server.engine().policy_info();
  LogInfo(StrCat("policy ", policy.origin, ": revision ",
                 policy.policy->revision(), ", mode ",
                 policy::ModeName(policy.policy->global().mode.value)));
  LogInfo(StrCat("known-issue catalog ", catalog_name, ": version ",
                 options.catalog->catalog_version(), ", ",
                 options.catalog->issues().size(), " issues; state ",
                 StateDescription(config, options, server)));
  if (!options.auth) {
    LogWarning(
        "development mode: there is no auth section, so every caller is an "
        "anonymous administrator of every tenant (docs/security.md)");
  } else {
    LogInfo(StrCat("auth: ", options.auth->principals.size(),
                   " principals; reflection ",
                   options.reflection.value_or(false) ? "on" : "off"));
  }
}

// Waits for SIGINT or SIGTERM; SIGHUP reloads the configuration's auth
// section and the policy file meanwhile.
void ServeUntilStopped(const sigset_t& signals, const ServeFlags& flags,
                       const ServerConfig& config, std::string& config_text,
                       PluginServer& server) {
  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) {
      continue;
    }
    if (sig == SIGHUP) {
      ReloadConfig(flags.config, config_text, server);
      const std::string before = server.engine().policy()->revision();
      const absl::Status reloaded = server.ReloadPolicy();
      if (!reloaded.ok()) {
        LogError(StrCat("SIGHUP: policy not reloaded; ", before,
                        " stays in force: ", reloaded.message()));
      } else {
        const policy::PolicyEngine::PolicyInfo now =
            server.engine().policy_info();
        const std::string& after = now.policy->revision();
        LogInfo(after == before
                    ? StrCat("SIGHUP: policy file ", config.policy_path,
                             " unchanged since it was last read; the policy "
                             "in force stays (",
                             now.origin, ", revision ", after, ")")
                    : StrCat("SIGHUP: policy ", config.policy_path,
                             " reloaded: ", before, " -> ", after));
      }
      continue;
    }
    LogInfo(StrCat(sig == SIGINT ? "SIGINT" : "SIGTERM",
                   ": draining in-flight calls for up to ",
                   absl::ToInt64Seconds(config.shutdown_grace), " s"));
    break;
  }
}

int RunServe(const ServeFlags& flags) {
  // Block the shutdown signals before gRPC starts any thread, so only sigwait()
  // sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A SIEM receiver that closes its end must fail a write, not end the
  // process: OpenSSL and cpp-httplib write without MSG_NOSIGNAL.
  signal(SIGPIPE, SIG_IGN);

  // Everything the server writes is the owner's alone, whatever the umask.
  ::umask(077);
  auto config = LoadServerConfig(flags.config);
  if (!config.ok()) {
    LogError(StrCat(config.status().message()));
    return ExitStatusOf(config.status());
  }
  SetLogFormat(config->log_format);
  SetLogLevel(config->log_level);
  if (!flags.listen.empty()) {
    config->listen = flags.listen;
  }
  if (!flags.state.empty()) {
    config->state_dir = flags.state;
  }
  if (!flags.http_listen.empty()) {
    config->http.listen = flags.http_listen;
  }
  // What SIGHUP compares the file with.
  std::string config_text =
      ReadFileToString(flags.config, 1 << 20).value_or("");
  auto catalog =
      config->catalog_path.empty()
          ? detector::KnownIssueCatalog::Builtin()
          : detector::KnownIssueCatalog::LoadFile(config->catalog_path);
  if (!catalog.ok()) {
    LogError(StrCat(catalog.status().message()));
    return ExitStatusOf(catalog.status());
  }
  // State in memory creates and locks nothing on disk; on disk, a start that
  // fails leaves the state directory as it was.
  std::optional<StartRollback> rollback;
  absl::StatusOr<int> lock = -1;
  if (config->state_store != "memory") {
    rollback.emplace(config->state_dir);
    lock = LockStateDir(config->state_dir);
  }
  if (!lock.ok()) {
    rollback->Keep();  // what is there is another server's
    LogError(StrCat(lock.status().message()));
    return ExitStatusOf(lock.status());
  }

  const ServerOptions options = ServerOptionsFrom(
      *config, flags.accept_broken_audit,
      std::make_shared<const detector::KnownIssueCatalog>(*std::move(catalog)));
  auto server = BuildServer(options);
  if (!server.ok()) {
    LogError(StrCat(server.status().message()));
    return ExitStatusOf(server.status());
  }
  // It serves: what it has answered is kept, whatever happens next.
  if (rollback) {
    rollback->Keep();
  }
  if (!flags.pid_file.empty()) {
    if (absl::Status written = WritePidFile(flags.pid_file); !written.ok()) {
      LogError(StrCat(written.message()));
      (*server)->Shutdown(config->shutdown_grace);
      return kExitUsage;
    }
  }
  LogStart(*config, options, **server);
  ForwardGrpcLog();
  // The lines on stdout: tools and tests read the bound addresses from them.
  std::printf("hijackguard serving on %s (%s)\n", (*server)->address().c_str(),
              config->tls ? "TLS" : "plaintext");
  if (const std::string http = (*server)->http_address(); !http.empty()) {
    std::printf("http on %s (%s)\n", http.c_str(),
                config->http.tls ? "TLS" : "plaintext");
  }
  std::fflush(stdout);

  ServeUntilStopped(signals, flags, *config, config_text, **server);
  (*server)->Shutdown(config->shutdown_grace);
  if (!flags.pid_file.empty()) {
    RemovePidFile(flags.pid_file);
  }
  LogInfo(
      StrCat("stopped; unary calls answered: ", (*server)->calls().Summary()));
  if (*lock >= 0) {
    ::close(*lock);
  }
  return kExitDone;
}

}  // namespace

void AddServeCommand(CLI::App& app, RunFn* run) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* c = app.add_subcommand(
      "serve", "Run the plugin's gRPC server until SIGINT/SIGTERM");
  c->add_option("--config", flags->config, "Configuration file (JSON)")
      ->required();
  c->add_option("--listen", flags->listen,
                "host:port to listen on, overriding the configuration (port 0: "
                "any free port)");
  c->add_option("--http-listen", flags->http_listen,
                "host:port of the HTTP listener (gateway endpoints), "
                "overriding the configuration's http.listen (port 0: any "
                "free port)");
  c->add_option("--state", flags->state,
                "State directory, overriding the configuration's state_dir");
  c->add_option("--pid-file", flags->pid_file,
                "Write the server's process id to this file once it serves "
                "(removed at exit): for kill -HUP and service managers");
  c->add_flag("--accept-broken-audit", flags->accept_broken_audit,
              "Start even if the audit log's tail does not verify (logged, "
              "and recorded in the log)");
  c->callback([flags, run] { *run = [flags] { return RunServe(*flags); }; });
}

}  // namespace hijackguard::plugin::cli
