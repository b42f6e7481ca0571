/*
 * result_row.cpp — composite results of SQL-callable functions (see result_row.hpp).
 */
#include "result_row.hpp"

#include <unordered_map>

namespace vigil {

namespace {

/*
 * The blessed descriptor of the composite result of the function being called, built once per
 * session and function: a statement's fn_extra would not outlive the statement, and each call
 * is often a statement of its own. OUT parameters fix it for the life of the function.
 */
TupleDesc result_desc(FunctionCallInfo fcinfo) {
    static std::unordered_map<Oid, TupleDesc> descs;
    const Oid fn = fcinfo->flinfo ? fcinfo->flinfo->fn_oid : InvalidOid;
    if (const auto it = descs.find(fn); OidIsValid(fn) && it != descs.end())
        return it->second;
    const TupleDesc blessed = pg_call([&] {
        TupleDesc desc = nullptr;
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("function returning record called in context that cannot accept type "
                                   "record")));
        const MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
        TupleDesc copy = BlessTupleDesc(CreateTupleDescCopy(desc));
        MemoryContextSwitchTo(old);
        return copy;
    });
    if (OidIsValid(fn))
        descs.emplace(fn, blessed);
    return blessed;
}

} // namespace

Datum result_row(FunctionCallInfo fcinfo, Datum *values, bool *nulls) {
    const TupleDesc desc = result_desc(fcinfo);
    return pg_call([&] { return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)); });
}

Datum text_datum(std::string_view s) {
    return pg_call(
        [&] { return PointerGetDatum(cstring_to_text_with_len(s.data(), static_cast<int>(s.size()))); });
}

} // namespace vigil
