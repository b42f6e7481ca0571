/*
 * result_row.hpp — the one-row composite result of a function with OUT parameters.
 */
#pragma once

#include "guard.hpp"

namespace vigil {

/* Builds the composite result of the function being called from values[] and nulls[]. */
inline Datum result_row(FunctionCallInfo fcinfo, Datum *values, bool *nulls) {
    return pg_call([&] {
        TupleDesc desc;
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("function returning record called in context that cannot accept type record")));
        return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
    });
}

} // namespace vigil
