// main.cpp — vigild: the pgvigil sidecar. Parses the command line, loads the configuration,
// sets up logging and runs one subcommand; every failure maps to an exit code (exit_codes.hpp).
#include <cstdlib>
#include <iostream>

#include <spdlog/spdlog.h>

#include "commands/cli.hpp"
#include "db.hpp"
#include "dsn_params.hpp"
#include "exit_codes.hpp"
#include "logging.hpp"
#include "retry.hpp"
#include "version.hpp"

namespace {

const char *env(const char *name) {
    const char *v = std::getenv(name);
    return v && *v ? v : nullptr;
}

int run(int argc, char **argv) {
    using namespace vigil;

    CLI::App app{"vigild — the pgvigil sidecar: connection pool, workloads, import, backups, metrics"};
    app.set_version_flag("--version", "vigild " VIGILD_VERSION);
    app.require_subcommand(1);
    app.fallthrough(); // global options may also follow the subcommand

    GlobalOptions options;
    app.add_option("-c,--config", options.config_path, "TOML configuration file (default: $VIGIL_CONFIG)");
    app.add_option(
        "-d,--dsn", options.dsn,
        "libpq connection string or URI (default: $VIGIL_DSN, then database.dsn, then PG* variables)");
    app.add_option(
        "--log-level", options.log_level,
        "trace, debug, info, warn, error, critical or off (default: $VIGIL_LOG_LEVEL, then log.level)");

    CommandRegistry registry(app);
    register_info_command(registry);
    register_backup_command(registry);
    register_serve_command(registry);
    register_check_command(registry);
    register_init_schema_command(registry);
    register_bench_command(registry);
    register_import_command(registry);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        const int code = app.exit(e);
        return code == 0 ? exit_code::ok : exit_code::usage;
    }

    Context ctx;
    ctx.options = options;
    try {
        if (!options.config_path && env("VIGIL_CONFIG"))
            ctx.options.config_path = env("VIGIL_CONFIG");
        if (ctx.options.config_path)
            ctx.config = load_config_file(*ctx.options.config_path);
        std::string level = ctx.config.log.level;
        if (env("VIGIL_LOG_LEVEL"))
            level = env("VIGIL_LOG_LEVEL");
        if (options.log_level)
            level = *options.log_level;
        setup_logging(level);
    } catch (const ConfigError &e) {
        std::cerr << "vigild: invalid configuration: " << e.what() << '\n';
        return exit_code::config;
    } catch (const std::invalid_argument &e) {
        std::cerr << "vigild: " << e.what() << '\n';
        return exit_code::usage;
    }

    try {
        return (*registry.selected())(ctx);
    } catch (const InvalidDsn &e) {
        std::cerr << "vigild: " << e.what()
                  << " (give key=value settings such as 'host=db1 dbname=app', or a postgresql:// URI)\n";
        return exit_code::usage;
    } catch (const CommandError &e) {
        std::cerr << "vigild: " << e.what() << '\n';
        return e.exit_code();
    } catch (const ConfigError &e) {
        std::cerr << "vigild: invalid configuration: " << e.what() << '\n';
        return exit_code::config;
    } catch (const db::DbError &e) {
        std::cerr << "vigild: " << e.what()
                  << (e.sqlstate().empty() ? "" : " (SQLSTATE " + e.sqlstate() + ")") << '\n';
        return retry::is_unavailable(e.sqlstate()) ? exit_code::unavailable
               : retry::is_temporary(e.sqlstate()) ? exit_code::temp_failure
                                                   : exit_code::software;
    }
}

} // namespace

int main(int argc, char **argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception &e) {
        std::cerr << "vigild: internal error: " << e.what() << '\n';
        return vigil::exit_code::software;
    }
}
