// The group-commit queue alone, with a commit function the test controls:
// order, retries of a failure that may pass, a failure for good, and the
// submitted rows that loads read before the commit.
#include "store/commit_queue.h"

#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace hijackguard::store {
namespace {

using ::hijackguard::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

std::shared_ptr<Submission> Rows(std::vector<StoreRow> devices) {
  auto sub = std::make_shared<Submission>();
  sub->detector.emplace();
  sub->detector->devices = std::move(devices);
  return sub;
}

// Records what was committed; fails while told to.
class FakeDatabase {
 public:
  absl::Status Commit(const Batch& batch) {
    absl::MutexLock lock(&mu_);
    ++attempts_;
    if (!fail_with_.ok()) return fail_with_;
    for (const auto& sub : batch) committed_.push_back(sub->ticket);
    return absl::OkStatus();
  }
  void FailWith(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_with_ = std::move(status);
  }
  std::vector<StoreTicket> committed() const {
    absl::MutexLock lock(&mu_);
    return committed_;
  }
  int attempts() const {
    absl::MutexLock lock(&mu_);
    return attempts_;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Status fail_with_ ABSL_GUARDED_BY(mu_);
  std::vector<StoreTicket> committed_ ABSL_GUARDED_BY(mu_);
  int attempts_ ABSL_GUARDED_BY(mu_) = 0;
};

class CommitQueueTest : public ::testing::Test {
 protected:
  std::unique_ptr<CommitQueue> Make() {
    return std::make_unique<CommitQueue>(
        CommitQueueOptions{}, [this](const Batch& b) { return db_.Commit(b); });
  }
  FakeDatabase db_;
};

TEST_F(CommitQueueTest, TicketsCommitInOrderAndAnswerEachWaiterOnce) {
  auto queue = Make();
  std::vector<StoreTicket> tickets;
  for (int i = 0; i < 100; ++i) {
    tickets.push_back(
        queue->Enqueue(Rows({{"k" + std::to_string(i), "v", false, 1, ""}})));
  }
  absl::Mutex mu;
  int answers = 0;
  for (StoreTicket t : tickets) {
    queue->WhenDurable(t, [&](absl::Status s) {
      EXPECT_TRUE(s.ok()) << s;
      absl::MutexLock lock(&mu);
      ++answers;
    });
  }
  ASSERT_THAT(queue->WaitDurable(tickets.back()), IsOk());
  EXPECT_EQ(db_.committed(), tickets);
  EXPECT_TRUE(queue->IsDurable(tickets.front()));
  queue->Close();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(answers, 100);
}

TEST_F(CommitQueueTest, SubmittedRowsAreReadUntilCommittedAndTheNewestWins) {
  FakeDatabase& db = db_;
  db.FailWith(absl::UnavailableError("disk busy"));
  auto queue = Make();
  queue->Enqueue(Rows({{"a", "first", false, 1, "idx"}}));
  const StoreTicket second = queue->Enqueue(
      Rows({{"a", "second", false, 1, ""}, {"b", "", true, 1, ""}}));
  EXPECT_THAT(queue->rows().Find(kDeviceRows, "a"),
              Optional(Optional(std::string("second"))));
  EXPECT_THAT(queue->rows().Find(kDeviceRows, "b"),
              Optional(std::optional<std::string>()))
      << "an erase is a pending row too";
  EXPECT_EQ(queue->rows().Find(kDeviceRows, "c"), std::nullopt);
  EXPECT_EQ(queue->rows().FindDeviceByIndex("idx"), std::nullopt)
      << "the row with the index was replaced";
  EXPECT_EQ(queue->rows().Find(kLedgerRows, "a"), std::nullopt);
  db.FailWith(absl::OkStatus());
  while (!queue->IsDurable(second)) {  // a retry after the backoff
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(queue->rows().size(), 0u);
}

TEST_F(CommitQueueTest, ATransientFailureIsRetriedInOrderAndReportedMeanwhile) {
  std::vector<bool> health;
  absl::Mutex mu;
  CommitQueueOptions options;
  options.on_health_change = [&](const absl::Status& s) {
    absl::MutexLock lock(&mu);
    health.push_back(s.ok());
  };
  db_.FailWith(absl::ResourceExhaustedError("disk full"));
  CommitQueue queue(options, [this](const Batch& b) { return db_.Commit(b); });
  const StoreTicket first = queue.Enqueue(Rows({{"a", "1", false, 1, ""}}));
  const absl::Status waited = queue.WaitDurable(first);
  EXPECT_TRUE(absl::IsUnavailable(waited)) << waited;
  EXPECT_THAT(std::string(waited.message()), HasSubstr("disk full"));
  EXPECT_TRUE(absl::IsUnavailable(queue.health()));
  EXPECT_THAT(queue.stopped(), IsOk()) << "retried, not stopped";
  const StoreTicket second = queue.Enqueue(Rows({{"b", "2", false, 1, ""}}));
  db_.FailWith(absl::OkStatus());
  while (!queue.IsDurable(second)) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_THAT(db_.committed(), ElementsAre(first, second));
  EXPECT_GT(db_.attempts(), 1);
  EXPECT_THAT(queue.health(), IsOk());
  absl::MutexLock lock(&mu);
  EXPECT_THAT(health, ElementsAre(false, true));
}

TEST_F(CommitQueueTest, APermanentFailureStopsForGoodAndAnswersEveryone) {
  db_.FailWith(absl::DataLossError("file is damaged"));
  auto queue = Make();
  const StoreTicket first = queue->Enqueue(Rows({{"a", "1", false, 1, ""}}));
  absl::Notification answered;
  absl::Status told;
  queue->WhenDurable(first, [&](absl::Status s) {
    told = s;
    answered.Notify();
  });
  answered.WaitForNotification();
  EXPECT_TRUE(absl::IsDataLoss(told)) << told;
  EXPECT_TRUE(absl::IsDataLoss(queue->stopped()));
  db_.FailWith(absl::OkStatus());
  const StoreTicket later = queue->Enqueue(Rows({{"b", "2", false, 1, ""}}));
  EXPECT_TRUE(absl::IsDataLoss(queue->WaitDurable(later)));
  EXPECT_TRUE(db_.committed().empty()) << "nothing after the failure commits";
}

TEST_F(CommitQueueTest, AFailedReadStopsTheQueue) {
  auto queue = Make();
  const absl::Status s = queue->Fail(absl::DataLossError("bad page"));
  EXPECT_TRUE(absl::IsDataLoss(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("a read failed: bad page"));
  EXPECT_EQ(queue->Fail(absl::InternalError("other")), s) << "the first wins";
  const StoreTicket t = queue->Enqueue(Rows({{"a", "1", false, 1, ""}}));
  EXPECT_FALSE(queue->WaitDurable(t).ok());
}

TEST_F(CommitQueueTest, CloseCommitsWhatIsQueued) {
  auto queue = Make();
  StoreTicket last = 0;
  for (int i = 0; i < 50; ++i) {
    last = queue->Enqueue(Rows({{"k", std::to_string(i), false, 1, ""}}));
  }
  queue->Close();
  EXPECT_TRUE(queue->IsDurable(last));
  EXPECT_EQ(db_.committed().size(), 50u);
  const absl::Status after = queue->WaitDurable(queue->Enqueue(Rows({})));
  EXPECT_TRUE(absl::IsUnavailable(after)) << after;
}

TEST_F(CommitQueueTest, AfterAFailedReadAFailingBatchIsNotRetried) {
  db_.FailWith(absl::UnavailableError("disk busy"));
  auto queue = Make();
  queue->Enqueue(Rows({{"a", "1", false, 1, ""}}));
  while (db_.attempts() == 0) {  // the batch is being retried
    absl::SleepFor(absl::Milliseconds(1));
  }
  const absl::Status stopped = queue->Fail(absl::DataLossError("bad page"));
  db_.FailWith(absl::OkStatus());
  absl::SleepFor(absl::Milliseconds(300));  // past the next retry
  EXPECT_TRUE(db_.committed().empty()) << "nothing is acknowledged after it";
  EXPECT_EQ(queue->stopped(), stopped) << "the first error stays";
}

TEST_F(CommitQueueTest, CloseAnswersEveryWaiter) {
  auto queue = Make();
  absl::Notification answered;
  absl::Status told;
  queue->WhenDurable(1000, [&](absl::Status s) {  // never issued
    told = s;
    answered.Notify();
  });
  queue->Close();
  ASSERT_TRUE(answered.HasBeenNotified());
  EXPECT_TRUE(absl::IsUnavailable(told)) << told;
}

}  // namespace
}  // namespace hijackguard::store
