// The repair list (/ui/repair and /ui/repair.csv, and the second part of
// `hijackguard report`): every meeting a device changed against the
// server's state, with its UID, the organizer the server knows, the mailbox
// and device that changed it, when, and how many attendees it reaches; what
// to do next in Exchange, with the commands quoted for PowerShell; and a CSV
// whose cells cannot run as spreadsheet formulas.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "detector/traffic/repair_list.h"

namespace hijackguard::console {

struct RepairView {
  std::vector<detector::RepairItem> items;
  std::string next_page_token;
  // The query the page was asked with (tenant, page), for its links.
  std::vector<std::pair<std::string, std::string>> query;
  std::string tenant;                       // "" for every tenant
  std::vector<std::string> tenant_choices;  // as on the device list
  bool subjects = false;  // ledger.keep_subjects: a subject column
  bool first_page = true;
  // The static report: the whole list, with no form, page links or links
  // to device pages (no server behind it).
  bool standalone = false;
  std::string error;  // why the page was refused; no rows then
};

std::string RenderRepairList(const RepairView& view);

// A CSV cell: always quoted, inner quotes doubled; a value that starts with
// '=', '+', '-', '@', a tab or a carriage return gets a leading ' so that a
// spreadsheet shows it as text instead of running it.
std::string CsvCell(std::string_view value);
// The header line and a line per item (CRLF line ends, RFC 4180).
std::string RepairCsv(const std::vector<detector::RepairItem>& items,
                      bool subjects);

}  // namespace hijackguard::console
