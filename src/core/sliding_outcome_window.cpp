// Lock-free outcome windows; the layout of every atomic word is described next
// to its helpers, the protocols in the comments of record().
#include "core/sliding_outcome_window.h"

#include <algorithm>
#include <cassert>

namespace bulwark::core {

namespace {

constexpr auto acquire = std::memory_order_acquire;
constexpr auto acq_rel = std::memory_order_acq_rel;
constexpr auto relaxed = std::memory_order_relaxed;

// count_window's running total: [tag: 8 | slow: 18 | failures: 18 | calls: 18].
// 18 bits hold max_size (100k) plus 160k calls counted twice in flight.
constexpr int tag_shift = 56;
constexpr int field_bits = 18;
constexpr std::uint64_t field_mask = (std::uint64_t{1} << field_bits) - 1;

std::uint64_t tag_of(std::uint32_t generation) {
  return generation & 0xffU;
}

std::uint64_t total_contribution(call_sample sample) {
  return std::uint64_t{1} | std::uint64_t{sample.failed} << field_bits |
         std::uint64_t{sample.slow} << (2 * field_bits);
}

window_totals decode_total(std::uint64_t total) {
  return {total & field_mask, total >> field_bits & field_mask,
          total >> (2 * field_bits) & field_mask};
}

// count_window's slots: [tag: 8 | sequence + 1: 54 | failed: 1 | slow: 1], 0 when
// never written. The sequence orders the calls that share a slot.
std::uint64_t slot_word(std::uint64_t tag, std::uint64_t sequence, call_sample sample) {
  return tag << tag_shift | sequence << 2 | std::uint64_t{sample.failed} << 1 |
         std::uint64_t{sample.slow};
}
std::uint64_t slot_tag(std::uint64_t slot) {
  return slot >> tag_shift;
}
std::uint64_t slot_sequence(std::uint64_t slot) {
  return slot >> 2 & ((std::uint64_t{1} << 54) - 1);
}
call_sample slot_sample(std::uint64_t slot) {
  return {(slot & 2) != 0, (slot & 1) != 0};
}

// time_window's words: [key: 32 | count: 32].
std::uint32_t word_key(std::uint64_t word) {
  return static_cast<std::uint32_t>(word >> 32);
}
std::uint64_t word_count(std::uint64_t word) {
  return word & 0xffff'ffffU;
}

// Adds one to `word` for `key`, first emptying it when it holds an older key.
// False when it holds a newer key: the call belongs to a bucket already reused.
bool add_to_word(std::atomic<std::uint64_t>& word, std::uint32_t key) {
  std::uint64_t current = word.load(acquire);
  std::uint64_t next = 0;
  do {
    // Keys are compared modulo 2^32, like TCP sequence numbers.
    const auto age = static_cast<std::int32_t>(key - word_key(current));
    if (age < 0) return false;
    next = age == 0 ? current + 1 : (std::uint64_t{key} << 32 | 1);
  } while (!word.compare_exchange_weak(current, next, acq_rel, acquire));
  return true;
}

std::uint64_t count_for_key(const std::atomic<std::uint64_t>& word, std::uint32_t key) {
  const std::uint64_t current = word.load(acquire);
  return word_key(current) == key ? word_count(current) : 0;
}

}  // namespace

// --- count_window ------------------------------------------------------------

count_window::count_window(std::uint32_t size)
    : size_(size), slots_(std::make_unique<std::atomic<std::uint64_t>[]>(size)) {
  assert(size >= 1 && size <= max_size);
}

void count_window::start_generation(std::uint32_t generation) {
  // Slots are left as they are: a slot is the new generation's only when it
  // carries the new tag *and* a sequence issued after this point, so neither
  // older calls nor an older generation with the same 8-bit tag can be mistaken
  // for it (and subtracted from a total that never counted them).
  generation_start_.store(next_sequence_.load(relaxed), std::memory_order_release);
  total_.store(tag_of(generation) << tag_shift, std::memory_order_release);
}

// Applies `add - remove` to the total if it still belongs to `tag`; the new total.
std::optional<std::uint64_t> count_window::update_total(std::uint64_t tag, std::uint64_t add,
                                                        std::uint64_t remove) {
  std::uint64_t current = total_.load(acquire);
  std::uint64_t next = 0;
  do {
    if (current >> tag_shift != tag) return std::nullopt;
    next = current + add - remove;
  } while (!total_.compare_exchange_weak(current, next, acq_rel, acquire));
  return next;
}

std::optional<window_totals> count_window::current_totals(std::uint64_t tag) const {
  const std::uint64_t total = total_.load(acquire);
  if (total >> tag_shift != tag) return std::nullopt;
  return decode_total(total);
}

std::optional<window_totals> count_window::record(std::uint32_t generation, call_sample sample) {
  const std::uint64_t tag = tag_of(generation);
  const std::uint64_t contribution = total_contribution(sample);

  // The call is added to the total *before* it takes its slot, and the slot's
  // previous call is removed only *after*: whoever removes a call has seen its
  // slot write, which follows its addition, so a field of the total never goes
  // negative, not even for a moment (a call may briefly be counted twice, so a
  // concurrent reader sees up to size + writers calls: a blend, never garbage).
  if (!update_total(tag, contribution, 0)) return std::nullopt;

  const std::uint64_t sequence = next_sequence_.fetch_add(1, relaxed) + 1;
  const std::uint64_t start = generation_start_.load(acquire);
  std::atomic<std::uint64_t>& slot = slots_[sequence % size_];
  const std::uint64_t mine = slot_word(tag, sequence, sample);

  std::uint64_t previous = slot.load(acquire);
  bool previous_counted = false;
  for (;;) {
    previous_counted = slot_tag(previous) == tag && slot_sequence(previous) > start;
    if (previous_counted && slot_sequence(previous) > sequence) {
      // Two calls N apart raced for this slot and the later one won: ours has
      // already left the window, so take it back out of the total.
      const auto total = update_total(tag, 0, contribution);
      return total ? std::optional(decode_total(*total)) : std::nullopt;
    }
    // Replacing a slot of another generation is only for the current
    // generation's writers; a stale writer that got here (its addition went to
    // a total since reset) must not overwrite a new-generation slot, or that
    // slot's call would never be removed from the new total.
    if (!previous_counted && total_.load(acquire) >> tag_shift != tag) return std::nullopt;
    if (slot.compare_exchange_weak(previous, mine, acq_rel, acquire)) break;
  }
  if (!previous_counted) return current_totals(tag);
  const auto total = update_total(tag, 0, total_contribution(slot_sample(previous)));
  return total ? std::optional(decode_total(*total)) : std::nullopt;
}

window_totals count_window::totals(std::uint32_t generation) const {
  return current_totals(tag_of(generation)).value_or(window_totals{});
}

// --- time_window -------------------------------------------------------------

time_window::time_window(duration window, std::uint32_t buckets)
    : width_(window / buckets),
      bucket_count_(buckets),
      buckets_(std::make_unique<bucket[]>(buckets)) {
  assert(buckets >= 1 && buckets <= max_buckets && width_ > duration::zero());
}

// Bucket `epoch` of generation g has key epoch + g * B: the position (key mod B)
// follows time, and a later generation's keys start B or more above any key
// that an earlier generation could write at the same time. `now` is a steady
// time point, never before the clock's epoch.
std::uint64_t time_window::key_at(std::uint32_t generation, time_point now) const {
  const auto epoch = static_cast<std::uint64_t>(now.time_since_epoch() / width_);
  return epoch + std::uint64_t{generation} * bucket_count_;
}

std::optional<window_totals> time_window::record(std::uint32_t generation, time_point now,
                                                 call_sample sample) {
  const std::uint64_t key = key_at(generation, now);
  const std::uint64_t position = key % bucket_count_;
  bucket& target = buckets_[position];
  const auto short_key = static_cast<std::uint32_t>(key);
  // Each word moves to a newer key on its own; a failure word that lost the
  // race to a newer key belongs to a call that the newer key's window does not
  // cover anyway.
  if (!add_to_word(target.calls, short_key)) return std::nullopt;
  if (sample.failed) add_to_word(target.failures, short_key);
  if (sample.slow) add_to_word(target.slow_calls, short_key);
  return totals_ending_at(key, position);
}

window_totals time_window::totals(std::uint32_t generation, time_point now) const {
  const std::uint64_t newest = key_at(generation, now);
  return totals_ending_at(newest, newest % bucket_count_);
}

// Walks the positions backwards from the newest key's (passed in, not divided
// again, like the rest): this runs on every record, and a 64-bit division costs
// more than the three loads of a bucket.
window_totals time_window::totals_ending_at(std::uint64_t newest, std::uint64_t position) const {
  window_totals sum;
  for (std::uint64_t age = 0; age < bucket_count_ && age <= newest; ++age) {
    const bucket& source = buckets_[position];
    const auto short_key = static_cast<std::uint32_t>(newest - age);
    // Failures and slow calls first: record() counts the call before them, so
    // the calls read afterwards include every failure read here. Read the other
    // way round, a reader preempted between the loads would see the failures of
    // calls it did not count, and a rate above the real one (even above 1).
    sum.failures += count_for_key(source.failures, short_key);
    sum.slow_calls += count_for_key(source.slow_calls, short_key);
    sum.calls += count_for_key(source.calls, short_key);
    position = position == 0 ? bucket_count_ - 1 : position - 1;
  }
  // A bucket that moved to a newer key between the loads counts the calls as 0
  // but not the failures read before; a rate is never more than all calls.
  sum.failures = std::min(sum.failures, sum.calls);
  sum.slow_calls = std::min(sum.slow_calls, sum.calls);
  return sum;
}

}  // namespace bulwark::core
