// exposition.cpp — Prometheus text format 0.0.4.
#include "metrics/exposition.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace vigil::metrics {

std::string escape_label_value(const std::string &value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string escape_help(const std::string &text) {
    std::string out;
    for (char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string format_value(double value) {
    if (std::isnan(value))
        return "NaN";
    if (std::isinf(value))
        return value > 0 ? "+Inf" : "-Inf";
    char buf[64];
    if (value == std::floor(value) && std::fabs(value) < 1e15)
        return std::string(
            buf, static_cast<std::size_t>(
                     std::to_chars(buf, buf + sizeof buf, static_cast<long long>(value)).ptr - buf));
    // The shortest text that reads back as the same double (0.1, not 0.10000000000000001), in
    // printf's %g style with at least 6 significant digits (0.0001, not 1e-04), as always:
    // to_chars finds the digits without trying precisions one by one, and knows no locale.
    const char *shortest_end = std::to_chars(buf, buf + sizeof buf, value).ptr;
    int digits = 0;
    bool leading = true;
    for (const char *p = buf; p < shortest_end && *p != 'e'; ++p)
        if (*p >= '0' && *p <= '9' && !(leading && *p == '0')) {
            leading = false;
            ++digits;
        }
    const char *end =
        std::to_chars(buf, buf + sizeof buf, value, std::chars_format::general, std::max(6, digits)).ptr;
    return std::string(buf, static_cast<std::size_t>(end - buf));
}

namespace {

std::string label_text(const Labels &labels) {
    if (labels.empty())
        return "";
    std::string out = "{";
    std::size_t size = 2;
    for (const auto &[name, value] : labels)
        size += name.size() + value.size() + 4;
    out.reserve(size);
    for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i)
            out += ',';
        out += labels[i].first;
        out += "=\"";
        out += escape_label_value(labels[i].second);
        out += '"';
    }
    return out + "}";
}

Labels with_le(const Labels &labels, double le) {
    Labels out = labels;
    out.emplace_back("le", format_value(le));
    return out;
}

} // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds(std::move(upper_bounds)), counts(bounds.size() + 1) {}

void Histogram::observe(double value) {
    const auto it = std::lower_bound(bounds.begin(), bounds.end(), value);
    ++counts[static_cast<std::size_t>(it - bounds.begin())];
    sum += value;
    ++count;
}

std::vector<double> Histogram::default_duration_buckets() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

Exposition::Family &Exposition::find(const std::string &name) {
    const auto it = index_.find(name);
    if (it == index_.end())
        throw std::logic_error("metric family " + name + " was not declared");
    return families_[it->second];
}

void Exposition::family(const std::string &name, const std::string &type, const std::string &help) {
    if (index_.emplace(name, families_.size()).second)
        families_.push_back(Family{name, type, help, {}});
}

void Exposition::sample(const std::string &name, const Labels &labels, double value) {
    std::string line = name;
    line += label_text(labels);
    line += ' ';
    line += format_value(value);
    find(name).lines.push_back(std::move(line));
}

void Exposition::histogram(const std::string &name, const Labels &labels, const Histogram &h) {
    std::vector<std::uint64_t> cumulative;
    std::uint64_t running = 0;
    for (std::size_t i = 0; i < h.bounds.size(); ++i)
        cumulative.push_back(running += h.counts[i]);
    histogram_cumulative(name, labels, h.bounds, cumulative, h.count, h.sum);
}

void Exposition::histogram_cumulative(const std::string &name, const Labels &labels,
                                      const std::vector<double> &bounds,
                                      const std::vector<std::uint64_t> &cumulative, std::uint64_t count,
                                      double sum) {
    Family &f = find(name);
    for (std::size_t i = 0; i < bounds.size(); ++i)
        f.lines.push_back(name + "_bucket" + label_text(with_le(labels, bounds[i])) + ' ' +
                          format_value(static_cast<double>(cumulative[i])));
    f.lines.push_back(name + "_bucket" + label_text(with_le(labels, INFINITY)) + ' ' +
                      format_value(static_cast<double>(count)));
    f.lines.push_back(name + "_sum" + label_text(labels) + ' ' + format_value(sum));
    f.lines.push_back(name + "_count" + label_text(labels) + ' ' + format_value(static_cast<double>(count)));
}

std::string Exposition::str() const {
    std::string out;
    std::size_t size = 0;
    for (const Family &f : families_) {
        size += f.name.size() * 2 + f.help.size() + f.type.size() + 20;
        for (const std::string &line : f.lines)
            size += line.size() + 1;
    }
    out.reserve(size);
    for (const Family &f : families_) {
        out += "# HELP " + f.name + ' ' + escape_help(f.help) + '\n';
        out += "# TYPE " + f.name + ' ' + f.type + '\n';
        for (const std::string &line : f.lines)
            out += line + '\n';
    }
    return out;
}

} // namespace vigil::metrics
