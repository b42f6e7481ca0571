// fleet_snapshot.cpp — lookups on a fleet snapshot.
#include "fleet/fleet_snapshot.hpp"

namespace vigil::fleet {

const char *role_name(Role role) {
    switch (role) {
    case Role::primary:
        return "primary";
    case Role::standby:
        return "standby";
    case Role::unknown:
        break;
    }
    return "unknown";
}

const TargetState *FleetSnapshot::find(const std::string &target) const {
    for (const TargetState &t : targets)
        if (t.name == target)
            return &t;
    return nullptr;
}

bool same_polls(const FleetSnapshot &a, const FleetSnapshot &b) {
    if (a.targets.size() != b.targets.size())
        return false;
    for (std::size_t i = 0; i < a.targets.size(); ++i) {
        const TargetState &x = a.targets[i], &y = b.targets[i];
        if (x.name != y.name || x.source != y.source || x.role != y.role || x.up != y.up ||
            x.error != y.error || x.last_success_timestamp != y.last_success_timestamp ||
            x.patroni_role != y.patroni_role || x.patroni_timeline != y.patroni_timeline ||
            x.patroni_lag_bytes != y.patroni_lag_bytes || x.polled != y.polled ||
            x.databases.size() != y.databases.size())
            return false;
        for (std::size_t d = 0; d < x.databases.size(); ++d)
            if (x.databases[d].database != y.databases[d].database ||
                x.databases[d].health != y.databases[d].health)
                return false;
    }
    return true;
}

} // namespace vigil::fleet
