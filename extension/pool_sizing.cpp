/*
 * pool_sizing.cpp — connection-pool sizing: the cores × 2 + spindles formula.
 */
#include "guard.hpp"

#include <string>

namespace {

/* The classic starting point for a pool: twice the cores plus the effective spindles. */
int pool_size_formula(int cpu_cores, int effective_spindles) {
    if (cpu_cores < 1)
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                           "cpu_cores must be at least 1, not " + std::to_string(cpu_cores),
                           "", "Pass the number of CPU cores of the database host.");
    if (effective_spindles < 0)
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                           "effective_spindles must not be negative, not " +
                               std::to_string(effective_spindles),
                           "", "Pass 0 for SSDs or a fully cached data set.");
    const long size = 2L * cpu_cores + effective_spindles;
    if (size > PG_INT32_MAX)
        throw vigil::Error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "pool size is out of range for integer");
    return static_cast<int>(size);
}

} // namespace

/* vigil.pool_size_formula(cpu_cores int, effective_spindles int DEFAULT 0) → int */
VIGIL_FUNCTION(vigil_pool_size_formula) {
    PG_RETURN_INT32(pool_size_formula(PG_GETARG_INT32(0), PG_GETARG_INT32(1)));
}
