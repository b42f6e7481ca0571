// fleet.cpp — the targets of `vigild serve`, kept in step with the configuration and Patroni.
#include "fleet/fleet.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "fleet/patroni.hpp"
#include "wall_clock.hpp"

namespace vigil::fleet {

namespace {

bool same_poll_settings(const PollSettings &a, const PollSettings &b) {
    return a.interval == b.interval && a.limits.top_tables == b.limits.top_tables &&
           a.limits.top_statements == b.limits.top_statements && a.backup_directory == b.backup_directory &&
           a.application_name == b.application_name;
}

// Stops targets side by side, so that several frozen ones take one deadline, not one each.
void stop_all(std::vector<std::shared_ptr<TargetPoller>> &targets, Seconds deadline) {
    std::vector<std::thread> stopping;
    for (auto &t : targets)
        stopping.emplace_back([t, deadline] { t->stop(deadline); });
    for (auto &s : stopping)
        s.join();
    targets.clear();
}

} // namespace

FleetSettings FleetSettings::from_config(const Config &config, const std::string &dsn) {
    FleetSettings s;
    s.targets = configured_targets(config, dsn);
    s.discovery = config.discovery;
    s.poll.interval = config.health.interval;
    s.poll.limits = PollLimits::from_config(config.metrics);
    s.poll.backup_directory = config.backup.directory;
    s.poll.application_name = config.pool.application_name;
    s.named = has_fleet(config);
    return s;
}

Fleet::Fleet(QueryMetrics &queries) : queries_(queries) {}

Fleet::~Fleet() {
    stop(Seconds(2));
}

void Fleet::configure(FleetSettings settings) {
    bool poll_changed = false;
    std::vector<TargetSpec> targets;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_)
            return;
        poll_changed = !same_poll_settings(settings_.poll, settings.poll);
        const bool discovery_changed = !(settings_.discovery == settings.discovery);
        settings_ = std::move(settings);
        if (settings_.discovery.patroni.empty()) {
            discovered_.clear();
            discovery_.reset();
        } else if (discovery_changed) {
            discovery_ = DiscoveryState{};
            discovery_->url = settings_.discovery.patroni;
        }
        if (!settings_.discovery.patroni.empty() && !discovery_thread_.joinable())
            discovery_thread_ = std::thread([this] { discover(); });
        targets = settings_.targets;
        targets.insert(targets.end(), discovered_.begin(), discovered_.end());
    }
    wake_.notify_all();
    if (poll_changed) {
        // A new interval, limits or backup directory: every target starts again with them.
        std::vector<std::shared_ptr<TargetPoller>> old;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (auto &[name, t] : targets_)
                old.push_back(t);
            targets_.clear();
        }
        stop_all(old, Seconds(2));
    }
    apply(targets);
    // A reload polls at once, as a single poller always did: the new settings show without
    // waiting for an interval.
    std::vector<std::shared_ptr<TargetPoller>> current;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto &[name, t] : targets_)
            current.push_back(t);
    }
    for (auto &t : current)
        t->poll_now();
}

void Fleet::apply(const std::vector<TargetSpec> &targets) {
    std::lock_guard<std::mutex> one_apply(apply_mutex_);
    std::vector<std::shared_ptr<TargetPoller>> retired;
    std::vector<std::string> retired_names;
    std::vector<TargetSpec> added;
    PollSettings poll;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_)
            return;
        poll = settings_.poll;
        for (auto it = targets_.begin(); it != targets_.end();) {
            const auto spec = std::find_if(targets.begin(), targets.end(),
                                           [&](const TargetSpec &s) { return s.name == it->first; });
            if (spec == targets.end() || !spec->same_polling(it->second->spec())) {
                spdlog::info("target {}: {}", it->first, spec == targets.end() ? "removed" : "changed");
                retired.push_back(it->second);
                retired_names.push_back(it->first);
                it = targets_.erase(it);
            } else {
                it->second->update_patroni(spec->patroni);
                ++it;
            }
        }
        for (const TargetSpec &s : targets)
            if (!targets_.count(s.name))
                added.push_back(s);
    }
    // A changed target's old poller stops before its new one starts, so that it never has its
    // old and its new polls open at once (more connections than either `connections` allows). A
    // target new to the fleet starts at once: a retired target that hangs delays only the one that
    // replaces it, by the 2 s stop_all gives it.
    const auto start = [&](const TargetSpec &s) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stopping_) // stop() came meanwhile: it has taken the targets it stops
                return;
            auto t = std::make_shared<TargetPoller>(s, poll, queries_);
            t->start();
            targets_[s.name] = t;
        }
        spdlog::info("target {}: polling{}", s.name, s.source == "patroni" ? " (found by Patroni)" : "");
    };
    std::vector<TargetSpec> successors;
    for (const TargetSpec &s : added)
        if (std::find(retired_names.begin(), retired_names.end(), s.name) != retired_names.end())
            successors.push_back(s);
        else
            start(s);
    stop_all(retired, Seconds(2));
    for (const std::string &name : retired_names)
        spdlog::info("target {}: stopped", name);
    for (const TargetSpec &s : successors)
        start(s);
}

void Fleet::discover() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
        const DiscoveryConfig discovery = settings_.discovery;
        std::vector<std::string> taken;
        for (const TargetSpec &t : settings_.targets)
            taken.push_back(t.name);
        if (discovery.patroni.empty()) {
            wake_.wait(lock);
            continue;
        }
        lock.unlock();
        std::optional<std::vector<TargetSpec>> members;
        PatroniCluster cluster;
        std::string error;
        try {
            cluster = fetch_cluster(discovery.patroni, discovery.timeout);
            members = discovered_targets(cluster, discovery, taken);
        } catch (const std::exception &e) {
            error = e.what();
            spdlog::warn("discovery: {}; keeping the members already known", error);
        }
        std::vector<TargetSpec> targets;
        lock.lock();
        if (stopping_)
            break;
        const bool current = settings_.discovery == discovery; // not reconfigured meanwhile
        if (current && discovery_) {
            discovery_->up = members.has_value();
            discovery_->error = error;
            if (members) {
                discovery_->last_success_timestamp = now_epoch();
                discovery_->scope = cluster.scope;
                discovery_->members = static_cast<int>(cluster.members.size());
                discovered_ = *members;
            }
        }
        targets = settings_.targets;
        targets.insert(targets.end(), discovered_.begin(), discovered_.end());
        lock.unlock();
        if (current && members)
            apply(targets);
        lock.lock();
        if (current)
            wake_.wait_for(lock, discovery.interval, [this] { return stopping_; });
    }
}

void Fleet::stop(Seconds deadline) {
    std::vector<std::shared_ptr<TargetPoller>> targets;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
        for (auto &[name, t] : targets_)
            targets.push_back(t);
        targets_.clear();
    }
    wake_.notify_all();
    // The targets first: a request to Patroni in progress (bounded by discovery.timeout) ends
    // meanwhile, and its answer is no longer applied.
    stop_all(targets, deadline);
    if (discovery_thread_.joinable())
        discovery_thread_.join();
}

std::shared_ptr<const FleetSnapshot> Fleet::snapshot() const {
    std::vector<std::shared_ptr<TargetPoller>> targets;
    auto snap = std::make_shared<FleetSnapshot>();
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto &[name, t] : targets_)
            targets.push_back(t);
        snap->discovery = discovery_;
    }
    snap->timestamp = now_epoch();
    for (const auto &t : targets)
        snap->targets.push_back(t->state());
    std::sort(snap->targets.begin(), snap->targets.end(),
              [](const TargetState &a, const TargetState &b) { return a.name < b.name; });
    return snap;
}

FleetAccess Fleet::access() {
    FleetAccess a;
    // The same snapshot object for as long as no poll has changed anything, so that readers
    // can cache what they made of it (the console's pages). The polls are looked at again at most
    // every kStableFor: a console under load asks many times a second, and each look gathers
    // every database's state; readers that come meanwhile share one look rather than each
    // making their own.
    a.snapshot = [this] {
        constexpr auto kStableFor = std::chrono::milliseconds(200);
        std::unique_lock<std::mutex> lock(stable_mutex_);
        const auto now = std::chrono::steady_clock::now();
        // While one reader looks, the others take the snapshot they would have had a moment ago
        // rather than wait for it (the look takes every target's lock in turn).
        if (stable_ && (now - stable_checked_ < kStableFor || stable_looking_))
            return stable_;
        stable_looking_ = true;
        lock.unlock();
        std::shared_ptr<const FleetSnapshot> current;
        try {
            current = snapshot();
        } catch (...) {
            lock.lock();
            stable_looking_ = false;
            throw;
        }
        lock.lock();
        stable_looking_ = false;
        if (!stable_ || !same_polls(*stable_, *current))
            stable_ = std::move(current);
        stable_checked_ = now;
        return stable_;
    };
    a.dsn = [this](const std::string &target, const std::string &database) -> std::optional<std::string> {
        std::shared_ptr<TargetPoller> t;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            const auto it = targets_.find(target);
            if (it == targets_.end())
                return std::nullopt;
            t = it->second;
        }
        return t->dsn(database);
    };
    return a;
}

std::pair<bool, std::string> Fleet::ready() const {
    bool named;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        named = settings_.named;
    }
    const auto snap = snapshot();
    if (!named) {
        if (snap->targets.empty() || snap->targets.front().databases.empty())
            return {false, "no health poll yet"};
        const HealthSnapshot &h = *snap->targets.front().databases.front().health;
        if (!h.polled)
            return {false, "no health poll yet"};
        if (!h.up)
            return {false, "database unreachable: " + h.error};
        if (!h.health_checks_available || !h.health_checks_error.empty())
            return {false, "health checks unavailable: " + h.health_checks_error};
        if (h.critical())
            return {false, "a health check is critical"};
        return {true, ""};
    }
    if (snap->discovery && snap->discovery->last_success_timestamp == 0)
        return {false, "Patroni (" + snap->discovery->url + ") has not answered yet" +
                           (snap->discovery->error.empty() ? "" : ": " + snap->discovery->error)};
    if (snap->targets.empty())
        return {false, "no targets"};
    for (const TargetState &t : snap->targets)
        if (!t.polled)
            return {false, "target " + t.name + " not polled yet" + (t.error.empty() ? "" : ": " + t.error)};
    return {true, ""};
}

} // namespace vigil::fleet
