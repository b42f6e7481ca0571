// exit_codes.hpp — every exit status vigild uses, in one place (sysexits.h numbering).
#pragma once

namespace vigil::exit_code {

constexpr int ok = 0;
// 1, 2, 3 are the Nagios statuses warning, critical, unknown (vigild check).
constexpr int warning = 1;
constexpr int critical = 2;
constexpr int unknown = 3;
constexpr int usage = 64;       // bad command line
constexpr int data_error = 65;  // bad input data (CSV, manifest, ...)
constexpr int no_input = 66;    // an input file is missing or unreadable
constexpr int unavailable = 69; // the database cannot be reached
constexpr int software = 70;    // an internal error
constexpr int cant_create = 73; // an output file cannot be written
constexpr int io_error = 74;
constexpr int temp_failure = 75; // try again: timeouts, serialization failures
constexpr int config = 78;       // the configuration file is invalid

} // namespace vigil::exit_code
