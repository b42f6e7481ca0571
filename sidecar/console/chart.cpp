// chart.cpp — scales, ticks and polylines for chart.mustache.
#include "console/chart.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "console/format.hpp"

namespace vigil::console {

namespace {

constexpr double kWidth = 640, kHeight = 220;
constexpr double kLeft = 64, kRight = 16, kTop = 12, kBottom = 36;
constexpr int kPalette = 6; // .s0 … .s5 in console.css

std::string coord(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

// A "nice" tick step (1, 2 or 5 × 10^n) for about `count` ticks over `span`.
double nice_step(double span, int count) {
    const double raw = span / count;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (raw <= m * mag)
            return m * mag;
    return 10 * mag;
}

} // namespace

Data line_chart(const std::vector<Series> &input, const ChartOptions &o) {
    Data chart;
    chart.set("title", o.title);
    chart.set("width", coord(kWidth));
    chart.set("height", coord(kHeight));
    std::vector<Series> series;
    double x0 = INFINITY, x1 = -INFINITY, y1 = 0, y0 = 0;
    for (const Series &s : input) {
        Series kept{s.name, {}};
        for (const auto &[x, y] : s.points)
            if (std::isfinite(x) && std::isfinite(y)) {
                kept.points.emplace_back(x, y);
                x0 = std::min(x0, x);
                x1 = std::max(x1, x);
                y0 = std::min(y0, y);
                y1 = std::max(y1, y);
            }
        std::sort(kept.points.begin(), kept.points.end());
        series.push_back(std::move(kept));
    }
    if (o.marker_x && std::isfinite(*o.marker_x) && x0 <= x1) {
        x0 = std::min(x0, *o.marker_x);
        x1 = std::max(x1, *o.marker_x);
    }
    const bool empty = !(x0 <= x1);
    chart.set("empty", empty);
    Data legend = make_list();
    for (std::size_t i = 0; i < series.size(); ++i) {
        Data entry;
        entry.set("name", series[i].name);
        entry.set("cls", "s" + std::to_string(i % kPalette));
        legend.push_back(entry);
    }
    chart.set("legend", legend);
    chart.set("has_legend", series.size() > 1);
    if (empty)
        return chart;
    if (x1 == x0) { // one point in time: centre it
        x0 -= 1;
        x1 += 1;
    }
    if (y1 == y0)
        y1 = y0 + 1;
    const double ystep = nice_step(y1 - y0, 4);
    y1 = std::ceil(y1 / ystep) * ystep;
    y0 = std::floor(y0 / ystep) * ystep;
    const double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
    auto sx = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * pw; };
    auto sy = [&](double y) { return kTop + ph - (y - y0) / (y1 - y0) * ph; };
    const auto yfmt = o.y_format ? o.y_format : format_number;

    Data yticks = make_list();
    for (double y = y0; y <= y1 + ystep / 2; y += ystep) {
        Data t;
        t.set("y", coord(sy(y)));
        t.set("label", yfmt(std::fabs(y) < ystep / 1e6 ? 0 : y));
        yticks.push_back(t);
    }
    chart.set("yticks", yticks);
    Data xticks = make_list();
    auto add_xtick = [&](double x, const std::string &text) {
        Data t;
        t.set("x", coord(sx(x)));
        t.set("label", text);
        const double pos = (x - x0) / (x1 - x0);
        t.set("anchor", pos < 0.05 ? "start" : pos > 0.95 ? "end" : "middle");
        xticks.push_back(t);
    };
    if (o.time_axis) {
        for (int i = 0; i <= 4; ++i)
            add_xtick(x0 + (x1 - x0) * i / 4, format_clock(x0 + (x1 - x0) * i / 4));
    } else { // numbers (a pool size): round steps, each label where its value is
        const double step = nice_step(x1 - x0, 5);
        for (double x = std::ceil(x0 / step) * step; x <= x1 + step / 1e6; x += step)
            add_xtick(x, format_number(x));
    }
    chart.set("xticks", xticks);
    chart.set("left", coord(kLeft));
    chart.set("right", coord(kWidth - kRight));
    chart.set("top", coord(kTop));
    chart.set("bottom", coord(kTop + ph));
    chart.set("label_y", coord(kHeight - 8));
    chart.set("x_label", o.x_label);

    Data lines = make_list();
    for (std::size_t i = 0; i < series.size(); ++i) {
        std::string pts;
        for (const auto &[x, y] : series[i].points)
            pts += (pts.empty() ? "" : " ") + coord(sx(x)) + "," + coord(sy(y));
        Data line;
        line.set("cls", "s" + std::to_string(i % kPalette));
        line.set("name", series[i].name);
        line.set("points", pts);
        // A lone point has no line to draw: a dot shows it.
        Data dots = make_list();
        if (series[i].points.size() == 1) {
            Data d;
            d.set("x", coord(sx(series[i].points[0].first)));
            d.set("y", coord(sy(series[i].points[0].second)));
            dots.push_back(d);
        }
        line.set("dots", dots);
        lines.push_back(line);
    }
    chart.set("lines", lines);
    if (o.marker_x && std::isfinite(*o.marker_x)) {
        Data m;
        m.set("x", coord(sx(*o.marker_x)));
        m.set("label", o.marker_label);
        m.set("anchor", sx(*o.marker_x) > kWidth / 2 ? "end" : "start");
        m.set("label_x", coord(sx(*o.marker_x) + (sx(*o.marker_x) > kWidth / 2 ? -4 : 4)));
        chart.set("marker", m);
    }
    return chart;
}

std::string render_chart(const std::vector<Series> &series, const ChartOptions &options) {
    Data d;
    d.set("chart", line_chart(series, options));
    return render("chart_only.mustache", d);
}

} // namespace vigil::console
