// The console's SVG charts: empty, single-point, hostile-label and marked series.
#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "console/chart.hpp"
#include "console/format.hpp"

using namespace vigil::console;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {
int count(const std::string &s, const std::string &what) {
    int n = 0;
    for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1))
        ++n;
    return n;
}
} // namespace

TEST(ConsoleChart, EmptySeriesSaysSoAndDrawsNothing) {
    ChartOptions o;
    o.title = "Lag";
    const std::string svg = render_chart({{"standby", {}}}, o);
    EXPECT_THAT(svg, HasSubstr("No history yet"));
    EXPECT_THAT(svg, Not(HasSubstr("<svg")));
    EXPECT_THAT(render_chart({}, o), HasSubstr("No history yet"));
}

TEST(ConsoleChart, NonFinitePointsAreDropped) {
    ChartOptions o;
    const std::string svg = render_chart({{"s", {{1, NAN}, {2, INFINITY}, {NAN, 3}}}}, o);
    EXPECT_THAT(svg, HasSubstr("No history yet"));
}

TEST(ConsoleChart, SinglePointIsADot) {
    ChartOptions o;
    o.title = "Size";
    const std::string svg = render_chart({{"db", {{1700000000, 42}}}}, o);
    EXPECT_THAT(svg, HasSubstr("<svg"));
    EXPECT_EQ(count(svg, "<circle"), 1);
    EXPECT_THAT(svg, Not(HasSubstr("nan")));
}

TEST(ConsoleChart, LinesHaveOnePointPerSampleInsideTheViewBox) {
    ChartOptions o;
    o.time_axis = false;
    const std::string svg = render_chart({{"a", {{1, 1}, {2, 4}, {3, 9}}}, {"b", {{1, 2}, {3, 2}}}}, o);
    EXPECT_EQ(count(svg, "<polyline"), 2);
    EXPECT_EQ(count(svg, "<circle"), 0);
    const auto start = svg.find("points=\"") + 8;
    const std::string pts = svg.substr(start, svg.find('"', start) - start);
    EXPECT_EQ(count(pts, ","), 3) << pts;
    for (std::size_t p = 0; p < pts.size();) {
        const double x = std::stod(pts.substr(p));
        const double y = std::stod(pts.substr(pts.find(',', p) + 1));
        EXPECT_GE(x, 0);
        EXPECT_LE(x, 640);
        EXPECT_GE(y, 0);
        EXPECT_LE(y, 220);
        p = pts.find(' ', p);
        p = p == std::string::npos ? pts.size() : p + 1;
    }
    EXPECT_THAT(svg, HasSubstr("class=\"key s1\"")); // a legend for two series
}

TEST(ConsoleChart, HostileLabelsAreEscaped) {
    ChartOptions o;
    o.title = "<script>alert(1)</script>";
    o.marker_x = 2;
    o.marker_label = "\" onmouseover=\"alert(2)";
    const std::string svg =
        render_chart({{"<img src=x onerror=alert(1)>", {{1, 1}, {3, 2}}}, {"b'c", {{1, 1}}}}, o);
    EXPECT_THAT(svg, Not(HasSubstr("<script>")));
    EXPECT_THAT(svg, Not(HasSubstr("<img")));
    EXPECT_THAT(svg, Not(HasSubstr("\" onmouseover")));
    EXPECT_THAT(svg, HasSubstr("&lt;script&gt;"));
    EXPECT_THAT(svg, HasSubstr("&lt;img src=x onerror=alert(1)&gt;"));
}

TEST(ConsoleChart, MarkerIsDrawnWhereAsked) {
    ChartOptions o;
    o.time_axis = false;
    o.marker_x = 10;
    o.marker_label = "today: 10";
    const std::string svg = render_chart({{"p99", {{5, 1}, {15, 0}}}}, o);
    EXPECT_THAT(svg, HasSubstr("class=\"marker\" x1=\"344.0\"")); // the middle of 64..624
    EXPECT_THAT(svg, HasSubstr("today: 10"));
}

TEST(ConsoleFormat, UnitsAPersonReads) {
    EXPECT_EQ(format_seconds(0.85), "850 ms");
    EXPECT_EQ(format_seconds(12.34), "12.3 s");
    EXPECT_EQ(format_seconds(245), "4 min 5 s");
    EXPECT_EQ(format_seconds(7380), "2 h 3 min");
    EXPECT_EQ(format_bytes(512), "512 B");
    EXPECT_EQ(format_bytes(12.3 * 1024 * 1024), "12 MB");
    EXPECT_EQ(format_bytes(1.5 * 1024), "1.5 kB");
    EXPECT_EQ(format_count(1234567), "1,234,567");
    EXPECT_EQ(format_fraction(0.732), "73.2%");
    EXPECT_EQ(format_number(12.5), "12.5");
    EXPECT_EQ(format_age(100, 0), "never");
}
