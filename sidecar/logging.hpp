// logging.hpp — vigild's logging set-up (spdlog, to stderr).
#pragma once

#include <string>

namespace vigil {

// Sets the global logger's level ("trace" ... "off"); unknown names throw std::invalid_argument.
void setup_logging(const std::string &level);

} // namespace vigil
