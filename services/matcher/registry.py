"""Which matcher worker owns which employee partition, for the query API.

Employees are partitioned across workers (faust assigns the partitions), so a
query for an employee that lives on another worker is forwarded there, and
"best candidates" fans out to every worker. Workers find each other through
Redis (which every ITM process already has), not through faust's own
``app.router`` (that needs faust's web server, which the matcher keeps off):

* ``<prefix>matcher:worker:<id>``: JSON ``{id, address, partitions,
  generation, at, scoring_version}``, written after every rebalance and
  refreshed every ``ttl/3`` seconds with an expiry of ``ttl`` (a SIGKILLed
  worker drops out by itself);
* ``<prefix>matcher:workers``: the set of worker ids (expired ids are pruned by
  readers).

During a rebalance two entries can claim one partition for a moment; the one
with the higher consumer-group generation wins, then the fresher one. A
worker that is asked for a partition it no longer owns answers UNAVAILABLE
("retry"), never with somebody else's data.
"""

from __future__ import annotations

import json
import time

from redis.asyncio import Redis

from itm.runtime.settings import Settings


class WorkerRegistry:
    def __init__(self, redis: Redis, settings: Settings, worker_id: str, address: str, ttl_s: float):
        self.redis = redis
        self.worker_id = worker_id
        self.address = address
        self.ttl_s = ttl_s
        self.index_key = settings.key("matcher:workers")
        self.prefix = settings.key("matcher:worker:")
        self.partitions: list[int] = []
        self.generation = 0
        self.scoring_version = getattr(settings, "scoring_version", 0)

    def _key(self, worker_id: str) -> str:
        return f"{self.prefix}{worker_id}"

    async def publish(self, partitions=None, generation: int | None = None) -> None:
        if partitions is not None:
            self.partitions = sorted(partitions)
        if generation is not None:
            self.generation = generation
        entry = {"id": self.worker_id, "address": self.address, "partitions": self.partitions,
                 "generation": self.generation, "at": time.time(), "scoring_version": self.scoring_version}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self.index_key, self.worker_id)
            pipe.set(self._key(self.worker_id), json.dumps(entry), px=int(self.ttl_s * 1000))
            await pipe.execute()

    async def withdraw(self) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.srem(self.index_key, self.worker_id)
            pipe.delete(self._key(self.worker_id))
            await pipe.execute()

    async def workers(self) -> list[dict]:
        ids = sorted(i.decode() if isinstance(i, bytes) else i for i in await self.redis.smembers(self.index_key))
        if not ids:
            return []
        values = await self.redis.mget([self._key(i) for i in ids])
        gone = [i for i, v in zip(ids, values) if v is None]
        if gone:
            await self.redis.srem(self.index_key, *gone)
        return [json.loads(v) for v in values if v is not None]

    async def owners(self) -> dict[int, dict]:
        """partition -> the entry of the worker that owns it now."""
        best: dict[int, dict] = {}
        for w in await self.workers():
            for p in w.get("partitions", []):
                cur = best.get(p)
                if cur is None or (w["generation"], w["at"]) > (cur["generation"], cur["at"]):
                    best[p] = w
        return best
