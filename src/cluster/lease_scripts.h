// The Lua scripts cluster mode runs in Redis, each one atomic call, and the
// names of the keys they touch (docs/cluster.md, "Keys in Redis").
//
// Keys are namespaced and hash-tagged by policy, `bulwark:{<policy>}:...`, so
// that every key one script call touches lives in one Redis Cluster slot, and
// every key has a TTL: nothing grows in Redis without bound.
#pragma once

#include <string>
#include <string_view>

#include "cluster/redis_client.h"
#include "core/leased_bucket.h"

namespace bulwark::cluster {

// Leases for many keys of one token-bucket policy, one call (core::apply_lease
// is the same rule in C++). KEYS: the buckets. ARGV: rate per second, burst,
// then debt, want, give_back per key. Returns, per key, {granted, tokens left}.
const redis_script& token_bucket_lease_script();
// The same for a sliding-window policy: ARGV: count, window in microseconds,
// then the triples. Granted tokens count in the current window.
const redis_script& sliding_window_lease_script();
// An instance's heartbeat in one policy's (or the cluster's) member hash.
// KEYS: the hash. ARGV: instance id, its demand per second, time to live in ms.
// Drops members whose beat expired; returns [id, demand, id, demand, ...] of
// the live ones.
const redis_script& heartbeat_script();

// `bulwark:{<policy>}:`: every key of a policy starts so. A policy's key also
// names its settings (`tb:<count>/<per ns>/<burst>:`), so instances running
// different settings for one name (a rolling change) do not share a bucket,
// as a changed local policy starts afresh on reload.
std::string policy_prefix(const core::lease_pool& pool);
std::string bucket_key(std::string_view prefix, std::string_view key);
std::string members_key(std::string_view prefix);
// The member hash of every instance in the cluster, policies or not.
inline constexpr std::string_view cluster_members_key = "bulwark:{cluster}:members";

}  // namespace bulwark::cluster
