// lock_key.hpp — the advisory-lock key of a name, the same value vigil.lock_key() returns in SQL.
#pragma once

#include <cstdint>
#include <string_view>

namespace vigil {

// The 64-bit advisory-lock key of a UTF-8 name (FNV-1a 64 as a signed bigint; see
// common/lock_key_hash.hpp). Pass it to pg_advisory_lock(bigint) or vigil.advisory_lock(bigint).
// Throws std::invalid_argument for an empty name, as the SQL function raises 22023.
std::int64_t lock_key(std::string_view utf8_name);

} // namespace vigil
