// mixed.cpp — the mixed workload: read, crud and transfer by weight, each step one of them.
#include <map>

#include "workload/workloads.hpp"

namespace vigil::bench {

namespace {

class MixedWorkload : public Workload {
  public:
    explicit MixedWorkload(const Options &o) {
        std::map<std::string, int> weights = o.weights;
        if (weights.empty())
            weights = {{"read", 50}, {"crud", 40}, {"transfer", 10}};
        for (const auto &[name, weight] : weights) {
            if (name != "read" && name != "crud" && name != "transfer")
                throw WorkloadError(WorkloadError::Kind::weights,
                                    "unknown workload '" + name + "' (use read, crud, transfer)");
            if (weight > 0)
                parts_[name] = make_workload(name, o);
            choice_.add(name, weight);
        }
        if (choice_.empty())
            throw WorkloadError(WorkloadError::Kind::weights, "at least one weight must be positive");
    }
    void prepare(db::Connection &conn) override {
        for (auto &[name, w] : parts_)
            w->prepare(conn);
    }
    int step(Worker &w, int max_ops) override { return parts_[choice_.pick(w.rng())]->step(w, max_ops); }
    bool checks_invariant() const override {
        auto it = parts_.find("transfer");
        return it != parts_.end() && it->second->checks_invariant();
    }
    nlohmann::json finish(db::Connection &conn) override {
        auto it = parts_.find("transfer");
        return it == parts_.end() ? nlohmann::json(nullptr) : it->second->finish(conn);
    }

  private:
    std::map<std::string, std::unique_ptr<Workload>> parts_;
    WeightedChoice choice_;
};

} // namespace

std::unique_ptr<Workload> make_mixed_workload(const Options &options) {
    return std::make_unique<MixedWorkload>(options);
}

} // namespace vigil::bench
