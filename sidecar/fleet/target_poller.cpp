// target_poller.cpp — polling one server of the fleet, database by database.
#include "fleet/target_poller.hpp"

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "db.hpp"
#include "db_wait.hpp"
#include "dsn_params.hpp"
#include "pool/pool.hpp"

namespace vigil::fleet {

namespace {

// The database whose poll also collects the server-wide families: the DSN's own when it is
// polled, else postgres, else the first.
std::string server_wide_database(const TargetSpec &spec, const std::vector<std::string> &databases) {
    if (databases.empty())
        return "";
    const auto own = parse_dsn(spec.dsn);
    for (const std::string &preferred :
         {own.count("dbname") ? own.at("dbname") : std::string(), std::string("postgres")})
        if (!preferred.empty() && std::find(databases.begin(), databases.end(), preferred) != databases.end())
            return preferred;
    return databases.front();
}

} // namespace

TargetPoller::TargetPoller(TargetSpec spec, PollSettings settings, QueryMetrics &queries)
    : spec_(std::move(spec)), settings_(std::move(settings)), queries_(queries),
      slots_(std::make_shared<PollSlots>(spec_.connections)), patroni_(spec_.patroni) {
    try {
        const auto own = parse_dsn(spec_.dsn);
        if (const auto it = own.find("dbname"); it != own.end())
            own_database_ = it->second;
    } catch (const InvalidDsn &) {
        // The poll reports the DSN's error; the label waits for the server's name.
    }
}

TargetPoller::~TargetPoller() {
    stop(Seconds(2));
}

std::unique_ptr<HealthPoller> TargetPoller::make_poller(const std::string &database, bool server_wide,
                                                        bool keep_connection) const {
    PoolConfig pool;
    pool.max_size = 1;
    pool.min_idle = 0;
    pool.acquire_timeout = spec_.timeout;
    pool.validation_timeout = std::min(spec_.timeout, Seconds(5));
    pool.application_name = settings_.application_name;
    // More databases than connections: a connection is closed once its poll is done (it has
    // outlived this lifetime), so the target never keeps one open per database.
    if (!keep_connection)
        pool.max_lifetime = Seconds(0.001);
    PollScope scope;
    scope.server_wide = server_wide;
    scope.timeout = spec_.timeout;
    scope.slots = slots_;
    return std::make_unique<HealthPoller>(pool::Settings::from_config(pool, database_dsn(spec_, database)),
                                          settings_.interval, server_wide ? settings_.backup_directory : "",
                                          settings_.limits, queries_, scope);
}

void TargetPoller::start() {
    if (spec_.own_database_only) {
        reconcile({""});
        return;
    }
    if (!spec_.databases.empty()) {
        reconcile(spec_.databases);
        return;
    }
    thread_ = std::thread([this] { run(); });
}

void TargetPoller::stop(Seconds deadline) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_ && !thread_.joinable() && databases_.empty())
            return;
        stopping_ = true;
    }
    abandon_ = true; // a listing in progress gives up at once: only the polls get the deadline
    wake_.notify_all();
    if (thread_.joinable())
        thread_.join();
    std::map<std::string, Polled> pollers;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        pollers.swap(databases_);
    }
    // Side by side, so that many databases of a frozen server take one deadline, not one each.
    std::vector<std::thread> stopping;
    for (auto &entry : pollers) {
        HealthPoller *poller = entry.second.poller.get();
        stopping.emplace_back([poller, deadline] { poller->stop(deadline); });
    }
    for (auto &t : stopping)
        t.join();
}

void TargetPoller::run() {
    for (;;) {
        try {
            reconcile(list_databases());
            std::lock_guard<std::mutex> lock(mutex_);
            if (!list_error_.empty())
                spdlog::info("target {}: its databases are listed again", spec_.name);
            list_error_.clear();
        } catch (const std::exception &e) {
            const std::string error = std::string("cannot list its databases: ") + e.what();
            std::lock_guard<std::mutex> lock(mutex_);
            if (error != list_error_) // once per new failure, not once per interval
                spdlog::warn("target {}: {}", spec_.name, error);
            list_error_ = error;
        }
        std::unique_lock<std::mutex> lock(mutex_);
        if (wake_.wait_for(lock, settings_.interval, [this] { return stopping_ || relist_requested_; }) &&
            stopping_)
            return;
        relist_requested_ = false;
    }
}

std::vector<std::string> TargetPoller::list_databases() {
    if (!slots_->acquire(std::max(settings_.interval, spec_.timeout), &abandon_))
        throw std::runtime_error("no free connection of the target (its polls hold them all)");
    struct Release {
        PollSlots &slots;
        ~Release() { slots.release(); }
    } release{*slots_};
    return fleet::list_databases(spec_, settings_.application_name, &abandon_);
}

void TargetPoller::reconcile(const std::vector<std::string> &databases) {
    const std::string server_wide =
        spec_.own_database_only ? std::string() : server_wide_database(spec_, databases);
    const bool keep = static_cast<int>(databases.size()) <= spec_.connections;
    std::vector<std::unique_ptr<HealthPoller>> retired;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_)
            return;
        if (kept_connections_ != keep && !keep)
            spdlog::info("target {}: {} databases and connections = {}: each poll opens its connection "
                         "(and, over TLS, does a handshake); connections = {} would keep one per database",
                         spec_.name, databases.size(), spec_.connections, databases.size());
        kept_connections_ = keep;
        for (auto it = databases_.begin(); it != databases_.end();) {
            const bool wanted = std::find(databases.begin(), databases.end(), it->first) != databases.end();
            if (!wanted || it->second.server_wide != (it->first == server_wide) ||
                it->second.keep_connection != keep) {
                retired.push_back(std::move(it->second.poller));
                it = databases_.erase(it);
            } else
                ++it;
        }
        for (const std::string &d : databases) {
            if (databases_.count(d))
                continue;
            Polled p{make_poller(d, d == server_wide, keep), d == server_wide, keep};
            p.poller->start();
            databases_.emplace(d, std::move(p));
        }
    }
    for (auto &p : retired)
        p->stop(spec_.timeout);
}

void TargetPoller::poll_now() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto &entry : databases_)
        entry.second.poller->poll_now();
}

void TargetPoller::update_patroni(const std::optional<PatroniMember> &member) {
    std::lock_guard<std::mutex> lock(mutex_);
    // A failover as Patroni tells it (a new role, state or timeline): the member is polled at
    // once rather than at its next interval, so its own answer (pg_is_in_recovery) follows
    // within one discovery interval.
    const bool changed = patroni_ && member &&
                         (patroni_->role != member->role || patroni_->state != member->state ||
                          patroni_->timeline != member->timeline);
    patroni_ = member;
    if (!changed)
        return;
    relist_requested_ = true;
    wake_.notify_all();
    for (auto &[name, polled] : databases_)
        polled.poller->poll_now();
}

TargetState TargetPoller::state() const {
    TargetState t;
    t.name = spec_.name;
    t.source = spec_.source;
    std::lock_guard<std::mutex> lock(mutex_);
    if (patroni_) {
        t.patroni_role = patroni_->role;
        t.patroni_timeline = patroni_->timeline;
        t.patroni_lag_bytes = patroni_->lag_bytes;
    }
    // A target whose databases could not even be listed has been seen: down.
    t.polled = !databases_.empty() || !list_error_.empty();
    t.error = list_error_;
    std::optional<bool> recovery, server_recovery;
    PoolStats pool;
    pool.max_size = spec_.connections;
    bool any_pool = false;
    for (const auto &[name, polled] : databases_) {
        const auto h = polled.poller->snapshot();
        DatabaseState d;
        // The DSN's own database is named by the server once polled, by the DSN until then.
        d.database = !name.empty() ? name : !h->database.empty() ? h->database : own_database_;
        d.health = h;
        t.polled &= h->polled;
        t.up |= h->up;
        t.last_success_timestamp = std::max(t.last_success_timestamp, h->last_success_timestamp);
        t.poll_seconds += h->poll_seconds;
        if (h->polled && !h->up && t.error.empty())
            t.error = (d.database.empty() ? "" : d.database + ": ") + h->error;
        if (h->up && h->in_recovery) {
            recovery = h->in_recovery;
            if (polled.server_wide)
                server_recovery = h->in_recovery;
        }
        if (const auto s = polled.poller->pool_stats()) {
            any_pool = true;
            pool.total += s->total;
            pool.idle += s->idle;
            pool.active += s->active;
            pool.pending += s->pending;
            pool.created += s->created;
            pool.closed += s->closed;
            pool.timeouts += s->timeouts;
            pool.errors += s->errors;
            pool.acquires += s->acquires;
            for (std::size_t i = 0; i < pool.acquire_buckets.size(); ++i)
                pool.acquire_buckets[i] += s->acquire_buckets[i];
            pool.acquire_seconds_sum += s->acquire_seconds_sum;
        }
        t.databases.push_back(std::move(d));
    }
    if (t.up)
        t.error.clear();
    if (const auto r = server_recovery ? server_recovery : recovery)
        t.role = *r ? Role::standby : Role::primary;
    if (any_pool)
        t.pool = pool;
    std::sort(t.databases.begin(), t.databases.end(),
              [](const DatabaseState &a, const DatabaseState &b) { return a.database < b.database; });
    return t;
}

std::optional<std::string> TargetPoller::dsn(const std::string &database) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto &[name, polled] : databases_)
        if (name == database || (name.empty() && polled.poller->snapshot()->database == database))
            return database_dsn(spec_, name);
    return std::nullopt;
}

} // namespace vigil::fleet
