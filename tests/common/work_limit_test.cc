// The limit on concurrent policy work: the third caller is turned away at
// once, and a slot comes back when its guard goes.
#include "common/work_limit.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace hijackguard {
namespace {

TEST(WorkLimitTest, TheThirdIsTurnedAwayUntilASlotComesBack) {
  WorkLimit limit(2);
  std::optional<WorkLimit::Slot> a = limit.TryAcquire();
  std::optional<WorkLimit::Slot> b = limit.TryAcquire();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(limit.TryAcquire()) << "a third while two run";
  EXPECT_EQ(limit.running(), 2) << "a refusal holds nothing";
  a.reset();
  EXPECT_EQ(limit.running(), 1);
  std::optional<WorkLimit::Slot> c = limit.TryAcquire();
  EXPECT_TRUE(c);
  // Moved slots are given back once.
  WorkLimit::Slot moved = std::move(*c);
  c.reset();
  EXPECT_EQ(limit.running(), 2);
}

TEST(WorkLimitTest, NeverMoreThanMaxAcrossThreads) {
  WorkLimit limit(2);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (auto slot = limit.TryAcquire()) {
          const int now = ++inside;
          int seen = most.load();
          while (now > seen && !most.compare_exchange_weak(seen, now)) {
          }
          --inside;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(most.load(), 2);
  EXPECT_EQ(limit.running(), 0);
}

}  // namespace
}  // namespace hijackguard
