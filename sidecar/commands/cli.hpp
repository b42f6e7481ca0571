// cli.hpp — what every vigild subcommand shares: global options, config, the database target.
#pragma once

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "config.hpp"

namespace vigil {

// Options given before or after the subcommand name.
struct GlobalOptions {
    std::optional<std::string> config_path; // --config, else VIGIL_CONFIG
    std::optional<std::string> dsn;         // --dsn
    std::optional<std::string> log_level;   // --log-level, else VIGIL_LOG_LEVEL, else log.level
};

// The resolved settings a subcommand runs with.
struct Context {
    GlobalOptions options;
    Config config;
    std::string dsn() const { return resolve_dsn(options.dsn, config); }
};

// A failure that ends the command with a message and a specific exit code.
class CommandError : public std::runtime_error {
  public:
    CommandError(int exit_code, const std::string &message)
        : std::runtime_error(message), exit_code_(exit_code) {}
    int exit_code() const noexcept { return exit_code_; }

  private:
    int exit_code_;
};

// Adds a flag whose value is a duration written as in the configuration file (config.hpp's
// parse_duration: "250ms", "30s", "5min", "2h", "7d") or a bare number of seconds. A bad value
// is a usage error (exit 64) whose one sentence names the flag and the accepted forms. With
// `positive`, 0 is refused too. Every duration flag of every subcommand goes through here.
CLI::Option *add_duration_flag(CLI::App *cmd, const std::string &name, std::optional<Seconds> &target,
                               const std::string &description, bool positive = false);

// A subcommand's body: runs with the loaded context, returns the exit code.
using CommandFn = std::function<int(Context &)>;

// Registers a subcommand; `run` is called after the config is loaded and logging set up.
// Each command file defines one register_*_command() function, called from main.cpp.
class CommandRegistry {
  public:
    explicit CommandRegistry(CLI::App &app) : app_(app) {}
    CLI::App *add(const std::string &name, const std::string &description, CommandFn run);
    const CommandFn *selected() const;

  private:
    CLI::App &app_;
    std::vector<std::pair<CLI::App *, CommandFn>> commands_;
};

void register_info_command(CommandRegistry &registry);
void register_backup_command(CommandRegistry &registry);
void register_serve_command(CommandRegistry &registry);
void register_check_command(CommandRegistry &registry);
void register_init_schema_command(CommandRegistry &registry);
void register_bench_command(CommandRegistry &registry);
void register_import_command(CommandRegistry &registry);

} // namespace vigil
