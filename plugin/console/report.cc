#include "plugin/console/report.h"

#include "common/strings.h"
#include "plugin/console/assets.h"
#include "plugin/console/html.h"

namespace hijackguard::console {

std::string RenderReport(const ReportView& report) {
  const std::optional<Asset> css = FindAsset("console.css");
  const std::string scope = report.tenant.empty()
                                ? std::string("every tenant")
                                : StrCat("tenant ", report.tenant);
  return StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
      "'none'; style-src 'unsafe-inline'; img-src data:\">"
      "<meta name=\"viewport\" content=\"width=device-width, "
      "initial-scale=1\"><title>hijackguard report - ",
      Escape(scope), "</title><style>", css ? css->body : "",
      "</style></head><body><header class=\"top\"><span "
      "class=\"brand\">hijackguard</span><span>Report for ",
      Escape(scope), ", ", TimeHtml(report.generated_at),
      "</span></header><main><h1>Fleet</h1>", RenderFleet(report.fleet),
      "<h1>Repair list</h1>", RenderRepairList(report.repair),
      "</main></body></html>\n");
}

}  // namespace hijackguard::console
