// check.cpp — `vigild check`: vigil.health_check() as a table or JSON, with Nagios exit codes.
#include <algorithm>
#include <iomanip>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands/cli.hpp"
#include "db.hpp"
#include "exit_codes.hpp"
#include "metrics/poller.hpp"

namespace vigil {

namespace {

// The worst status wins as in vigil.health_summary(): critical, then warning, then unknown.
int nagios_exit_code(const std::vector<HealthCheckRow> &rows) {
    bool seen[4] = {false, false, false, false};
    for (const auto &r : rows)
        seen[std::clamp(r.severity, 0, 3)] = true;
    return seen[2] ? exit_code::critical : seen[1] ? exit_code::warning : seen[3] ? exit_code::unknown : exit_code::ok;
}

} // namespace

void register_check_command(CommandRegistry &registry) {
    auto json = std::make_shared<bool>(false);
    CLI::App *cmd = registry.add(
        "check", "Run vigil.health_check(): a table (or --json) and a Nagios exit code 0/1/2/3", [json](Context &ctx) {
            std::vector<HealthCheckRow> rows;
            try {
                db::Connection conn = db::Connection::open(ctx.dsn(), "vigild check");
                if (conn.scalar("SELECT to_regprocedure('vigil.health_check()') IS NOT NULL") != "t") {
                    std::cout << "UNKNOWN: vigil.health_check() does not exist in this database "
                                 "(CREATE EXTENSION pgvigil)\n";
                    return exit_code::unknown;
                }
                rows = fetch_health_checks(conn);
            } catch (const db::DbError &e) {
                // A Nagios plugin that cannot ask says UNKNOWN.
                std::cout << "UNKNOWN: " << e.what() << '\n';
                return exit_code::unknown;
            }
            const int code = nagios_exit_code(rows);
            static const char *names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
            if (*json) {
                nlohmann::json out = {{"status", names[code]}, {"exit_code", code}, {"checks", nlohmann::json::array()}};
                for (const auto &r : rows)
                    out["checks"].push_back({{"check_name", r.check_name},
                                             {"status", r.status},
                                             {"severity", r.severity},
                                             {"current_value", r.current_value},
                                             {"threshold", r.threshold},
                                             {"detail", r.detail},
                                             {"recommendation", r.recommendation}});
                std::cout << out.dump(2) << '\n';
                return code;
            }
            int counts[4] = {0, 0, 0, 0};
            std::size_t width = 5, value_width = 5, threshold_width = 9;
            for (const auto &r : rows) {
                ++counts[r.severity >= 0 && r.severity <= 3 ? r.severity : 3];
                width = std::max(width, r.check_name.size());
                value_width = std::max(value_width, r.current_value.size());
                threshold_width = std::max(threshold_width, r.threshold.size());
            }
            const int vw = static_cast<int>(value_width), tw = static_cast<int>(threshold_width);
            std::cout << names[code] << ": " << counts[2] << " critical, " << counts[1] << " warning, " << counts[3]
                      << " unknown, " << counts[0] << " ok\n\n";
            std::cout << std::left << std::setw(static_cast<int>(width)) << "check" << "  " << std::setw(8) << "status"
                      << "  " << std::setw(vw) << "value" << "  " << std::setw(tw) << "threshold" << "  detail\n";
            for (const auto &r : rows) {
                std::cout << std::left << std::setw(static_cast<int>(width)) << r.check_name << "  " << std::setw(8)
                          << r.status << "  " << std::setw(vw) << r.current_value << "  " << std::setw(tw)
                          << r.threshold << "  " << r.detail << '\n';
                if (r.severity != 0 && !r.recommendation.empty())
                    std::cout << std::setw(static_cast<int>(width)) << "" << "  -> " << r.recommendation << '\n';
            }
            return code;
        });
    cmd->add_flag("--json", *json, "Print one JSON object");
}

} // namespace vigil
