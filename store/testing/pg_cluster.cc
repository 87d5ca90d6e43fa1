#include "store/testing/pg_cluster.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/status_macros.h"
#include "common/strings.h"
#include "store/postgres/pg_conn.h"

namespace hijackguard::store::testing {

namespace {

namespace fs = std::filesystem;

constexpr const char* kAdmin = "hgadmin";

std::string FindBindir() {
  if (const char* env = std::getenv("HIJACKGUARD_PG_BINDIR")) return env;
  if (FILE* p = ::popen("pg_config --bindir 2>/dev/null", "r")) {
    char line[512] = {};
    const bool got = std::fgets(line, sizeof line, p) != nullptr;
    ::pclose(p);
    std::string dir = got ? line : "";
    while (!dir.empty() && (dir.back() == '\n' || dir.back() == ' ')) {
      dir.pop_back();
    }
    if (!dir.empty() && fs::exists(fs::path(dir) / "initdb")) return dir;
  }
  return "/usr/lib/postgresql/15/bin";
}

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream all;
  all << in.rdbuf();
  std::string text = all.str();
  return text.size() > 1500 ? text.substr(text.size() - 1500) : text;
}

// Single quotes for sh.
std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

absl::Status PgCluster::Run(const std::string& program,
                            const std::vector<std::string>& args) {
  const std::string path = (fs::path(bindir_) / program).string();
  const std::string log = (fs::path(dir_) / "commands.log").string();
  std::vector<std::string> argv_strings = {path};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(argv_strings.size() + 1);
  for (std::string& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (gid_ >= 0 && (::setgroups(0, nullptr) != 0 ||
                      ::setgid(static_cast<gid_t>(gid_)) != 0)) {
      ::_exit(126);
    }
    if (uid_ >= 0 && ::setuid(static_cast<uid_t>(uid_)) != 0) ::_exit(126);
    ::chdir(dir_.c_str());
    ::execv(path.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(StrCat(program, " failed (status ", status,
                                      "): ", Tail(log), Tail(dir_ + "/log")));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PgCluster>> PgCluster::Start() {
  std::unique_ptr<PgCluster> c(new PgCluster());
  c->bindir_ = FindBindir();
  if (!fs::exists(fs::path(c->bindir_) / "initdb")) {
    return absl::UnavailableError(StrCat(
        "PostgreSQL's server is not installed (no initdb in ", c->bindir_,
        "): apt-get install postgresql-15, or run "
        "scripts/bootstrap"));
  }
  // The socket's path must fit in 107 bytes: a short directory in /tmp.
  std::string tmpl = "/tmp/hg-pg-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError("cannot create a temporary directory");
  }
  c->dir_ = tmpl;
  if (::geteuid() == 0) {
    const passwd* owner = ::getpwnam("postgres");
    if (owner == nullptr) owner = ::getpwnam("nobody");
    if (owner == nullptr) {
      return absl::FailedPreconditionError(
          "running as root, and there is neither a postgres nor a nobody "
          "user to run initdb as");
    }
    c->uid_ = static_cast<int>(owner->pw_uid);
    c->gid_ = static_cast<int>(owner->pw_gid);
    if (::chown(c->dir_.c_str(), owner->pw_uid, owner->pw_gid) != 0) {
      return absl::InternalError("cannot hand the directory to its owner");
    }
  }
  ::chmod(c->dir_.c_str(), 0700);
  c->password_ = StrCat("pw-", ::getpid(), "-", std::rand());
  c->password_file_ = c->dir_ + "/password";
  {
    std::ofstream out(c->password_file_);
    out << c->password_ << "\n";
  }
  ::chmod(c->password_file_.c_str(), 0600);
  if (c->uid_ >= 0) {
    if (::chown(c->password_file_.c_str(), static_cast<uid_t>(c->uid_),
                static_cast<gid_t>(c->gid_)) != 0) {
      return absl::InternalError("cannot hand the password file to its owner");
    }
  }
  RETURN_IF_ERROR(c->Run(
      "initdb",
      {"-D", c->dir_ + "/data", "-U", kAdmin, "--pwfile=" + c->password_file_,
       "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"}));
  RETURN_IF_ERROR(c->Restart());
  return c;
}

absl::Status PgCluster::Restart() {
  RETURN_IF_ERROR(
      Run("pg_ctl",
          {"-D", dir_ + "/data", "-w", "-t", "60", "-l", dir_ + "/log", "-o",
           StrCat("-c listen_addresses='' -c unix_socket_directories='", dir_,
                  "' -c max_connections=200 -c shared_buffers=64MB"),
           "start"}));
  running_ = true;
  return absl::OkStatus();
}

absl::Status PgCluster::Stop() {
  running_ = false;
  return Run("pg_ctl", {"-D", dir_ + "/data", "-w", "-m", "fast", "stop"});
}

PgCluster::~PgCluster() {
  if (dir_.empty()) return;
  if (running_) {
    (void)Run("pg_ctl",
              {"-D", dir_ + "/data", "-w", "-m", "immediate", "stop"});
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

std::string PgCluster::Dsn(std::string_view database) const {
  return StrCat("host=", dir_, " user=", kAdmin, " dbname=", database);
}

absl::Status PgCluster::Psql(std::string_view database, std::string_view sql) {
  ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> conn,
                   pg::Connection::Open(Dsn(database), password_));
  return conn->Exec(sql);
}

absl::Status PgCluster::CreateDatabase(std::string_view name) {
  ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> conn,
                   pg::Connection::Open(Dsn("postgres"), password_));
  ASSIGN_OR_RETURN(pg::Result exists,
                   conn->Query("SELECT 1 FROM pg_database WHERE datname = $1",
                               pg::Params().Text(name)));
  if (exists.rows() > 0) return absl::OkStatus();
  return conn->Exec(StrCat("CREATE DATABASE \"", name, "\""));
}

PgCluster* PgCluster::Shared(std::string* why) {
  struct Holder {
    absl::StatusOr<std::unique_ptr<PgCluster>> cluster = Start();
    // If the test program dies without running destructors, a child stops
    // the server and removes its directory once the program's end of a
    // pipe closes.
    Holder() {
      if (!cluster.ok()) return;
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) return;
      const PgCluster& c = **cluster;
      const std::string user_prefix =
          c.uid_ >= 0 ? StrCat("setpriv --reuid=", c.uid_, " --regid=", c.gid_,
                               " --clear-groups ")
                      : "";
      const std::string script = StrCat(
          user_prefix, ShellQuote(c.bindir_ + "/pg_ctl"), " -D ",
          ShellQuote(c.dir_ + "/data"),
          " -m immediate stop >/dev/null 2>&1; rm -rf ", ShellQuote(c.dir_));
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::close(fds[1]);
        char byte;
        while (::read(fds[0], &byte, 1) > 0) {
        }
        if (::access(c.dir_.c_str(), F_OK) == 0) {
          ::execl("/bin/sh", "sh", "-c", script.c_str(),
                  static_cast<char*>(nullptr));
        }
        ::_exit(0);
      }
      ::close(fds[0]);
      watchdog_fd = fds[1];  // closed by the kernel when the program ends
      (void)pid;
    }
    int watchdog_fd = -1;
  };
  static Holder* holder = new Holder();  // stopped by the watchdog at exit
  if (!holder->cluster.ok()) {
    *why = std::string(holder->cluster.status().message());
    return nullptr;
  }
  return holder->cluster->get();
}

}  // namespace hijackguard::store::testing
