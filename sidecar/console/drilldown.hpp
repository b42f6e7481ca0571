// drilldown.hpp — the few console requests that must ask a database (the live lock tree, pool
// advice, bloat estimates, the sampler's ring, a statement's full text) and the actions. Each
// opens its own short connection through FleetAccess::dsn() with connect and statement timeouts,
// so a slow or frozen target costs a page a few seconds at most and never the poller's time.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "db.hpp"

namespace vigil::console {

// The rows of a query as strings by column name (NULL: absent).
struct Row {
    std::vector<std::pair<std::string, std::optional<std::string>>> cells;
    std::optional<std::string> get(const std::string &column) const;
    std::string text(const std::string &column) const; // "" for NULL
    std::optional<double> number(const std::string &column) const;
};

class Drilldown {
  public:
    // Connects (connect_timeout, then statement_timeout and lock_timeout of `timeout_seconds`);
    // throws db::DbError.
    Drilldown(const std::string &dsn, double timeout_seconds);
    std::vector<Row> query(const std::string &sql, const db::Params &params = {});

  private:
    db::Connection conn_;
};

} // namespace vigil::console
