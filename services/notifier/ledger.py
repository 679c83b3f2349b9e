"""The delivery ledger: one Redis hash per (notification, channel), and the queue around it.

Keys (under the deployment's prefix):

* ``dlv:<delivery id>`` -- the ledger entry, a hash. ``<delivery id>`` is
  ``<notification key>|<channel>``; the notification key is ``<source event id>:
  <recipient>:<kind>`` (``digest:<recipient>:<period end ms>`` for digests), so it is
  known when the inbox entry is written, in the same MULTI. Fields: ``n`` (the
  Notification, until it is sent), ``ch``, ``emp``, ``cat``, ``dest``, ``key``
  (the idempotency key: Message-ID / Idempotency-Key), ``state`` (queued, held,
  sending, retrying, sent, failed, muted), ``attempts`` (failed sends), ``sends``
  (sends started), ``err``, ``at`` (enqueued, ms), ``done`` (finished, ms).
  A finished entry keeps no message and expires after ITM_DELIVERY_RETENTION_DAYS.
* ``dlv:due:<destination>`` -- sorted set: delivery id -> when it is due (ms).
  A destination is the SMTP relay (``email``) or one webhook URL (``slack:<hash>``).
* ``dlv:dests`` -- sorted set: destination -> its earliest due time, so a claim
  looks at destinations, not at one long queue a dead webhook could fill.
* ``dlv:emp:<employee>`` -- set of that person's delivery ids (erasure, release).
* ``dlv:dead`` -- stream of dead letters (delivery id, channel, reason).

Exactly one delivery as far as the receiver can tell: ``claim`` (one Lua script,
atomic across notifier instances) moves a due delivery's score to now + lease;
the worker marks it ``sending`` (and counts ``sends``) before the send and
``sent`` after it (``finish``, also Lua: nothing is written for an erased entry).
A notifier killed between the two leaves ``sending``; the lease runs out, another
claim sends once more with the same idempotency key, and the receiver dedupes.
"""

from __future__ import annotations

import hashlib
import random
import time

from itm.v1 import notifier_pb2

QUEUED, HELD, SENDING, RETRYING = "queued", "held", "sending", "retrying"
SENT, FAILED, MUTED = "sent", "failed", "muted"
FINISHED = {SENT, FAILED, MUTED}

_CLAIM = """
-- KEYS[1] dests zset. ARGV: now_ms, lease_ms, max_total, per_dest, due-key prefix, then (dest, free) pairs
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local max_total, per_dest, prefix = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local free = {}
for i = 6, #ARGV, 2 do free[ARGV[i]] = tonumber(ARGV[i + 1]) end
local out, taken = {}, 0
local dests = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
for _, d in ipairs(dests) do
  if taken >= max_total then break end
  local room = free[d] or per_dest
  local dk = prefix .. d
  if room > 0 then
    local n = math.min(room, max_total - taken)
    local jobs = redis.call('ZRANGEBYSCORE', dk, '-inf', now, 'LIMIT', 0, n)
    for _, j in ipairs(jobs) do
      redis.call('ZADD', dk, now + lease, j)
      out[#out + 1] = d
      out[#out + 1] = j
      taken = taken + 1
    end
  end
  -- the destination's score is its earliest due delivery again (finished ones left it stale)
  local first = redis.call('ZRANGE', dk, 0, 0, 'WITHSCORES')
  if first[1] then redis.call('ZADD', KEYS[1], first[2], d) else redis.call('ZREM', KEYS[1], d) end
end
return out
"""

_SENDING = """
-- KEYS[1] ledger entry. Returns the sends started so far, or -1 when the entry is gone (erased)
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('HSET', KEYS[1], 'state', 'sending')
return redis.call('HINCRBY', KEYS[1], 'sends', 1)
"""

_FINISH = """
-- KEYS[1] ledger entry, KEYS[2] due zset of its destination. ARGV: state, done_ms, ttl_s, err, delivery id, dead id
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[5])
  return 0
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'done', ARGV[2], 'err', ARGV[4])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'dead', ARGV[6]) end
redis.call('HDEL', KEYS[1], 'n')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('ZREM', KEYS[2], ARGV[5])
return 1
"""

_RESCHEDULE = """
-- KEYS[1] ledger, KEYS[2] due zset, KEYS[3] dests. ARGV: delivery id, due_ms, state, err, failed(0/1), dest
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return -1
end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if ARGV[5] == '1' then attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'err', ARGV[4])
if ARGV[3] == 'held' then redis.call('HSET', KEYS[1], 'held', '1') end
redis.call('ZADD', KEYS[2], tonumber(ARGV[2]), ARGV[1])
redis.call('ZADD', KEYS[3], 'LT', tonumber(ARGV[2]), ARGV[6])
return attempts
"""

_ERASE = """
-- KEYS[1] the person's set; ARGV: key prefix, dead stream key
local ids = redis.call('SMEMBERS', KEYS[1])
for _, id in ipairs(ids) do
  local k = ARGV[1] .. 'dlv:' .. id
  local f = redis.call('HMGET', k, 'dest', 'dead')
  if f[1] then redis.call('ZREM', ARGV[1] .. 'dlv:due:' .. f[1], id) end
  if f[2] then redis.call('XDEL', ARGV[2], f[2]) end
  redis.call('DEL', k)
end
redis.call('DEL', KEYS[1])
return #ids
"""


def delivery_id(notification_key: str, channel: str) -> str:
    return f"{notification_key}|{channel}"


def notification_key(source_event_id: str, recipient: str, kind: str) -> str:
    return f"{source_event_id}:{recipient}:{kind}"


def idempotency_key(delivery: str) -> str:
    """Stable, opaque (no employee id in mail headers): the same for every attempt."""
    return hashlib.sha256(delivery.encode()).hexdigest()[:32]


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Delay before retry number ``attempt`` (1 = after the first failure): base * 2^(n-1),
    capped, with +-20% jitter so retries of many deliveries do not arrive together."""
    raw = min(max_s, base_s * 2 ** max(0, attempt - 1))
    return raw * (0.8 + 0.4 * (rng or random).random())


class Ledger:
    def __init__(self, redis, settings):
        self.redis = redis
        self.settings = settings
        self.prefix = settings.key("")
        self.dests_key = settings.key("dlv:dests")
        self.dead_key = settings.key("dlv:dead")
        self._claim = redis.register_script(_CLAIM)
        self._finish = redis.register_script(_FINISH)
        self._sending = redis.register_script(_SENDING)
        self._reschedule = redis.register_script(_RESCHEDULE)
        self._erase = redis.register_script(_ERASE)

    def key(self, delivery: str) -> str:
        return self.settings.key(f"dlv:{delivery}")

    def due_key(self, dest: str) -> str:
        return self.settings.key(f"dlv:due:{dest}")

    def person_key(self, employee_id: str) -> str:
        return self.settings.key(f"dlv:emp:{employee_id}")

    # -- writing, inside the caller's MULTI ---------------------------------------------
    def enqueue(self, pipe, note: notifier_pb2.Notification, nkey: str, channel: str, category: int,
                dest: str, due_s: float, held: bool, now_s: float) -> str:
        """Queue one delivery (inside ``pipe``'s MULTI, beside the inbox write)."""
        delivery = delivery_id(nkey, channel)
        due_ms = int(due_s * 1000)
        pipe.hset(self.key(delivery), mapping={
            b"n": note.SerializeToString(), b"ch": channel, b"emp": note.employee_id, b"cat": str(category),
            b"dest": dest, b"key": idempotency_key(delivery), b"state": HELD if held else QUEUED,
            b"attempts": "0", b"sends": "0", b"at": str(int(now_s * 1000)), b"held": "1" if held else "0"})
        pipe.zadd(self.due_key(dest), {delivery: due_ms})
        pipe.zadd(self.dests_key, {dest: due_ms}, lt=True)
        pipe.sadd(self.person_key(note.employee_id), delivery)
        return delivery

    async def erase(self, pipe, employee_id: str) -> None:
        """Every delivery of the person, queued or finished, and their dead letters (inside MULTI)."""
        await self._erase(keys=[self.person_key(employee_id)], args=[self.prefix, self.dead_key], client=pipe)

    # -- the worker ------------------------------------------------------------------------
    async def claim(self, now_s: float, lease_s: float, max_total: int, per_dest: int,
                    free: dict[str, int]) -> list[tuple[str, str]]:
        args: list = [int(now_s * 1000), int(lease_s * 1000), max_total, per_dest, self.settings.key("dlv:due:")]
        for dest, room in free.items():
            args += [dest, room]
        flat = await self._claim(keys=[self.dests_key], args=args)
        return [(flat[i].decode(), flat[i + 1].decode()) for i in range(0, len(flat), 2)]

    async def load(self, delivery: str) -> dict[str, bytes] | None:
        raw = await self.redis.hgetall(self.key(delivery))
        return {k.decode(): v for k, v in raw.items()} or None

    async def mark_sending(self, delivery: str) -> int:
        """Recorded before the send: the state, and one more send started. Returns the sends so far
        (-1: the entry is gone, the person was erased)."""
        return int(await self._sending(keys=[self.key(delivery)]))

    async def finish(self, delivery: str, dest: str, state: str, err: str = "", now_s: float | None = None,
                     dead_id: str = "") -> bool:
        done = int((now_s or time.time()) * 1000)
        ttl = self.settings.delivery_retention_days * 86400
        return bool(await self._finish(keys=[self.key(delivery), self.due_key(dest)],
                                       args=[state, done, ttl, err[:500], delivery, dead_id]))

    async def reschedule(self, delivery: str, dest: str, due_s: float, state: str, err: str = "",
                         failed: bool = False) -> int:
        """Due again at ``due_s``; returns the failed attempts so far (-1: the entry is gone)."""
        return int(await self._reschedule(
            keys=[self.key(delivery), self.due_key(dest), self.dests_key],
            args=[delivery, int(due_s * 1000), state, err[:500], "1" if failed else "0", dest]))

    async def dead_letter(self, delivery: str, dest: str, channel: str, reason: str) -> bool:
        """Failed for good: recorded with its reason, in the ledger and the dead-letter stream."""
        entry = await self.redis.xadd(self.dead_key, {b"delivery": delivery, b"channel": channel,
                                                      b"reason": reason[:500]}, maxlen=100_000, approximate=True)
        return await self.finish(delivery, dest, FAILED, reason, dead_id=entry.decode())

    async def release_held(self, employee_id: str, now_s: float) -> int:
        """After a preferences change: held deliveries are looked at again now."""
        ids = [i.decode() for i in await self.redis.smembers(self.person_key(employee_id))]
        if not ids:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for i in ids:
                pipe.hmget(self.key(i), b"state", b"dest")
            rows = await pipe.execute()
        released = 0
        gone = [i for i, (state, _) in zip(ids, rows) if state is None]
        if gone:  # expired after their retention: the set forgets them too
            await self.redis.srem(self.person_key(employee_id), *gone)
        for i, (state, dest) in zip(ids, rows):
            if state == HELD.encode() and dest:
                await self.reschedule(i, dest.decode(), now_s, HELD)
                released += 1
        return released

    async def oldest_due_s(self, now_s: float) -> float:
        """How long the most overdue delivery has waited past its due time (0 when none is overdue)."""
        first = await self.redis.zrange(self.dests_key, 0, 0, withscores=True)
        if not first:
            return 0.0
        return max(0.0, now_s - first[0][1] / 1000)

    async def next_due_s(self) -> float | None:
        first = await self.redis.zrange(self.dests_key, 0, 0, withscores=True)
        return first[0][1] / 1000 if first else None
