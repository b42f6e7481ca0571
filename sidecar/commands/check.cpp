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
    return seen[2]   ? exit_code::critical
           : seen[1] ? exit_code::warning
           : seen[3] ? exit_code::unknown
                     : exit_code::ok;
}

// One line of the table: control characters in someone else's names (a newline in a table name)
// are shown escaped rather than breaking the table or forging a line of it.
std::string one_line(const std::string &text) {
    std::string out;
    for (unsigned char c : text) {
        if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else if (c == '\t')
            out += "\\t";
        else if (c < 0x20 || c == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else
            out += static_cast<char>(c);
    }
    return out;
}

// What to do about an error that kept the checks from running.
std::string hint_for(const db::DbError &e) {
    if (e.sqlstate() == "42501")
        return " — grant the role what the checks need: GRANT USAGE ON SCHEMA vigil TO <role>; "
               "GRANT pg_monitor TO <role>";
    return "";
}

} // namespace

void register_check_command(CommandRegistry &registry) {
    auto json = std::make_shared<bool>(false);
    CLI::App *cmd = registry.add(
        "check", "Run vigil.health_check(): a table (or --json) and a Nagios exit code 0/1/2/3",
        [json](Context &ctx) {
            std::vector<HealthCheckRow> rows;
            try {
                db::Connection conn = db::Connection::open(ctx.dsn(), "vigild check");
                // From the catalogs: to_regprocedure() raises 42501 for a schema the role may not use.
                if (conn.scalar(
                        "SELECT EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                        " WHERE n.nspname = 'vigil' AND p.proname = 'health_check' AND p.pronargs = 0)") !=
                    "t") {
                    std::cout << "UNKNOWN: vigil.health_check() does not exist in this database "
                                 "(CREATE EXTENSION pgvigil)\n";
                    return exit_code::unknown;
                }
                rows = fetch_health_checks(conn);
            } catch (const db::DbError &e) {
                // A Nagios plugin that cannot ask says UNKNOWN.
                std::cout << "UNKNOWN: " << one_line(e.what())
                          << (e.sqlstate().empty() ? "" : " (SQLSTATE " + e.sqlstate() + ")") << hint_for(e)
                          << '\n';
                return exit_code::unknown;
            }
            const int code = nagios_exit_code(rows);
            static const char *names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
            if (*json) {
                nlohmann::json out = {
                    {"status", names[code]}, {"exit_code", code}, {"checks", nlohmann::json::array()}};
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
            for (auto &r : rows) {
                for (std::string *field :
                     {&r.check_name, &r.status, &r.current_value, &r.threshold, &r.detail, &r.recommendation})
                    *field = one_line(*field);
                ++counts[r.severity >= 0 && r.severity <= 3 ? r.severity : 3];
                width = std::max(width, r.check_name.size());
                value_width = std::max(value_width, r.current_value.size());
                threshold_width = std::max(threshold_width, r.threshold.size());
            }
            const int vw = static_cast<int>(value_width), tw = static_cast<int>(threshold_width);
            std::cout << names[code] << ": " << counts[2] << " critical, " << counts[1] << " warning, "
                      << counts[3] << " unknown, " << counts[0] << " ok\n\n";
            std::cout << std::left << std::setw(static_cast<int>(width)) << "check"
                      << "  " << std::setw(8) << "status"
                      << "  " << std::setw(vw) << "value"
                      << "  " << std::setw(tw) << "threshold"
                      << "  detail\n";
            for (const auto &r : rows) {
                std::cout << std::left << std::setw(static_cast<int>(width)) << r.check_name << "  "
                          << std::setw(8) << r.status << "  " << std::setw(vw) << r.current_value << "  "
                          << std::setw(tw) << r.threshold << "  " << r.detail << '\n';
                if (r.severity != 0 && !r.recommendation.empty())
                    std::cout << std::setw(static_cast<int>(width)) << ""
                              << "  -> " << r.recommendation << '\n';
            }
            return code;
        });
    cmd->add_flag("--json", *json, "Print one JSON object");
}

} // namespace vigil
