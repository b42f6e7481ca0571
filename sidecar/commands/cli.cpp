// cli.cpp — the subcommand registry.
#include "commands/cli.hpp"

namespace vigil {

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
