#include "plugin/status.h"

#include <string>

#include "common/strings.h"
#include "common/utf8.h"

namespace hijackguard::plugin {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) {
    return grpc::Status::OK;
  }
  std::string message(status.message());
  if (message.size() > kMaxStatusMessageBytes) {
    // The message travels in a trailer, and clients refuse trailers over
    // 8 KiB: a long list of problems is cut rather than lost with the call.
    message = StrCat(TruncateUtf8(message, kMaxStatusMessageBytes),
                     " (message cut at ", kMaxStatusMessageBytes, " of ",
                     message.size(), " bytes)");
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message);
}

}  // namespace hijackguard::plugin
