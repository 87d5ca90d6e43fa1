#include "plugin/access.h"

#include <algorithm>

#include "absl/status/status.h"
#include "common/hmac.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "grpcpp/grpcpp.h"
#include "plugin/validate.h"

namespace hijackguard::plugin {
namespace {

// The role table (docs/security.md mirrors it).
constexpr RpcRule kRules[] = {
    {Rpc::kCheckIn, "CheckIn", kRoleMdm, TenantScope::kNamed},
    {Rpc::kReportTraffic, "ReportTraffic", kRoleGateway, TenantScope::kNamed},
    {Rpc::kStreamTraffic, "StreamTraffic", kRoleGateway, TenantScope::kPerItem},
    {Rpc::kGetDeviceRisk, "GetDeviceRisk", kRoleAuditor, TenantScope::kNamed},
    {Rpc::kWatchAlerts, "WatchAlerts", kRoleAuditor, TenantScope::kNamedOrAll},
    {Rpc::kGetPolicy, "GetPolicy", kRoleAuditor, TenantScope::kEveryTenant},
    {Rpc::kValidatePolicy, "ValidatePolicy", kRoleAuditor,
     TenantScope::kEveryTenant},
    {Rpc::kSimulateDecision, "SimulateDecision", kRoleAuditor,
     TenantScope::kEveryTenant},
    {Rpc::kListExemptions, "ListExemptions", kRoleAuditor,
     TenantScope::kNamedOrAll},
    {Rpc::kApplyPolicy, "ApplyPolicy", kRoleAdmin, TenantScope::kEveryTenant},
    {Rpc::kPutExemption, "PutExemption", kRoleAdmin, TenantScope::kNamedOrAll},
    {Rpc::kDeleteExemption, "DeleteExemption", kRoleAdmin,
     TenantScope::kStored},
    {Rpc::kGatewayAuthorize, "GatewayAuthorize", kRoleGateway,
     TenantScope::kNamed},
    {Rpc::kGatewayObserve, "GatewayObserve", kRoleGateway,
     TenantScope::kPerItem},
    {Rpc::kListDevices, "ListDevices", kRoleAuditor, TenantScope::kNamedOrAll},
    {Rpc::kConsole, "Console", kRoleAuditor, TenantScope::kNamedOrAll},
    {Rpc::kMetrics, "Metrics", kRoleMetrics, TenantScope::kNoTenant},
};

const Principal& Anonymous() {
  static const Principal* p = [] {
    auto* a = new Principal;
    a->id = "anonymous";
    a->roles = kRoleAdmin;
    a->all_tenants = true;
    return a;
  }();
  return *p;
}

absl::Status Unauthenticated(std::string_view why) {
  return absl::UnauthenticatedError(std::string(why));
}

// The principal a verified client certificate names, if any. Several
// principals matching one certificate (through different SANs) is an error.
absl::StatusOr<const Principal*> FromCertificate(const AuthConfig& config,
                                                 const CertIdentity& cert) {
  const Principal* found = nullptr;
  for (const Principal& p : config.principals) {
    if (!p.client_cert) continue;
    const std::vector<std::string>* values = &cert.subject_cn;
    switch (p.client_cert->field) {
      case CertMatch::Field::kUriSan:
        values = &cert.uri_san;
        break;
      case CertMatch::Field::kDnsSan:
        values = &cert.dns_san;
        break;
      case CertMatch::Field::kSubjectCn:
        break;
    }
    for (const std::string& v : *values) {
      if (v == p.client_cert->value) {
        if (found != nullptr && found != &p) {
          return Unauthenticated(
              "the client certificate matches more than one principal; give "
              "each certificate one identity");
        }
        found = &p;
      }
    }
  }
  return found;
}

std::vector<std::string> Property(const grpc::AuthContext& auth,
                                  const char* name) {
  std::vector<std::string> out;
  for (const grpc::string_ref& v : auth.FindPropertyValues(name)) {
    out.emplace_back(v.data(), v.size());
  }
  return out;
}

}  // namespace

std::span<const RpcRule> RpcRules() { return kRules; }

const RpcRule& RuleFor(Rpc rpc) { return kRules[static_cast<int>(rpc)]; }

std::string PeerAddress(std::string_view peer) {
  if (peer.starts_with("unix:")) {
    return std::string(peer);
  }
  const std::size_t colon = peer.rfind(':');
  const std::size_t first = peer.find(':');
  if (colon == std::string_view::npos || colon == first) {
    return std::string(peer);
  }
  return std::string(peer.substr(0, colon));
}

Principals::Principals(std::shared_ptr<const AuthConfig> c)
    : config(std::move(c)) {
  for (const Principal& p : config->principals) {
    for (const std::string& digest : p.token_sha256) {
      by_token_sha256.emplace(digest, &p);
    }
  }
}

AccessControl::AccessControl(std::shared_ptr<const AuthConfig> config,
                             RefusalLog* refusals, const Clock* clock,
                             bool client_certificates)
    : development_(config == nullptr),
      client_certificates_(client_certificates),
      refusals_(refusals),
      clock_(clock) {
  if (config != nullptr) {
    Reload(std::move(config));
  }
}

void AccessControl::Reload(std::shared_ptr<const AuthConfig> config) {
  auto list = std::make_unique<const Principals>(std::move(config));
  absl::MutexLock lock(&reload_mu_);
  lists_.push_back(std::move(list));
  current_.store(lists_.back().get(), std::memory_order_release);
}

absl::Status AccessControl::Recheck(Caller* caller, Rpc rpc) const {
  const Principals* now = current_.load(std::memory_order_acquire);
  if (development_ || now == caller->principals) {
    return absl::OkStatus();
  }
  const Principal* before = caller->principal;
  const Principal* after = nullptr;
  for (const Principal& p : now->config->principals) {
    if (p.id != before->id) continue;
    const bool token_holds =
        caller->actor.method == "token" &&
        std::any_of(p.token_sha256.begin(), p.token_sha256.end(),
                    [&](const std::string& d) {
                      return ConstantTimeEquals(d, caller->token_sha256);
                    });
    const bool cert_holds =
        caller->actor.method == "client_cert" && p.client_cert &&
        before->client_cert &&
        p.client_cert->field == before->client_cert->field &&
        p.client_cert->value == before->client_cert->value;
    if (token_holds || cert_holds) after = &p;
  }
  absl::Status status;
  if (after == nullptr) {
    status =
        Unauthenticated(StrCat("the credential of principal \"", before->id,
                               "\" was withdrawn by a configuration reload"));
  } else if (!after->HasRole(RuleFor(rpc).role)) {
    status = absl::PermissionDeniedError(
        StrCat("principal \"", after->id, "\" lacks role \"",
               RoleName(RuleFor(rpc).role), "\", which ", RuleFor(rpc).name,
               " needs (since a configuration reload)"));
  }
  if (!status.ok()) {
    Refused(caller->actor, rpc, status);
    return status;
  }
  caller->principals = now;
  caller->principal = after;
  return absl::OkStatus();
}

absl::StatusOr<Caller> AccessControl::Authenticate(
    const grpc::ServerContextBase& context) const {
  Credentials credentials;
  credentials.peer = PeerAddress(context.peer());
  if (development_) {
    return Authenticate(credentials);
  }
  if (const auto auth = client_certificates_ ? context.auth_context() : nullptr;
      auth != nullptr &&
      !auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME).empty()) {
    CertIdentity& cert = credentials.cert.emplace();
    cert.subject_cn = Property(*auth, GRPC_X509_CN_PROPERTY_NAME);
    cert.uri_san = Property(*auth, GRPC_PEER_URI_PROPERTY_NAME);
    cert.dns_san = Property(*auth, GRPC_PEER_DNS_PROPERTY_NAME);
  }
  const auto& metadata = context.client_metadata();
  const auto range = metadata.equal_range("authorization");
  for (auto it = range.first; it != range.second; ++it) {
    if (credentials.token) {
      credentials.token_error =
          Unauthenticated("more than one authorization header");
      break;
    }
    std::string_view value(it->second.data(), it->second.size());
    // The scheme is case-insensitive (RFC 7235), as on the HTTP listener.
    if (value.size() < 7 || !EqualsIgnoreCase(value.substr(0, 7), "Bearer ")) {
      credentials.token_error =
          Unauthenticated("the authorization header is not \"Bearer <token>\"");
      break;
    }
    credentials.token = std::string(value.substr(7));
  }
  return Authenticate(credentials);
}

absl::StatusOr<Caller> AccessControl::Authenticate(
    const Credentials& credentials) const {
  Caller caller;
  caller.actor.peer = credentials.peer;
  if (development_) {
    caller.principal = &Anonymous();
    caller.actor.principal = "anonymous";
    caller.actor.method = "none";
    return caller;
  }
  caller.principals = current_.load(std::memory_order_acquire);
  const AuthConfig& config = *caller.principals->config;
  if (!credentials.token_error.ok()) {
    return credentials.token_error;
  }
  const Principal* by_cert = nullptr;
  if (credentials.cert) {
    auto p = FromCertificate(config, *credentials.cert);
    if (!p.ok()) return p.status();
    by_cert = *p;
  }
  const std::optional<std::string>& token = credentials.token;
  if (token) {
    caller.token_sha256 = Sha256Raw(*token);
  }
  // Only digests are looked up (a token's digest says nothing of another
  // token), and the match is confirmed in constant time.
  const Principal* by_token = nullptr;
  if (token) {
    const auto& index = caller.principals->by_token_sha256;
    if (auto it = index.find(caller.token_sha256);
        it != index.end() &&
        ConstantTimeEquals(it->first, caller.token_sha256)) {
      by_token = it->second;
    }
  }
  if (token && by_token == nullptr) {
    return Unauthenticated("the bearer token is not known");
  }
  if (by_cert != nullptr) {
    if (by_token != nullptr && by_token != by_cert) {
      caller.actor.principal = by_cert->id;
      caller.actor.method = "client_cert";
      return Unauthenticated(StrCat(
          "the bearer token belongs to another principal than the client "
          "certificate (\"",
          by_cert->id, "\")"));
    }
    caller.principal = by_cert;
    caller.actor.method = "client_cert";
  } else if (by_token != nullptr) {
    caller.principal = by_token;
    caller.actor.method = "token";
  } else {
    return Unauthenticated(
        StrCat("no credential: send ", credentials.token_hint,
               " or a client certificate that a principal names"));
  }
  caller.actor.principal = caller.principal->id;
  return caller;
}

absl::StatusOr<Caller> AccessControl::Admit(
    const grpc::ServerContextBase& context, Rpc rpc) const {
  auto caller = Authenticate(context);
  if (!caller.ok()) {
    Refused({"", "", PeerAddress(context.peer())}, rpc, caller.status());
    return caller.status();
  }
  RETURN_IF_ERROR(CheckRole(*caller, rpc));
  return caller;
}

absl::StatusOr<Caller> AccessControl::Admit(const Credentials& credentials,
                                            Rpc rpc) const {
  auto caller = Authenticate(credentials);
  if (!caller.ok()) {
    Refused({"", "", credentials.peer}, rpc, caller.status());
    return caller.status();
  }
  RETURN_IF_ERROR(CheckRole(*caller, rpc));
  return caller;
}

absl::Status AccessControl::CheckRole(const Caller& caller, Rpc rpc) const {
  const RpcRule& rule = RuleFor(rpc);
  if (caller.principal->HasRole(rule.role)) {
    return absl::OkStatus();
  }
  absl::Status denied = absl::PermissionDeniedError(
      StrCat("principal \"", caller.principal->id, "\" lacks role \"",
             RoleName(rule.role), "\", which ", rule.name, " needs"));
  Refused(caller.actor, rpc, denied);
  return denied;
}

absl::Status AccessControl::CheckTenant(const Caller& caller, Rpc rpc,
                                        std::string_view tenant) const {
  const RpcRule& rule = RuleFor(rpc);
  const Principal& p = *caller.principal;
  absl::Status denied;
  if (rule.scope == TenantScope::kEveryTenant) {
    if (!p.all_tenants) {
      denied = absl::PermissionDeniedError(
          StrCat("principal \"", p.id, "\" may act for tenants ",
                 p.TenantList(), " only; ", rule.name,
                 " concerns every tenant and needs tenants [\"*\"]"));
    }
  } else if (!p.MayActFor(tenant)) {
    denied = absl::PermissionDeniedError(
        tenant.empty()
            ? StrCat("an empty tenant means every tenant; principal \"", p.id,
                     "\" may act for tenants ", p.TenantList(), " only")
            : StrCat("principal \"", p.id, "\" may not act for tenant ",
                     ValidateTenantId(std::string(tenant)).ok()
                         ? QuoteInput(tenant)
                         : std::string("(an invalid tenant id)")));
  }
  if (!denied.ok()) {
    Refused(caller.actor, rpc, denied);
  }
  return denied;
}

void AccessControl::Refused(const policy::Actor& actor, Rpc rpc,
                            const absl::Status& status) const {
  if (refusals_ != nullptr) {
    refusals_->Record(actor, RuleFor(rpc).name,
                      absl::StatusCodeToString(status.code()),
                      std::string(status.message()), clock_->Now());
  }
}

}  // namespace hijackguard::plugin
