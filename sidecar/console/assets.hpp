// assets.hpp — the console's templates, stylesheet and script, compiled into vigild
// (generated/console_assets.cpp, from sidecar/console/templates/ by embed_assets.cmake).
#pragma once

#include <string_view>
#include <vector>

namespace vigil::console {

struct Asset {
    std::string_view name; // the file name under sidecar/console/templates/
    std::string_view text;
};

const std::vector<Asset> &assets();

} // namespace vigil::console
