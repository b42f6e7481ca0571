/*
 * spi.hpp — running SQL inside the server (SPI) from C++, and quoting what goes into it.
 *
 * Every statement pgvigil runs goes through a SpiConnection. Statements are composed of
 * quoted identifiers and literals (quote_ident, quote_literal) or take bound parameters.
 */
#pragma once

#include "guard.hpp"

extern "C" {
#include "executor/spi.h"
}

#include <optional>
#include <string>
#include <vector>

namespace vigil {

/*
 * A connection to SPI for the scope that owns it.
 *
 * The caller's memory context stays current while it is open (SPI would switch to its own
 * after every statement), so what C++ code allocates meanwhile, results and copied errors
 * alike, outlives the connection. Leaving the scope normally finishes the connection. Leaving
 * it by an exception does not: the (sub)transaction abort that the error leads to ends it, as
 * it does for PostgreSQL's own C code, because a failed statement can leave the connections of
 * nested SPI users (a PL/pgSQL trigger, say) above this one, and SPI_finish would end theirs.
 */
class SpiConnection {
  public:
    SpiConnection();
    ~SpiConnection();
    SpiConnection(const SpiConnection &) = delete;
    SpiConnection &operator=(const SpiConnection &) = delete;

    /* Runs sql, keeping at most max_rows result rows (0: all); returns its SPI_OK_* code. */
    int execute(const std::string &sql, bool read_only, long max_rows = 0);

    /* Prepares sql with parameters of these types and keeps the plan for the session. */
    SPIPlanPtr prepare_kept(const std::string &sql, const std::vector<Oid> &types);

    /* Runs a prepared plan; nulls[i] is 'n' for a NULL parameter, ' ' otherwise. Returns the
     * number of rows processed. */
    uint64 execute_plan(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only, long max_rows = 0);

    /* The number of rows the last statement returned or processed. */
    uint64 rows() const;

    /* The number of columns of the last statement's result (0 when it returned none). */
    int columns() const;

    /* Column (from 1) of row (from 0) of the last result as text; nullopt for NULL. */
    std::optional<std::string> text(uint64 row, int column) const;

    /* Column (from 1) of row (from 0) of the last result, a bigint; nullopt for NULL. */
    std::optional<int64> bigint(uint64 row, int column) const;

  private:
    MemoryContext caller_cxt_;
    int exceptions_at_open_;
};

/* Frees a plan kept by SpiConnection::prepare_kept. */
void free_kept_plan(SPIPlanPtr plan);

/* An identifier for SQL text, quoted when it needs to be. */
std::string quote_ident(const std::string &name);

/* A string literal for SQL text. */
std::string quote_literal(const std::string &value);

/* The calling role (current_user), quoted: the grantee of the GRANT a refusal's hint spells out. */
std::string current_role_ident();

} // namespace vigil
