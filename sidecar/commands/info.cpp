// info.cpp — `vigild info`: connect and report what is on the other end.
#include <iostream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "commands/cli.hpp"
#include "db.hpp"
#include "exit_codes.hpp"

namespace vigil {

void register_info_command(CommandRegistry &registry) {
    auto json = std::make_shared<bool>(false);
    CLI::App *cmd = registry.add(
        "info", "Connect to the database and print the server and pgvigil versions", [json](Context &ctx) {
            const std::string dsn = ctx.dsn();
            spdlog::debug("connecting to {}", db::redact_dsn(dsn));
            db::Connection conn = db::Connection::open(dsn);
            db::Result r =
                conn.exec("SELECT current_setting('server_version'), current_database(), current_user,"
                          "       pg_is_in_recovery(),"
                          "       (SELECT extversion FROM pg_extension WHERE extname = 'pgvigil')");
            const auto extension = r.optional_value(0, 4);
            std::optional<std::string> library;
            if (extension)
                library = conn.scalar("SELECT vigil.version()");
            if (*json) {
                nlohmann::json out = {
                    {"server_version", r.value(0, 0)},
                    {"database", r.value(0, 1)},
                    {"user", r.value(0, 2)},
                    {"in_recovery", r.value(0, 3) == "t"},
                    {"extension_version", extension ? nlohmann::json(*extension) : nlohmann::json()},
                    {"library_version", library ? nlohmann::json(*library) : nlohmann::json()},
                };
                std::cout << out.dump(2) << '\n';
            } else {
                std::cout << "server version:  PostgreSQL " << r.value(0, 0) << '\n'
                          << "database:        " << r.value(0, 1) << " (user " << r.value(0, 2)
                          << (r.value(0, 3) == "t" ? ", standby" : ", primary") << ")\n"
                          << "vigil.version(): "
                          << (library ? *library : "pgvigil is not installed in this database") << '\n';
            }
            return exit_code::ok;
        });
    cmd->add_flag("--json", *json, "Print one JSON object");
}

} // namespace vigil
