// wall_clock.hpp — the wall-clock time as seconds since the Unix epoch, the form timestamps take in
// backup manifests, metrics and health snapshots.
#pragma once

#include <chrono>

namespace vigil {

inline double now_epoch() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

} // namespace vigil
