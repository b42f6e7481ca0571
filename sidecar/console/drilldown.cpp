// drilldown.cpp — a short, bounded connection for one console request.
#include "console/drilldown.hpp"

#include <cmath>
#include <cstdlib>

#include "dsn_params.hpp"

namespace vigil::console {

std::optional<std::string> Row::get(const std::string &column) const {
    for (const auto &[name, value] : cells)
        if (name == column)
            return value;
    return std::nullopt;
}

std::string Row::text(const std::string &column) const {
    return get(column).value_or("");
}

std::optional<double> Row::number(const std::string &column) const {
    const auto v = get(column);
    if (!v || v->empty())
        return std::nullopt;
    char *end = nullptr;
    const double d = std::strtod(v->c_str(), &end);
    if (end == v->c_str() || !std::isfinite(d))
        return std::nullopt;
    return d;
}

Drilldown::Drilldown(const std::string &dsn, double timeout_seconds) {
    const long seconds = std::max(1L, std::lround(std::ceil(timeout_seconds)));
    conn_ =
        db::Connection::open(dsn_with(dsn, {{"connect_timeout", std::to_string(seconds)}}), "vigild console");
    const std::string ms = std::to_string(std::lround(timeout_seconds * 1000));
    conn_.exec("SET statement_timeout = " + ms);
    conn_.exec("SET lock_timeout = " + ms);
}

std::vector<Row> Drilldown::query(const std::string &sql, const db::Params &params) {
    const db::Result r = conn_.exec_params(sql, params);
    std::vector<Row> rows;
    for (int i = 0; i < r.rows(); ++i) {
        Row row;
        for (int c = 0; c < r.columns(); ++c)
            row.cells.emplace_back(PQfname(r.get(), c), r.optional_value(i, c));
        rows.push_back(std::move(row));
    }
    return rows;
}

} // namespace vigil::console
