// check.cpp — `vigild check`: vigil.health_check() as a table or JSON, with Nagios exit codes;
// for one target of the fleet (--target NAME) or all of them (--all), worst status winning.
#include <algorithm>
#include <cmath>
#include <future>
#include <iomanip>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands/cli.hpp"
#include "db.hpp"
#include "db_wait.hpp"
#include "dsn_params.hpp"
#include "exit_codes.hpp"
#include "fleet/patroni.hpp"
#include "fleet/targets.hpp"
#include "metrics/poller.hpp"
#include "pgbouncer/monitor.hpp"

namespace vigil {

namespace {

// One row of the output: a check of one database of one target.
struct CheckRow {
    std::string target, database;
    HealthCheckRow check;
    std::string role = "unknown"; // the server's own answer: primary or standby (pg_is_in_recovery)
};

// The worst status wins as in vigil.health_summary(): critical, then warning, then unknown.
int nagios_exit_code(const std::vector<CheckRow> &rows) {
    bool seen[4] = {false, false, false, false};
    for (const auto &r : rows)
        seen[std::clamp(r.check.severity, 0, 3)] = true;
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

// What to do about an error that kept the checks from running ("" when there is nothing to say).
std::string grant_for(const db::DbError &e) {
    if (e.sqlstate() == "42501")
        return "grant the role what the checks need: GRANT USAGE ON SCHEMA vigil TO <role>; "
               "GRANT pg_monitor TO <role>";
    return "";
}

std::string hint_for(const db::DbError &e) {
    const std::string grant = grant_for(e);
    return grant.empty() ? "" : " — " + grant;
}

constexpr const char *kHasHealthCheckSql =
    // From the catalogs: to_regprocedure() raises 42501 for a schema the role may not use.
    "SELECT EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
    " WHERE n.nspname = 'vigil' AND p.proname = 'health_check' AND p.pronargs = 0)";

// The row that stands for a database (or a whole target) whose checks could not run: UNKNOWN,
// as check_postgres reports a server it cannot ask; never OK.
HealthCheckRow unreachable_check(const std::string &what, const db::DbError *e, const std::string &message) {
    HealthCheckRow row;
    row.check_name = what;
    row.status = "unknown";
    row.severity = 3;
    row.detail = message + (e && !e->sqlstate().empty() ? " (SQLSTATE " + e->sqlstate() + ")" : "");
    if (e)
        row.recommendation = grant_for(*e);
    return row;
}

// The checks of one database of a target, within the target's timeout on every step.
std::vector<CheckRow> check_database(const fleet::TargetSpec &target, const std::string &database) {
    std::string shown = database;
    try {
        db::Connection conn = db::Connection::open(
            dsn_with_poll_timeout(fleet::database_dsn(target, database), target.timeout), "vigild check");
        shown = PQdb(conn.get());
        db::exec_until(conn,
                       "SET statement_timeout = '" +
                           std::to_string(static_cast<long>(std::ceil(target.timeout.count() * 1000))) +
                           "ms'",
                       poll_answer_deadline(target.timeout));
        const std::string role =
            db::exec_until(conn, "SELECT pg_is_in_recovery()", poll_answer_deadline(target.timeout))
                        .value(0, 0) == "t"
                ? "standby"
                : "primary";
        if (db::exec_until(conn, kHasHealthCheckSql, poll_answer_deadline(target.timeout)).value(0, 0) != "t")
            return {{target.name, shown, extension_missing_check(), role}};
        std::vector<CheckRow> rows;
        for (HealthCheckRow &r : fetch_health_checks([&](const std::string &sql) {
                 return db::exec_until(conn, sql, poll_answer_deadline(target.timeout));
             }))
            rows.push_back({target.name, shown, std::move(r), role});
        return rows;
    } catch (const db::DbError &e) {
        return {{target.name, shown, unreachable_check("connection", &e, one_line(e.what()))}};
    }
}

// Every database of a target: those it lists, or those pg_database lists.
std::vector<CheckRow> check_target(const fleet::TargetSpec &target) {
    std::vector<std::string> databases = target.databases;
    if (target.own_database_only)
        databases = {""};
    else if (databases.empty()) {
        try {
            databases = fleet::list_databases(target, "vigild check");
        } catch (const db::DbError &e) {
            return {{target.name, "", unreachable_check("connection", &e, one_line(e.what()))}};
        }
    }
    std::vector<CheckRow> rows;
    for (const std::string &d : databases) {
        auto more = check_database(target, d);
        rows.insert(rows.end(), more.begin(), more.end());
    }
    return rows;
}

const char *kStatusNames[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

void print_json(const std::vector<CheckRow> &rows, int code, bool fleet) {
    nlohmann::json out = {
        {"status", kStatusNames[code]}, {"exit_code", code}, {"checks", nlohmann::json::array()}};
    for (const auto &row : rows) {
        const HealthCheckRow &r = row.check;
        nlohmann::json item = {
            {"check_name", r.check_name},        {"status", r.status},       {"severity", r.severity},
            {"current_value", r.current_value},  {"threshold", r.threshold}, {"detail", r.detail},
            {"recommendation", r.recommendation}};
        if (fleet) {
            item["target"] = row.target;
            item["database"] = row.database;
            item["role"] = row.role;
        }
        out["checks"].push_back(item);
    }
    std::cout << out.dump(2) << '\n';
}

void print_table(std::vector<CheckRow> rows, int code, bool fleet) {
    int counts[4] = {0, 0, 0, 0};
    std::size_t target_width = 6, database_width = 8, role_width = 7, width = 5, value_width = 5,
                threshold_width = 9;
    for (auto &row : rows) {
        HealthCheckRow &r = row.check;
        for (std::string *field : {&row.target, &row.database, &r.check_name, &r.status, &r.current_value,
                                   &r.threshold, &r.detail, &r.recommendation})
            *field = one_line(*field);
        ++counts[r.severity >= 0 && r.severity <= 3 ? r.severity : 3];
        target_width = std::max(target_width, row.target.size());
        database_width = std::max(database_width, row.database.size());
        role_width = std::max(role_width, row.role.size());
        width = std::max(width, r.check_name.size());
        value_width = std::max(value_width, r.current_value.size());
        threshold_width = std::max(threshold_width, r.threshold.size());
    }
    const int vw = static_cast<int>(value_width), tw = static_cast<int>(threshold_width);
    const int gw = static_cast<int>(target_width), dw = static_cast<int>(database_width),
              rw = static_cast<int>(role_width);
    std::cout << kStatusNames[code] << ": " << counts[2] << " critical, " << counts[1] << " warning, "
              << counts[3] << " unknown, " << counts[0] << " ok\n\n";
    std::cout << std::left;
    if (fleet)
        std::cout << std::setw(gw) << "target"
                  << "  " << std::setw(dw) << "database"
                  << "  " << std::setw(rw) << "role"
                  << "  ";
    std::cout << std::setw(static_cast<int>(width)) << "check"
              << "  " << std::setw(8) << "status"
              << "  " << std::setw(vw) << "value"
              << "  " << std::setw(tw) << "threshold"
              << "  detail\n";
    for (const auto &row : rows) {
        const HealthCheckRow &r = row.check;
        if (fleet)
            std::cout << std::setw(gw) << row.target << "  " << std::setw(dw) << row.database << "  "
                      << std::setw(rw) << row.role << "  ";
        std::cout << std::setw(static_cast<int>(width)) << r.check_name << "  " << std::setw(8) << r.status
                  << "  " << std::setw(vw) << r.current_value << "  " << std::setw(tw) << r.threshold << "  "
                  << r.detail << '\n';
        if (r.severity != 0 && !r.recommendation.empty())
            std::cout << std::setw(static_cast<int>(width) + (fleet ? gw + dw + rw + 6 : 0)) << ""
                      << "  -> " << r.recommendation << '\n';
    }
}

// `vigild check` on the one DSN of old (no [[targets]], no --target / --all).
int check_one_dsn(Context &ctx, bool json) {
    std::vector<CheckRow> rows;
    try {
        db::Connection conn = db::Connection::open(ctx.dsn(), "vigild check");
        if (conn.scalar(kHasHealthCheckSql) != "t") {
            std::cout << "UNKNOWN: vigil.health_check() does not exist in this database "
                         "(CREATE EXTENSION pgvigil)\n";
            return exit_code::unknown;
        }
        for (HealthCheckRow &r : fetch_health_checks(conn))
            rows.push_back({"", "", std::move(r)});
    } catch (const db::DbError &e) {
        // A Nagios plugin that cannot ask says UNKNOWN.
        std::cout << "UNKNOWN: " << one_line(e.what())
                  << (e.sqlstate().empty() ? "" : " (SQLSTATE " + e.sqlstate() + ")") << hint_for(e) << '\n';
        return exit_code::unknown;
    }
    const int code = nagios_exit_code(rows);
    if (json)
        print_json(rows, code, false);
    else
        print_table(rows, code, false);
    return code;
}

struct CheckFlags {
    bool json = false, all = false;
    std::optional<std::string> target;
};

// The targets the flags select; throws CommandError (usage) for a name that is not configured.
std::vector<fleet::TargetSpec> selected_targets(Context &ctx, const CheckFlags &flags,
                                                std::vector<CheckRow> &rows) {
    std::vector<fleet::TargetSpec> targets = fleet::configured_targets(ctx.config, ctx.dsn());
    if (!ctx.config.discovery.patroni.empty()) {
        std::vector<std::string> taken;
        for (const auto &t : targets)
            taken.push_back(t.name);
        try {
            const auto cluster =
                fleet::fetch_cluster(ctx.config.discovery.patroni, ctx.config.discovery.timeout);
            for (auto &t : fleet::discovered_targets(cluster, ctx.config.discovery, taken))
                targets.push_back(std::move(t));
        } catch (const fleet::PatroniError &e) {
            // The members cannot be known: that is an UNKNOWN of its own, never a silent OK.
            rows.push_back({"patroni", "", unreachable_check("discovery", nullptr, one_line(e.what()))});
        }
    }
    std::string names;
    for (const auto &t : targets)
        names += (names.empty() ? "" : ", ") + t.name;
    if (flags.target) {
        for (const auto &t : targets)
            if (t.name == *flags.target)
                return {t};
        if (!rows.empty() && !flags.all) // Patroni did not answer: the name may be a member
            return {};
        throw CommandError(exit_code::usage, "--target " + *flags.target +
                                                 ": no such target in the configuration (targets: " +
                                                 (names.empty() ? "none" : names) + ")");
    }
    if (!flags.all && targets.size() > 1)
        throw CommandError(exit_code::usage,
                           "the configuration lists " + std::to_string(targets.size()) + " targets (" +
                               names + "): name one with --target NAME or check them all with --all");
    return targets;
}

// How long `check --all` waits for one PgBouncer's admin console.
constexpr Seconds kPgBouncerCheckTimeout{5};

int check_fleet(Context &ctx, const CheckFlags &flags) {
    std::vector<CheckRow> rows;
    const auto targets = selected_targets(ctx, flags, rows);
    // Side by side: a target that hangs costs its own timeout once, not once per target.
    std::vector<std::future<std::vector<CheckRow>>> running;
    for (const auto &t : targets)
        running.push_back(std::async(std::launch::async, [t] { return check_target(t); }));
    // --all covers the [[pgbouncers]] too, each polled beside the targets; their rows carry the
    // PgBouncer's name as the target.
    std::vector<std::pair<std::string, std::future<std::vector<HealthCheckRow>>>> bouncers;
    if (flags.all)
        for (const PgBouncerConfig &b : ctx.config.pgbouncers)
            bouncers.emplace_back(b.name, std::async(std::launch::async, [b] {
                                      return pgbouncer::check_once({b}, kPgBouncerCheckTimeout);
                                  }));
    for (auto &r : running) {
        auto more = r.get();
        rows.insert(rows.end(), more.begin(), more.end());
    }
    for (auto &[name, future] : bouncers)
        for (auto &r : future.get())
            rows.push_back({name, "", std::move(r), "pgbouncer"});
    const int code = nagios_exit_code(rows);
    if (flags.json)
        print_json(rows, code, true);
    else
        print_table(rows, code, true);
    return code;
}

} // namespace

void register_check_command(CommandRegistry &registry) {
    auto flags = std::make_shared<CheckFlags>();
    CLI::App *cmd = registry.add("check",
                                 "Run vigil.health_check(): a table (or --json) and a Nagios exit code "
                                 "0/1/2/3; --target NAME or --all "
                                 "for the fleet of [[targets]]",
                                 [flags](Context &ctx) {
                                     if (!flags->target && !flags->all && !fleet::has_fleet(ctx.config))
                                         return check_one_dsn(ctx, flags->json);
                                     return check_fleet(ctx, *flags);
                                 });
    cmd->add_flag("--json", flags->json, "Print one JSON object");
    auto *all =
        cmd->add_flag("--all", flags->all, "Check every target of the configuration; the worst status wins");
    cmd->add_option("--target", flags->target, "Check this target of the configuration ([[targets]] name)")
        ->excludes(all);
}

} // namespace vigil
