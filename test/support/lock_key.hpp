// lock_key.hpp — the advisory-lock key of a name, the same value vigil.lock_key() returns in SQL.
// Only the tests use it (to check the sidecar and the extension agree with test/vectors/).
#pragma once

#include "lock_key_hash.hpp"

#include <cstdint>
#include <stdexcept>
#include <string_view>

namespace vigil {

// The 64-bit advisory-lock key of a UTF-8 name (FNV-1a 64 as a signed bigint; see
// common/lock_key_hash.hpp). Throws std::invalid_argument for an empty name, as the SQL
// function raises 22023, because an empty name is almost always a bug.
inline std::int64_t lock_key(std::string_view utf8_name) {
    if (utf8_name.empty())
        throw std::invalid_argument("lock name must not be empty");
    return lock_key_of_utf8(utf8_name);
}

} // namespace vigil
