// pool.cpp — the connection pool: leases, first-come first-served acquire, release with rollback
// or discard, housekeeping (idle, lifetime, leaks, min_idle) and statistics.
#include "pool/pool.hpp"

#include <algorithm>
#include <cstdio>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "dsn_params.hpp"
#include "retry.hpp"

namespace vigil::pool {

using std::chrono::duration_cast;

Settings Settings::from_config(const PoolConfig &c, const std::string &dsn) {
    Settings s;
    static_cast<PoolConfig &>(s) = c;
    s.dsn = dsn;
    return s;
}

std::unique_ptr<retry::ConnectThrottle> Settings::connect_throttle() const {
    return std::make_unique<retry::ConnectThrottle>(
        connect_backoff_base, connect_backoff_cap,
        retry::ConnectThrottle::Failover{connect_backoff_failover_cap, connect_backoff_failover_window});
}

std::string describe(const PoolStats &s) {
    std::ostringstream out;
    out << "pool: total " << s.total << "/" << s.max_size << ", idle " << s.idle << ", active " << s.active
        << ", waiting " << s.pending << ", created " << s.created << ", closed " << s.closed << ", timeouts "
        << s.timeouts << ", errors " << s.errors << ", evicted " << s.evicted;
    return out.str();
}

namespace {

// "2", "0.5", "1.25": seconds as a person writes them.
std::string seconds_text(double seconds) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", seconds);
    return buf;
}

// libpq's multi-line connect failure (one line per host tried) as one line.
std::string one_line(const std::string &message) {
    std::string out;
    for (std::size_t i = 0; i < message.size(); ++i) {
        if (message[i] == '\n' && i + 1 < message.size() && message[i + 1] == '\t') {
            out += ' ';
            ++i;
        } else if (message[i] == '\n') {
            out += "; ";
        } else {
            out += message[i] == '\t' ? ' ' : message[i];
        }
    }
    while (!out.empty() && (out.back() == ' ' || out.back() == ';'))
        out.pop_back();
    return out;
}

// "127.0.0.1:5432, 127.0.0.1:5433" for the DSN's hosts, "" when it names none it can parse.
std::string hosts_of(const std::string &dsn) {
    try {
        std::string out;
        for (const auto &host : dsn_hosts(dsn))
            out += (out.empty() ? "" : ", ") + host;
        return out;
    } catch (const std::exception &) {
        return "";
    }
}

bool asks_for_writable(const std::string &dsn) {
    try {
        const auto params = parse_dsn(dsn);
        const auto it = params.find("target_session_attrs");
        return it != params.end() && (it->second == "read-write" || it->second == "primary");
    } catch (const std::exception &) {
        return false;
    }
}

} // namespace

// ---- the pool's shared state -------------------------------------------------------------------

namespace detail {

struct Slot {
    std::unique_ptr<Session> session;
    std::uint64_t id = 0;
    Clock::time_point created, expires, last_used, borrowed_at;
    std::string borrower;
    bool leak_reported = false;
    bool suspect = false;         // another connection broke while this one sat idle: ping before use
    std::string server;           // Session::server() when it was opened
    std::uint64_t generation = 0; // its server's generation then (Core::generations)
    std::size_t active_index = kNotActive; // position in Core::active
    static constexpr std::size_t kNotActive = static_cast<std::size_t>(-1);
};

// The borrowed connections, for counting and leak detection: O(1) insert and erase without
// allocating, since every acquire and release passes through here under the pool's lock.
class ActiveSet {
  public:
    void insert(Slot *slot) {
        if (slot->active_index != Slot::kNotActive)
            return;
        slot->active_index = slots_.size();
        slots_.push_back(slot);
    }
    void erase(Slot *slot) {
        const std::size_t i = slot->active_index;
        if (i == Slot::kNotActive)
            return;
        slots_[i] = slots_.back();
        slots_[i]->active_index = i;
        slots_.pop_back();
        slot->active_index = Slot::kNotActive;
    }
    std::size_t size() const { return slots_.size(); }
    std::vector<Slot *>::const_iterator begin() const { return slots_.begin(); }
    std::vector<Slot *>::const_iterator end() const { return slots_.end(); }

  private:
    std::vector<Slot *> slots_;
};

// A borrower waiting in line: given a connection directly, or the right to open one.
struct Waiter {
    std::condition_variable cv;
    std::unique_ptr<Slot> slot;
    bool may_create = false;
};

struct Core : std::enable_shared_from_this<Core> {
    Settings settings;
    Connector connector;
    std::function<void(const std::string &)> leak_handler = [](const std::string &m) {
        spdlog::warn("{}", m);
    };

    mutable std::mutex mutex;
    std::vector<std::unique_ptr<Slot>> idle; // back: most recently returned
    ActiveSet active;
    std::deque<Waiter *> waiters;
    int opening = 0; // connections being opened, counted against max_size
    bool closed = false;
    std::uint64_t next_id = 1;
    PoolStats stats;
    std::mt19937_64 rng{std::random_device{}()};
    std::string last_connect_error, last_connect_sqlstate;
    std::string hosts; // the DSN's hosts, for messages
    // Per server: bumped when a connection finds it read-only. Connections opened before (of an
    // older generation) are closed instead of handed out: one 25006 condemns its siblings.
    std::map<std::string, std::uint64_t> generations;
    // The backoff every opener of this pool shares (borrowers and the housekeeper's top-ups).
    std::unique_ptr<retry::ConnectThrottle> throttle;

    std::condition_variable housekeeper_cv;
    std::thread housekeeper;

    int open_or_opening() const { return static_cast<int>(idle.size() + active.size()) + opening; }

    // Under the lock: gives a free connection to the first waiter, else parks it as idle.
    void hand_off_or_park(std::unique_ptr<Slot> slot) {
        if (!waiters.empty()) {
            Waiter *w = waiters.front();
            waiters.pop_front();
            active.insert(slot.get()); // counted as borrowed from this moment, not when the waiter wakes
            w->slot = std::move(slot);
            w->cv.notify_one();
            return;
        }
        idle.push_back(std::move(slot));
    }

    // Under the lock: a connection closed, so the first waiter may open a replacement.
    void capacity_freed() {
        if (!waiters.empty() && open_or_opening() < settings.max_size) {
            Waiter *w = waiters.front();
            waiters.pop_front();
            ++opening;
            w->may_create = true;
            w->cv.notify_one();
        }
    }

    Clock::time_point jittered_expiry(Clock::time_point now) {
        if (settings.max_lifetime.count() <= 0)
            return Clock::time_point::max();
        std::uniform_real_distribution<double> cut(0.0, settings.lifetime_jitter);
        const double life = settings.max_lifetime.count() * (1.0 - cut(rng));
        return now + duration_cast<Clock::duration>(Seconds(life));
    }

    // Opens one connection, retrying with jittered backoff until the deadline. The backoff is
    // the pool's, shared by every opener: refused connects (a restart, 53300 no free slot) are
    // retried a round at a time, never in a tight loop. The caller holds a reservation
    // (opening); throws PoolTimeout when the deadline passes (counted as an acquire timeout only
    // when a borrower was waiting for it).
    std::unique_ptr<Slot> open_slot(Clock::time_point deadline, bool for_borrower = true) {
        for (;;) {
            const auto turn = throttle->begin(deadline);
            if (turn == retry::ConnectThrottle::Turn::refused) {
                std::lock_guard lk(mutex);
                give_up_opening(for_borrower);
            }
            std::unique_ptr<Session> session;
            try {
                // A borrower's connect gives up with its acquire; a top-up gets acquire_timeout.
                ConnectDeadline bound(
                    for_borrower ? deadline
                                 : Clock::now() + duration_cast<Clock::duration>(settings.acquire_timeout));
                session = connector();
            } catch (const db::DbError &e) {
                throttle->end(turn, false, e.sqlstate(), e.what());
                std::lock_guard lk(mutex);
                ++stats.errors;
                last_connect_error = one_line(e.what());
                last_connect_sqlstate = e.sqlstate();
                if (closed || Clock::now() >= deadline)
                    give_up_opening(for_borrower);
                spdlog::debug("connect failed ({}), retrying with backoff", e.what());
                continue;
            } catch (...) {
                throttle->end(turn, false);
                throw;
            }
            throttle->end(turn, true);
            auto slot = std::make_unique<Slot>();
            slot->session = std::move(session);
            slot->server = slot->session->server();
            const auto now = Clock::now();
            std::lock_guard lk(mutex);
            slot->generation = generations[slot->server];
            slot->id = next_id++;
            slot->created = slot->last_used = now;
            slot->expires = jittered_expiry(now);
            ++stats.created;
            return slot;
        }
    }

    // Under the lock: open_slot's deadline has passed; the error says why the connects failed.
    [[noreturn]] void give_up_opening(bool for_borrower) {
        if (for_borrower)
            ++stats.timeouts;
        const PoolStats s = snapshot();
        throw PoolTimeout(
            "cannot open a connection" + (hosts.empty() ? std::string() : " to " + hosts) + " within " +
                seconds_text(settings.acquire_timeout.count()) + " s (acquire_timeout), last error: " +
                (last_connect_error.empty() ? std::string("no attempt yet") : last_connect_error) + " (" +
                describe(s) + ")",
            s, retry::is_too_many_connections(last_connect_sqlstate) ? last_connect_sqlstate : "08001");
    }

    // Under the lock: the slot's server was condemned after it was opened.
    bool stale(const Slot &slot) {
        const auto it = generations.find(slot.server);
        return it != generations.end() && it->second != slot.generation;
    }

    // The connection cannot serve this pool's writers: its server reported itself read-only.
    bool unwritable(Slot &slot) { return settings.require_writable && slot.session->read_only(); }

    // Under the lock: `server` refused writes; its idle connections leave the pool (returned to
    // be closed outside the lock) and those borrowed now are closed on return.
    std::vector<std::unique_ptr<Slot>> condemn(const std::string &server) {
        ++generations[server];
        std::vector<std::unique_ptr<Slot>> out;
        for (auto it = idle.begin(); it != idle.end();) {
            if ((*it)->server == server) {
                out.push_back(std::move(*it));
                it = idle.erase(it);
                ++stats.evicted;
            } else {
                ++it;
            }
        }
        return out;
    }

    // Under the lock: a connection to `server` was lost; its idle siblings prove themselves first.
    void suspect_server(const std::string &server) {
        for (auto &idle_slot : idle)
            if (idle_slot->server == server)
                idle_slot->suspect = true;
    }

    PoolStats snapshot() const {
        PoolStats s = stats;
        s.idle = static_cast<int>(idle.size());
        s.active = static_cast<int>(active.size());
        s.total = s.idle + s.active;
        s.pending = static_cast<int>(waiters.size());
        s.max_size = settings.max_size;
        return s;
    }

    // Under the lock: records a successful acquire.
    void record_acquire(Slot *slot, const std::string &borrower, Clock::time_point started) {
        const auto now = Clock::now();
        slot->borrowed_at = now;
        slot->borrower = borrower;
        slot->leak_reported = false;
        active.insert(slot);
        ++stats.acquires;
        const double waited = Seconds(now - started).count();
        stats.acquire_seconds_sum += waited;
        for (std::size_t i = 0; i < kAcquireBuckets.size(); ++i)
            if (waited <= kAcquireBuckets[i])
                ++stats.acquire_buckets[i];
    }

    // True when an idle connection may be handed out as it is, with no round trip: not expired,
    // not suspect, used within validation_interval and idle. Cheap enough for under the lock.
    bool ready(Slot &slot, Clock::time_point now) {
        return now < slot.expires && !slot.suspect && !stale(slot) &&
               Seconds(now - slot.last_used) <= settings.validation_interval &&
               slot.session->state() == Session::State::idle && !unwritable(slot);
    }

    // Outside the lock: true when an idle connection may be handed out (not expired, and
    // validated if it sat idle longer than validation_interval). The ping gives up after
    // validation_timeout, and at the acquire's deadline.
    bool usable(Slot &slot, Clock::time_point deadline) {
        const auto now = Clock::now();
        if (now >= slot.expires)
            return false;
        {
            std::lock_guard lk(mutex);
            if (stale(slot)) {
                ++stats.evicted;
                return false;
            }
        }
        if (slot.suspect || Seconds(now - slot.last_used) > settings.validation_interval ||
            slot.session->state() != Session::State::idle) {
            slot.suspect = false;
            const bool answered = slot.session->ping_until(deadline);
            std::vector<std::unique_ptr<Slot>> condemned;
            {
                std::lock_guard lk(mutex);
                if (!answered) {
                    // A server that stopped answering (or restarted) takes its other idle ones with it.
                    suspect_server(slot.server);
                    ++stats.evicted;
                    return false;
                }
                if (!unwritable(slot))
                    return true;
                ++stats.evicted;
                condemned = condemn(slot.server);
            }
            close_all(std::move(condemned));
            return false;
        }
        if (!unwritable(slot))
            return true;
        std::vector<std::unique_ptr<Slot>> condemned;
        {
            std::lock_guard lk(mutex);
            ++stats.evicted;
            condemned = condemn(slot.server);
        }
        close_all(std::move(condemned));
        return false;
    }

    // Closes connections taken out of the idle list (outside the lock).
    void close_all(std::vector<std::unique_ptr<Slot>> slots) {
        for (auto &slot : slots)
            close_slot(std::move(slot), false);
    }

    // Closes a connection that was taken out of the pool's lists (outside the lock).
    void close_slot(std::unique_ptr<Slot> slot, bool failed) {
        {
            std::lock_guard lk(mutex);
            active.erase(slot.get());
        }
        slot.reset(); // PQfinish may take a moment: not under the lock
        std::lock_guard lk(mutex);
        ++stats.closed;
        if (failed)
            ++stats.errors;
        capacity_freed();
    }

    Lease acquire(const std::string &borrower, Seconds timeout, std::uint64_t prefer = 0);
    void release(std::unique_ptr<Slot> slot, bool broken, const std::string &reported_failure);
    void housekeep();
    void shutdown();
};

} // namespace detail

using detail::Core;
using detail::Slot;
using detail::Waiter;

// ---- Lease -------------------------------------------------------------------------------------

Lease::Lease() = default;
Lease::Lease(std::shared_ptr<Core> core, std::unique_ptr<Slot> slot)
    : core_(std::move(core)), slot_(std::move(slot)) {}
Lease::Lease(Lease &&other) noexcept = default;
Lease &Lease::operator=(Lease &&other) noexcept {
    if (this != &other) {
        release();
        core_ = std::move(other.core_);
        slot_ = std::move(other.slot_);
        broken_ = other.broken_;
        failure_ = std::move(other.failure_);
    }
    return *this;
}
Lease::~Lease() {
    release();
}

void Lease::release() {
    if (!slot_)
        return;
    auto core = std::move(core_);
    try {
        core->release(std::move(slot_), broken_, failure_);
    } catch (const std::exception &e) {
        spdlog::error("returning a connection to the pool failed: {}", e.what());
    }
    broken_ = false;
    failure_.clear();
}

std::string Lease::server() {
    return session().server();
}

Session &Lease::session() {
    if (!slot_)
        throw std::logic_error("empty lease");
    return *slot_->session;
}

PgSession &Lease::pg() {
    auto *pg = dynamic_cast<PgSession *>(&session());
    if (!pg)
        throw std::logic_error("this pool's sessions are not libpq connections");
    return *pg;
}

std::uint64_t Lease::id() const {
    return slot_ ? slot_->id : 0;
}
Clock::time_point Lease::expires_at() const {
    return slot_ ? slot_->expires : Clock::time_point{};
}
Clock::time_point Lease::opened_at() const {
    return slot_ ? slot_->created : Clock::time_point{};
}

// ---- acquire / release -------------------------------------------------------------------------

Lease Core::acquire(const std::string &borrower, Seconds timeout, std::uint64_t prefer) {
    const auto started = Clock::now();
    const auto deadline = started + duration_cast<Clock::duration>(timeout);
    std::unique_lock lk(mutex);
    for (;;) {
        if (closed)
            throw db::DbError("the connection pool is closed", "08003");
        std::unique_ptr<Slot> slot;
        bool create = false;
        if (waiters.empty() && !idle.empty()) {
            auto it = std::prev(idle.end());
            if (prefer != 0) {
                const auto mine =
                    std::find_if(idle.begin(), idle.end(), [&](const auto &s) { return s->id == prefer; });
                if (mine != idle.end())
                    it = mine;
            }
            slot = std::move(*it);
            idle.erase(it);
            if (ready(*slot, Clock::now())) { // the common case: one trip through the lock
                record_acquire(slot.get(), borrower, started);
                return Lease(shared_from_this(), std::move(slot));
            }
            active.insert(slot.get()); // still counted against max_size while it is checked
        } else if (waiters.empty() && open_or_opening() < settings.max_size) {
            ++opening;
            create = true;
        } else {
            // Wait in line; whoever frees a connection hands it to the first in line.
            Waiter me;
            waiters.push_back(&me);
            const bool served =
                me.cv.wait_until(lk, deadline, [&] { return me.slot || me.may_create || closed; });
            if (!served) {
                waiters.erase(std::find(waiters.begin(), waiters.end(), &me));
                ++stats.timeouts;
                const PoolStats s = snapshot();
                throw PoolTimeout("no connection available within " + std::to_string(timeout.count()) +
                                      " s (acquire_timeout) for " +
                                      (borrower.empty() ? "a borrower" : borrower) + "; " + describe(s) +
                                      (last_connect_error.empty()
                                           ? ""
                                           : "; last connect error" +
                                                 (hosts.empty() ? std::string() : " (" + hosts + ")") + ": " +
                                                 last_connect_error),
                                  s);
            }
            if (me.slot) {
                // Handed over directly by a release: just used, so no validation needed.
                slot = std::move(me.slot);
                record_acquire(slot.get(), borrower, started);
                return Lease(shared_from_this(), std::move(slot));
            }
            if (me.may_create) {
                create = true; // the releaser reserved the capacity for us
            } else {
                continue; // closed
            }
        }
        lk.unlock();
        if (create) {
            std::unique_ptr<Slot> fresh;
            try {
                fresh = open_slot(deadline);
            } catch (...) {
                lk.lock();
                --opening;
                capacity_freed();
                throw;
            }
            lk.lock();
            --opening;
            record_acquire(fresh.get(), borrower, started);
            return Lease(shared_from_this(), std::move(fresh));
        }
        if (usable(*slot, deadline)) {
            lk.lock();
            record_acquire(slot.get(), borrower, started);
            return Lease(shared_from_this(), std::move(slot));
        }
        const bool expired = Clock::now() >= slot->expires;
        close_slot(std::move(slot), !expired);
        lk.lock();
        if (Clock::now() >= deadline) {
            // Every idle connection tried failed its check, and the time is up.
            ++stats.timeouts;
            const PoolStats s = snapshot();
            throw PoolTimeout("no usable connection within " + std::to_string(timeout.count()) +
                                  " s (acquire_timeout) for " + (borrower.empty() ? "a borrower" : borrower) +
                                  ": the idle connections failed their check (pool.validation_timeout " +
                                  std::to_string(settings.validation_timeout.count()) + " s); " + describe(s),
                              s);
        }
    }
}

void Core::release(std::unique_ptr<Slot> slot, bool broken, const std::string &reported_failure) {
    const auto now = Clock::now();
    const double held = Seconds(now - slot->borrowed_at).count();
    // How the lease's last statement failed, if it did: the borrower's word, else the session's.
    const std::string failure = !reported_failure.empty() ? reported_failure : slot->session->last_failure();
    bool evict = false;     // the server failed over: close it whatever its state
    bool read_only = false; // ... and it refuses writes: condemn its siblings too
    if (!failure.empty() && retry::is_connection_lost(failure)) {
        evict = broken = true;
    } else if (retry::is_read_only(failure)) {
        evict = read_only = true;
    }
    bool discard = broken || evict;
    if (!discard) {
        switch (slot->session->state()) {
        case Session::State::idle:
            break;
        case Session::State::in_transaction:
            // Never hand the next borrower someone else's open transaction.
            spdlog::debug("connection {} returned inside a transaction: rolling back", slot->id);
            discard = !slot->session->rollback();
            break;
        case Session::State::busy:
        case Session::State::broken:
            discard = true;
            broken = true;
            break;
        }
    }
    if (!discard && now >= slot->expires)
        discard = true;
    if (!discard && unwritable(*slot))
        discard = evict = read_only = true;
    if (discard && !evict && slot->session->state() == Session::State::broken)
        evict = true; // lost while borrowed
    std::unique_lock lk(mutex);
    active.erase(slot.get());
    if (!discard && stale(*slot))
        discard = evict = true;
    if (evict)
        ++stats.evicted;
    std::vector<std::unique_ptr<Slot>> condemned;
    if (read_only)
        condemned = condemn(slot->server);
    if (slot->leak_reported) {
        const std::string msg = "connection " + std::to_string(slot->id) + " borrowed by " +
                                (slot->borrower.empty() ? "an unnamed borrower" : slot->borrower) +
                                " returned after " + std::to_string(held) + " s";
        lk.unlock();
        spdlog::info("{}", msg);
        lk.lock();
    }
    if (broken) {
        // A server restart or a terminated backend usually takes its siblings too: make every
        // idle connection to that server prove itself before the next borrower gets it.
        suspect_server(slot->server);
    }
    if (discard || closed) {
        lk.unlock();
        close_all(std::move(condemned));
        close_slot(std::move(slot), broken);
        return;
    }
    slot->last_used = now;
    slot->borrower.clear();
    hand_off_or_park(std::move(slot));
}

// One housekeeping pass: retire idle connections past idle_timeout (down to min_idle) or past
// their lifetime, warn about leases held past leak_detection_threshold, top up to min_idle.
void Core::housekeep() {
    std::vector<std::unique_ptr<Slot>> retire;
    std::vector<std::string> leaks;
    int to_open = 0;
    {
        std::lock_guard lk(mutex);
        if (closed)
            return;
        const auto now = Clock::now();
        // Oldest idle first (front of the vector).
        for (auto it = idle.begin(); it != idle.end();) {
            const bool expired = now >= (*it)->expires;
            const bool idle_too_long =
                settings.idle_timeout.count() > 0 &&
                Seconds(now - (*it)->last_used) >= settings.idle_timeout &&
                open_or_opening() > settings.min_idle; // retired ones already left idle
            if (expired || idle_too_long) {
                retire.push_back(std::move(*it));
                it = idle.erase(it);
            } else {
                ++it;
            }
        }
        if (settings.leak_detection_threshold.count() > 0) {
            for (Slot *s : active) {
                const double held = Seconds(now - s->borrowed_at).count();
                if (!s->leak_reported && held >= settings.leak_detection_threshold.count()) {
                    s->leak_reported = true;
                    leaks.push_back("possible connection leak: connection " + std::to_string(s->id) +
                                    " has been held for " + std::to_string(held) + " s by " +
                                    (s->borrower.empty() ? "an unnamed borrower" : s->borrower) +
                                    " (leak_detection_threshold " +
                                    std::to_string(settings.leak_detection_threshold.count()) + " s)");
                }
            }
        }
        const int open = open_or_opening();
        to_open = std::max(0, std::min(settings.min_idle, settings.max_size) - open);
        opening += to_open;
    }
    for (auto &slot : retire)
        close_slot(std::move(slot), false);
    for (const auto &m : leaks)
        leak_handler(m);
    for (int i = 0; i < to_open; ++i) {
        std::unique_ptr<Slot> slot;
        try {
            // One short attempt per pass; the next pass tries again, so failures back off by the interval.
            slot = open_slot(Clock::now(), /*for_borrower=*/false);
        } catch (const db::DbError &) {
        }
        std::lock_guard lk(mutex);
        --opening;
        if (slot && !closed)
            hand_off_or_park(std::move(slot));
        else
            capacity_freed();
    }
}

void Core::shutdown() {
    std::vector<std::unique_ptr<Slot>> idle_slots;
    {
        std::lock_guard lk(mutex);
        closed = true;
        idle_slots.swap(idle);
        for (Waiter *w : waiters)
            w->cv.notify_one();
        waiters.clear();
        housekeeper_cv.notify_all();
    }
    if (housekeeper.joinable())
        housekeeper.join();
    idle_slots.clear();
}

// ---- Pool --------------------------------------------------------------------------------------

Pool::Pool(Settings settings, Connector connector) : core_(std::make_shared<Core>()) {
    if (settings.max_size < 1)
        throw std::invalid_argument("pool max_size must be at least 1");
    if (settings.min_idle > settings.max_size)
        throw std::invalid_argument("pool min_idle must not exceed max_size");
    if (!settings.dsn.empty() && asks_for_writable(settings.dsn))
        settings.require_writable = true;
    core_->hosts = hosts_of(settings.dsn);
    core_->settings = std::move(settings);
    core_->connector = connector ? std::move(connector) : pg_connector(core_->settings);
    core_->throttle = core_->settings.connect_throttle();
    core_->stats.max_size = core_->settings.max_size;
    std::weak_ptr<Core> weak = core_;
    core_->housekeeper = std::thread([weak, interval = core_->settings.housekeeping_interval] {
        for (;;) {
            auto core = weak.lock();
            if (!core)
                return;
            core->housekeep();
            std::unique_lock lk(core->mutex);
            if (core->closed)
                return;
            core->housekeeper_cv.wait_for(lk, interval, [&] { return core->closed; });
            if (core->closed)
                return;
        }
    });
}

Pool::~Pool() {
    core_->shutdown();
}

Lease Pool::acquire(const std::string &borrower, std::optional<Seconds> timeout, std::uint64_t prefer) {
    return core_->acquire(borrower, timeout.value_or(core_->settings.acquire_timeout), prefer);
}

PoolStats Pool::stats() const {
    std::lock_guard lk(core_->mutex);
    return core_->snapshot();
}

const Settings &Pool::settings() const noexcept {
    return core_->settings;
}

void Pool::set_leak_handler(std::function<void(const std::string &)> handler) {
    std::lock_guard lk(core_->mutex);
    core_->leak_handler = std::move(handler);
}

} // namespace vigil::pool
