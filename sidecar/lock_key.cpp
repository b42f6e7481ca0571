// lock_key.cpp — vigil::lock_key(): the shared FNV-1a key with the SQL function's validation.
#include "lock_key.hpp"

#include "../common/lock_key_hash.hpp"

#include <stdexcept>

namespace vigil {

// Hashes the name; an empty name is refused, as in SQL, because it is almost always a bug.
std::int64_t lock_key(std::string_view utf8_name) {
    if (utf8_name.empty())
        throw std::invalid_argument("lock name must not be empty");
    return lock_key_of_utf8(utf8_name);
}

} // namespace vigil
