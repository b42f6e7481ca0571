/*
 * optimistic_table.hpp — what lost-update protection knows about a table: its version column and
 * its primary key. Shared by the versioning trigger (optimistic_trigger.cpp), enable_versioning
 * (optimistic_versioning.cpp) and optimistic_update / optimistic_delete (optimistic_update.cpp).
 */
#pragma once

#include "guard.hpp"

extern "C" {
#include "utils/rel.h"
}

#include <optional>
#include <string>
#include <vector>

namespace vigil::optimistic {

/* The trigger enable_versioning installs; optimistic_update looks for it by this name. */
constexpr const char *versioning_trigger_name = "vigil_versioning";

/* A user column of a table. */
struct Column {
    AttrNumber attnum;
    Oid type;
    int32 typmod;
    std::string name;
};

/* Refuses anything but a table or a partitioned table. */
void require_table(Relation rel);

/* A user column by its exact name; nullopt when there is none (dropped and system columns excluded). */
std::optional<Column> find_column(Relation rel, const std::string &name);

/* The 42703 error for a column name that the table lacks; what says which argument named it. */
Error unknown_column(Relation rel, const std::string &name, const char *what);

/* The version column: it must exist and be an integer. */
Column version_column(Relation rel, const std::string &name);

/* A primary-key column and its btree equality operator. */
struct KeyColumn {
    Column column;
    std::string equals; /* OPERATOR(schema.op) */
};

/* The primary-key columns of a table, in key order, with their equality operators. */
std::vector<KeyColumn> primary_key(Relation rel);

/* The primary key, or nothing for a table without one. */
std::vector<KeyColumn> primary_key_if_any(Relation rel);

/* Refuses a version column that is part of the primary key: bumping it would move the row. */
void require_not_key(Relation rel, const std::vector<KeyColumn> &pk, const Column &ver);

} // namespace vigil::optimistic
