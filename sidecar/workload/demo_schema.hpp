// demo_schema.hpp — the demo schema the workloads run on (`vigild init-schema`): users, posts,
// accounts (versioned with vigil.enable_versioning) and the transfers ledger.
#pragma once

#include <string>

#include "db.hpp"

namespace vigil {

struct SchemaOptions {
    long users = 10000; // seeded when the table is empty
    long posts_per_user = 2;
    long accounts = 1000;
    long initial_balance = 100000; // in cents
    bool reset = false;            // drop the demo tables first
    bool feed_index = true;        // posts_created_at_idx; false drops it (the missing-index scenario)
};

// What init_schema found and did.
struct SchemaReport {
    bool created_users = false, created_accounts = false;
    long users = 0, posts = 0, accounts = 0;
    long long total_balance = 0;
    bool feed_index = false; // whether posts_created_at_idx is there
};

// Creates what is missing (idempotent: a second run changes nothing) and seeds empty tables.
SchemaReport init_schema(db::Connection &conn, const SchemaOptions &options);

} // namespace vigil
