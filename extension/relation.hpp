/*
 * relation.hpp — relations from C++: opened for the rest of the statement, and named in
 * messages and in SQL text.
 */
#pragma once

#include "guard.hpp"

extern "C" {
#include "access/relation.h"
#include "utils/rel.h"
}

#include <string>

namespace vigil {

/*
 * The 42P01 error for an OID that names no relation (regclass 0, or a dropped table's OID);
 * what says what was expected: "table", "index", "relation".
 */
Error no_relation(Oid relid, const char *what);

/*
 * Opens a relation under AccessShareLock; an OID that names none is no_relation(relid, what).
 * The destructor closes it and keeps the lock to the end of the transaction, as PostgreSQL code
 * does for relations it has read.
 */
class OpenRelation {
  public:
    explicit OpenRelation(Oid relid, const char *what = "relation") : rel_(open(relid, what)) {}
    ~OpenRelation() { relation_close(rel_, NoLock); }
    OpenRelation(const OpenRelation &) = delete;
    OpenRelation &operator=(const OpenRelation &) = delete;
    Relation get() const { return rel_; }

  private:
    static Relation open(Oid relid, const char *what) {
        const Relation rel = pg_call([&] { return try_relation_open(relid, AccessShareLock); });
        if (rel == nullptr)
            throw no_relation(relid, what);
        return rel;
    }

    Relation rel_;
};

/* A relation as messages name it, by its name alone: "accounts" ("OID 16384" once dropped). */
std::string relation_label(Oid relid);

/* An open relation as messages name it, schema-qualified: "public.accounts". */
std::string qualified_relation_label(Relation rel);

/* An open relation's name for SQL text: schema and name, each quoted when it needs to be. */
std::string quoted_relation_name(Relation rel);

} // namespace vigil
