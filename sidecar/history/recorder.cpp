// recorder.cpp — the history store's writer thread (recorder.hpp).
#include "history/recorder.hpp"

#include <spdlog/spdlog.h>

namespace vigil::history {

Recorder::Recorder(std::shared_ptr<Store> store, Seconds interval)
    : store_(std::move(store)), interval_(interval), thread_([this] { run(); }) {}

Recorder::~Recorder() {
    stop();
}

void Recorder::offer(std::shared_ptr<const fleet::FleetSnapshot> snapshot) {
    if (!snapshot)
        return;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_ || too_soon(snapshot->timestamp))
            return;
        pending_ = std::move(snapshot);
    }
    wake_.notify_one();
}

bool Recorder::too_soon(double timestamp) const {
    // Too soon after the last one; a clock set back starts afresh rather than waiting for it.
    return recorded_ > 0 && timestamp >= last_recorded_ && timestamp < last_recorded_ + interval_.count();
}

bool Recorder::wants(double timestamp) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return !stopping_ && !too_soon(timestamp);
}

void Recorder::set_interval(Seconds interval) {
    std::lock_guard<std::mutex> lock(mutex_);
    interval_ = interval;
}

void Recorder::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable())
        thread_.join();
}

long long Recorder::recorded() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return recorded_;
}

void Recorder::run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || pending_; });
        if (!pending_)
            return; // stopping, nothing waiting
        auto snapshot = std::move(pending_);
        pending_.reset();
        last_recorded_ = snapshot->timestamp;
        ++recorded_;
        lock.unlock();
        store_->record(*snapshot, snapshot->timestamp); // never throws: failures make it unavailable
        lock.lock();
    }
}

} // namespace vigil::history
