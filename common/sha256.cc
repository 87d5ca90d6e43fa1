#include "common/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace hijackguard {

Sha256Digest Sha256(std::string_view data) {
  // Fetched once, and a context per thread: EVP_Digest would look the
  // algorithm up and allocate a context on every call, which costs more
  // than hashing a few hundred bytes.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct Context {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Context() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Context context;
  Sha256Digest digest;
  if (kSha256 == nullptr || context.ctx == nullptr ||
      EVP_DigestInit_ex2(context.ctx, kSha256, nullptr) != 1 ||
      EVP_DigestUpdate(context.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(context.ctx, digest.data(), nullptr) != 1) {
    std::abort();  // cannot happen with the default provider
  }
  return digest;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(),
                 nullptr) != 1) {
    std::abort();  // cannot happen with the default provider
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::size_t{2} * length);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xF]);
  }
  return out;
}

}  // namespace hijackguard
