// targets.cpp — resolving the fleet's targets.
#include "fleet/targets.hpp"

#include <algorithm>
#include <cctype>
#include <tuple>

#include "db.hpp"
#include "db_wait.hpp"
#include "dsn_params.hpp"
#include "metrics/poller.hpp"

namespace vigil::fleet {

bool TargetSpec::same_polling(const TargetSpec &o) const {
    return std::tie(name, source, dsn, databases, own_database_only, connections, timeout) ==
           std::tie(o.name, o.source, o.dsn, o.databases, o.own_database_only, o.connections, o.timeout);
}

bool has_fleet(const Config &config) {
    return !config.targets.empty() || !config.discovery.patroni.empty();
}

std::vector<TargetSpec> configured_targets(const Config &config, const std::string &dsn) {
    std::vector<TargetSpec> out;
    if (!has_fleet(config)) {
        TargetSpec t;
        t.name = kDefaultTarget;
        t.dsn = dsn;
        t.own_database_only = true;
        out.push_back(t);
        return out;
    }
    for (const TargetConfig &c : config.targets) {
        TargetSpec t;
        t.name = c.name;
        t.dsn = c.dsn;
        t.databases = c.databases;
        t.connections = c.connections;
        t.timeout = c.timeout;
        out.push_back(t);
    }
    return out;
}

std::string member_target_name(const std::string &member) {
    std::string out = member.substr(0, 63);
    for (char &c : out)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
            c = '_';
    return out;
}

std::vector<TargetSpec> discovered_targets(const PatroniCluster &cluster, const DiscoveryConfig &discovery,
                                           const std::vector<std::string> &taken) {
    std::vector<TargetSpec> out;
    for (const PatroniMember &m : cluster.members) {
        TargetSpec t;
        t.name = member_target_name(m.name);
        if (std::find(taken.begin(), taken.end(), t.name) != taken.end())
            continue;
        bool duplicate = false;
        for (const TargetSpec &o : out)
            duplicate |= o.name == t.name;
        if (duplicate)
            continue;
        t.source = "patroni";
        t.dsn = dsn_with(discovery.dsn, {{"host", m.host}, {"port", std::to_string(m.port)}});
        t.databases = discovery.databases;
        t.connections = discovery.connections;
        t.timeout = discovery.timeout;
        t.patroni = m;
        out.push_back(t);
    }
    return out;
}

std::vector<std::string> list_databases(const TargetSpec &target, const std::string &application_name,
                                        const std::atomic<bool> *abandon) {
    db::Connection conn =
        db::Connection::open(dsn_with_poll_timeout(target.dsn, target.timeout), application_name);
    db::Result r = db::exec_until(
        conn, "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname",
        poll_answer_deadline(target.timeout), abandon);
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i)
        out.push_back(r.value(i, 0));
    return out;
}

std::string database_dsn(const TargetSpec &target, const std::string &database) {
    if (database.empty())
        return target.dsn;
    return dsn_with(target.dsn, {{"dbname", database}});
}

} // namespace vigil::fleet
