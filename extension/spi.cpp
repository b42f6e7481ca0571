/*
 * spi.cpp — SPI from C++ (see spi.hpp).
 */
#include "spi.hpp"

#include <exception>

namespace vigil {

namespace {

/* Raises an internal error for a negative SPI result code. Runs inside pg_call(). */
void check_spi_result(int rc, const char *what) {
    if (rc < 0)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                        errmsg_internal("%s failed: %s", what, SPI_result_code_string(rc))));
}

} // namespace

SpiConnection::SpiConnection()
    : caller_cxt_(CurrentMemoryContext), exceptions_at_open_(std::uncaught_exceptions()) {
    pg_call([] { check_spi_result(SPI_connect(), "SPI_connect"); });
    MemoryContextSwitchTo(caller_cxt_);
}

/* SPI_finish never raises an error: it only pops SPI's stack and frees its memory. */
SpiConnection::~SpiConnection() {
    if (std::uncaught_exceptions() > exceptions_at_open_)
        return; /* the abort ends it (see the class comment) */
    SPI_finish();
    MemoryContextSwitchTo(caller_cxt_);
}

int SpiConnection::execute(const std::string &sql, bool read_only, long max_rows) {
    const int rc = pg_call([&] {
        const int r = SPI_execute(sql.c_str(), read_only, max_rows);
        check_spi_result(r, "SPI_execute");
        return r;
    });
    MemoryContextSwitchTo(caller_cxt_);
    return rc;
}

SPIPlanPtr SpiConnection::prepare_kept(const std::string &sql, const std::vector<Oid> &types) {
    const SPIPlanPtr plan = pg_call([&] {
        SPIPlanPtr p =
            SPI_prepare(sql.c_str(), static_cast<int>(types.size()), const_cast<Oid *>(types.data()));
        if (p == nullptr)
            check_spi_result(SPI_result, "SPI_prepare");
        check_spi_result(SPI_keepplan(p), "SPI_keepplan");
        return p;
    });
    MemoryContextSwitchTo(caller_cxt_);
    return plan;
}

uint64 SpiConnection::execute_plan(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only,
                                   long max_rows) {
    const uint64 processed = pg_call([&] {
        check_spi_result(SPI_execute_plan(plan, values, nulls, read_only, max_rows), "SPI_execute_plan");
        return SPI_processed;
    });
    MemoryContextSwitchTo(caller_cxt_);
    return processed;
}

uint64 SpiConnection::rows() const {
    return SPI_processed;
}

int SpiConnection::columns() const {
    return SPI_tuptable ? SPI_tuptable->tupdesc->natts : 0;
}

std::optional<std::string> SpiConnection::text(uint64 row, int column) const {
    char *value =
        pg_call([&] { return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column); });
    if (value == nullptr)
        return std::nullopt;
    std::string copy(value);
    pfree(value);
    return copy;
}

std::optional<int64> SpiConnection::bigint(uint64 row, int column) const {
    bool isnull = false;
    const Datum d = pg_call(
        [&] { return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column, &isnull); });
    if (isnull)
        return std::nullopt;
    return DatumGetInt64(d);
}

void free_kept_plan(SPIPlanPtr plan) {
    pg_call([&] { (void)SPI_freeplan(plan); });
}

std::string quote_ident(const std::string &name) {
    return pg_call([&] { return quote_identifier(name.c_str()); });
}

std::string current_role_ident() {
    const Oid role = GetUserId();
    return pg_call([&] { return quote_identifier(GetUserNameFromId(role, false)); });
}

std::string quote_literal(const std::string &value) {
    const char *quoted = pg_call([&] { return quote_literal_cstr(value.c_str()); });
    return quoted;
}

} // namespace vigil
