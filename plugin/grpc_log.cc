#include "plugin/grpc_log.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "grpc/support/log.h"

namespace hijackguard::plugin {
namespace {

constexpr int kLinesPerMinute = 20;

std::atomic<bool> g_forward{false};

// The message up to gRPC's nested status ("... {file:..., children:[...]}"),
// on one line.
std::string Compact(std::string_view message) {
  if (const std::size_t brace = message.find(" {"); brace != message.npos) {
    message = message.substr(0, brace);
  }
  std::string line(message);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return TruncateUtf8(line, 500);
}

class RateLimit {
 public:
  // Whether a line may be written now; `*dropped` is how many were not since
  // the last one that was.
  bool Allow(int* dropped) {
    const auto now = std::chrono::steady_clock::now();
    absl::MutexLock lock(&mu_);
    if (now - window_start_ >= std::chrono::minutes(1)) {
      window_start_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= kLinesPerMinute) {
      ++dropped_;
      return false;
    }
    ++in_window_;
    *dropped = dropped_;
    dropped_ = 0;
    return true;
  }

 private:
  absl::Mutex mu_;
  std::chrono::steady_clock::time_point window_start_ ABSL_GUARDED_BY(mu_);
  int in_window_ ABSL_GUARDED_BY(mu_) = 0;
  int dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

RateLimit& Limit() {
  static RateLimit* limit = new RateLimit();
  return *limit;
}

void OnGrpcLog(gpr_log_func_args* args) {
  const std::string_view message =
      args->message != nullptr ? args->message : "";
  if (message.starts_with("assertion failed")) {
    LogError(StrCat("grpc: ", Compact(message), " (", args->file, ":",
                    args->line, ")"));
    return;
  }
  if (!g_forward.load(std::memory_order_relaxed) ||
      args->severity != GPR_LOG_SEVERITY_ERROR) {
    return;
  }
  int dropped = 0;
  if (!Limit().Allow(&dropped)) {
    return;
  }
  LogWarning(StrCat("grpc: ", Compact(message),
                    dropped > 0
                        ? StrCat(" (", dropped, " earlier gRPC lines left out)")
                        : std::string()));
}

// Someone debugging gRPC itself asked for its own output: leave it alone.
bool GrpcDebugRequested() {
  return std::getenv("GRPC_VERBOSITY") != nullptr ||
         std::getenv("GRPC_TRACE") != nullptr;
}

}  // namespace

void QuietGrpcLog() {
  if (GrpcDebugRequested()) return;
  g_forward.store(false, std::memory_order_relaxed);
  gpr_set_log_function(OnGrpcLog);
}

void ForwardGrpcLog() {
  if (GrpcDebugRequested()) return;
  gpr_set_log_function(OnGrpcLog);
  g_forward.store(true, std::memory_order_relaxed);
}

}  // namespace hijackguard::plugin
