/*
 * arguments.hpp — reading and checking the arguments of SQL-callable functions.
 */
#pragma once

#include "guard.hpp"

#include <string>

namespace vigil {

/* Raises 22004 (null_value_not_allowed) when argument argno is NULL; what names it. */
inline void require_not_null(FunctionCallInfo fcinfo, int argno, const char *what) {
    if (PG_ARGISNULL(argno))
        throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(what) + " must not be null");
}

/* A name argument as a string. */
inline std::string name_arg(FunctionCallInfo fcinfo, int argno) {
    return NameStr(*PG_GETARG_NAME(argno));
}

} // namespace vigil
