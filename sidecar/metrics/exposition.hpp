// exposition.hpp — the one Prometheus text-format (0.0.4) writer of vigild, and the
// histogram type every duration metric uses.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vigil::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Escapes a label value: backslash, double quote and newline (text format 0.0.4).
std::string escape_label_value(const std::string &value);
// Escapes HELP text: backslash and newline.
std::string escape_help(const std::string &text);
// Formats a sample value: integers without a fraction, NaN / +Inf / -Inf spelled as Prometheus does.
std::string format_value(double value);

// A histogram with fixed upper bounds (seconds). Not synchronised: the owner locks.
struct Histogram {
    std::vector<double> bounds;        // ascending upper bounds, +Inf implicit
    std::vector<std::uint64_t> counts; // per bucket (not cumulative), one more than bounds (+Inf)
    double sum = 0;
    std::uint64_t count = 0;

    explicit Histogram(std::vector<double> upper_bounds = default_duration_buckets());
    void observe(double value);
    static std::vector<double> default_duration_buckets();
};

// Collects metric families and renders them. Samples of one family are kept together and the
// family's HELP and TYPE lines are written once, whatever order samples are added in.
class Exposition {
  public:
    // Declares a family; type is counter, gauge, histogram or untyped. Re-declaring is a no-op.
    void family(const std::string &name, const std::string &type, const std::string &help);
    // One sample of a declared counter or gauge family.
    void sample(const std::string &name, const Labels &labels, double value);
    // One histogram series of a declared histogram family, from per-bucket counts.
    void histogram(const std::string &name, const Labels &labels, const Histogram &h);
    // One histogram series from cumulative bucket counts (as PoolStats keeps them).
    void histogram_cumulative(const std::string &name, const Labels &labels,
                              const std::vector<double> &bounds, const std::vector<std::uint64_t> &cumulative,
                              std::uint64_t count, double sum);
    // The exposition text, ending with a newline.
    std::string str() const;

  private:
    struct Family {
        std::string name, type, help;
        std::vector<std::string> lines;
    };
    Family &find(const std::string &name);
    std::vector<Family> families_;
    std::unordered_map<std::string, std::size_t> index_; // family name → its place in families_
};

// The content type a scrape is answered with.
inline constexpr const char *kContentType = "text/plain; version=0.0.4; charset=utf-8";

} // namespace vigil::metrics
