// The gateway endpoints on the real HTTP listener, in-process on 127.0.0.1:0:
// who may call them, how targets are read, when a decision is reused and
// when it is made again, and the observe endpoint's answers.
#include <zlib.h>

#include "common/base64.h"
#include "common/gzip.h"
#include "common/hmac.h"
#include "common/sha256.h"
#include "common/strings.h"
#include "detector/eas/request.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "plugin/change_feed.h"
#include "plugin/gateway_nginx.h"
#include "plugin/gateway_refusal.h"
#include "plugin/proto_json.h"
#include "plugin/server.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/status_matchers.h"
#include "tests/plugin/test_policy.h"
#include "tests/plugin/traffic_fixtures.h"

namespace hijackguard::plugin {
namespace {

using ::hijackguard::testing::IsOk;
using ::testing::HasSubstr;

constexpr char kHijacker[] = "ApplDMPFXZABDFHW";

std::string Target(std::string_view command, std::string_view device) {
  return StrCat("/Microsoft-Server-ActiveSync?Cmd=", command,
                "&User=alice%40example.com&DeviceId=", device,
                "&DeviceType=iPhone");
}

// The MS-ASHTTP base64 form: version 14.0, the command, en-US, the device,
// no policy key, "iPhone", User.
std::string Base64Target(std::uint8_t command, std::string_view device) {
  std::string raw = {static_cast<char>(140), static_cast<char>(command), 0x09,
                     0x04, static_cast<char>(device.size())};
  raw += device;
  raw += {0, 6};
  raw += "iPhone";
  raw += {8, 17};
  raw += "alice@example.com";
  return StrCat("/Microsoft-Server-ActiveSync?", Base64Encode(raw));
}

std::string Gzip(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

class GatewayServiceTest : public ::testing::Test {
 protected:
  void Start(bool with_auth, std::shared_ptr<const policy::Policy> policy) {
    ServerOptions options;
    options.catalog = ::hijackguard::testing::BuiltinCatalog();
    options.policy =
        policy != nullptr ? policy : EnforceDefaults(*options.catalog);
    options.clock = &clock_;
    options.http.listen = "127.0.0.1:0";
    options.http.max_body_bytes = 64 << 10;
    if (with_auth) {
      auto auth = std::make_shared<AuthConfig>();
      auto add = [&](std::string id, std::uint32_t roles,
                     std::vector<std::string> tenants) {
        Principal p;
        p.id = id;
        p.roles = roles;
        p.tenants = std::move(tenants);
        p.token_sha256.push_back(Sha256Raw(StrCat("token-", id)));
        auth->principals.push_back(std::move(p));
      };
      add("gw-t1", kRoleGateway, {"t1"});
      add("gw-other", kRoleGateway, {"other"});
      add("mdm-t1", kRoleMdm, {"t1"});
      options.auth = auth;
    }
    catalog_ = options.catalog;
    auto server = BuildServer(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    ASSERT_FALSE(server_->http_address().empty());
    const std::string address = server_->http_address();
    client_ = std::make_unique<httplib::Client>(
        address.substr(0, address.rfind(':')),
        std::stoi(address.substr(address.rfind(':') + 1)));
  }

  httplib::Result Authorize(
      const std::string& target, const std::string& principal = "",
      const std::string& tenant = "t1",
      const std::string& user_agent = "Apple-iPhone4C1/1001.403") {
    httplib::Headers h = {{"X-Original-URI", target},
                          {"X-Original-Method", "POST"},
                          {"X-Hijackguard-Tenant", tenant},
                          {"User-Agent", user_agent},
                          {"MS-ASProtocolVersion", "14.0"}};
    if (!principal.empty()) {
      h.emplace("X-Hijackguard-Token", StrCat("token-", principal));
    }
    return client_->Get("/v1/activesync/authorize", h);
  }

  httplib::Result Observe(const std::string& body,
                          const std::string& content_type,
                          const std::string& principal = "") {
    httplib::Headers h;
    if (!principal.empty()) {
      h.emplace("X-Hijackguard-Token", StrCat("token-", principal));
    }
    return client_->Post("/v1/activesync/observe", h, body, content_type);
  }

  std::string Hijack(bool gzip) {
    v1::ReportTrafficRequest a =
        Exchange(1, kHijacker, {}, InvitationResponse("2:14"));
    v1::ReportTrafficRequest b =
        Exchange(2, kHijacker, HijackRequest("2:14"), {});
    if (gzip) {
      a.mutable_eas_exchange()->set_response_body(
          Gzip(a.eas_exchange().response_body()));
      b.mutable_eas_exchange()->set_request_body(
          Gzip(b.eas_exchange().request_body()));
    }
    return StrCat(ToJsonLine(a), "\n", ToJsonLine(b), "\n");
  }

  FakeClock clock_{absl::FromUnixSeconds(1350950400 + 86400)};
  std::shared_ptr<const detector::KnownIssueCatalog> catalog_;
  std::unique_ptr<PluginServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(GatewayServiceTest, OnlyTheGatewayRoleForItsTenantsMayCall) {
  Start(/*with_auth=*/true, nullptr);
  auto r = Authorize(Target("Sync", "ApplA"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_THAT(r->body, HasSubstr("X-Hijackguard-Token"));
  r = Authorize(Target("Sync", "ApplA"), "mdm-t1");
  EXPECT_EQ(r->status, 403);
  EXPECT_THAT(r->body, HasSubstr("lacks role \\\"gateway\\\""));
  r = Authorize(Target("Sync", "ApplA"), "gw-other");
  EXPECT_EQ(r->status, 403);
  EXPECT_THAT(r->body, HasSubstr("may not act for tenant"));
  r = Authorize(Target("Sync", "ApplA"), "gw-t1");
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->get_header_value("X-Hijackguard-Action"), "WARN");

  auto o = Observe(Hijack(false), "application/x-ndjson");
  EXPECT_EQ(o->status, 401);
  o = Observe(Hijack(false), "application/x-ndjson", "gw-other");
  EXPECT_EQ(o->status, 403);
  o = Observe(Hijack(false), "application/x-ndjson", "gw-t1");
  EXPECT_EQ(o->status, 200);
  // A token in Authorization (Exchange's header) is not a credential here.
  httplib::Headers h = {{"Authorization", "Bearer token-gw-t1"}};
  auto bearer = client_->Post("/v1/activesync/observe", h, Hijack(false),
                              "application/x-ndjson");
  EXPECT_EQ(bearer->status, 401);
}

TEST_F(GatewayServiceTest, ADecisionIsReusedUntilSomethingChanges) {
  Start(/*with_auth=*/false, nullptr);
  auto first = Authorize(Target("Sync", kHijacker));
  ASSERT_EQ(first->status, 204);
  const std::string id = first->get_header_value("X-Hijackguard-Decision-Id");
  ASSERT_FALSE(id.empty());
  // Both query forms name the same device: the same decision.
  auto again = Authorize(Base64Target(9, kHijacker));
  EXPECT_EQ(again->get_header_value("X-Hijackguard-Decision-Id"), id);
  // The hijack seen in the traffic: decided again at once, and refused.
  ASSERT_EQ(Observe(Hijack(false), "application/x-ndjson")->status, 200);
  auto after = Authorize(Target("FolderSync", kHijacker));
  EXPECT_EQ(after->status, 403);
  EXPECT_NE(after->get_header_value("X-Hijackguard-Decision-Id"), id);
  EXPECT_EQ(after->get_header_value("X-Hijackguard-Action"), "QUARANTINE");
  EXPECT_EQ(after->get_header_value("X-Hijackguard-Refusal"), "FolderSync");
  // Past valid_until the decision is made again.
  const std::string blocked =
      after->get_header_value("X-Hijackguard-Decision-Id");
  EXPECT_EQ(Authorize(Target("Sync", kHijacker))
                ->get_header_value("X-Hijackguard-Decision-Id"),
            blocked);
  clock_.Advance(absl::Hours(2));
  EXPECT_NE(Authorize(Target("Sync", kHijacker))
                ->get_header_value("X-Hijackguard-Decision-Id"),
            blocked);
  // A policy change too: monitor mode lets the device through.
  auto monitor = policy::Policy::Parse(
      R"({"apiVersion": "hijackguard/v1", "mode": "monitor"})", *catalog_,
      nullptr);
  ASSERT_THAT(monitor, IsOk());
  ASSERT_THAT(server_->engine().Apply(*monitor, ""), IsOk());
  auto monitored = Authorize(Target("Sync", kHijacker));
  EXPECT_EQ(monitored->status, 204);
  EXPECT_EQ(monitored->get_header_value("X-Hijackguard-Action"), "ALLOW");
  EXPECT_EQ(monitored->get_header_value("X-Hijackguard-Evaluated"),
            "QUARANTINE");
}

TEST_F(GatewayServiceTest, KeepsTheGroupsTheMdmReported) {
  auto catalog = detector::KnownIssueCatalog::Builtin();
  ASSERT_THAT(catalog, IsOk());
  auto policy = policy::Policy::Parse(
      R"({"apiVersion": "hijackguard/v1", "mode": "enforce",
          "exemptions": [{"kind": "group", "value": "execs",
                          "reason": "board devices",
                          "expires": "2099-01-01T00:00:00Z"}]})",
      *catalog, nullptr);
  ASSERT_THAT(policy, IsOk());
  Start(/*with_auth=*/false, *policy);
  ASSERT_EQ(Observe(Hijack(false), "application/x-ndjson")->status, 200);
  v1::CheckInRequest check_in;
  check_in.set_tenant_id("t1");
  check_in.mutable_device()->set_eas_device_id(kHijacker);
  check_in.mutable_device()->add_groups("execs");
  check_in.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
  auto channel = grpc::CreateChannel(server_->address(),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::CompliancePlugin::NewStub(channel);
  auto mdm = [&] {
    grpc::ClientContext context;
    v1::CheckInResponse response;
    EXPECT_TRUE(stub->CheckIn(&context, check_in, &response).ok());
    return response;
  };
  EXPECT_EQ(mdm().action(), v1::ACTION_ALLOW);  // exempt
  // The gateway decides the exempt device as the MDM does, and afterwards
  // the MDM's groups are still there.
  auto r = Authorize(Target("Sync", kHijacker));
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->get_header_value("X-Hijackguard-Action"), "ALLOW");
  clock_.Advance(absl::Hours(2));  // past the reuse
  EXPECT_EQ(Authorize(Target("Sync", kHijacker))->status, 204);
  check_in.mutable_device()->clear_groups();
  EXPECT_NE(mdm().action(), v1::ACTION_ALLOW);  // without the group
}

TEST_F(GatewayServiceTest, TargetsWithoutADeviceAndUnreadableOnes) {
  Start(/*with_auth=*/false, nullptr);
  auto options = Authorize("/Microsoft-Server-ActiveSync");
  EXPECT_EQ(options->status, 204);
  auto autodiscover = Authorize("/autodiscover/autodiscover.xml");
  EXPECT_EQ(autodiscover->status, 204);
  // A base64 query that does not decode names a device nobody can read.
  auto broken = Authorize("/Microsoft-Server-ActiveSync?jAAJBAp2MTQw%%%");
  EXPECT_EQ(broken->status, 403);
  EXPECT_EQ(broken->get_header_value("X-Hijackguard-Reason"),
            "UNREADABLE_TARGET");
  auto truncated =
      Authorize("/Microsoft-Server-ActiveSync?" +
                Base64Encode(std::string("\x8c\x00\x09\x04\x20", 5)));
  EXPECT_EQ(truncated->status, 403);
  auto plain = Authorize(
      "/Microsoft-Server-ActiveSync?Cmd=Sync&User=a&DeviceId=%zz&DeviceType=x");
  EXPECT_EQ(plain->status, 403);
  auto missing = Authorize(Target("Sync", "ApplA"), "", "");
  EXPECT_EQ(missing->status, 400);
  EXPECT_THAT(missing->body, HasSubstr("X-Hijackguard-Tenant"));
  httplib::Headers h = {{"X-Hijackguard-Tenant", "t1"}};
  auto no_target = client_->Get("/v1/activesync/authorize", h);
  EXPECT_EQ(no_target->status, 400);
  EXPECT_THAT(no_target->body, HasSubstr("X-Original-URI"));
  EXPECT_EQ(client_->Post("/v1/activesync/authorize", "", "text/plain")->status,
            405);
  EXPECT_EQ(client_->Get("/nothing")->status, 404);
}

TEST_F(GatewayServiceTest, CalendarScopeRefusesMeetingResponseOnly) {
  ServerOptions probe;
  auto catalog = detector::KnownIssueCatalog::Builtin();
  ASSERT_THAT(catalog, IsOk());
  auto policy = policy::Policy::LoadFile(
      StrCat(HIJACKGUARD_SOURCE_DIR, "/examples/policies/calendar-only.json"),
      *catalog, nullptr);
  ASSERT_THAT(policy, IsOk());
  Start(/*with_auth=*/false, *policy);
  ASSERT_EQ(Observe(Hijack(false), "application/x-ndjson")->status, 200);
  auto mr = Authorize(Target("MeetingResponse", kHijacker));
  EXPECT_EQ(mr->status, 403) << mr->get_header_value("X-Hijackguard-Action");
  EXPECT_THAT(mr->get_header_value("X-Hijackguard-Action"),
              ::testing::AnyOf("QUARANTINE", "BLOCK"));
  auto sync = Authorize(Target("Sync", kHijacker));
  EXPECT_EQ(sync->status, 204);
  EXPECT_EQ(sync->get_header_value("X-Hijackguard-Action"),
            mr->get_header_value("X-Hijackguard-Action"));
}

TEST_F(GatewayServiceTest, ObserveAnswers) {
  Start(/*with_auth=*/false, nullptr);
  auto ok = Observe(Hijack(false), "application/x-ndjson; charset=utf-8");
  ASSERT_EQ(ok->status, 200);
  auto acks = nlohmann::json::parse(ok->body)["acks"];
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[1]["sequence"], "2");
  EXPECT_EQ(acks[1]["events"][0]["kind"], "EVENT_KIND_ORGANIZER_REWRITE");
  // One message as application/json.
  v1::ReportTrafficRequest one = Exchange(7, "ApplOther", {}, {});
  auto single = Observe(ToJsonLine(one), "application/json");
  ASSERT_EQ(single->status, 200);
  EXPECT_EQ(nlohmann::json::parse(single->body)["acks"][0]["sequence"], "7");

  auto bad = Observe("{\"tenant_id\":\"t1\"}\n{oops", "application/x-ndjson");
  EXPECT_EQ(bad->status, 400);
  EXPECT_THAT(bad->body, HasSubstr("line 2 (byte 19)"));
  EXPECT_EQ(Observe("", "application/json")->status, 400);
  EXPECT_EQ(Observe("{}", "text/plain")->status, 415);
  EXPECT_EQ(Observe("{}", "")->status, 415);
  auto big = Observe(std::string(128 << 10, ' '), "application/json");
  EXPECT_EQ(big->status, 413);
  EXPECT_THAT(big->body, HasSubstr("http.max_body_bytes"));
}

TEST_F(GatewayServiceTest, ObserveTakesAProtobufBatch) {
  Start(/*with_auth=*/false, nullptr);
  v1::ReportTrafficBatch batch;
  *batch.add_observations() =
      Exchange(1, kHijacker, {}, InvitationResponse("2:14"));
  *batch.add_observations() = Exchange(2, kHijacker, HijackRequest("2:14"), {});
  const std::string body = batch.SerializeAsString();
  // A batch with one bad part is refused whole: nothing of it is observed
  // (else the events below would be a retry's, and not reported again).
  auto key = Observe(StrCat(body, std::string("\x12\x00", 2)),
                     "application/x-protobuf");
  EXPECT_EQ(key->status, 400);
  EXPECT_THAT(key->body, HasSubstr("with key 0x12"));
  auto ok = Observe(body, "application/x-protobuf");
  ASSERT_EQ(ok->status, 200);
  EXPECT_EQ(ok->get_header_value("Content-Type"), "application/x-protobuf");
  v1::StreamTrafficResponse acks;
  ASSERT_TRUE(acks.ParseFromString(ok->body));
  ASSERT_EQ(acks.acks_size(), 2);
  EXPECT_EQ(acks.acks(1).sequence(), 2u);
  ASSERT_GE(acks.acks(1).events_size(), 1);
  EXPECT_EQ(acks.acks(1).events(0).kind(), v1::EVENT_KIND_ORGANIZER_REWRITE);

  // What is wrong is named with the observation and where it starts.
  const std::size_t first = batch.observations(0).ByteSizeLong();
  const std::size_t second =
      1 + google::protobuf::io::CodedOutputStream::VarintSize64(first) + first;
  auto cut = Observe(body.substr(0, body.size() - 1), "application/x-protobuf");
  EXPECT_EQ(cut->status, 400);
  EXPECT_THAT(cut->body,
              HasSubstr(StrCat("observation 2 (byte ", second, ") declares")));
  auto length = Observe("\x0a\x80", "application/x-protobuf");
  EXPECT_EQ(length->status, 400);
  EXPECT_THAT(length->body, HasSubstr("ends inside its length"));
  auto not_utf8 = Observe(std::string("\x0a\x04\x0a\x02\xff\xfe", 6),
                          "application/x-protobuf");
  EXPECT_EQ(not_utf8->status, 400);
  EXPECT_THAT(not_utf8->body,
              HasSubstr("observation 1 (byte 0) is not a ReportTrafficRequest "
                        "in protobuf binary: tenant_id: invalid UTF-8 at byte "
                        "0 of the value"));
  EXPECT_EQ(Observe("", "application/x-protobuf")->status, 400);
  // Empty observations are two bytes each: their number is bounded.
  std::string many;
  for (int i = 0; i < 10001; ++i) many += std::string("\x0a\x00", 2);
  auto too_many = Observe(many, "application/x-protobuf");
  EXPECT_EQ(too_many->status, 400);
  EXPECT_THAT(too_many->body, HasSubstr("more than 10000 observations"));
}

TEST_F(GatewayServiceTest, GzipBodiesAreInflatedFirst) {
  Start(/*with_auth=*/false, nullptr);
  auto r = Observe(Hijack(/*gzip=*/true), "application/x-ndjson");
  ASSERT_EQ(r->status, 200);
  auto acks = nlohmann::json::parse(r->body)["acks"];
  ASSERT_EQ(acks[1]["events"].size(), 2u) << r->body;
  v1::ReportTrafficRequest corrupt = Exchange(3, "ApplZ", {}, {});
  corrupt.mutable_eas_exchange()->set_response_body(
      std::string("\x1f\x8b\x08\x00garbage", 11));
  auto c = Observe(ToJsonLine(corrupt), "application/json");
  ASSERT_EQ(c->status, 200);
  EXPECT_THAT(c->body, HasSubstr("UNDECODABLE_BODY"));
  EXPECT_THAT(c->body, HasSubstr("eas_exchange.response_body"));
}

TEST(ChangeFeedTest, NamesChangedDevicesOfTheTenantAndResetsWhenBehind) {
  using ::testing::ElementsAre;
  using ::testing::Pair;
  ChangeFeed feed(/*capacity=*/4);
  EXPECT_EQ(feed.Read("t1", 0).reset, 0u);  // empty: nothing to reset at 0
  feed.Append("t1", "ApplA");
  EXPECT_EQ(feed.Read("t1", 0).reset, 1u);  // a first read starts afresh
  feed.Append("t2", "ApplB");
  feed.Append("t1", "ApplA");
  ChangeFeed::Since s = feed.Read("t1", 1);
  EXPECT_EQ(s.reset, 0u);
  EXPECT_EQ(s.seq, 3u);
  EXPECT_THAT(s.keys, ElementsAre(Pair(DeviceKey("t1", "ApplA"), 3u)));
  EXPECT_TRUE(feed.Read("t1", 3).keys.empty());
  EXPECT_EQ(feed.Read("t1", 9).reset, 3u);  // ahead: another process
  feed.AppendAll();                         // 4
  feed.Append("t1", "ApplD");               // 5
  s = feed.Read("t1", 3);
  EXPECT_EQ(s.reset, 4u);
  EXPECT_THAT(s.keys, ElementsAre(Pair(DeviceKey("t1", "ApplD"), 5u)));
  for (int i = 0; i < 4; ++i) feed.Append("t1", "ApplC");  // 6-9
  EXPECT_EQ(feed.Read("t1", 3).reset, 9u);  // older than what is kept
  EXPECT_THAT(feed.Read("t1", 5).keys,
              ElementsAre(Pair(DeviceKey("t1", "ApplC"), 9u)));
  EXPECT_NE(DeviceKey("t1", "A"), DeviceKey("t1A", ""));
}

TEST(GzipTest, InflatesBoundsAndLocatesCorruption) {
  const std::string text(100000, 'a');
  auto back = Gunzip(Gzip(text), 1 << 20);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, text);
  EXPECT_EQ(Gunzip(Gzip(text) + Gzip("b"), 1 << 20).value(), text + "b");
  EXPECT_EQ(Gunzip(Gzip(text), 1000).status().code(),
            absl::StatusCode::kResourceExhausted);
  std::string cut = Gzip(text);
  cut.resize(cut.size() / 2);
  EXPECT_EQ(Gunzip(cut, 1 << 20).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(LooksGzipped("\x03\x01\x6a"));
}

TEST(GatewayRefusalTest, ExchangesBlockedDeviceAnswers) {
  namespace eas = detector::eas;
  EXPECT_EQ(RefusalPage(eas::Command::kSync, "14.1"), "Sync");
  EXPECT_EQ(RefusalPage(eas::Command::kSync, "12.1"), "http403");
  EXPECT_EQ(RefusalPage(eas::Command::kGetAttachment, "14.1"), "http403");
  EXPECT_EQ(RefusalPage(eas::Command::kUnknown, ""), "http403");
  std::map<std::string, std::string> bodies;
  for (const RefusalBody& b : RefusalBodies()) bodies[b.page] = b.wbxml;
  EXPECT_EQ(bodies.size(), 19u);
  // <FolderSync xmlns="FolderHierarchy:"><Status>129</Status></FolderSync>
  EXPECT_EQ(bodies["FolderSync"],
            std::string("\x03\x01\x6a\x00\x00\x07\x56\x4c\x03"
                        "129\x00\x01\x01",
                        15));
  EXPECT_EQ(bodies["Sync"], std::string("\x03\x01\x6a\x00\x45\x4e\x03"
                                        "129\x00\x01\x01",
                                        13));
  EXPECT_EQ(bodies["MeetingResponse"],
            std::string("\x03\x01\x6a\x00\x00\x08\x47\x4b\x03"
                        "129\x00\x01\x01",
                        15));
}

TEST(NginxConfigTest, CompleteAndWithoutTheToken) {
  NginxGatewayOptions o;
  o.exchange_url = "https://mail.example.com";
  o.hijackguard_url = "http://127.0.0.1:8081";
  o.tenant = "acme";
  o.prefix = "/srv/gw";
  o.has_token = true;
  auto c = MakeNginxConfig(o);
  ASSERT_THAT(c, IsOk());
  for (const char* needed :
       {"load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;",
        "pid /srv/gw/nginx.pid;", "client_body_temp_path /srv/gw/tmp/",
        "proxy_temp_path /srv/gw/tmp/", "fastcgi_temp_path /srv/gw/tmp/",
        "uwsgi_temp_path /srv/gw/tmp/", "scgi_temp_path /srv/gw/tmp/",
        "proxy_pass_request_body off;", "proxy_set_header Authorization \"\";",
        "proxy_set_header Cookie \"\";",
        "include /srv/gw/hijackguard/token.conf;",
        "X-Hijackguard-Tenant \"acme\"", "proxy_ssl_verify on;",
        "fail_open = false"}) {
    EXPECT_THAT(c->full, HasSubstr(needed));
  }
  EXPECT_THAT(c->full, HasSubstr(c->server_part.substr(0, 40)));
  o.fail_open = true;
  EXPECT_THAT(MakeNginxConfig(o)->http_part, HasSubstr("fail_open = true"));

  auto files = NginxFiles(o, "s3cret-token");
  ASSERT_THAT(files, IsOk());
  int token_files = 0;
  for (const NginxFile& f : *files) {
    if (f.content.find("s3cret-token") != std::string::npos) {
      ++token_files;
      EXPECT_EQ(f.mode, 0600u) << f.path;
    }
  }
  EXPECT_EQ(token_files, 2);
  EXPECT_FALSE(NginxFiles(o, "bad\"token").ok());

  NginxGatewayOptions bad = o;
  bad.exchange_url = "ftp://x";
  EXPECT_THAT(MakeNginxConfig(bad).status().message(), HasSubstr("--exchange"));
  bad = o;
  bad.tenant = "";
  EXPECT_THAT(MakeNginxConfig(bad).status().message(), HasSubstr("--tenant"));
  bad = o;
  bad.prefix = "relative";
  EXPECT_THAT(MakeNginxConfig(bad).status().message(), HasSubstr("--prefix"));
  bad = o;
  bad.listen = "8080";
  EXPECT_THAT(MakeNginxConfig(bad).status().message(), HasSubstr("--listen"));
}

TEST(NginxConfigTest, ReplicasShareAnUpstreamHashedOnTheDevice) {
  NginxGatewayOptions o;
  o.exchange_url = "https://mail.example.com";
  o.tenant = "acme";
  o.prefix = "/srv/gw";
  o.replica_urls = {"http://10.0.0.1:8081", "http://10.0.0.2:8081",
                    "http://hg3.example:8081"};
  o.replica_ips = {"", "", "10.0.0.3"};
  auto c = MakeNginxConfig(o);
  ASSERT_THAT(c, IsOk());
  for (const char* needed :
       {"hash $hg_device consistent;",
        "server 10.0.0.1:8081 max_fails=3 fail_timeout=2s;",
        "server 10.0.0.2:8081 max_fails=3 fail_timeout=2s;",
        "server hg3.example:8081 max_fails=3 fail_timeout=2s;",
        "set $hg_device $arg_hg_device;", "set $args \"\";",
        "{ host = \"10.0.0.1\", server_name = \"10.0.0.1\", port = 8081 }",
        "{ host = \"10.0.0.3\", server_name = \"hg3.example\", port = 8081 "
        "}"}) {
    EXPECT_THAT(c->full, HasSubstr(needed));
  }
  // --hijackguard is not among them, and no placeholder server is needed.
  EXPECT_THAT(c->full, ::testing::Not(HasSubstr("127.0.0.1:8081")));
  EXPECT_THAT(c->full, ::testing::Not(HasSubstr("127.0.0.1:9 down")));

  NginxGatewayOptions bad = o;
  bad.replica_urls = {"http://10.0.0.1:8081", "http://10.0.0.1:8081"};
  EXPECT_THAT(MakeNginxConfig(bad).status().message(),
              HasSubstr("given twice"));
  bad.replica_urls = {"http://10.0.0.1:8081", "https://10.0.0.2:8081"};
  EXPECT_THAT(MakeNginxConfig(bad).status().message(),
              HasSubstr("every one over https"));
  bad.replica_urls = {"https://a.example:8081", "https://b.example:8081"};
  EXPECT_THAT(MakeNginxConfig(bad).status().message(),
              HasSubstr("one host name"));
  bad.replica_urls = {"http://10.0.0.1:8081/path"};
  EXPECT_THAT(MakeNginxConfig(bad).status().message(), HasSubstr("--replica"));
}

}  // namespace
}  // namespace hijackguard::plugin
