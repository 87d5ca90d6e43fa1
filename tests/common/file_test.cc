// Reading configuration-like files: only regular files, never blocking on a
// FIFO (a policy path replaced by one must not stall the signal thread).
#include "common/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hijackguard {
namespace {

using ::testing::HasSubstr;

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hg-file-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(FileTest, ARegularFileIsRead) {
  std::ofstream(dir_ / "a.json") << "{}";
  auto text = ReadFileToString((dir_ / "a.json").string(), 100);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "{}");
  auto big = ReadFileToString((dir_ / "a.json").string(), 1);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FileTest, AFifoIsRefusedAtOnceNotWaitedOn) {
  const std::string fifo = (dir_ / "policy.json").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // No writer: opening it for reading the usual way would block forever.
  auto text = ReadFileToString(fifo, 1 << 20);
  EXPECT_EQ(text.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(text.status().message(), HasSubstr("a FIFO"));
  EXPECT_THAT(text.status().message(), HasSubstr(fifo));
}

TEST_F(FileTest, ADirectoryIsRefused) {
  auto text = ReadFileToString(dir_.string(), 1 << 20, FileKinds::kAlsoStreams);
  EXPECT_EQ(text.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(text.status().message(), HasSubstr("a directory"));
}

}  // namespace
}  // namespace hijackguard
