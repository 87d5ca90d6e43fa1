#include "plugin/console/svg.h"

#include <algorithm>

#include "common/strings.h"
#include "common/utf8.h"
#include "plugin/console/html.h"

namespace hijackguard::console {
namespace {

constexpr int kWidth = 640;
constexpr int kLabelWidth = 220;
constexpr int kBarArea = 340;
constexpr int kRow = 24;

std::string Label(std::string_view text) {
  return Escape(TruncateUtf8(SanitizeText(text), 32));
}

}  // namespace

std::string BarChart(std::string_view title, const std::vector<Bar>& bars) {
  std::uint64_t most = 1;
  for (const Bar& b : bars) most = std::max(most, b.value);
  std::string summary(title);
  for (const Bar& b : bars) {
    StrAppend(&summary, "; ", b.label, ": ", b.value);
  }
  const int height = std::max<int>(1, static_cast<int>(bars.size())) * kRow;
  std::string out =
      StrCat("<figure class=\"chart\"><figcaption>", Escape(title),
             "</figcaption><svg role=\"img\" aria-label=\"", Escape(summary),
             "\" viewBox=\"0 0 ", kWidth, " ", height, "\" width=\"", kWidth,
             "\" height=\"", height, "\">");
  if (bars.empty()) {
    StrAppend(&out, "<text x=\"0\" y=\"16\" class=\"label\">none</text>");
  }
  int y = 0;
  for (const Bar& b : bars) {
    const int width = static_cast<int>(static_cast<double>(b.value) /
                                       static_cast<double>(most) * kBarArea);
    StrAppend(&out, "<text x=\"", kLabelWidth - 8, "\" y=\"", y + 16,
              "\" class=\"label\" text-anchor=\"end\">", Label(b.label),
              "</text><rect x=\"", kLabelWidth, "\" y=\"", y + 4, "\" width=\"",
              std::max(width, b.value > 0 ? 2 : 0), "\" height=\"", kRow - 8,
              "\" class=\"bar ", Escape(b.css_class), "\"></rect><text x=\"",
              kLabelWidth + std::max(width, 2) + 6, "\" y=\"", y + 16,
              "\" class=\"value\">", b.value, "</text>");
    y += kRow;
  }
  out += "</svg></figure>";
  return out;
}

std::string ColumnChart(std::string_view title, const std::vector<Bar>& columns,
                        std::size_t label_every) {
  constexpr int kHeight = 160;
  constexpr int kPlot = 120;  // the bars' area; labels below it
  std::uint64_t most = 1;
  for (const Bar& b : columns) most = std::max(most, b.value);
  std::string summary(title);
  for (const Bar& b : columns) {
    StrAppend(&summary, "; ", b.label, ": ", b.value);
  }
  const int n = std::max<int>(1, static_cast<int>(columns.size()));
  const int step = std::max(4, (kWidth - 40) / n);
  std::string out = StrCat(
      "<figure class=\"chart\"><figcaption>", Escape(title),
      "</figcaption><svg role=\"img\" aria-label=\"", Escape(summary),
      "\" viewBox=\"0 0 ", kWidth, " ", kHeight, "\" width=\"", kWidth,
      "\" height=\"", kHeight, "\"><text x=\"0\" y=\"12\" class=\"value\">",
      most, "</text><rect x=\"36\" y=\"", kPlot, "\" width=\"", step * n,
      "\" height=\"1\" class=\"track\"></rect>");
  if (label_every == 0) label_every = 1;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const Bar& b = columns[i];
    const int x = 36 + static_cast<int>(i) * step;
    const int h = static_cast<int>(static_cast<double>(b.value) /
                                   static_cast<double>(most) * (kPlot - 16));
    const int shown = std::max(h, b.value > 0 ? 2 : 0);
    StrAppend(&out, "<rect x=\"", x + 1, "\" y=\"", kPlot - shown,
              "\" width=\"", std::max(step - 2, 2), "\" height=\"", shown,
              "\" class=\"bar ", Escape(b.css_class), "\"></rect>");
    if (i % label_every == 0 || i + 1 == columns.size()) {
      StrAppend(&out, "<text x=\"", x, "\" y=\"", kPlot + 18,
                "\" class=\"label\">", Label(b.label), "</text>");
    }
  }
  out += "</svg></figure>";
  return out;
}

std::string StackedBar(std::string_view title,
                       const std::vector<Segment>& segments, double total) {
  if (!(total > 0)) total = 1;
  std::string summary(title);
  for (const Segment& s : segments) {
    StrAppend(&summary, "; ", s.label, ": ", FormatFixed(s.value, 1));
  }
  const int rows = static_cast<int>(segments.size());
  const int height = 40 + rows * 20;
  std::string out =
      StrCat("<figure class=\"chart\"><figcaption>", Escape(title),
             "</figcaption><svg role=\"img\" aria-label=\"", Escape(summary),
             "\" viewBox=\"0 0 ", kWidth, " ", height, "\" width=\"", kWidth,
             "\" height=\"", height, "\"><rect x=\"0\" y=\"4\" width=\"",
             kWidth, "\" height=\"24\" class=\"track\"></rect>");
  double x = 0;
  int i = 0;
  for (const Segment& s : segments) {
    const double width =
        std::clamp(s.value / total, 0.0, 1.0) * static_cast<double>(kWidth);
    StrAppend(&out, "<rect x=\"", FormatFixed(x, 1), "\" y=\"4\" width=\"",
              FormatFixed(std::min(width, kWidth - x), 1),
              "\" height=\"24\" class=\"seg seg-", i % 6, " ",
              Escape(s.css_class), "\"></rect>");
    x = std::min(static_cast<double>(kWidth), x + width);
    ++i;
  }
  i = 0;
  for (const Segment& s : segments) {
    const int y = 48 + i * 20;
    StrAppend(&out, "<rect x=\"0\" y=\"", y - 11, "\" width=\"12\" ",
              "height=\"12\" class=\"seg seg-", i % 6, " ", Escape(s.css_class),
              "\"></rect><text x=\"18\" y=\"", y, "\" class=\"label\">",
              Label(s.label), " ", FormatFixed(s.value, 1), "</text>");
    ++i;
  }
  out += "</svg></figure>";
  return out;
}

}  // namespace hijackguard::console
