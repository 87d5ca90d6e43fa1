#include "plugin/console/audit_page.h"

#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace hijackguard::console {
namespace {

using Json = nlohmann::json;

std::string Text(const Json& j, const char* name) {
  const auto it = j.find(name);
  if (it == j.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string Summary(const std::string& kind, const Json& j) {
  if (kind == "decision") {
    const std::string device = Text(j, "eas_device_id").empty()
                                   ? Text(j, "mdm_device_id")
                                   : Text(j, "eas_device_id");
    return StrCat(device, " (", Text(j, "user_principal"),
                  "): ", Text(j, "previous_action"), " to ",
                  Text(j, "evaluated_action"), ", enforced ",
                  Text(j, "enforced_action"), " in ", Text(j, "mode"),
                  " mode, score ", Text(j, "score"), ", policy ",
                  Text(j, "policy_revision"));
  }
  if (kind == "policy") {
    const std::string previous = Text(j, "previous_revision");
    return StrCat(
        "revision ", Text(j, "revision"),
        previous.empty() ? " (the first)" : StrCat(" (was ", previous, ")"),
        " from ", Text(j, "origin"), ", ", Text(j, "mode"), " mode");
  }
  if (kind == "exemption") {
    std::string out =
        StrCat(Text(j, "operation"), " exemption ", Text(j, "exemption_id"));
    if (j.contains("value")) {
      StrAppend(&out, ": ", Text(j, "kind"), " ", Text(j, "value"), " (",
                Text(j, "reason"), ")");
    }
    if (j.contains("expires")) StrAppend(&out, ", until ", Text(j, "expires"));
    return out;
  }
  if (kind == "access") {
    return StrCat("refused ", Text(j, "rpc"), " ", Text(j, "count"),
                  " times: ", Text(j, "code"), " ", Text(j, "message"));
  }
  if (kind == "siem_dropped") {
    return StrCat("sink ", Text(j, "sink"), " dropped ", Text(j, "count"),
                  " entries (", Text(j, "first_seq"), " to ",
                  Text(j, "last_seq"), ")");
  }
  if (kind == "accept_broken") {
    return StrCat("started over a broken log: ", Text(j, "problem"));
  }
  // Any other kind (rekey, prune, newer ones): its fields as they are.
  Json rest = j;
  for (const char* name : {"seq", "at", "kind", "prev_hash", "actor"}) {
    rest.erase(name);
  }
  return rest.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// "10 minutes", "45 seconds", "2 hours".
std::string Every(absl::Duration d) {
  const std::int64_t s = absl::ToInt64Seconds(d);
  auto unit = [](std::int64_t n, const char* name) {
    return StrCat(n, " ", name, n == 1 ? "" : "s");
  };
  if (s % 3600 == 0 && s >= 3600) return unit(s / 3600, "hour");
  if (s % 60 == 0 && s >= 60) return unit(s / 60, "minute");
  return unit(s, "second");
}

// "7.2 ms", "3.4 s".
std::string Took(absl::Duration d) {
  const double ms = absl::ToDoubleMilliseconds(d);
  return ms < 1000 ? StrCat(FormatFixed(ms, 1), " ms")
                   : StrCat(FormatFixed(ms / 1000, 1), " s");
}

void AppendChain(const ChainStatusView& c, std::string* out) {
  *out += "<section aria-labelledby=\"chain\"><h2 id=\"chain\">The chain</h2>";
  if (!c.audited) {
    *out +=
        "<p>This server keeps no state (state_store \"memory\"): there is no "
        "audit log.</p></section>";
    return;
  }
  const std::string every = StrCat("every ", Every(c.interval));
  if (!c.error.empty()) {
    StrAppend(out, "<p class=\"error\" id=\"chain-status\">The log could not ",
              "be verified: ", Escape(c.error), " (tried ",
              TimeHtml(c.verified_at), "; it is tried again ", Escape(every),
              ").</p></section>");
    return;
  }
  if (!c.verified) {
    StrAppend(out,
              "<p id=\"chain-status\">Not verified yet: the server verifies "
              "the chain in the background when it starts and ",
              Escape(every), ".</p></section>");
    return;
  }
  if (c.ok && !c.detailed) {
    StrAppend(out, "<p id=\"chain-status\"><span class=\"badge action-allow\">",
              "INTACT</span> The whole log was verified ",
              TimeHtml(c.verified_at),
              ": every row is linked to the one before with the audit key, "
              "and the signed head matches.");
  } else if (c.ok) {
    StrAppend(out, "<p id=\"chain-status\"><span class=\"badge action-allow\">",
              "INTACT</span> ", c.rows, c.rows == 1 ? " row (" : " rows (",
              c.first_seq, " to ", c.last_seq, ") verified ",
              TimeHtml(c.verified_at), " in ", Took(c.took),
              ": every row is linked to the one before with the audit key, ",
              "and the signed head matches.");
    if (c.pruned_through > 0) {
      StrAppend(out, " Rows up to ", c.pruned_through,
                " were removed by retention behind a signed anchor.");
    }
  } else {
    StrAppend(out, "<p id=\"chain-status\" class=\"error\" role=\"alert\">",
              "<span class=\"badge action-block\">BROKEN</span> at row ",
              c.bad_seq, ": ", Escape(c.problem), " (verified ",
              TimeHtml(c.verified_at),
              "). Compare with your last exported checkpoint "
              "(hijackguard audit verify --checkpoint).");
  }
  StrAppend(out, " It is verified again ", Escape(every),
            "; rows written since are not yet covered.</p></section>");
}

void AppendFilter(const AuditView& v, std::string* out) {
  *out +=
      "<form class=\"filters\" method=\"get\" action=\"/ui/audit\" "
      "aria-label=\"Audit rows\"><label>Kind <select name=\"kind\"><option "
      "value=\"\">every kind</option>";
  for (const std::string& k : AuditKinds()) {
    StrAppend(out, "<option value=\"", k, "\"", k == v.kind ? " selected" : "",
              ">", k, "</option>");
  }
  *out += "</select></label><button type=\"submit\">Show</button></form>";
}

}  // namespace

const std::vector<std::string>& AuditKinds() {
  static const auto* const kKinds = new std::vector<std::string>{
      "decision",     "policy",        "exemption", "access",
      "siem_dropped", "accept_broken", "rekey",     "prune"};
  return *kKinds;
}

AuditRowView AuditRowOf(const policy::AuditEntry& entry) {
  AuditRowView row;
  row.seq = entry.seq;
  row.at = entry.at;
  row.kind = entry.kind;
  const Json j = Json::parse(entry.record, nullptr, false);
  if (!j.is_object()) {
    row.summary = "(the record is not JSON)";
    return row;
  }
  if (const auto a = j.find("actor"); a != j.end() && a->is_object()) {
    row.principal = Text(*a, "principal");
    row.auth = Text(*a, "auth");
    row.peer = Text(*a, "peer");
  }
  row.tenant = Text(j, "tenant_id");
  row.summary = Summary(entry.kind, j);
  return row;
}

std::string RenderAudit(const AuditView& v) {
  std::string out;
  AppendChain(v.chain, &out);
  out +=
      "<section aria-labelledby=\"rows\"><h2 id=\"rows\">Rows</h2><p>The "
      "log records decisions that changed an action, policy changes, "
      "exemptions, refused calls and the SIEM's losses, each with who did "
      "it.</p>";
  AppendFilter(v, &out);
  if (!v.error.empty()) {
    StrAppend(&out, "<p class=\"error\" role=\"alert\">", Escape(v.error),
              "</p></section>");
    return out;
  }
  out +=
      "<table class=\"data sortable\" id=\"audit-rows\"><caption "
      "class=\"visually-hidden\">Audit rows, newest first</caption><thead><tr>"
      "<th scope=\"col\" class=\"num\">Row</th><th scope=\"col\">Time</th>"
      "<th scope=\"col\">Kind</th><th scope=\"col\">Actor</th><th "
      "scope=\"col\">Tenant</th><th scope=\"col\">What</th></tr></thead>"
      "<tbody>";
  for (const AuditRowView& r : v.rows) {
    std::string actor = Escape(r.principal);
    if (!r.auth.empty() || !r.peer.empty()) {
      StrAppend(&actor, "<br><small>", Escape(r.auth),
                r.auth.empty() || r.peer.empty() ? "" : " from ",
                Escape(r.peer), "</small>");
    }
    if (actor.empty()) actor = "-";
    StrAppend(&out, "<tr><td class=\"num\">", r.seq, "</td><td>",
              TimeHtml(r.at), "</td><td>", Escape(r.kind), "</td><td>", actor,
              "</td><td>", r.tenant.empty() ? "-" : Escape(r.tenant),
              "</td><td>", Escape(r.summary), "</td></tr>");
  }
  out += "</tbody></table>";
  if (v.rows.empty()) out += "<p>No rows here.</p>";
  if (v.some_hidden) {
    out +=
        "<p>Rows that concern other tenants, or every tenant, are left out: "
        "they are shown only to principals of every tenant (\"*\").</p>";
  }
  out += "<nav class=\"pages\" aria-label=\"Audit pages\">";
  if (!v.first_page) {
    StrAppend(&out, "<a href=\"", Escape(Link("/ui/audit", {{"kind", v.kind}})),
              "\">Newest rows</a> ");
  }
  if (v.next_before > 0) {
    StrAppend(
        &out, "<a href=\"",
        Escape(Link("/ui/audit", {{"kind", v.kind},
                                  {"before", std::to_string(v.next_before)}})),
        "\">Older rows</a>");
  }
  out += "</nav></section>";
  return out;
}

}  // namespace hijackguard::console
