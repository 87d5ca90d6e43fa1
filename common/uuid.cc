#include "common/uuid.h"

#include <array>
#include <cstdint>

#include "absl/random/random.h"

namespace hijackguard {

std::string NewUuidV7(absl::Time now) {
  thread_local absl::BitGen gen;
  const auto ms =
      static_cast<std::uint64_t>(absl::ToUnixMillis(now)) & 0xFFFFFFFFFFFFULL;
  const std::uint64_t rand_a = absl::Uniform<std::uint64_t>(gen);
  const std::uint64_t rand_b = absl::Uniform<std::uint64_t>(gen);
  std::array<std::uint8_t, 16> b{};
  for (int i = 0; i < 6; ++i) {
    b[static_cast<std::size_t>(i)] =
        static_cast<std::uint8_t>(ms >> (40 - 8 * i));
  }
  b[6] = static_cast<std::uint8_t>(0x70 | ((rand_a >> 8) & 0x0F));  // version 7
  b[7] = static_cast<std::uint8_t>(rand_a);
  b[8] =
      static_cast<std::uint8_t>(0x80 | ((rand_b >> 56) & 0x3F));  // variant 10
  for (int i = 9; i < 16; ++i) {
    b[static_cast<std::size_t>(i)] =
        static_cast<std::uint8_t>(rand_b >> (8 * (15 - i)));
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out.push_back('-');
    }
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0F]);
  }
  return out;
}

}  // namespace hijackguard
