// grafana_dashboard.hpp — docs/grafana/vigil-dashboard.json as the tests read it: the dashboard,
// and each query of its panels with its panel's title (the unit test checks the queries against
// the exported families, the integration test runs them on a real Prometheus).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace vigil::test {

inline nlohmann::json grafana_dashboard() {
    return nlohmann::json::parse(
        read_file(std::string(VIGIL_SOURCE_DIR) + "/docs/grafana/vigil-dashboard.json"));
}

struct PanelQuery {
    std::string panel;
    std::string expr;
};

inline std::vector<PanelQuery> panel_queries(const nlohmann::json &dash) {
    std::vector<PanelQuery> out;
    for (const auto &panel : dash.at("panels"))
        if (panel.contains("targets"))
            for (const auto &t : panel.at("targets"))
                out.push_back({panel.at("title"), t.at("expr")});
    return out;
}

} // namespace vigil::test
