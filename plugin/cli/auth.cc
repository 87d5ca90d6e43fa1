// `hijackguard auth new-token` and `auth hash-token`: bearer tokens for the
// `auth` section's principals (docs/security.md).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include "common/hmac.h"
#include "plugin/cli/commands.h"

namespace hijackguard::plugin::cli {
namespace {

// 256 random bits as URL-safe base64 without padding (43 characters): fits
// in an HTTP header and a gRPC metadata value as it is.
std::string NewToken() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const std::string bytes = RandomBytes(32);
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char c : bytes) {
    bits = (bits << 8) | static_cast<unsigned char>(c);
    count += 8;
    while (count >= 6) {
      count -= 6;
      out.push_back(kAlphabet[(bits >> count) & 63]);
    }
  }
  if (count > 0) {
    out.push_back(kAlphabet[(bits << (6 - count)) & 63]);
  }
  return out;
}

int RunHashToken() {
  std::string token((std::istreambuf_iterator<char>(std::cin)),
                    std::istreambuf_iterator<char>());
  if (!token.empty() && token.back() == '\n') {
    token.pop_back();
    if (!token.empty() && token.back() == '\r') {
      token.pop_back();
    }
  }
  if (token.empty()) {
    std::fprintf(stderr, "error: no token on standard input\n");
    return kExitUsage;
  }
  std::printf("%s\n", HexEncode(Sha256Raw(token)).c_str());
  return kExitDone;
}

}  // namespace

void AddAuthCommands(CLI::App& app, RunFn* run) {
  CLI::App* auth = app.add_subcommand("auth", "Bearer tokens for principals");
  auth->require_subcommand(1);
  CLI::App* create = auth->add_subcommand(
      "new-token",
      "Print a new random token (256 bits); give it to the "
      "caller, and its hash-token to the configuration");
  create->callback([run] {
    *run = [] {
      std::printf("%s\n", NewToken().c_str());
      return kExitDone;
    };
  });
  CLI::App* hash = auth->add_subcommand(
      "hash-token",
      "Read a token from standard input (one trailing newline is dropped) "
      "and print its SHA-256, for token_sha256");
  hash->callback([run] { *run = [] { return RunHashToken(); }; });
}

}  // namespace hijackguard::plugin::cli
