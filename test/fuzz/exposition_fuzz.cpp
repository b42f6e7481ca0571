// exposition_fuzz.cpp — the Prometheus text writer: escape_label_value, escape_help,
// format_value and Exposition on arbitrary bytes.
//   - The whole input, escaped as a label value and as HELP text, has no raw newline (nor, as a
//     label value, a raw double quote) and unescapes strictly back to the input.
//   - The input then drives a writer: families declared, samples, histograms, with label values,
//     HELP text and sample values cut from the input. The exposition must parse with the
//     test suite's strict parser (test/support/prom_parser.hpp) and give back every family's
//     type and HELP, every sample's labels and value, and well-formed histograms.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "metrics/exposition.hpp"
#include "prom_parser.hpp"

namespace {

namespace m = vigil::metrics;
using vigil::fuzz::printable;

// Text format 0.0.4: a label value knows \\, \" and \n; a raw " or newline ends or breaks it.
std::optional<std::string> unescape(const std::string &s, bool label) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '\n' || (label && c == '"'))
            return std::nullopt;
        if (c != '\\') {
            out += c;
            continue;
        }
        if (++i == s.size())
            return std::nullopt;
        if (s[i] == 'n')
            out += '\n';
        else if (s[i] == '\\' || (label && s[i] == '"'))
            out += s[i];
        else
            return std::nullopt;
    }
    return out;
}

void check_escapes(const std::string &v) {
    const std::string label = m::escape_label_value(v);
    FUZZ_CHECK(unescape(label, true) == v, "escape_label_value(" + printable(v) + ") = " + printable(label));
    const std::string help = m::escape_help(v);
    FUZZ_CHECK(unescape(help, false) == v, "escape_help(" + printable(v) + ") = " + printable(help));
}

// Prometheus's spelling of a sample value reads back as the same double.
void check_format(double v) {
    const std::string text = m::format_value(v);
    if (std::isnan(v)) {
        FUZZ_CHECK(text == "NaN", text);
        return;
    }
    if (std::isinf(v)) {
        FUZZ_CHECK(text == (v > 0 ? "+Inf" : "-Inf"), text);
        return;
    }
    char *end = nullptr;
    const double back = std::strtod(text.c_str(), &end);
    FUZZ_CHECK(*end == '\0' && back == v, "format_value gives " + text);
}

// The test parser reads values with std::stod, which refuses subnormal numbers.
double normal(double v) {
    return std::fpclassify(v) == FP_SUBNORMAL ? 0 : v;
}

struct Expected {
    std::string name;
    std::map<std::string, std::string> labels;
    double value;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    check_escapes(std::string(reinterpret_cast<const char *>(data), size));

    vigil::fuzz::Bytes in(data, size);
    m::Exposition x;
    static const char *const names[] = {"fuzz_a", "fuzz_b", "fuzz_c"};
    static const char *const types[] = {"counter", "gauge", "untyped"};
    std::map<std::string, std::pair<std::string, std::string>> families; // name → type, help
    std::vector<Expected> samples;
    std::size_t histogram_lines = 0;
    int series = 0; // an "i" label on every series keeps them apart

    for (int op = 0; op < 64 && !in.empty(); ++op) {
        switch (in.byte() % 3) {
        case 0: { // declare a family (a second declaration changes nothing)
            const std::string name = names[in.byte() % 3];
            const std::string type = types[in.byte() % 3];
            const std::string help = in.string();
            x.family(name, type, help);
            families.emplace(name, std::pair(type, help));
            break;
        }
        case 1: { // a sample of a declared family
            const std::string name = names[in.byte() % 3];
            if (!families.count(name))
                break;
            Expected s{name, {{"i", std::to_string(series++)}}, 0};
            m::Labels labels{{"i", s.labels["i"]}};
            for (int k = in.byte() % 3; k > 0; --k) {
                const std::string key = "l" + std::to_string(k);
                const std::string value = in.string();
                labels.emplace_back(key, value);
                s.labels[key] = value;
            }
            const double raw = in.number<double>();
            check_format(raw);
            s.value = normal(raw);
            x.sample(name, labels, s.value);
            samples.push_back(s);
            break;
        }
        default: { // a histogram series
            if (!families.count("fuzz_h")) {
                const std::string help = in.string();
                x.family("fuzz_h", "histogram", help);
                families.emplace("fuzz_h", std::pair(std::string("histogram"), help));
            }
            std::vector<double> bounds;
            for (int k = in.byte() % 5; k > 0; --k) {
                const double b = normal(in.number<double>());
                if (std::isfinite(b))
                    bounds.push_back(b);
            }
            std::sort(bounds.begin(), bounds.end());
            bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
            m::Histogram h(bounds);
            for (int k = in.byte() % 8; k > 0; --k)
                h.observe(normal(in.number<double>()));
            if (std::fpclassify(h.sum) == FP_SUBNORMAL)
                break;
            const m::Labels labels{{"i", std::to_string(series++)}, {"l1", in.string()}};
            x.histogram("fuzz_h", labels, h);
            histogram_lines += bounds.size() + 3; // the buckets, +Inf, _sum, _count
            break;
        }
        }
    }

    const std::string text = x.str();
    vigil::test::PromExposition parsed;
    try {
        parsed = vigil::test::parse_prometheus(text);
    } catch (const std::runtime_error &e) {
        vigil::fuzz::fail(__FILE__, __LINE__, "the exposition does not parse", e.what());
    }
    FUZZ_CHECK(parsed.families.size() == families.size(), text);
    for (const auto &[name, family] : families) {
        const auto &got = parsed.families[name];
        FUZZ_CHECK(got.type == family.first, name + ": TYPE " + got.type);
        FUZZ_CHECK(unescape(got.help, false) == family.second, name + ": HELP " + printable(got.help));
    }
    FUZZ_CHECK(parsed.samples.size() == samples.size() + histogram_lines,
               std::to_string(parsed.samples.size()) + " samples in " + printable(text));
    for (const Expected &s : samples) {
        std::optional<double> got;
        try {
            got = parsed.value(s.name, s.labels);
        } catch (const std::runtime_error &e) {
            vigil::fuzz::fail(__FILE__, __LINE__, "one series twice", e.what());
        }
        FUZZ_CHECK(got.has_value(), s.name + " series " + s.labels.at("i") + " is missing");
        FUZZ_CHECK(*got == s.value || (std::isnan(*got) && std::isnan(s.value)),
                   s.name + ": " + std::to_string(*got) + " for " + std::to_string(s.value));
    }
    const std::string histograms = vigil::test::check_histograms(parsed);
    FUZZ_CHECK(histograms.empty(), histograms);
    return 0;
}
