/*
 * arguments.hpp — reading and checking the arguments of SQL-callable functions.
 *
 * The NULL rule of every pgvigil function: a NULL argument is error 22004
 * (null_value_not_allowed) with a hint, unless the function documents what NULL means for
 * that argument (advisory_lock's timeout: no limit; pgbouncer_config's pool_size: cores × 2).
 * No function is STRICT, so a NULL never turns into a silent NULL result or an empty set.
 */
#pragma once

#include "guard.hpp"

#include <string>

namespace vigil {

/* Whether the argument has a default the caller can fall back on (it changes the hint). */
enum class Default { none, exists };

/* Raises 22004 (null_value_not_allowed) when argument argno is NULL; what names it. */
inline void require_not_null(FunctionCallInfo fcinfo, int argno, const char *what,
                             Default has_default = Default::none) {
    if (PG_ARGISNULL(argno))
        throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(what) + " must not be null", "",
                    has_default == Default::exists ? "Leave " + std::string(what) + " out to use its default."
                                                   : "Pass a value for " + std::string(what) + ".");
}

/* A name argument as a string. */
inline std::string name_arg(FunctionCallInfo fcinfo, int argno) {
    return NameStr(*PG_GETARG_NAME(argno));
}

} // namespace vigil
