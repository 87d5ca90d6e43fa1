#include "plugin/gateway_service.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "common/uuid.h"
#include "detector/eas/request.h"
#include "detector/fingerprint.h"
#include "hijackguard/v1/traffic.pb.h"
#include "plugin/gateway_refusal.h"
#include "plugin/observation_body.h"
#include "plugin/proto_json.h"
#include "plugin/request_context.h"
#include "plugin/validate.h"

namespace hijackguard::plugin {
namespace {

namespace eas = detector::eas;

constexpr std::string_view kTokenHeader = "X-Hijackguard-Token";

// Whether a target that gave no DeviceId still names one: a base64-form
// query (the DeviceId is inside it), or a plain query with a DeviceId
// parameter that could not be read.
bool NamesDevice(std::string_view target, const eas::ParsedRequest& parsed) {
  if (parsed.request.form == eas::QueryForm::kBase64) {
    return true;
  }
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) {
    return false;
  }
  const std::string query =
      absl::AsciiStrToLower(std::string(target.substr(q + 1)));
  std::size_t at = 0;
  while ((at = query.find("deviceid", at)) != std::string::npos) {
    if (at == 0 || query[at - 1] == '&') return true;
    at += 8;
  }
  return false;
}

bool Refuses(const CachedDecision& d, eas::Command command) {
  if (d.enforced != policy::Action::kQuarantine &&
      d.enforced != policy::Action::kBlock) {
    return false;
  }
  // Calendar scope: the gateway sees no request body, so of a device's
  // calendar traffic it can stop only the commands that are calendar
  // commands by name.
  return d.scope == policy::Scope::kDevice ||
         (d.scope == policy::Scope::kCalendar &&
          command == eas::Command::kMeetingResponse);
}

// What the gateway needs to keep an answer: how long, for which device, as
// of which change of the feed, from which hijackguard process.
struct Keep {
  absl::Duration reuse;
  std::string device_key;
  std::uint64_t seq = 0;
  std::string_view instance;
};

HttpResponse Answer(const CachedDecision& d, const eas::EasRequest& request,
                    const Keep* keep = nullptr) {
  HttpResponse r;
  const absl::Duration reuse =
      keep != nullptr ? keep->reuse : absl::ZeroDuration();
  if (const std::int64_t seconds = absl::ToInt64Seconds(reuse); seconds > 0) {
    r.headers.emplace_back("X-Hijackguard-Reuse", StrCat(seconds));
    r.headers.emplace_back("X-Hijackguard-Device-Key", keep->device_key);
    r.headers.emplace_back("X-Hijackguard-Seq", StrCat(keep->seq));
    r.headers.emplace_back("X-Hijackguard-Instance",
                           std::string(keep->instance));
  }
  const bool refuse = Refuses(d, request.command);
  r.status = refuse ? 403 : 204;
  r.headers.emplace_back("X-Hijackguard-Action",
                         std::string(policy::ActionName(d.enforced)));
  r.headers.emplace_back("X-Hijackguard-Evaluated",
                         std::string(policy::ActionName(d.evaluated)));
  if (!d.decision_id.empty()) {
    r.headers.emplace_back("X-Hijackguard-Decision-Id", d.decision_id);
  }
  if (refuse) {
    r.headers.emplace_back(
        "X-Hijackguard-Refusal",
        std::string(RefusalPage(request.command, request.protocol_version)));
  }
  return r;
}

std::string MediaType(std::string_view content_type) {
  const std::size_t semi = content_type.find(';');
  return absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(std::string(content_type.substr(0, semi))));
}

}  // namespace

Credentials HttpCredentials(const HttpRequest& request) {
  Credentials c;
  c.peer = request.peer;
  c.cert = request.cert;
  c.token_hint = "an X-Hijackguard-Token header";
  const std::size_t tokens = request.HeaderCount(kTokenHeader);
  if (tokens > 1) {
    c.token_error =
        absl::UnauthenticatedError("more than one X-Hijackguard-Token header");
  } else if (tokens == 1) {
    c.token = std::string(*request.Header(kTokenHeader));
  }
  return c;
}

GatewayService::GatewayService(
    std::shared_ptr<const detector::KnownIssueCatalog> catalog,
    const Clock* clock, GatewayOptions options, policy::PolicyEngine* engine,
    detector::TrafficDetector* detector, const TrafficHandler* traffic,
    const AccessControl* access, policy::StateStore* store)
    : catalog_(std::move(catalog)),
      clock_(clock),
      options_(options),
      engine_(engine),
      detector_(detector),
      traffic_(traffic),
      access_(access),
      store_(store),
      cache_(options.max_cached_devices),
      instance_(NewUuidV7(absl::Now())) {}

void GatewayService::AddRoutes(HttpRouter* router) {
  router->Add("GET", "/v1/activesync/authorize",
              [this](const HttpRequest& r) { return Authorize(r); });
  router->Add(
      "POST", "/v1/activesync/observe",
      [this](const HttpRequest& r) { return Observe(r); },
      // Nothing is read from a caller that may not observe.
      [this](const HttpRequest& r) {
        return access_->Admit(HttpCredentials(r), Rpc::kGatewayObserve)
            .status();
      });
  router->Add("GET", "/v1/activesync/changes",
              [this](const HttpRequest& r) { return Changes(r); });
}

absl::Status GatewayService::StoreWritable() const {
  return policy::Writable(store_, "refused: ");
}

absl::Status GatewayService::WaitDurable(policy::StoreTicket ticket) const {
  // (Observe only: what it acknowledges must be durable.)
  if (store_ == nullptr || ticket == 0) return absl::OkStatus();
  absl::Status durable = store_->WaitDurable(ticket);
  if (durable.ok()) return durable;
  return absl::UnavailableError(
      StrCat("not recorded durably: ", durable.message()));
}

absl::StatusOr<GatewayService::Admitted> GatewayService::AdmitForTenant(
    const HttpRequest& request) const {
  absl::StatusOr<Caller> caller =
      access_->Admit(HttpCredentials(request), Rpc::kGatewayAuthorize);
  if (!caller.ok()) return caller.status();
  std::string tenant(request.Header("X-Hijackguard-Tenant").value_or(""));
  if (absl::Status valid = ValidateTenantId(tenant); !valid.ok()) {
    return absl::InvalidArgumentError(
        StrCat("header X-Hijackguard-Tenant: ", valid.message()));
  }
  RETURN_IF_ERROR(
      access_->CheckTenant(*caller, Rpc::kGatewayAuthorize, tenant));
  return Admitted{*std::move(caller), std::move(tenant)};
}

HttpResponse GatewayService::Authorize(const HttpRequest& request) {
  absl::StatusOr<Admitted> admitted = AdmitForTenant(request);
  if (!admitted.ok()) return HttpResponse::FromStatus(admitted.status());
  const std::string& tenant = admitted->tenant;
  const ScopedRequestContext logged(admitted->caller.actor.principal,
                                    TraceIdOf(request));
  const std::optional<std::string_view> target =
      request.Header("X-Original-URI");
  if (!target || target->empty()) {
    return HttpResponse::Error(
        400, "INVALID_ARGUMENT",
        "header X-Original-URI (the original request target) is missing");
  }
  if (target->size() > kMaxTargetBytes) {
    return HttpResponse::Error(
        400, "INVALID_ARGUMENT",
        StrCat("header X-Original-URI is ", target->size(), " bytes; at most ",
               kMaxTargetBytes));
  }
  const std::string method(
      request.Header("X-Original-Method").value_or("POST"));
  std::vector<eas::Header> headers;
  for (const auto& [name, value] : request.headers) {
    if (EqualsIgnoreCase(name, "User-Agent") ||
        EqualsIgnoreCase(name, "MS-ASProtocolVersion")) {
      headers.emplace_back(name, value);
    }
  }
  const eas::ParsedRequest parsed =
      eas::ParseEasRequest(*target, headers, method);
  const eas::EasRequest& eas_request = parsed.request;
  if (eas_request.device_id.empty()) {
    if (!NamesDevice(*target, parsed)) {
      HttpResponse r;  // OPTIONS, Autodiscover: nothing to decide
      r.status = 204;
      r.headers.emplace_back("X-Hijackguard-Action", "ALLOW");
      return r;
    }
    // A device we cannot name is not let through on a guess.
    const std::uint64_t n = ++unreadable_;
    if ((n & (n - 1)) == 0) {  // 1, 2, 4, 8...: bounded logging
      const eas::RequestIssue* first =
          parsed.issues.empty() ? nullptr : &parsed.issues.front();
      LogWarning(
          StrCat("gateway: refused a request whose target names a device that "
                 "cannot be read (",
                 n, " so far; tenant ", QuoteInput(tenant), "): ",
                 first == nullptr
                     ? std::string("no DeviceId")
                     : StrCat(eas::RequestIssueCodeName(first->code), " in ",
                              first->where, " at byte ", first->position)));
    }
    CachedDecision unreadable;
    unreadable.enforced = policy::Action::kQuarantine;
    unreadable.evaluated = policy::Action::kQuarantine;
    unreadable.scope = policy::Scope::kDevice;
    HttpResponse r = Answer(unreadable, eas_request);
    r.headers.emplace_back("X-Hijackguard-Reason", "UNREADABLE_TARGET");
    return r;
  }

  const absl::Time now = clock_->Now();
  // Read before deciding: a change after this has a larger number, so the
  // gateway learns from the feed that this answer is out of date.
  Keep keep;
  keep.seq = feed_.seq();
  keep.device_key = DeviceKey(tenant, eas_request.device_id);
  keep.instance = instance_;
  const absl::Status writable = StoreWritable();
  if (std::optional<DecisionCache::Found> found = cache_.Find(keep.device_key);
      found && (!found->stale || !writable.ok())) {
    // (A stale decision is answered only while nothing can be decided.)
    const CachedDecision& cached = found->decision;
    if (now < cached.valid_until &&
        cached.user_agent == eas_request.user_agent &&
        cached.protocol_version == eas_request.protocol_version &&
        cached.user == eas_request.user && cached.policy == engine_->policy() &&
        cached.exemptions == engine_->exemptions()) {
      keep.reuse = std::min(options_.gateway_cache, cached.valid_until - now);
      return Answer(cached, eas_request, &keep);
    }
  }
  if (!writable.ok()) {
    return HttpResponse::FromStatus(writable);
  }
  const std::uint64_t epoch = cache_.epoch(keep.device_key);
  detector::CheckInFacts seen;
  seen.tenant_id = tenant;
  seen.eas_device_id = eas_request.device_id;
  seen.user_agent = eas_request.user_agent;
  seen.device_type = eas_request.device_type;
  seen.protocol_version = eas_request.protocol_version;
  detector::CheckInFacts known;
  detector_->RecordSighting(seen, now, &known);
  if (known.eas_device_id.empty()) {
    known = seen;  // the device table is full: decide on what was seen
  }
  if (known.user_principal.empty()) {
    known.user_principal = eas_request.user;  // for exemptions by user
  }
  const detector::Fingerprint fp =
      detector::IdentifyDevice(detector::ToFingerprintInput(known), *catalog_);
  CachedDecision d;
  d.decision_id = NewUuidV7(now);
  auto decided = engine_->DecideAtGateway(fp, known, d.decision_id, now);
  if (!decided.ok()) {
    return HttpResponse::FromStatus(decided.status());
  }
  // The answer does not wait for the decision's audit row to be durable: a
  // stream of never-seen DeviceIds from the internet must not hold this
  // listener's threads on commits (the rows are written in the background,
  // and the next check-in or authorization after a failed commit decides
  // again).
  const policy::Evaluation& evaluation = decided->evaluation;
  d.enforced = evaluation.enforced_action;
  d.evaluated = evaluation.evaluated_action;
  d.scope = evaluation.scope;
  d.valid_until = now + options_.decision_validity;
  if (evaluation.deadline && *evaluation.deadline > now) {
    d.valid_until = std::min(d.valid_until, *evaluation.deadline);
  }
  d.user_agent = eas_request.user_agent;
  d.protocol_version = eas_request.protocol_version;
  d.user = eas_request.user;
  d.policy = evaluation.policy_owner;
  d.exemptions = evaluation.exemptions_owner;
  keep.reuse = std::min(options_.gateway_cache, d.valid_until - now);
  HttpResponse answer = Answer(d, eas_request, &keep);
  cache_.Put(keep.device_key, std::move(d), epoch);
  return answer;
}

void GatewayService::ForgetReplicaDevices(bool all, std::string_view lines) {
  if (all) {
    cache_.MarkAllStale();
    feed_.AppendAll();
    return;
  }
  while (!lines.empty()) {
    const std::size_t end = std::min(lines.find('\n'), lines.size());
    const std::string_view line = lines.substr(0, end);
    lines.remove_prefix(std::min(end + 1, lines.size()));
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0) continue;
    std::string key(line.substr(space + 1));
    cache_.Invalidate(key);
    feed_.AppendKey(line.substr(0, space), std::move(key));
  }
}

void GatewayService::NoteEngineChanges() {
  std::shared_ptr<const policy::Policy> policy = engine_->policy();
  std::shared_ptr<const policy::ExemptionIndex> exemptions =
      engine_->exemptions();
  absl::MutexLock lock(&engine_mu_);
  // Held, not just their addresses: a freed object's address may come back.
  if (policy != seen_policy_ || exemptions != seen_exemptions_) {
    // (At the first call too: answers kept before it may be older.)
    seen_policy_ = std::move(policy);
    seen_exemptions_ = std::move(exemptions);
    feed_.AppendAll();
  }
}

HttpResponse GatewayService::Changes(const HttpRequest& request) {
  absl::StatusOr<Admitted> admitted = AdmitForTenant(request);
  if (!admitted.ok()) return HttpResponse::FromStatus(admitted.status());
  const std::string& tenant = admitted->tenant;
  std::uint64_t since = 0;
  const std::size_t q = request.target.find("?since=");
  const std::string digits =
      q == std::string::npos ? std::string() : request.target.substr(q + 7);
  if (digits.empty() || digits.size() > 19 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return HttpResponse::Error(
        400, "INVALID_ARGUMENT",
        "give the last change seen as ?since=N (0 at first)");
  }
  since = std::stoull(digits);
  NoteEngineChanges();
  const ChangeFeed::Since changes = feed_.Read(tenant, since);
  HttpResponse r;
  r.content_type = "text/plain";
  r.body = StrCat(instance_, " ", changes.seq, "\n");
  if (changes.reset != 0) StrAppend(&r.body, "* ", changes.reset, "\n");
  for (const auto& [key, seq] : changes.keys) {
    StrAppend(&r.body, key, " ", seq, "\n");
  }
  return r;
}

HttpResponse GatewayService::Observe(const HttpRequest& request) {
  absl::StatusOr<Caller> caller =
      access_->Admit(HttpCredentials(request), Rpc::kGatewayObserve);
  if (!caller.ok()) return HttpResponse::FromStatus(caller.status());
  const std::string media =
      MediaType(request.Header("Content-Type").value_or(""));
  const std::optional<ObservationFormat> format = ObservationFormatOf(media);
  if (!format) {
    return HttpResponse::Error(
        415, "UNSUPPORTED_MEDIA_TYPE",
        StrCat("Content-Type ",
               media.empty() ? std::string("(none)") : QuoteInput(media),
               " is not application/json (one ReportTrafficRequest), "
               "application/x-ndjson (one per line) or application/x-protobuf "
               "(a ReportTrafficBatch)"));
  }
  // Everything is read and checked before anything is observed: a request
  // is taken whole or not at all.
  absl::StatusOr<Observations> read = ReadObservations(*format, request.body);
  if (!read.ok()) return HttpResponse::FromStatus(read.status());
  const std::vector<v1::ReportTrafficRequest*>& items = read->items;
  for (const v1::ReportTrafficRequest* item : items) {
    if (absl::Status s = access_->CheckTenant(*caller, Rpc::kGatewayObserve,
                                              item->tenant_id());
        !s.ok()) {
      return HttpResponse::FromStatus(s);
    }
  }
  if (absl::Status writable = StoreWritable(); !writable.ok()) {
    return HttpResponse::FromStatus(writable);
  }
  auto* response =
      google::protobuf::Arena::CreateMessage<v1::StreamTrafficResponse>(
          read->arena.get());
  const ScopedRequestContext logged(caller->actor.principal,
                                    TraceIdOf(request));
  policy::StoreTicket ticket = 0;
  for (const v1::ReportTrafficRequest* item : items) {
    ticket = std::max(ticket, traffic_->Report(*item, response->add_acks()));
  }
  if (absl::Status durable = WaitDurable(ticket); !durable.ok()) {
    return HttpResponse::FromStatus(durable);
  }
  // Counted once acknowledged (a request answered 503 is not).
  for (const v1::TrafficAck& ack : response->acks()) {
    traffic_->Count(ack);
  }
  // Answered in the request's kind: binary for binary.
  HttpResponse r;
  if (*format == ObservationFormat::kProtobuf) {
    r.content_type = "application/x-protobuf";
    r.body = response->SerializeAsString();
  } else {
    r.content_type = "application/json";
    r.body = ToCompactJson(*response);
    r.body += "\n";
  }
  return r;
}

}  // namespace hijackguard::plugin
