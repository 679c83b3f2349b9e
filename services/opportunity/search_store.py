"""Where the search index lives: in each opportunity-service process, kept exact
by a change log in Redis.

Every write of an opportunity (``OpportunityServicer._store_opp``, inside the
write's MULTI) appends its id to the stream ``opportunity:search-log``. A
process builds its ``SearchIndex`` from the open opportunities when it first
searches (the stream's last id read *before* loading them), and before every
search reads the log since the last entry it applied and reloads those
opportunities (one XRANGE, and one MGET when something changed). So a search
sees every write committed before it started, on every instance: a posting is
searchable the moment PostOpportunity answered, on any replica.

The log is trimmed to about ``LOG_LEN`` entries. A process that finds entries it
has not applied trimmed away (it slept through more writes than that) rebuilds
from scratch, as after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time

from itm.v1 import common_pb2, opportunity_pb2
from services.opportunity.search import SearchIndex, doc_of

log = logging.getLogger(__name__)

LOG_LEN = 100_000
BATCH = 1000
OPEN = common_pb2.OPPORTUNITY_STATUS_OPEN


def _newer(a: bytes, b: bytes) -> bool:
    """Stream id a > b."""
    ma, _, sa = a.partition(b"-")
    mb, _, sb = b.partition(b"-")
    return (int(ma), int(sa or 0)) > (int(mb), int(sb or 0))


class LiveSearch:
    def __init__(self, redis, log_key: str, opportunity_key, open_index: str):
        self.redis = redis
        self.log_key = log_key
        self.opportunity_key = opportunity_key  # id -> Redis key
        self.open_index = open_index  # zset of open opportunity ids
        self.index = SearchIndex()
        self.applied: bytes | None = None  # last log entry applied; None: not built
        self.lock = asyncio.Lock()
        self.rebuilds = 0
        self.last_build_s = 0.0

    @staticmethod
    def record(pipe, log_key: str, opportunity_id: str) -> None:
        """Queue (inside the write's MULTI) the note that the opportunity changed."""
        pipe.xadd(log_key, {"id": opportunity_id}, maxlen=LOG_LEN, approximate=True)

    async def current(self) -> SearchIndex:
        """The index with every committed write applied."""
        async with self.lock:
            if self.applied is None:
                await self._build()
            else:
                await self._catch_up()
            return self.index

    async def _load(self, ids: list[str]) -> list[opportunity_pb2.Opportunity | None]:
        out = []
        for i in range(0, len(ids), BATCH):
            chunk = ids[i:i + BATCH]
            for raw in await self.redis.mget([self.opportunity_key(x) for x in chunk]):
                out.append(opportunity_pb2.Opportunity.FromString(raw) if raw is not None else None)
        return out

    async def _build(self) -> None:
        t0 = time.perf_counter()
        last = await self.redis.xrevrange(self.log_key, "+", "-", count=1)
        self.index.clear()
        ids = [i.decode() for i in await self.redis.zrange(self.open_index, 0, -1)]
        for opp in await self._load(ids):
            if opp is not None and opp.status == OPEN:
                self.index.upsert(doc_of(opp))
        self.applied = last[0][0] if last else b"0-0"
        self.rebuilds += 1
        self.last_build_s = time.perf_counter() - t0
        log.info("search index built", extra={"open": len(self.index), "seconds": round(self.last_build_s, 3)})

    async def _catch_up(self) -> None:
        while True:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xrange(self.log_key, "-", "+", count=1)
                pipe.xrange(self.log_key, b"(" + self.applied, "+", count=BATCH)
                first, entries = await pipe.execute()
            if self.applied != b"0-0" and (not first or _newer(first[0][0], self.applied)):
                # the entry applied last is gone (trimmed, or the stream was lost): what came
                # between may be gone too
                log.warning("search log trimmed past this process's position; rebuilding")
                await self._build()
                return
            if not entries:
                return
            changed = list(dict.fromkeys(fields[b"id"].decode() for _, fields in entries))
            for opp_id, opp in zip(changed, await self._load(changed)):
                if opp is not None and opp.status == OPEN:
                    self.index.upsert(doc_of(opp))
                else:
                    self.index.remove(opp_id)
            self.applied = entries[-1][0]
            if len(entries) < BATCH:
                return
