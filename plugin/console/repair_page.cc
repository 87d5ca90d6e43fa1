#include "plugin/console/repair_page.h"

#include <set>

#include "common/strings.h"
#include "common/utf8.h"
#include "plugin/console/device_pages.h"
#include "plugin/console/html.h"
#include "policy/evaluate.h"

namespace hijackguard::console {
namespace {

std::string KindList(const std::vector<detector::EventKind>& kinds) {
  std::vector<std::string> names;
  names.reserve(kinds.size());
  for (detector::EventKind k : kinds) {
    names.emplace_back(detector::EventKindName(k));
  }
  return StrJoin(names, ", ");
}

std::string Organizer(const detector::RepairItem& item) {
  return item.true_organizer_name.empty()
             ? Escape(item.true_organizer_email)
             : StrCat(Escape(item.true_organizer_name), " &lt;",
                      Escape(item.true_organizer_email), "&gt;");
}

void AppendTenantForm(const RepairView& view, std::string* out) {
  *out +=
      "<form class=\"filters\" method=\"get\" action=\"/ui/repair\" "
      "aria-label=\"Repair list tenant\">";
  *out += TenantField(view.tenant, view.tenant_choices, "");
  StrAppend(out, "<button type=\"submit\">Show</button> <a href=\"",
            Escape(Link("/ui/repair.csv", {{"tenant", view.tenant}})),
            "\" download>Download the whole list as CSV</a></form>");
}

void AppendExchangeSteps(const RepairView& view, std::string* out) {
  *out +=
      "<section aria-labelledby=\"exchange\"><h2 id=\"exchange\">What to do "
      "in Exchange</h2><ol><li>Stop the devices from changing more meetings: "
      "block each one for its mailbox (or let the MDM quarantine it) until "
      "it runs a fixed iOS version.</li><li>Do not let the user decline or "
      "delete a listed meeting on the device: from a rewritten copy that "
      "sends cancellations to every attendee.</li><li>Ask each true organizer "
      "to send an update of the meeting to all attendees: the update "
      "replaces the attendees' copies, the rewritten one included. "
      "Exchange's Calendar Repair Assistant, where it runs, repairs copies "
      "on its own schedule, often a day later.</li><li>To see what happened "
      "to a copy (Exchange 2013 and later, Exchange Online), read its "
      "calendar log.</li></ol>";
  std::string commands;
  std::set<std::pair<std::string, std::string>> blocked;
  for (const detector::RepairItem& item : view.items) {
    if (blocked.emplace(item.mailbox, item.eas_device_id).second) {
      StrAppend(&commands, "Set-CASMailbox -Identity ",
                policy::PsQuote(item.mailbox),
                " -ActiveSyncBlockedDeviceIDs @{Add=",
                policy::PsQuote(item.eas_device_id), "}\n");
    }
  }
  for (const detector::RepairItem& item : view.items) {
    StrAppend(&commands, "Get-CalendarDiagnosticObjects -Identity ",
              policy::PsQuote(item.mailbox), " -MeetingId ",
              policy::PsQuote(item.uid), "\n");
  }
  if (commands.empty()) {
    *out += "<p>Nothing to repair on this page.</p>";
  } else {
    StrAppend(out,
              "<p>The commands for the meetings on this page, for the "
              "Exchange Management Shell (every value quoted for "
              "PowerShell):</p><pre id=\"exchange-commands\" "
              "tabindex=\"0\"><code>",
              Escape(commands), "</code></pre>");
  }
  *out += "</section>";
}

}  // namespace

std::string RenderRepairList(const RepairView& view) {
  std::string out;
  if (!view.standalone) AppendTenantForm(view, &out);
  if (!view.error.empty()) {
    StrAppend(&out, "<p class=\"error\" role=\"alert\">", Escape(view.error),
              "</p>");
    return out;
  }
  StrAppend(&out,
            "<table class=\"data sortable\" id=\"repairs\"><caption "
            "class=\"visually-hidden\">Meetings to repair</caption><thead>"
            "<tr><th scope=\"col\">Meeting UID</th>",
            view.subjects ? "<th scope=\"col\">Subject</th>" : "",
            "<th scope=\"col\">True organizer</th><th scope=\"col\">Rewritten "
            "in the calendar of</th><th scope=\"col\">Device</th><th "
            "scope=\"col\">What it did</th><th scope=\"col\">First seen</th>"
            "<th scope=\"col\">Last seen</th><th scope=\"col\" "
            "class=\"num\">Attendees</th></tr></thead><tbody>");
  if (view.items.empty()) {
    StrAppend(&out, "<tr><td colspan=\"", view.subjects ? 9 : 8,
              "\">No meeting needs repair.</td></tr>");
  }
  for (const detector::RepairItem& item : view.items) {
    StrAppend(&out, "<tr><td><code>", Escape(item.uid), "</code></td>");
    if (view.subjects) {
      StrAppend(&out, "<td>", Escape(item.subject), "</td>");
    }
    const std::string device =
        view.standalone
            ? Escape(item.eas_device_id)
            : StrCat("<a href=\"",
                     Escape(DeviceLink(item.tenant_id, item.eas_device_id, "")),
                     "\">", Escape(item.eas_device_id), "</a>");
    StrAppend(&out, "<td>", Organizer(item), "</td><td>", Escape(item.mailbox),
              "</td><td>", device, "</td><td>", Escape(KindList(item.kinds)),
              "</td><td>", TimeHtml(item.first_seen), "</td><td>",
              TimeHtml(item.last_seen), "</td><td class=\"num\">",
              item.attendee_count, "</td></tr>");
  }
  out += "</tbody></table>";
  if (!view.standalone) {
    out += "<nav class=\"pages\" aria-label=\"Pages\">";
    if (!view.first_page) {
      StrAppend(&out, "<a href=\"",
                Escape(Link("/ui/repair", {{"tenant", view.tenant}})),
                "\">First page</a> ");
    }
    if (!view.next_page_token.empty()) {
      StrAppend(&out, "<a href=\"",
                Escape(Link("/ui/repair", {{"tenant", view.tenant},
                                           {"page", view.next_page_token}})),
                "\" rel=\"next\">Next page</a>");
    }
    out += "</nav>";
  }
  AppendExchangeSteps(view, &out);
  return out;
}

std::string CsvCell(std::string_view value) {
  const std::string text = SanitizeText(value);
  std::string out = "\"";
  if (!text.empty() && (text[0] == '=' || text[0] == '+' || text[0] == '-' ||
                        text[0] == '@' || text[0] == '\t' || text[0] == '\r')) {
    out += '\'';
  }
  for (const char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string RepairCsv(const std::vector<detector::RepairItem>& items,
                      bool subjects) {
  std::string out = StrCat(
      "tenant,meeting_uid,", subjects ? "subject," : "",
      "true_organizer_email,true_organizer_name,mailbox,eas_device_id,"
      "claimed_organizer_email,events,first_seen,last_seen,attendees\r\n");
  for (const detector::RepairItem& item : items) {
    StrAppend(&out, CsvCell(item.tenant_id), ",", CsvCell(item.uid), ",");
    if (subjects) StrAppend(&out, CsvCell(item.subject), ",");
    StrAppend(
        &out, CsvCell(item.true_organizer_email), ",",
        CsvCell(item.true_organizer_name), ",", CsvCell(item.mailbox), ",",
        CsvCell(item.eas_device_id), ",", CsvCell(item.claimed_organizer_email),
        ",", CsvCell(KindList(item.kinds)), ",",
        CsvCell(FormatUtc(item.first_seen)), ",",
        CsvCell(FormatUtc(item.last_seen)), ",", item.attendee_count, "\r\n");
  }
  return out;
}

}  // namespace hijackguard::console
