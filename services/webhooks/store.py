"""The webhooks service's Redis layout (every key under the deployment's prefix).

* ``webhooks:sub:<id>``: the subscription (``WebhookSubscription``, static fields only);
  ``webhooks:secret:<id>``: its signing secret; ``webhooks:subs``: sorted set of ids
  by creation time.
* ``webhooks:topic:<topic>``: set of the subscriptions naming the topic (the fan-out's index).
* ``webhooks:queue:<id>``: stream of the events still to deliver, oldest first
  (field ``e``: the ``EventEnvelope`` bytes). The head is the event being tried;
  it leaves the stream when delivered or dead-lettered.
* ``webhooks:dead:<id>``: stream of dead letters (``e``, attempts ``n``, last error
  ``err``, last HTTP status ``st``).
* ``webhooks:state:<id>``: hash: ``head`` (queue id being tried), ``attempts`` (of it),
  ``last_ok_ms``, ``last_error``.
* ``webhooks:lease:<id>``: which replica delivers the subscription now.
* channels ``webhooks:wake`` (a subscription got events) and ``webhooks:changed``
  (one was created, deleted, paused, resumed or had letters replayed).
"""

from __future__ import annotations

from itm.runtime.settings import Settings


class Keys:
    def __init__(self, settings: Settings):
        self.k = settings.key

    def sub(self, sub_id: str) -> str:
        return self.k(f"webhooks:sub:{sub_id}")

    def secret(self, sub_id: str) -> str:
        return self.k(f"webhooks:secret:{sub_id}")

    def previous_secret(self, sub_id: str) -> str:
        """The secret rotated out, signing beside the new one until the key expires."""
        return self.k(f"webhooks:secret-previous:{sub_id}")

    @property
    def subs(self) -> str:
        return self.k("webhooks:subs")

    def topic(self, topic: str) -> str:
        return self.k(f"webhooks:topic:{topic}")

    def queue(self, sub_id: str) -> str:
        return self.k(f"webhooks:queue:{sub_id}")

    def dead(self, sub_id: str) -> str:
        return self.k(f"webhooks:dead:{sub_id}")

    def state(self, sub_id: str) -> str:
        return self.k(f"webhooks:state:{sub_id}")

    def lease(self, sub_id: str) -> str:
        return self.k(f"webhooks:lease:{sub_id}")

    @property
    def wake(self) -> str:
        return self.k("webhooks:wake")

    @property
    def changed(self) -> str:
        return self.k("webhooks:changed")


# take or renew the lease if free or ours (KEYS[1] lease, ARGV[1] owner, ARGV[2] ms)
LEASE_SCRIPT = """
local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
