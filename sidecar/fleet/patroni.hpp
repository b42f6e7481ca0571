// patroni.hpp — the members of a Patroni cluster, from its REST API (`GET /cluster`): who is
// the leader, who replicates, on which host and port, on which timeline and how far behind.
// `parse_cluster` reads the JSON document and `fetch_cluster` asks a Patroni node for it; they are
// separate so the parser is tested on documents and the client against a real Patroni.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config.hpp"

namespace vigil::fleet {

// The document is not what Patroni answers, or the request failed; the message says which.
class PatroniError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct PatroniMember {
    std::string name;
    std::string role;  // leader, replica, sync_standby, quorum_standby, standby_leader, ...
    std::string state; // running, streaming, stopped, starting, ...
    std::string host;
    int port = 0;
    std::string api_url;
    std::optional<long long> timeline;
    std::optional<double> lag_bytes; // absent for the leader and when Patroni says "unknown"
    // Patroni's role as vigild reports it: "leader" / "standby_leader" are the leaders, every
    // other role is a replica.
    bool leader() const { return role == "leader" || role == "standby_leader"; }
};

struct PatroniCluster {
    std::string scope; // the cluster's name (absent in old Patroni versions)
    std::vector<PatroniMember> members;
};

// Parses the body of `GET /cluster`. Members without a name, host or port are skipped (a member
// that has not started PostgreSQL yet has none to connect to). Throws PatroniError when the text
// is not JSON or has no "members" array.
PatroniCluster parse_cluster(const std::string &json);

// GET `base_url`/cluster (base_url as discovery.patroni: "http://host:8008"), with `timeout` for
// the connect and for the answer (https:// too). Throws PatroniError naming the URL and what went wrong.
PatroniCluster fetch_cluster(const std::string &base_url, Seconds timeout);

} // namespace vigil::fleet
