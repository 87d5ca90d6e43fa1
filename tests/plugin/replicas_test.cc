// Replicas sharing one PostgreSQL database decide as one server: the example
// traces, each exchange reported as its request to one replica and its
// response to the next (consecutive exchanges alternating), give exactly the
// events and decisions of a single replica; with two replicas and with
// three.
#include <filesystem>
#include <fstream>
#include <set>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "hijackguard/v1/policy_admin.grpc.pb.h"
#include "httplib.h"
#include "plugin/change_feed.h"
#include "plugin/server.h"
#include "store/testing/pg_cluster.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/state_backends.h"
#include "tests/common/status_matchers.h"
#include "tests/common/test_dir.h"
#include "tests/plugin/test_policy.h"

namespace hijackguard::plugin {
namespace {

using ::hijackguard::testing::IsOk;

// The trace's observations, every exchange split into its request alone and
// its response alone (sequence 2s and 2s + 1).
std::vector<v1::ReportTrafficRequest> SplitTrace(const std::string& path) {
  std::ifstream in(path);
  std::vector<v1::ReportTrafficRequest> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    v1::ReportTrafficRequest r;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &r).ok())
        << path;
    const std::uint64_t s = r.sequence();
    if (!r.has_eas_exchange()) {
      r.set_sequence(2 * s);
      out.push_back(r);
      continue;
    }
    v1::ReportTrafficRequest request = r;
    request.set_sequence(2 * s);
    request.mutable_eas_exchange()->clear_response_body();
    request.mutable_eas_exchange()->set_response_status(0);
    v1::ReportTrafficRequest response = r;
    response.set_sequence(2 * s + 1);
    response.mutable_eas_exchange()->clear_request_body();
    if (!request.eas_exchange().request_body().empty()) {
      out.push_back(std::move(request));
    }
    out.push_back(std::move(response));
  }
  return out;
}

struct Outcome {
  std::vector<v1::DetectionEvent> events;  // in acknowledgement order
  std::vector<v1::CheckInResponse> decisions;
};

class ReplicasFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.catalog = ::hijackguard::testing::BuiltinCatalog();
    // One clock for every server: decisions carry their times.
    options_.clock = &clock_;
    options_.state_retention_interval = absl::ZeroDuration();
  }
  void TearDown() override {
    for (const auto& dir : dirs_) std::filesystem::remove_all(dir);
  }

  // `replicas` servers on a new database of their own.
  std::vector<std::unique_ptr<PluginServer>> Start(int replicas,
                                                   const std::string& tag) {
    const std::filesystem::path dir =
        ::hijackguard::testing::FreshTestDir("replicas-" + tag);
    dirs_.push_back(dir);
    ServerOptions options = options_;
    EXPECT_THAT(
        ::hijackguard::testing::UseStateBackend("postgres", dir, &options),
        IsOk());
    std::vector<std::unique_ptr<PluginServer>> servers;
    for (int i = 0; i < replicas; ++i) {
      auto server = BuildServer(options);
      EXPECT_THAT(server, IsOk());
      if (server.ok()) servers.push_back(*std::move(server));
    }
    return servers;
  }

  // The observations: exchange x's request to replica x % n and its
  // response to the next one, so that consecutive exchanges alternate;
  // then a check-in of each device of the trace, to the replicas in turn.
  Outcome Run(std::vector<std::unique_ptr<PluginServer>>& servers,
              const std::vector<v1::ReportTrafficRequest>& trace) {
    std::vector<std::unique_ptr<v1::CompliancePlugin::Stub>> stubs;
    for (const auto& s : servers) {
      stubs.push_back(v1::CompliancePlugin::NewStub(grpc::CreateChannel(
          s->address(), grpc::InsecureChannelCredentials())));
    }
    Outcome out;
    std::set<std::string> devices;
    std::size_t exchange = 0;
    for (std::size_t k = 0; k < trace.size(); ++k) {
      const bool request = trace[k].has_eas_exchange() &&
                           !trace[k].eas_exchange().request_body().empty();
      const std::size_t replica = (exchange + (request ? 0 : 1)) % stubs.size();
      if (!request) ++exchange;
      grpc::ClientContext context;
      v1::ReportTrafficResponse ack;
      const grpc::Status status =
          stubs[replica]->ReportTraffic(&context, trace[k], &ack);
      EXPECT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(ack.errors_size(), 0)
          << (ack.errors_size() > 0 ? ack.errors(0).message() : "");
      for (const auto& e : ack.events()) {
        out.events.push_back(e);
        devices.insert(e.eas_device_id());
      }
      const std::string& target = trace[k].eas_exchange().target();
      if (auto at = target.find("DeviceId="); at != std::string::npos) {
        devices.insert(target.substr(at + 9, target.find('&', at) - at - 9));
      }
    }
    std::size_t next = exchange;
    for (const std::string& device : devices) {
      v1::CheckInRequest request;
      request.set_tenant_id(trace.front().tenant_id());
      request.mutable_device()->set_eas_device_id(device);
      request.mutable_device()->set_user_principal("alice@example.com");
      request.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
      grpc::ClientContext context;
      v1::CheckInResponse response;
      EXPECT_TRUE(stubs[next++ % stubs.size()]
                      ->CheckIn(&context, request, &response)
                      .ok());
      response.clear_decision_id();
      response.clear_valid_until();
      out.decisions.push_back(std::move(response));
    }
    return out;
  }

  FakeClock clock_{absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()))};
  ServerOptions options_;
  std::vector<std::filesystem::path> dirs_;
};

class ReplicasTest : public ReplicasFixture,
                     public ::testing::WithParamInterface<int> {};

TEST_P(ReplicasTest, TheExampleTracesGiveTheEventsOfOneReplica) {
  const int replicas = GetParam();
  std::size_t events = 0;
  for (const auto& entry : std::filesystem::directory_iterator(
           std::string(HIJACKGUARD_SOURCE_DIR) + "/examples/traces")) {
    if (entry.path().extension() != ".jsonl") continue;
    SCOPED_TRACE(entry.path().filename().string());
    const auto trace = SplitTrace(entry.path().string());
    ASSERT_GE(trace.size(), 2u);
    const std::string name = entry.path().stem().string();
    auto one = Start(1, name + "-one");
    auto many = Start(replicas, name + "-many");
    ASSERT_EQ(one.size(), 1u);
    ASSERT_EQ(many.size(), static_cast<std::size_t>(replicas));
    const Outcome reference = Run(one, trace);
    const Outcome shared = Run(many, trace);
    ASSERT_EQ(shared.events.size(), reference.events.size());
    for (std::size_t i = 0; i < reference.events.size(); ++i) {
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
          shared.events[i], reference.events[i]))
          << "event " << i << ":\n"
          << shared.events[i].DebugString() << "\nvs one replica's\n"
          << reference.events[i].DebugString();
    }
    ASSERT_EQ(shared.decisions.size(), reference.decisions.size());
    for (std::size_t i = 0; i < reference.decisions.size(); ++i) {
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
          shared.decisions[i], reference.decisions[i]))
          << shared.decisions[i].DebugString() << "\nvs one replica's\n"
          << reference.decisions[i].DebugString();
    }
    events += reference.events.size();
  }
  // The traces hold hijacks: a run that found nothing would prove nothing.
  EXPECT_GE(events, 3u);
}

// How long until `done` holds (polled every 10 ms), at most `limit`.
template <typename Done>
absl::Duration Until(Done done, absl::Duration limit = absl::Seconds(5)) {
  const absl::Time start = absl::Now();
  while (!done() && absl::Now() - start < limit) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::Now() - start;
}

using ReplicaSharingTest = ReplicasFixture;

TEST_F(ReplicaSharingTest, APolicyOrExemptionFromOneReplicaDecidesOnAnother) {
  auto servers = Start(2, "policy");
  ASSERT_EQ(servers.size(), 2u);
  auto admin_a = v1::PolicyAdmin::NewStub(grpc::CreateChannel(
      servers[0]->address(), grpc::InsecureChannelCredentials()));
  auto plugin_b = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
      servers[1]->address(), grpc::InsecureChannelCredentials()));
  auto check_in_b = [&] {
    v1::CheckInRequest request;
    request.set_tenant_id("t1");
    request.mutable_device()->set_eas_device_id("ApplSHARED");
    request.mutable_device()->set_user_principal("alice@example.com");
    request.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
    grpc::ClientContext context;
    v1::CheckInResponse response;
    EXPECT_TRUE(plugin_b->CheckIn(&context, request, &response).ok());
    return response;
  };
  EXPECT_EQ(check_in_b().mode(), v1::POLICY_MODE_MONITOR);

  v1::ApplyPolicyRequest apply;
  apply.set_policy_json(
      R"({"apiVersion": "hijackguard/v1", "mode": "enforce"})");
  apply.set_expected_revision(servers[0]->engine().policy()->revision());
  v1::ApplyPolicyResponse applied;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(admin_a->ApplyPolicy(&context, apply, &applied).ok());
  }
  const std::string revision = servers[0]->engine().policy()->revision();
  const absl::Duration took = Until(
      [&] { return servers[1]->engine().policy()->revision() == revision; });
  EXPECT_LT(took, absl::Seconds(1));
  RecordProperty("policy_seen_after_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(took)));
  EXPECT_EQ(check_in_b().mode(), v1::POLICY_MODE_ENFORCE);
  // The replica that applied it recorded it once; the other only adopted it.
  auto audit = servers[1]->store()->ReadAudit("policy", 0, 10);
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(audit->size(), 2u);  // the start's and the API's

  v1::PutExemptionRequest put;
  put.mutable_exemption()->set_tenant_id("t1");
  put.mutable_exemption()->set_kind(v1::EXEMPTION_KIND_DEVICE);
  put.mutable_exemption()->set_value("ApplSHARED");
  put.mutable_exemption()->set_reason("CAB-1");
  put.mutable_exemption()->mutable_expires()->set_seconds(
      absl::ToUnixSeconds(clock_.Now() + absl::Hours(24)));
  {
    grpc::ClientContext context;
    v1::PutExemptionResponse response;
    ASSERT_TRUE(admin_a->PutExemption(&context, put, &response).ok());
  }
  const absl::Duration seen =
      Until([&] { return servers[1]->engine().exemptions()->size() == 1; });
  EXPECT_LT(seen, absl::Seconds(1));
  RecordProperty("exemption_seen_after_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(seen)));
}

INSTANTIATE_TEST_SUITE_P(Replicas, ReplicasTest, ::testing::Values(2, 3),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return std::to_string(p.param);
                         });

// A device's unchanged decisions are counted in memory (no commit each) and
// written about each minute; a row another replica wrote since is adopted,
// never decided over from memory, and what this replica counted for the
// same audited decision is added to it.
TEST_F(ReplicaSharingTest, RepeatsAreCountedOnceAMinuteAndANewerRowWins) {
  auto servers = Start(2, "repeats");
  ASSERT_EQ(servers.size(), 2u);
  constexpr char kDevice[] = "ApplREPEATS";
  auto check_in = [&](std::size_t replica, const std::string& user) {
    auto stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
        servers[replica]->address(), grpc::InsecureChannelCredentials()));
    v1::CheckInRequest request;
    request.set_tenant_id("t1");
    request.mutable_device()->set_eas_device_id(kDevice);
    request.mutable_device()->set_user_principal(user);
    request.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
    grpc::ClientContext context;
    v1::CheckInResponse response;
    EXPECT_TRUE(stub->CheckIn(&context, request, &response).ok());
  };
  // The device's decision audit rows, oldest first.
  auto decisions = [&] {
    std::vector<std::pair<std::uint64_t, std::string>> out;
    auto audit = servers[0]->store()->ReadAudit("decision", 0, 100);
    EXPECT_TRUE(audit.ok());
    if (audit.ok()) {
      for (const auto& entry : *audit) {
        if (entry.record.find(kDevice) != std::string::npos) {
          out.emplace_back(entry.seq, entry.record);
        }
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  // Nothing is submitted for them, on either replica.
  auto submissions = [&] {
    return servers[0]->store()->stats().submissions +
           servers[1]->store()->stats().submissions;
  };
  check_in(0, "alice@example.com");  // audited
  const std::uint64_t submitted = submissions();
  for (int i = 0; i < 2; ++i) check_in(0, "alice@example.com");  // repeats
  EXPECT_EQ(submissions(), submitted);
  // A minute after its first repeat, replica 0's next one writes its count
  // (3). Replica 1 reads that row and counts on from it (3 more); replica 0
  // counts on in memory (2 more).
  clock_.Advance(absl::Seconds(61));
  check_in(0, "alice@example.com");
  for (int i = 0; i < 3; ++i) check_in(1, "alice@example.com");
  for (int i = 0; i < 2; ++i) check_in(0, "alice@example.com");
  // A minute on, replica 1 writes its row (7); replica 0 adopts it, adds
  // what it had not written (2) and this one, and writes 10.
  clock_.Advance(absl::Seconds(61));
  check_in(1, "alice@example.com");
  check_in(0, "alice@example.com");
  ASSERT_EQ(decisions().size(), 1u);
  // A change on replica 1: its audit row carries both replicas' count.
  check_in(1, "bob@example.com");
  auto after = decisions();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_THAT(after[1].second, ::testing::HasSubstr("\"repeats\":10"));
  // Replica 0 adopts that row: bob again is a repeat there, not a change
  // from the alice it decided last; and it counts it into its next row.
  check_in(0, "bob@example.com");
  EXPECT_EQ(decisions().size(), 2u) << "replica 0 decided from memory";
  check_in(0, "alice@example.com");
  after = decisions();
  ASSERT_EQ(after.size(), 3u);
  EXPECT_THAT(after[2].second, ::testing::HasSubstr("\"repeats\":1"));
}

TEST_F(ReplicaSharingTest, AnAlertOnOneReplicaReachesSubscribersOfEvery) {
  auto servers = Start(2, "alerts");
  ASSERT_EQ(servers.size(), 2u);
  std::vector<std::unique_ptr<v1::CompliancePlugin::Stub>> stubs;
  for (const auto& s : servers) {
    stubs.push_back(v1::CompliancePlugin::NewStub(
        grpc::CreateChannel(s->address(), grpc::InsecureChannelCredentials())));
  }
  // A subscriber on each replica, for tenant t1.
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::ComplianceAlert>>> readers;
  for (auto& stub : stubs) {
    auto& context = contexts.emplace_back(new grpc::ClientContext);
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(30));
    v1::WatchAlertsRequest request;
    request.set_tenant_id("t1");
    readers.push_back(stub->WatchAlerts(context.get(), request));
    readers.back()->WaitForInitialMetadata();  // subscribed from here on
  }
  auto check_in = [&](std::size_t replica, const std::string& device) {
    v1::CheckInRequest request;
    request.set_tenant_id("t1");
    request.mutable_device()->set_eas_device_id(device);
    request.mutable_device()->set_user_principal("alice@example.com");
    request.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
    grpc::ClientContext context;
    v1::CheckInResponse response;
    EXPECT_TRUE(stubs[replica]->CheckIn(&context, request, &response).ok());
    EXPECT_EQ(response.evaluated_action(), v1::ACTION_WARN);  // an alert
    return response;
  };
  // Each device's first check-in raises an alert (ALLOW -> WARN): on replica
  // 0, then 1, then 0. Both subscribers get all three, once each, in order:
  // a replica's own alerts are not handed back to it by the others' feed.
  const std::vector<std::pair<std::size_t, std::string>> raised = {
      {0, "ApplALERT0"}, {1, "ApplALERT1"}, {0, "ApplALERT2"}};
  std::vector<std::vector<v1::ComplianceAlert>> got(2);
  absl::Duration slowest;
  for (const auto& [replica, device] : raised) {
    const v1::CheckInResponse decided = check_in(replica, device);
    for (std::size_t r = 0; r < readers.size(); ++r) {
      const absl::Time start = absl::Now();
      v1::ComplianceAlert alert;
      ASSERT_TRUE(readers[r]->Read(&alert)) << "replica " << r;
      if (r != replica) slowest = std::max(slowest, absl::Now() - start);
      EXPECT_EQ(alert.eas_device_id(), device) << "replica " << r;
      EXPECT_EQ(alert.decision_id(), decided.decision_id());
      got[r].push_back(std::move(alert));
    }
  }
  // No alert came twice: the next one read is a fourth device's.
  check_in(1, "ApplALERT3");
  for (auto& reader : readers) {
    v1::ComplianceAlert alert;
    ASSERT_TRUE(reader->Read(&alert));
    EXPECT_EQ(alert.eas_device_id(), "ApplALERT3");
  }
  EXPECT_LT(slowest, absl::Seconds(1));
  RecordProperty("alert_seen_after_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(slowest)));
  // The same alert on either replica, but for each subscriber's sequence.
  for (std::size_t i = 0; i < raised.size(); ++i) {
    ASSERT_EQ(got[0].size(), raised.size());
    ASSERT_EQ(got[1].size(), raised.size());
    v1::ComplianceAlert a = got[0][i];
    v1::ComplianceAlert b = got[1][i];
    EXPECT_FALSE(a.alert_id().empty());
    EXPECT_GT(a.reasons_size(), 0);
    a.clear_sequence();
    b.clear_sequence();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(a, b))
        << a.DebugString() << "\n---\n"
        << b.DebugString();
  }
  for (auto& context : contexts) context->TryCancel();
  for (auto& reader : readers) (void)reader->Finish();
}

// The gateway endpoints of replicas, over HTTP.
class GatewayReplicasTest : public ReplicasFixture {
 protected:
  void SetUp() override {
    ReplicasFixture::SetUp();
    options_.http.listen = "127.0.0.1:0";
  }
  static std::unique_ptr<httplib::Client> Http(const PluginServer& server) {
    const std::string address = server.http_address();
    auto client = std::make_unique<httplib::Client>(
        address.substr(0, address.rfind(':')),
        std::stoi(address.substr(address.rfind(':') + 1)));
    client->set_read_timeout(10, 0);
    return client;
  }
  // The status and decision id /v1/activesync/authorize answers.
  static std::pair<int, std::string> Authorize(httplib::Client& http,
                                               const std::string& device,
                                               const std::string& tenant) {
    httplib::Headers h = {
        {"X-Original-URI",
         "/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice%40example.com&"
         "DeviceId=" +
             device + "&DeviceType=iPhone"},
        {"X-Original-Method", "POST"},
        {"X-Hijackguard-Tenant", tenant},
        {"User-Agent", "Apple-iPhone4C1/1001.403"},
        {"MS-ASProtocolVersion", "14.1"}};
    httplib::Result r = http.Get("/v1/activesync/authorize", h);
    if (!r) return {0, ""};
    return {r->status, r->get_header_value("X-Hijackguard-Decision-Id")};
  }
  static grpc::Status CheckIn(PluginServer& server, const std::string& device) {
    auto stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
        server.address(), grpc::InsecureChannelCredentials()));
    v1::CheckInRequest request;
    request.set_tenant_id("t1");
    request.mutable_device()->set_eas_device_id(device);
    request.mutable_device()->set_user_principal("alice@example.com");
    request.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::CheckInResponse response;
    return stub->CheckIn(&context, request, &response);
  }
  // Whether the store can write, as the health service says.
  static absl::Duration UntilHealth(PluginServer& server, bool ok) {
    return Until([&] { return server.store()->health().ok() == ok; },
                 absl::Seconds(15));
  }
};

TEST_F(GatewayReplicasTest, AHijackSeenByOneReplicaIsRefusedByAnother) {
  options_.policy = EnforceDefaults(*options_.catalog);
  auto servers = Start(2, "gwcache");
  ASSERT_EQ(servers.size(), 2u);
  constexpr char kDevice[] = "ApplDMPFXZABDFHW";  // the trace's
  auto http = Http(*servers[0]);
  const auto [status, first] = Authorize(*http, kDevice, "acme");
  ASSERT_EQ(status, 204);  // iOS 6.0 alone: WARN, let through
  EXPECT_EQ(Authorize(*http, kDevice, "acme").second, first);  // kept
  httplib::Result feed =
      http->Get("/v1/activesync/changes?since=0",
                httplib::Headers{{"X-Hijackguard-Tenant", "acme"}});
  ASSERT_TRUE(feed);
  const std::string since =
      feed->body.substr(feed->body.find(' ') + 1,
                        feed->body.find('\n') - feed->body.find(' ') - 1);

  // The device rewrites a meeting it was invited to: observed by replica 1.
  auto stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
      servers[1]->address(), grpc::InsecureChannelCredentials()));
  std::ifstream in(std::string(HIJACKGUARD_SOURCE_DIR) +
                   "/examples/traces/ios60_hijack.jsonl");
  std::string line;
  std::size_t events = 0;
  while (std::getline(in, line)) {
    v1::ReportTrafficRequest request;
    ASSERT_TRUE(
        google::protobuf::util::JsonStringToMessage(line, &request).ok());
    grpc::ClientContext context;
    v1::ReportTrafficResponse ack;
    ASSERT_TRUE(stub->ReportTraffic(&context, request, &ack).ok());
    events += static_cast<std::size_t>(ack.events_size());
  }
  ASSERT_GT(events, 0u);
  // Replica 0 forgets its kept decision and refuses the device; its change
  // feed names the device for nginx's kept answers.
  int now = 0;
  const absl::Duration took = Until([&] {
    now = Authorize(*http, kDevice, "acme").first;
    return now == 403;
  });
  EXPECT_EQ(now, 403) << "replica 0 still lets the hijacking device through";
  RecordProperty("refused_after_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(took)));
  feed = http->Get("/v1/activesync/changes?since=" + since,
                   httplib::Headers{{"X-Hijackguard-Tenant", "acme"}});
  ASSERT_TRUE(feed);
  EXPECT_THAT(feed->body, ::testing::HasSubstr(DeviceKey("acme", kDevice)));
}

// Other replicas hear of a check-in only when it changed the device's rows:
// one that changed nothing leaves their kept decisions in place.
TEST_F(GatewayReplicasTest, OnlyACheckInThatChangedSomethingIsAnnounced) {
  auto servers = Start(2, "announce");
  ASSERT_EQ(servers.size(), 2u);
  constexpr char kDevice[] = "ApplANNOUNCE";
  auto check_in = [&](const std::string& device, const std::string& group) {
    auto stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
        servers[1]->address(), grpc::InsecureChannelCredentials()));
    v1::CheckInRequest request;
    request.set_tenant_id("t1");
    request.mutable_device()->set_eas_device_id(device);
    request.mutable_device()->set_user_principal("alice@example.com");
    request.mutable_device()->add_groups(group);
    request.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
    grpc::ClientContext context;
    v1::CheckInResponse response;
    EXPECT_TRUE(stub->CheckIn(&context, request, &response).ok());
  };
  auto http = Http(*servers[0]);
  auto feed_since = [&](const std::string& since) {
    httplib::Result feed =
        http->Get("/v1/activesync/changes?since=" + since,
                  httplib::Headers{{"X-Hijackguard-Tenant", "t1"}});
    EXPECT_TRUE(feed);
    return feed ? feed->body : std::string();
  };
  // The feed's position now (its first line: "<kind> <position>").
  auto position = [&] {
    const std::string body = feed_since("0");
    const std::size_t space = body.find(' ');
    return body.substr(space + 1, body.find('\n') - space - 1);
  };
  auto heard = [&](const std::string& since, const std::string& device) {
    Until([&] {
      return feed_since(since).find(DeviceKey("t1", device)) !=
             std::string::npos;
    });
    return feed_since(since).find(DeviceKey("t1", device)) != std::string::npos;
  };
  const std::string before = position();
  check_in(kDevice, "staff");
  // Its announcement (a new device) is heard before the decision is kept.
  ASSERT_TRUE(heard(before, kDevice));
  const auto [status, kept] = Authorize(*http, kDevice, "t1");
  ASSERT_EQ(status, 204);
  std::string since = position();

  // Nothing changes. Announcements leave in order: once a new device
  // checked in after it is heard, this one would have been too.
  check_in(kDevice, "staff");
  check_in("ApplANNOUNCE2", "staff");
  ASSERT_TRUE(heard(since, "ApplANNOUNCE2"));
  EXPECT_THAT(feed_since(since),
              ::testing::Not(::testing::HasSubstr(DeviceKey("t1", kDevice))));
  EXPECT_EQ(Authorize(*http, kDevice, "t1"), std::make_pair(204, kept));

  // New groups: only the decision's history row changes (the detector's
  // facts do not), and that is announced too.
  since = position();
  check_in(kDevice, "sales");
  EXPECT_TRUE(heard(since, kDevice));
  EXPECT_NE(Authorize(*http, kDevice, "t1").second, kept);
}

TEST_F(GatewayReplicasTest, ADatabaseOutageIsNotAnOutageOfMail) {
  auto servers = Start(1, "outage");
  ASSERT_EQ(servers.size(), 1u);
  PluginServer& server = *servers[0];
  std::string why;
  store::testing::PgCluster* cluster = store::testing::PgCluster::Shared(&why);
  ASSERT_NE(cluster, nullptr) << why;
  auto http = Http(server);
  const auto [status, kept] = Authorize(*http, "ApplKEPT", "t1");
  ASSERT_EQ(status, 204);  // let through
  const auto [status2, other] = Authorize(*http, "ApplOTHER", "t1");
  ASSERT_EQ(status2, 204);

  ASSERT_THAT(cluster->Stop(), IsOk());
  EXPECT_LT(UntilHealth(server, false), absl::Seconds(5));  // pings: 2 s
  // A decision made before the outage is answered until it expires; a
  // device without one, and a check-in, cannot be decided meanwhile.
  EXPECT_EQ(Authorize(*http, "ApplKEPT", "t1"), std::make_pair(204, kept));
  EXPECT_EQ(Authorize(*http, "ApplNEW", "t1").first, 503);
  EXPECT_EQ(CheckIn(server, "ApplNEW").error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // Back: announcements from other replicas may have been missed, so kept
  // decisions are stale: made again while the database answers...
  ASSERT_THAT(cluster->Restart(), IsOk());
  EXPECT_LT(UntilHealth(server, true), absl::Seconds(10));  // backoff: 5 s
  const auto [again, renewed] = Authorize(*http, "ApplKEPT", "t1");
  EXPECT_EQ(again, 204);
  EXPECT_NE(renewed, kept);
  // ...and still answered when it goes away again before they were.
  ASSERT_THAT(cluster->Stop(), IsOk());
  EXPECT_LT(UntilHealth(server, false), absl::Seconds(5));
  EXPECT_EQ(Authorize(*http, "ApplOTHER", "t1"), std::make_pair(204, other));
  EXPECT_EQ(Authorize(*http, "ApplKEPT", "t1"), std::make_pair(204, renewed));
  clock_.Advance(absl::Hours(1) + absl::Seconds(1));  // decision_validity
  EXPECT_EQ(Authorize(*http, "ApplKEPT", "t1").first, 503);

  ASSERT_THAT(cluster->Restart(), IsOk());
  EXPECT_LT(UntilHealth(server, true), absl::Seconds(10));
  const grpc::Status checked_in = CheckIn(server, "ApplNEW");
  EXPECT_TRUE(checked_in.ok()) << checked_in.error_message();
}

}  // namespace
}  // namespace hijackguard::plugin
