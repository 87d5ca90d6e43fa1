#include "plugin/console/policy_page.h"

#include "common/strings.h"
#include "plugin/console/html.h"

namespace hijackguard::console {
namespace {

void AppendHistory(const PolicyView& v, std::string* out) {
  *out +=
      "<section aria-labelledby=\"history\"><h2 id=\"history\">History</h2>";
  if (!v.audited) {
    *out +=
        "<p>This server keeps no state (state_store \"memory\"), so there is "
        "no audit log to read the history from.</p></section>";
    return;
  }
  *out +=
      "<table class=\"data\" id=\"policy-history\"><caption "
      "class=\"visually-hidden\">Policy revisions, newest first</caption>"
      "<thead><tr><th scope=\"col\">Applied</th><th scope=\"col\">Revision"
      "</th><th scope=\"col\">Previous</th><th scope=\"col\">Origin</th><th "
      "scope=\"col\">Mode</th><th scope=\"col\">Actor</th></tr></thead>"
      "<tbody>";
  if (v.history.empty()) {
    *out +=
        "<tr><td colspan=\"6\">No policy change is in the audit log.</td></tr>";
  }
  for (const PolicyHistoryRow& h : v.history) {
    StrAppend(out, "<tr><td>", TimeHtml(h.at), "</td><td><code>",
              Escape(h.revision.substr(0, 12)), "</code></td><td><code>",
              Escape(h.previous_revision.substr(0, 12)), "</code></td><td>",
              Escape(h.origin), "</td><td>", Escape(h.mode), "</td><td>",
              h.principal.empty()
                  ? std::string("the server (file or defaults)")
                  : StrCat(Escape(h.principal), " (", Escape(h.auth), ", ",
                           Escape(h.peer), ")"),
              "</td></tr>");
  }
  *out += "</tbody></table></section>";
}

void Field(std::string_view name, std::string_view label,
           std::string_view value, std::string_view hint, std::string* out) {
  StrAppend(out, "<p><label for=\"sim-", name, "\">", label,
            "</label> <input id=\"sim-", name, "\" name=\"", name,
            "\" value=\"", Escape(value), "\"",
            hint.empty() ? "" : StrCat(" placeholder=\"", Escape(hint), "\""),
            " size=\"48\"></p>");
}

void AppendSimulate(const PolicyView& v, std::string* out) {
  *out +=
      "<section aria-labelledby=\"simulate\"><h2 id=\"simulate\">Simulate a "
      "decision</h2><p>The decision a device would get under the policy in "
      "force, with nothing recorded, cached or alerted. Events are JSON "
      "Lines of SimulatedEvent, as <code>hijackguard simulate --events</code> "
      "reads them.</p><form class=\"simulate\" method=\"post\" "
      "action=\"/ui/simulate\">";
  Field("tenant", "Tenant", v.form.tenant, "acme", out);
  Field("device_id", "EAS DeviceId", v.form.device_id, "SIMULATED", out);
  Field("user", "User", v.form.user, "alice@example.com", out);
  Field("user_agent", "User-Agent", v.form.user_agent,
        "Apple-iPhone4C1/1001.403", out);
  Field("now", "Now (RFC 3339)", v.form.now, "2026-12-01T09:00:00Z", out);
  Field("warn_since", "At WARN since (RFC 3339)", v.form.warn_since, "", out);
  StrAppend(out,
            "<p><label for=\"sim-events\">Events</label><br><textarea "
            "id=\"sim-events\" name=\"events\" rows=\"5\" cols=\"80\" "
            "placeholder=\"{&quot;kind&quot;: &quot;EVENT_KIND_ORGANIZER_"
            "REWRITE&quot;, &quot;attendeeCount&quot;: 3}\">",
            Escape(v.form.events),
            "</textarea></p><p><button type=\"submit\">Simulate</button>"
            "</p></form>");
  if (!v.error.empty()) {
    StrAppend(out, "<p class=\"error\" role=\"alert\" id=\"simulate-error\">",
              Escape(v.error), "</p>");
  }
  if (v.result) {
    const SimulationView& r = *v.result;
    StrAppend(out,
              "<h3>Result</h3><dl class=\"facts\" id=\"simulation\"><dt>"
              "Enforced</dt><dd id=\"sim-enforced\">",
              Badge("action", r.enforced_action),
              "</dd><dt>Evaluated</dt><dd id=\"sim-evaluated\">",
              Badge("action", r.evaluated_action),
              "</dd><dt>Score</dt><dd id=\"sim-score\">",
              FormatFixed(r.score, 1), "</dd><dt>Level</dt><dd>",
              Badge("level", r.level), "</dd><dt>Mode</dt><dd>", Escape(r.mode),
              "</dd><dt>Decided at</dt><dd>", TimeHtml(r.decided_at),
              "</dd><dt>Deadline</dt><dd>",
              r.deadline ? TimeHtml(*r.deadline) : std::string("none"),
              "</dd><dt>Policy revision</dt><dd><code>",
              Escape(r.policy_revision), "</code></dd></dl>");
    *out +=
        "<table class=\"data\" id=\"sim-reasons\"><caption>Reasons</caption>"
        "<thead><tr><th scope=\"col\">Reason</th><th scope=\"col\" "
        "class=\"num\">Points</th><th scope=\"col\">Message</th></tr></thead>"
        "<tbody>";
    for (const SimulatedReason& reason : r.reasons) {
      StrAppend(out, "<tr><th scope=\"row\"><code>", Escape(reason.code),
                "</code></th><td class=\"num\">",
                FormatFixed(reason.contribution, 1), "</td><td>",
                Escape(reason.message), "</td></tr>");
    }
    *out += "</tbody></table><h4>Policy members that decided</h4><ul>";
    for (const std::string& rule : r.matched_rules) {
      StrAppend(out, "<li><code>", Escape(rule), "</code></li>");
    }
    *out += "</ul>";
    if (!r.alert_title.empty()) {
      StrAppend(out, "<h4>The user's alert</h4><p><strong>",
                Escape(r.alert_title), "</strong></p><p>",
                Escape(r.alert_message), "</p>");
    }
    if (!r.admin_remediation.empty()) {
      StrAppend(out, "<pre tabindex=\"0\"><code>", Escape(r.admin_remediation),
                "</code></pre>");
    }
  }
  *out += "</section>";
}

}  // namespace

std::string RenderPolicy(const PolicyView& v) {
  std::string out;
  StrAppend(&out,
            "<section aria-labelledby=\"in-force\"><h2 id=\"in-force\">In "
            "force</h2><dl class=\"facts\"><dt>Revision</dt><dd><code "
            "id=\"policy-revision\">",
            Escape(v.revision), "</code></dd><dt>Mode</dt><dd>", Escape(v.mode),
            "</dd><dt>Origin</dt><dd>", Escape(v.origin),
            "</dd><dt>Applied</dt><dd>", TimeHtml(v.applied_at),
            "</dd></dl><details><summary>The document</summary><pre "
            "tabindex=\"0\" id=\"policy-document\"><code>",
            Escape(v.document), "</code></pre></details></section>");
  AppendSimulate(v, &out);
  AppendHistory(v, &out);
  return out;
}

}  // namespace hijackguard::console
