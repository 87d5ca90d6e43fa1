// `hijackguard fingerprint`: fingerprints a device described by flags, offline.
#include <iostream>
#include <memory>

#include "common/strings.h"
#include "plugin/check_in.h"
#include "plugin/cli/client_flags.h"
#include "plugin/cli/commands.h"
#include "plugin/cli/device_flags.h"
#include "plugin/proto_json.h"

namespace hijackguard::plugin::cli {
namespace {

struct FingerprintFlags {
  DeviceFlags device;
  std::string catalog;
};

int RunFingerprint(const FingerprintFlags& flags) {
  auto catalog = flags.catalog.empty()
                     ? detector::KnownIssueCatalog::Builtin()
                     : detector::KnownIssueCatalog::LoadFile(flags.catalog);
  if (!catalog.ok()) {
    std::cerr << "error: " << catalog.status().message() << "\n";
    return ExitStatusOf(catalog.status());
  }
  v1::CheckInRequest request;
  flags.device.Apply(&request);
  v1::Fingerprint fingerprint;
  FingerprintCheckIn(*catalog, request, &fingerprint);
  std::cout << ToJson(fingerprint) << "\n";
  return kExitDone;
}

}  // namespace

void AddFingerprintCommand(CLI::App& app, RunFn* run) {
  auto flags = std::make_shared<FingerprintFlags>();
  CLI::App* c = app.add_subcommand(
      "fingerprint",
      "Fingerprint a device's ActiveSync client offline; prints proto3 JSON");
  flags->device.Register(c);
  c->add_option(
      "--catalog", flags->catalog,
      "Known-issue catalog file (default: the catalog built into this binary)");
  c->callback(
      [flags, run] { *run = [flags] { return RunFingerprint(*flags); }; });
}

}  // namespace hijackguard::plugin::cli
