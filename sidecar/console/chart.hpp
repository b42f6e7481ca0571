// chart.hpp — line charts as SVG, drawn by the server: this computes the geometry (points,
// ticks, a marker) and chart.mustache draws it, escaping every label. No script, no font.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "console/view.hpp"

namespace vigil::console {

struct Series {
    std::string name;
    std::vector<std::pair<double, double>> points; // (x, y); x is Unix time on a time axis
};

struct ChartOptions {
    std::string title;
    bool time_axis = true;                       // x labels as clock times; otherwise as numbers
    std::function<std::string(double)> y_format; // default format_number
    std::optional<double> marker_x;              // a vertical line, e.g. today's pool size
    std::string marker_label;
    std::string x_label; // under the x axis, e.g. "pool size"
};

// The chart's template data: {title, empty, width, height, lines[], yticks[], xticks[],
// marker?, legend}. Non-finite points are dropped; an empty chart says so instead of drawing.
Data line_chart(const std::vector<Series> &series, const ChartOptions &options);

// The chart alone as SVG (chart.mustache), for tests and for pages that show one chart.
std::string render_chart(const std::vector<Series> &series, const ChartOptions &options);

} // namespace vigil::console
