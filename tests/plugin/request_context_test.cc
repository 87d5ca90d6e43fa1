// The W3C trace id is taken only from a well-formed traceparent, and the
// thread's request context nests.
#include "plugin/request_context.h"

#include "gtest/gtest.h"

namespace hijackguard::plugin {
namespace {

constexpr char kTrace[] = "4bf92f3577b34da6a3ce929d0e0e4736";

TEST(RequestContextTest, TraceIdFromAWellFormedTraceparent) {
  EXPECT_EQ(
      TraceIdOf("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
      kTrace);
  // A later version may append fields.
  EXPECT_EQ(
      TraceIdOf("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz"),
      kTrace);
}

TEST(RequestContextTest, AnythingElseGivesNoTraceId) {
  for (const char* bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-alice@example.com-xxxxxxxxxxxxxxx-00f067aa0ba902b7-01",
       }) {
    EXPECT_EQ(TraceIdOf(bad), "") << bad;
  }
}

TEST(RequestContextTest, ScopesNestAndRestore) {
  EXPECT_EQ(CurrentRequest().principal, "");
  {
    const ScopedRequestContext outer("mdm", kTrace);
    EXPECT_EQ(CurrentRequest().principal, "mdm");
    {
      const ScopedRequestContext inner("gw", "");
      EXPECT_EQ(CurrentRequest().principal, "gw");
      EXPECT_EQ(CurrentRequest().trace_id, "");
    }
    EXPECT_EQ(CurrentRequest().principal, "mdm");
    EXPECT_EQ(CurrentRequest().trace_id, kTrace);
  }
  EXPECT_EQ(CurrentRequest().principal, "");
}

}  // namespace
}  // namespace hijackguard::plugin
