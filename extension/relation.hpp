/*
 * relation.hpp — a relation opened from C++ for the rest of the statement.
 */
#pragma once

#include "guard.hpp"

extern "C" {
#include "access/relation.h"
#include "utils/rel.h"
}

namespace vigil {

/*
 * Opens a relation under AccessShareLock. The destructor closes it and keeps the lock to the
 * end of the transaction, as PostgreSQL code does for relations it has read.
 */
class OpenRelation {
  public:
    explicit OpenRelation(Oid relid)
        : rel_(pg_call([&] { return relation_open(relid, AccessShareLock); })) {}
    ~OpenRelation() { relation_close(rel_, NoLock); }
    OpenRelation(const OpenRelation &) = delete;
    OpenRelation &operator=(const OpenRelation &) = delete;
    Relation get() const { return rel_; }

  private:
    Relation rel_;
};

} // namespace vigil
