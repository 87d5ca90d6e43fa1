// A main() for fuzz targets in builds without libFuzzer (gcc, the dev preset):
// runs every file given on the command line (corpus seeds, crash reproducers)
// through LLVMFuzzerTestOneInput, then --iterations inputs mutated from them by
// a seeded generator, so CI exercises each target deterministically.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size);

namespace {

void Run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()),
                         input.size());
}

std::string Mutate(std::string s, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int i = 0; i < edits; ++i) {
    const std::size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 5) {
      case 0:  // insert a random byte
        s.insert(pos, 1, static_cast<char>(rng() % 256));
        break;
      case 1:  // erase
        if (!s.empty() && pos < s.size()) {
          s.erase(pos, 1 + rng() % 4);
        }
        break;
      case 2:  // flip a byte
        if (pos < s.size()) {
          s[pos] = static_cast<char>(rng() % 256);
        }
        break;
      case 3:  // insert an interesting token
      {
        static const char* const kTokens[] = {
            "\x1f", "\0", "\xff",   "\xc0\xaf",  "9999999999",
            ".",    "/",  "Apple-", "iPhone4C1", "1001.",
            "10A",  "\"", "{",      "}",         "[",
            "]",    ":",  ",",      "null",      "\xed\xa0\x80"};
        const char* t = kTokens[rng() % std::size(kTokens)];
        s.insert(pos, t, t[0] == '\0' ? 1 : std::char_traits<char>::length(t));
        break;
      }
      default:  // duplicate a slice
        if (!s.empty()) {
          const std::size_t from = rng() % s.size();
          s.insert(pos, s.substr(from, 1 + rng() % 16));
        }
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 0;
  std::vector<std::string> seeds;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--iterations" && i + 1 < argc) {
      iterations = std::strtol(argv[++i], nullptr, 10);
      continue;
    }
    const std::filesystem::path path(arg);
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(path)) {
      for (const auto& e : std::filesystem::directory_iterator(path)) {
        files.push_back(e.path());
      }
    } else {
      files.push_back(path);
    }
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      seeds.emplace_back(std::istreambuf_iterator<char>(in),
                         std::istreambuf_iterator<char>());
    }
  }
  if (seeds.empty()) {
    seeds.emplace_back();
  }
  for (const std::string& seed : seeds) {
    Run(seed);
  }
  std::mt19937_64 rng(2768774);
  for (long i = 0; i < iterations; ++i) {
    Run(Mutate(seeds[static_cast<std::size_t>(i) % seeds.size()], rng));
  }
  std::printf("%zu seeds and %ld mutated inputs: no failure\n", seeds.size(),
              iterations);
  return 0;
}
