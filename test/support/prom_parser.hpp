// prom_parser.hpp — an independent parser of the Prometheus text format 0.0.4, strict enough to
// reject what a Prometheus server would: every line is a comment, blank, or a valid sample.
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace vigil::test {

struct PromSample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct PromFamily {
    std::string type, help;
};

struct PromExposition {
    std::map<std::string, PromFamily> families;
    std::vector<PromSample> samples;

    // The value of the one sample with this name and these labels (a subset match), if any.
    std::optional<double> value(const std::string &name,
                                const std::map<std::string, std::string> &labels = {}) const {
        std::optional<double> found;
        for (const auto &s : samples) {
            if (s.name != name)
                continue;
            bool match = true;
            for (const auto &[k, v] : labels)
                if (!s.labels.count(k) || s.labels.at(k) != v)
                    match = false;
            if (match) {
                if (found)
                    throw std::runtime_error("more than one sample matches " + name);
                found = s.value;
            }
        }
        return found;
    }
    std::size_t count(const std::string &name) const {
        std::size_t n = 0;
        for (const auto &s : samples)
            n += s.name == name;
        return n;
    }
};

inline bool prom_name_ok(const std::string &n, bool label) {
    if (n.empty())
        return false;
    for (std::size_t i = 0; i < n.size(); ++i) {
        const char c = n[i];
        const bool alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':');
        if (!(alpha || (i > 0 && c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

inline double prom_value(const std::string &text, const std::string &line) {
    if (text == "+Inf")
        return INFINITY;
    if (text == "-Inf")
        return -INFINITY;
    if (text == "NaN")
        return NAN;
    std::size_t used = 0;
    double v = 0;
    try {
        v = std::stod(text, &used);
    } catch (const std::exception &) {
        throw std::runtime_error("bad value in: " + line);
    }
    if (used != text.size())
        throw std::runtime_error("bad value in: " + line);
    return v;
}

// The family a sample belongs to (histogram suffixes stripped when the base is a histogram).
inline std::string prom_family_of(const std::string &name,
                                  const std::map<std::string, PromFamily> &families) {
    for (const char *suffix : {"_bucket", "_sum", "_count"}) {
        const std::string s = suffix;
        if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
            const std::string base = name.substr(0, name.size() - s.size());
            auto it = families.find(base);
            if (it != families.end() && (it->second.type == "histogram" || it->second.type == "summary"))
                return base;
        }
    }
    return name;
}

// Parses every line; throws std::runtime_error naming the first bad line.
inline PromExposition parse_prometheus(const std::string &text) {
    PromExposition out;
    if (!text.empty() && text.back() != '\n')
        throw std::runtime_error("the exposition does not end with a newline");
    std::set<std::string> series;
    std::set<std::string> closed_families; // a family's samples must be contiguous
    std::string current_family;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t end = text.find('\n', pos);
        const std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        if (line.empty())
            continue;
        if (line[0] == '#') {
            // "# HELP name text" / "# TYPE name type"; other comments are allowed.
            if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
                const std::string rest = line.substr(7);
                const auto space = rest.find(' ');
                const std::string name = rest.substr(0, space);
                if (!prom_name_ok(name, false))
                    throw std::runtime_error("bad metric name in: " + line);
                const std::string arg = space == std::string::npos ? "" : rest.substr(space + 1);
                if (line[2] == 'T') {
                    static const std::set<std::string> types = {"counter", "gauge", "histogram", "summary",
                                                                "untyped"};
                    if (!types.count(arg))
                        throw std::runtime_error("bad type in: " + line);
                    if (out.families.count(name) && !out.families[name].type.empty())
                        throw std::runtime_error("second TYPE line for " + name);
                    const bool seen =
                        std::any_of(out.samples.begin(), out.samples.end(), [&](const PromSample &s) {
                            return prom_family_of(s.name, out.families) == name;
                        });
                    if (seen)
                        throw std::runtime_error("TYPE after samples for " + name);
                    out.families[name].type = arg;
                } else {
                    out.families[name].help = arg;
                }
            }
            continue;
        }
        PromSample s;
        std::size_t i = 0;
        while (i < line.size() && line[i] != '{' && line[i] != ' ')
            ++i;
        s.name = line.substr(0, i);
        if (!prom_name_ok(s.name, false))
            throw std::runtime_error("bad metric name in: " + line);
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (i < line.size() && line[i] != '}') {
                std::size_t eq = line.find('=', i);
                if (eq == std::string::npos)
                    throw std::runtime_error("bad label in: " + line);
                const std::string key = line.substr(i, eq - i);
                if (!prom_name_ok(key, true) || key.rfind("__", 0) == 0)
                    throw std::runtime_error("bad label name in: " + line);
                if (eq + 1 >= line.size() || line[eq + 1] != '"')
                    throw std::runtime_error("label value not quoted in: " + line);
                std::string value;
                std::size_t j = eq + 2;
                for (; j < line.size() && line[j] != '"'; ++j) {
                    if (line[j] == '\\') {
                        ++j;
                        if (j >= line.size())
                            throw std::runtime_error("bad escape in: " + line);
                        if (line[j] == 'n')
                            value += '\n';
                        else if (line[j] == '\\' || line[j] == '"')
                            value += line[j];
                        else
                            throw std::runtime_error("bad escape in: " + line);
                    } else {
                        value += line[j];
                    }
                }
                if (j >= line.size())
                    throw std::runtime_error("unterminated label value in: " + line);
                if (s.labels.count(key))
                    throw std::runtime_error("duplicate label in: " + line);
                s.labels[key] = value;
                i = j + 1;
                if (i < line.size() && line[i] == ',')
                    ++i;
            }
            if (i >= line.size())
                throw std::runtime_error("unterminated label set in: " + line);
            ++i; // '}'
        }
        if (i >= line.size() || line[i] != ' ')
            throw std::runtime_error("no value in: " + line);
        std::string rest = line.substr(i + 1);
        const auto space = rest.find(' ');
        if (space != std::string::npos) {
            const std::string ts = rest.substr(space + 1);
            if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string::npos)
                throw std::runtime_error("bad timestamp in: " + line);
            rest = rest.substr(0, space);
        }
        s.value = prom_value(rest, line);
        const std::string family = prom_family_of(s.name, out.families);
        if (family != current_family) {
            if (closed_families.count(family))
                throw std::runtime_error("samples of " + family + " are not contiguous");
            if (!current_family.empty())
                closed_families.insert(current_family);
            current_family = family;
        }
        std::string key = s.name;
        for (const auto &[k, v] : s.labels)
            key += "|" + k + "=" + v;
        if (!series.insert(key).second)
            throw std::runtime_error("duplicate series: " + line);
        out.samples.push_back(s);
    }
    return out;
}

// Checks the histogram invariants of every histogram family: cumulative buckets, an le="+Inf"
// bucket equal to _count, a _sum. Returns "" or the first problem.
inline std::string check_histograms(const PromExposition &e) {
    for (const auto &[name, fam] : e.families) {
        if (fam.type != "histogram")
            continue;
        std::map<std::string, std::vector<std::pair<double, double>>> buckets; // series → (le, count)
        std::map<std::string, double> counts;
        std::map<std::string, bool> sums;
        for (const auto &s : e.samples) {
            std::map<std::string, std::string> rest = s.labels;
            rest.erase("le");
            std::string key;
            for (const auto &[k, v] : rest)
                key += k + "=" + v + ",";
            if (s.name == name + "_bucket") {
                if (!s.labels.count("le"))
                    return name + "_bucket without le";
                buckets[key].push_back({prom_value(s.labels.at("le"), s.name), s.value});
            } else if (s.name == name + "_count") {
                counts[key] = s.value;
            } else if (s.name == name + "_sum") {
                sums[key] = true;
            } else if (s.name == name) {
                return "histogram " + name + " has a bare sample";
            }
        }
        for (const auto &[key, list] : buckets) {
            for (std::size_t i = 1; i < list.size(); ++i)
                if (list[i].first <= list[i - 1].first || list[i].second < list[i - 1].second)
                    return name + "{" + key + "}: buckets not ascending or not cumulative";
            if (list.empty() || !std::isinf(list.back().first))
                return name + "{" + key + "}: no le=\"+Inf\" bucket";
            if (!counts.count(key) || counts[key] != list.back().second)
                return name + "{" + key + "}: _count differs from the +Inf bucket";
            if (!sums.count(key))
                return name + "{" + key + "}: no _sum";
        }
    }
    return "";
}

} // namespace vigil::test
