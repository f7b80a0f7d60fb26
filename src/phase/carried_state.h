// State that outlives one configuration snapshot (DESIGN.md §3): rate-limit
// buckets, circuit breakers, retry budgets, concurrency limits, endpoint
// health. A reload builds a new pipeline; every policy in it asks for its
// state by kind, name and settings. When the previous snapshot had a policy of
// the same kind and name with equal settings, the new one gets the very same
// object, so buckets keep their tokens and an open breaker stays open; a
// changed or new policy starts fresh, and a removed one is forgotten once the
// snapshots that still hold it finish their requests (shared ownership).
//
// Only configuration building touches this (the main thread, at start and on
// reload); the data path holds the shared_ptrs it was given.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <typeinfo>
#include <utility>

namespace bulwark::phase {

class carried_state {
 public:
  // The states one snapshot asks for, while it is being built.
  class generation {
   public:
    // The state of policy `kind/name` with `settings`: the previous
    // generation's when it had equal settings (Settings::operator==), else make().
    template <class T, class Settings, class Make>
    std::shared_ptr<T> obtain(const std::string& kind, const std::string& name,
                              const Settings& settings, Make&& make) {
      std::string key = kind;  // appended, not `+`: GCC 12's -Wrestrict misfires on the chain
      key += '/';
      key += name;
      if (auto found = used_.find(key); found != used_.end() && found->second.holds<T>(settings)) {
        return std::static_pointer_cast<T>(found->second.state);
      }
      entry next;
      if (previous_ != nullptr) {
        auto kept = previous_->find(key);
        if (kept != previous_->end() && kept->second.holds<T>(settings)) next = kept->second;
      }
      if (!next.state) {
        next.state = std::shared_ptr<T>(make());
        next.settings = std::make_shared<const Settings>(settings);
        next.type = &typeid(std::pair<T, Settings>);
      }
      auto state = std::static_pointer_cast<T>(next.state);
      used_[key] = std::move(next);
      return state;
    }

   private:
    friend class carried_state;
    struct entry {
      std::shared_ptr<void> state;
      std::shared_ptr<const void> settings;
      const std::type_info* type = nullptr;

      template <class T, class Settings>
      bool holds(const Settings& settings_now) const {
        return type != nullptr && *type == typeid(std::pair<T, Settings>) &&
               *static_cast<const Settings*>(settings.get()) == settings_now;
      }
    };
    using entries = std::map<std::string, entry>;

    explicit generation(const entries* previous) : previous_(previous) {}

    const entries* previous_;
    entries used_;
  };

  // Start building a snapshot; the running one's states stay until commit().
  generation next() const { return generation(&current_); }
  // The snapshot built from `built` is now the running one.
  void commit(generation&& built) { current_ = std::move(built.used_); }

 private:
  generation::entries current_;
};

}  // namespace bulwark::phase
