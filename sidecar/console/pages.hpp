// pages.hpp — one function per console page: the page's template data from the fleet snapshot
// (and, for the drill-downs, one bounded query). No HTML here: the templates draw it.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "console/console.hpp"
#include "console/view.hpp"

namespace vigil::console {

struct PageInput {
    const fleet::FleetSnapshot &fleet;
    const std::map<std::string, std::string> &params; // the query string
    double now;
    const HistoryView &history;
    const ServeHooks &hooks;
    const ConsoleOptions &options;
    bool actions_enabled;
    std::function<std::optional<std::string>(const std::string &, const std::string &)> dsn;
    std::string param(const std::string &name) const {
        auto it = params.find(name);
        return it == params.end() ? "" : it->second;
    }
};

// "/path?target=..&database=.." with both percent-encoded.
std::string page_link(const std::string &path, const std::string &target, const std::string &database,
                      const std::string &extra = "");
std::string url_encode(const std::string &s);

// Severity as the pages sort and colour it: critical, warning, unknown, ok.
int severity_rank(int severity);
const char *severity_class(int severity);

Data overview_page(const PageInput &in);
Data checks_page(const PageInput &in);
Data queries_page(const PageInput &in);
Data statement_page(const PageInput &in); // ?target&database&queryid
Data locks_page(const PageInput &in);     // drill-down: vigil.lock_tree()
Data space_page(const PageInput &in);     // drill-down: vigil.table_bloat, vigil.index_bloat
Data pool_page(const PageInput &in);      // drill-down: vigil.pool_advice(), vigil.pool_wait()
Data replication_page(const PageInput &in);
Data backups_page(const PageInput &in);
Data activity_page(const PageInput &in); // drill-down: vigil.activity_history()

} // namespace vigil::console
