// capture.hpp — what the history keeps of one FleetSnapshot: the samples of every series
// (store.hpp lists the metrics) and the texts of the statements. Pure: no SQLite.
#pragma once

#include <string>
#include <vector>

#include "fleet/fleet_snapshot.hpp"
#include "history/store.hpp"

namespace vigil::history {

struct Sample {
    SeriesKey key;
    double value = 0;
};

struct StatementText {
    std::string target, database, queryid, text;
};

struct Capture {
    std::vector<Sample> samples;
    std::vector<StatementText> texts;
};

// Connection states a poll may omit when no backend is in them; stored as 0 so charts drop to zero.
const std::vector<std::string> &known_connection_states();

// `slow`: include the slow series (table sizes, statements and their texts).
Capture capture(const fleet::FleetSnapshot &fleet, bool slow = true);

} // namespace vigil::history
