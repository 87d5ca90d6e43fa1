// A throwaway PostgreSQL cluster for scripts (store/testing/pg_cluster.h):
// starts one, creates the databases asked for, prints one JSON line
//   {"dir": D, "postmaster_pid": P, "password_file": F,
//    "dsn": {"NAME": DSN, ...}}
// and keeps the cluster until its standard input closes; then it exits and
// the cluster's watchdog stops the cluster and removes its directory (as it
// does however this program ends). The password file (mode 0600, in the
// cluster's directory) is what hijackguard's postgres.password_file takes.
// Exits 77 when PostgreSQL's server is not installed (the scripts skip).
//
//   pg_throwaway --databases one,two
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"
#include "store/testing/pg_cluster.h"

int main(int argc, char** argv) {
  CLI::App app{"a throwaway PostgreSQL cluster, kept until stdin closes"};
  std::vector<std::string> databases;
  app.add_option("--databases", databases, "Databases to create")
      ->delimiter(',')
      ->required();
  CLI11_PARSE(app, argc, argv);
  // The script that runs this cleans up on an interrupt: it closes stdin.
  std::signal(SIGINT, SIG_IGN);
  std::string why;
  hijackguard::store::testing::PgCluster* cluster =
      hijackguard::store::testing::PgCluster::Shared(&why);
  if (cluster == nullptr) {
    std::fprintf(stderr, "pg_throwaway: %s\n", why.c_str());
    return why.find("not installed") != std::string::npos ? 77 : 1;
  }
  nlohmann::json out;
  out["dir"] = cluster->dir();
  for (const std::string& db : databases) {
    if (absl::Status s = cluster->CreateDatabase(db); !s.ok()) {
      std::fprintf(stderr, "pg_throwaway: CREATE DATABASE %s: %s\n", db.c_str(),
                   std::string(s.message()).c_str());
      return 1;
    }
    out["dsn"][db] = cluster->Dsn(db);
  }
  const std::string password_file = cluster->dir() + "/client.pw";
  const int fd = ::open(password_file.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  const std::string line = cluster->password() + "\n";
  if (fd < 0 || ::write(fd, line.data(), line.size()) !=
                    static_cast<ssize_t>(line.size())) {
    std::perror("pg_throwaway: the password file");
    return 1;
  }
  ::close(fd);
  out["password_file"] = password_file;
  long postmaster = 0;
  std::ifstream(cluster->dir() + "/data/postmaster.pid") >> postmaster;
  if (postmaster <= 0) {
    std::fprintf(stderr, "pg_throwaway: no postmaster.pid\n");
    return 1;
  }
  out["postmaster_pid"] = postmaster;
  std::cout << out.dump() << std::endl;
  std::string ignored;
  while (std::getline(std::cin, ignored)) {
  }
  return 0;
}
