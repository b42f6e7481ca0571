// backup.cpp — `vigild backup create` and `vigild backup verify`.
#include <filesystem>
#include <iomanip>
#include <iostream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "backup/backup.hpp"
#include "commands/cli.hpp"
#include "db.hpp"
#include "exit_codes.hpp"

namespace fs = std::filesystem;

namespace vigil {

namespace {

struct BackupOptions {
    std::string action; // create or verify
    std::string directory;
    std::string target;
    std::optional<Seconds> max_age;
    bool json = false;
    bool restore_test = false;
};

// The exit code of a verification: 0 only when every step passed.
int verify_exit_code(const backup::VerifyReport &report) {
    if (report.passed())
        return exit_code::ok;
    if (report.database_unreachable)
        return exit_code::unavailable;
    if (!report.steps.empty() && report.steps.front().name == "file" && report.steps.front().status == "fail")
        return exit_code::no_input;
    return exit_code::data_error;
}

} // namespace

void register_backup_command(CommandRegistry &registry) {
    auto opts = std::make_shared<BackupOptions>();
    CLI::App *cmd = registry.add("backup", "Create and verify backups", [opts](Context &ctx) -> int {
        BackupConfig cfg = ctx.config.backup;
        if (!opts->directory.empty())
            cfg.directory = opts->directory;
        if (opts->max_age)
            cfg.max_age = *opts->max_age;
        if (opts->action == "create") {
            backup::CreateResult r;
            try {
                r = backup::create(ctx.dsn(), cfg);
            } catch (const db::DbError &) {
                throw;
            } catch (const backup::NoBackupDirectory &) {
                throw CommandError(
                    exit_code::cant_create,
                    "backup failed: no backup directory: set backup.directory or pass --directory");
            } catch (const std::exception &e) {
                throw CommandError(exit_code::cant_create, std::string("backup failed: ") + e.what());
            }
            long long rows = 0;
            for (const auto &t : r.manifest.tables)
                rows += t.rows;
            if (opts->json) {
                nlohmann::json j = {{"dump", r.dump_path},
                                    {"manifest", r.manifest_path},
                                    {"size", r.manifest.dump_size},
                                    {"sha256", r.manifest.dump_sha256},
                                    {"tables", r.manifest.tables.size()},
                                    {"rows", rows},
                                    {"seconds", r.manifest.duration_seconds},
                                    {"removed", r.removed}};
                std::cout << j.dump(2) << '\n';
            } else {
                std::cout << "backup:   " << r.dump_path << " (" << r.manifest.dump_size << " bytes, "
                          << r.manifest.tables.size() << " tables, " << rows << " rows, " << std::fixed
                          << std::setprecision(2) << r.manifest.duration_seconds << " s)\n"
                          << "manifest: " << r.manifest_path << "\n"
                          << "sha256:   " << r.manifest.dump_sha256 << "\n";
                for (const auto &removed : r.removed)
                    std::cout << "removed:  " << removed << " (retention)\n";
            }
            return exit_code::ok;
        }
        std::string target = opts->target;
        if (target.empty()) {
            if (cfg.directory.empty())
                throw CommandError(exit_code::usage,
                                   "backup verify: give a dump or directory, or set backup.directory");
            target = cfg.directory;
        }
        backup::VerifyReport report;
        try {
            report = backup::verify_path(target, opts->restore_test, ctx.dsn(), cfg, nullptr);
        } catch (const std::invalid_argument &e) {
            throw CommandError(exit_code::no_input, e.what());
        }
        if (opts->json)
            std::cout << report.to_json().dump(2) << '\n';
        else
            std::cout << report.to_text();
        return verify_exit_code(report);
    });
    cmd->require_subcommand(1);
    CLI::App *create = cmd->add_subcommand(
        "create", "pg_dump the database and write a manifest of row counts and checksums");
    create->add_option("--directory", opts->directory,
                       "Where to write the backup (default: backup.directory)");
    create->add_flag("--json", opts->json, "Print one JSON object");
    create->callback([opts] { opts->action = "create"; });

    CLI::App *verify =
        cmd->add_subcommand("verify", "Verify a dump (restore it into a scratch database) or a base backup");
    verify->add_option(
        "target", opts->target,
        "A dump, a base backup directory, or a backup directory (its newest dump); default backup.directory");
    verify->add_flag("--json", opts->json, "Print one JSON object");
    verify->add_flag("--restore-test", opts->restore_test,
                     "For a base backup: start a throwaway instance on a copy and query it");
    add_duration_flag(verify, "--max-age", opts->max_age,
                      "Fail when the backup is older than this, e.g. 26h (default backup.max_age)");
    verify->callback([opts] { opts->action = "verify"; });
}

} // namespace vigil
