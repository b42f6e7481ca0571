// feed.cpp — the feed workload: the newest 20 posts with their authors, the statement crud's
// feed op runs, alone. Against a schema without posts' created_at index (`vigild init-schema
// --without-feed-index`) it is the load test that finds the missing index (docs/queries.md).
#include "workload/workloads.hpp"

namespace vigil::bench {

namespace {

using pool::PgSession;
using pool::Statement;

// Character for character crud's feed statement (crud.cpp), so that pg_stat_statements counts
// both under one queryid and vigil.index_advice() sees one statement.
const Statement kFeed{"vigil_bench_feed",
                      "SELECT p.id, p.title, p.created_at, u.username, u.full_name FROM posts p"
                      " JOIN users u ON u.id = p.user_id ORDER BY p.created_at DESC LIMIT 20"};

class FeedWorkload : public Workload {
  public:
    void prepare(db::Connection &conn) override {
        if (conn.scalar("SELECT to_regclass('users') IS NOT NULL AND to_regclass('posts') IS NOT NULL") !=
            "t")
            need_demo_schema("tables users and posts do not exist");
        if (conn.scalar("SELECT EXISTS (SELECT FROM posts)") != "t")
            need_demo_schema("table posts has no posts");
    }

    int step(Worker &w, int /*max_ops: always one*/) override {
        w.op(
            "feed", [](PgSession &s) { s.run(kFeed, {}); }, Access::read);
        return 1;
    }
};

} // namespace

std::unique_ptr<Workload> make_feed_workload() {
    return std::make_unique<FeedWorkload>();
}

} // namespace vigil::bench
