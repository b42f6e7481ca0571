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

} // namespace vigil::fleet
