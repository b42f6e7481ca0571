// init_schema.cpp — `vigild init-schema`: create and seed the demo schema the workloads use.
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands/cli.hpp"
#include "workload/demo_schema.hpp"
#include "exit_codes.hpp"

namespace vigil {

void register_init_schema_command(CommandRegistry &registry) {
    auto options = std::make_shared<SchemaOptions>();
    auto json = std::make_shared<bool>(false);
    CLI::App *cmd = registry.add(
        "init-schema", "Create the demo schema (users, posts, accounts, transfers) and seed it; idempotent",
        [options, json](Context &ctx) {
            db::Connection conn = db::Connection::open(ctx.dsn());
            const SchemaReport r = init_schema(conn, *options);
            if (*json) {
                std::cout << nlohmann::json{{"users", r.users},
                                            {"posts", r.posts},
                                            {"accounts", r.accounts},
                                            {"total_balance", r.total_balance},
                                            {"feed_index", r.feed_index},
                                            {"created", r.created_users || r.created_accounts}}
                                 .dump(2)
                          << '\n';
            } else {
                std::cout << (r.created_users || r.created_accounts ? "created" : "already present")
                          << ": users " << r.users << ", posts " << r.posts << ", accounts " << r.accounts
                          << " (total balance " << r.total_balance << ")"
                          << (r.feed_index ? ""
                                           : "; posts have no created_at index (the feed scans them all)")
                          << '\n';
            }
            return exit_code::ok;
        });
    cmd->add_option("--users", options->users, "Users to seed into an empty table")->capture_default_str();
    cmd->add_option("--posts-per-user", options->posts_per_user, "Posts per seeded user")
        ->capture_default_str();
    cmd->add_option("--accounts", options->accounts, "Accounts to seed into an empty table")
        ->capture_default_str();
    cmd->add_option("--initial-balance", options->initial_balance, "Balance of each seeded account (cents)")
        ->capture_default_str();
    cmd->add_flag("--reset", options->reset, "Drop the demo tables first (their data is lost)");
    cmd->add_flag_callback(
        "--without-feed-index", [options] { options->feed_index = false; },
        "Leave out (or drop) posts_created_at_idx, the feed's index: the feed then scans and "
        "sorts every post, for vigil.index_advice() to find (docs/queries.md)");
    cmd->add_flag("--json", *json, "Print one JSON object");
}

} // namespace vigil
