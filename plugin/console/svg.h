// Charts drawn by the server as inline SVG (no script, no inline styles:
// colours come from classes in the console's stylesheet, so the
// Content-Security-Policy needs no 'unsafe-inline').
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hijackguard::console {

struct Bar {
  std::string label;
  std::uint64_t value = 0;
  std::string css_class;  // "level-HIGH", ...; "" for the default colour
};

// A horizontal bar chart, one row per bar with its label and count, longest
// bar the full width. Its accessible name is `title` followed by every
// label and count, so a screen reader hears the numbers.
std::string BarChart(std::string_view title, const std::vector<Bar>& bars);

// A vertical bar per period (a day), in order, each labelled below when
// `label_every` divides its index (and the last). Its accessible name holds
// every label and count, as BarChart's.
std::string ColumnChart(std::string_view title, const std::vector<Bar>& columns,
                        std::size_t label_every);

struct Segment {
  std::string label;
  double value = 0;  // a share of `total` in StackedBar
  std::string css_class;
};

// One bar split into segments, each as wide as its share of `total` (a
// score's contributions out of 100), labelled below with its value.
std::string StackedBar(std::string_view title,
                       const std::vector<Segment>& segments, double total);

}  // namespace hijackguard::console
