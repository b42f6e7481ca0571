// cli.cpp — the subcommand registry and the duration flags.
#include "commands/cli.hpp"

#include <cmath>

namespace vigil {

CLI::Option *add_duration_flag(CLI::App *cmd, const std::string &name, std::optional<Seconds> &target,
                               const std::string &description, bool positive) {
    CLI::Option *option = cmd->add_option_function<std::string>(
        name, [&target](const std::string &text) { target = parse_duration(text); }, description);
    // CLI11 puts the flag's name in front: "--duration: not a duration: '15x' (...)".
    option->check(CLI::Validator(
        [positive](std::string &text) -> std::string {
            const auto d = parse_duration(text);
            const bool valid = d && std::isfinite(d->count()) && d->count() >= 0;
            if (valid && (!positive || d->count() > 0))
                return "";
            return std::string(valid ? "not a duration longer than 0: '" : "not a duration: '") + text +
                   "' (give seconds, or a number with a unit: 250ms, 30s, 5min, 2h, 7d)";
        },
        ""));
    option->type_name("DURATION");
    return option;
}

CLI::App *CommandRegistry::add(const std::string &name, const std::string &description, CommandFn run) {
    CLI::App *sub = app_.add_subcommand(name, description);
    commands_.emplace_back(sub, std::move(run));
    return sub;
}

const CommandFn *CommandRegistry::selected() const {
    for (const auto &[sub, run] : commands_)
        if (sub->parsed())
            return &run;
    return nullptr;
}

} // namespace vigil
