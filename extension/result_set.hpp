/*
 * result_set.hpp — the rows of a set-returning function, materialized in a tuplestore.
 */
#pragma once

#include "guard.hpp"

extern "C" {
#include "utils/tuplestore.h"
}

namespace vigil {

/*
 * The result set of the function being called (InitMaterializedSRF). Compute what the rows need
 * first, then create it and put the rows; the function then returns done().
 */
class ResultSet {
  public:
    explicit ResultSet(FunctionCallInfo fcinfo) : rsinfo_(begin(fcinfo)) {}

    /* Adds one row; values[] and nulls[] have one entry per result column. */
    void put(Datum *values, bool *nulls) const {
        pg_call([&] { tuplestore_putvalues(rsinfo_->setResult, rsinfo_->setDesc, values, nulls); });
    }

    /* The function's return value once every row is in: the rows travel in resultinfo. */
    Datum done() const { return (Datum)0; }

  private:
    static ReturnSetInfo *begin(FunctionCallInfo fcinfo) {
        pg_call([&] { InitMaterializedSRF(fcinfo, 0); });
        return reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    }

    ReturnSetInfo *rsinfo_;
};

} // namespace vigil
