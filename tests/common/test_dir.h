// A fresh, empty directory for the running test, under the system's
// temporary directory: hg-<tag>-<pid>-<test name> (a '/' of a parameterised
// test's name made '-').
#pragma once

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace hijackguard::testing {

inline std::filesystem::path FreshTestDir(std::string_view tag) {
  std::string name =
      ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::replace(name.begin(), name.end(), '/', '-');
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("hg-" + std::string(tag) + "-" +
                                     std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace hijackguard::testing
