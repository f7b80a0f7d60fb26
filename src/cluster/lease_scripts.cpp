#include "cluster/lease_scripts.h"

namespace bulwark::cluster {

// Times are Redis TIME in microseconds. Numbers are written with
// string.format: Lua's tostring keeps 14 digits, too few for a time stamp.
const redis_script& token_bucket_lease_script() {
  static const redis_script script(R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local out = {}
for i, key in ipairs(KEYS) do
  local debt = tonumber(ARGV[3 * i])
  local want = tonumber(ARGV[3 * i + 1])
  local give = tonumber(ARGV[3 * i + 2])
  local state = redis.call('HMGET', key, 't', 'at')
  local tokens = tonumber(state[1])
  local at = tonumber(state[2])
  if tokens == nil or at == nil then
    tokens = burst
    at = now
  end
  if now > at then
    tokens = math.min(burst, tokens + (now - at) * rate / 1000000)
    at = now
  end
  tokens = math.min(burst, tokens + give) - debt
  local granted = 0
  if want > 0 and tokens >= 1 then
    granted = math.min(want, math.floor(tokens))
    tokens = tokens - granted
  end
  redis.call('HSET', key, 't', string.format('%.6f', tokens), 'at', string.format('%d', at))
  -- Gone once full again: an absent bucket is a full one.
  redis.call('PEXPIRE', key, math.ceil((burst - tokens) / rate * 1000) + 1000)
  out[i] = {granted, math.floor(tokens)}
end
return out
)lua");
  return script;
}

const redis_script& sliding_window_lease_script() {
  static const redis_script script(R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local count = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local out = {}
for i, key in ipairs(KEYS) do
  local debt = tonumber(ARGV[3 * i])
  local want = tonumber(ARGV[3 * i + 1])
  local give = tonumber(ARGV[3 * i + 2])
  local state = redis.call('HMGET', key, 'cur', 'prev', 'start')
  local cur = tonumber(state[1]) or 0
  local prev = tonumber(state[2]) or 0
  local start = tonumber(state[3]) or (now - now % window)
  if now >= start + window then
    local passed = math.floor((now - start) / window)
    if passed == 1 then prev = cur else prev = 0 end
    cur = 0
    start = start + passed * window
  end
  local weight = 1 - (now - start) / window
  cur = math.max(0, cur - give) + debt
  local available = count - (prev * weight + cur)
  local granted = 0
  if want > 0 and available >= 1 then
    granted = math.min(want, math.floor(available))
    cur = cur + granted
  end
  redis.call('HSET', key, 'cur', string.format('%d', cur), 'prev', string.format('%d', prev),
             'start', string.format('%d', start))
  redis.call('PEXPIRE', key, math.ceil(2 * window / 1000) + 1000)
  out[i] = {granted, math.floor(count - (prev * weight + cur))}
end
return out
)lua");
  return script;
}

const redis_script& heartbeat_script() {
  static const redis_script script(R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', now + ttl) .. ' ' .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local expires, demand = string.match(all[i + 1], '^(%d+) (%S+)$')
  if expires == nil or tonumber(expires) < now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    out[#out + 1] = all[i]
    out[#out + 1] = demand
  end
end
return out
)lua");
  return script;
}

std::string policy_prefix(const core::lease_pool& pool) {
  const auto& spec = pool.spec();
  std::string prefix = "bulwark:{";
  prefix += pool.name();
  prefix += "}:";
  prefix += pool.algorithm() == core::shared_algorithm::token_bucket ? "tb:" : "sw:";
  prefix += std::to_string(spec.count);
  prefix += '/';
  prefix += std::to_string(spec.per.count());
  prefix += '/';
  prefix += std::to_string(spec.burst);
  prefix += ':';
  return prefix;
}

std::string bucket_key(std::string_view prefix, std::string_view key) {
  std::string name(prefix);
  name += "k:";
  name += key;
  return name;
}

std::string members_key(std::string_view prefix) {
  std::string name(prefix);
  name += "members";
  return name;
}

}  // namespace bulwark::cluster
