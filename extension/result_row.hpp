/*
 * result_row.hpp — the one-row composite result of a function with OUT parameters, and the
 * column values results are made of.
 */
#pragma once

#include "guard.hpp"

#include <string_view>

namespace vigil {

/* Builds the composite result of the function being called from values[] and nulls[]. */
Datum result_row(FunctionCallInfo fcinfo, Datum *values, bool *nulls);

/* A text datum holding s, in the current memory context. */
Datum text_datum(std::string_view s);

} // namespace vigil
