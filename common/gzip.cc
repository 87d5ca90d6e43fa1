#include "common/gzip.h"

#include <zlib.h>

#include "common/strings.h"

namespace hijackguard {

bool LooksGzipped(std::string_view data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1f &&
         static_cast<unsigned char>(data[1]) == 0x8b;
}

absl::StatusOr<std::string> Gunzip(std::string_view data,
                                   std::size_t max_bytes) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
    return absl::InternalError("zlib cannot start");
  }
  std::string out;
  char buffer[16384];
  std::size_t consumed = 0;
  int rc = Z_OK;
  while (consumed < data.size()) {
    z.next_in =
        reinterpret_cast<Bytef*>(const_cast<char*>(data.data())) + consumed;
    z.avail_in = static_cast<uInt>(
        std::min<std::size_t>(data.size() - consumed, 1u << 30));
    const uInt given = z.avail_in;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buffer);
      z.avail_out = sizeof(buffer);
      rc = inflate(&z, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END) {
        const std::size_t at = consumed + (given - z.avail_in);
        inflateEnd(&z);
        return absl::InvalidArgumentError(
            StrCat("the gzip body is corrupt at byte ", at, " (",
                   z.msg != nullptr ? z.msg : "no more data", ")"));
      }
      const std::size_t produced = sizeof(buffer) - z.avail_out;
      if (out.size() + produced > max_bytes) {
        inflateEnd(&z);
        return absl::ResourceExhaustedError(StrCat(
            "the gzip body inflates to more than ", max_bytes, " bytes"));
      }
      out.append(buffer, produced);
    } while (rc == Z_OK && z.avail_out == 0);
    consumed += given - z.avail_in;
    if (rc == Z_STREAM_END) {
      if (consumed < data.size() && LooksGzipped(data.substr(consumed))) {
        inflateReset(&z);  // another member
        continue;
      }
      break;
    }
    if (z.avail_in == 0 && rc == Z_OK && consumed >= data.size()) break;
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) {
    return absl::InvalidArgumentError(
        StrCat("the gzip body ends early, at byte ", data.size()));
  }
  return out;
}

}  // namespace hijackguard
