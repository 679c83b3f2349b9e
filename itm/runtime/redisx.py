"""Redis connection and the one transaction helper every write goes through.

``transact`` runs read-validate-write under WATCH/MULTI/EXEC and retries when a
watched key changed meanwhile, so a state change and the events it causes
(outbox entries) are stored together or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import WatchError

T = TypeVar("T")


_STREAM_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}))?")


def is_stream_id(value: str) -> bool:
    """A Redis stream id as clients may pass one back: "<ms>-<seq>" or "<ms>", ASCII digits,
    each part below 2**64 as Redis requires (a longer number reached Redis and failed the
    call with an internal error, or broke an SSE stream)."""
    m = _STREAM_ID.fullmatch(value)
    return m is not None and int(m[1]) < 2**64 and int(m[2] or 0) < 2**64


class ContentionError(RuntimeError):
    """A transaction lost the race for its watched keys too many times in a row."""


def connect(url: str, pool_size: int = 64, pool_timeout_s: float = 5.0) -> aioredis.Redis:
    """A client with a bounded pool that heals by itself.

    * At most ``pool_size`` connections; a command that finds none free within
      ``pool_timeout_s`` fails with ConnectionError ("No connection available"),
      which callers answer as UNAVAILABLE, instead of opening connections without
      bound until Redis refuses them ("Too many connections").
    * A command that meets a dead connection (Redis restarted or failed over:
      every pooled socket is stale) or a Redis still loading its data set is
      retried on a new connection, with a short backoff, so the pool heals on
      first use instead of failing once per stale connection. Transactions that
      WATCH keys are not retried by the client: ``transact`` starts them again.
    """
    retry = Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=3)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=pool_size, timeout=pool_timeout_s, decode_responses=False,
        health_check_interval=10, socket_timeout=10, socket_connect_timeout=5, retry=retry)
    return aioredis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes it


async def transact(
    r: aioredis.Redis,
    watch: list[str],
    fn: Callable[[aioredis.client.Pipeline], Awaitable[T]],
    attempts: int = 20,
) -> T:
    """Run ``fn(pipe)`` with ``watch`` keys watched.

    ``fn`` reads through ``pipe`` (immediate mode), may watch more keys, then
    calls ``pipe.multi()`` and queues its writes; its return value is returned
    after EXEC succeeds. If ``fn`` never calls ``multi()`` nothing is written.
    """
    for _ in range(attempts):
        async with r.pipeline(transaction=True) as pipe:
            try:
                if watch:
                    await pipe.watch(*watch)
                result = await fn(pipe)
                if pipe.explicit_transaction:
                    await pipe.execute()
                return result
            except WatchError:
                continue
    raise ContentionError(f"gave up after {attempts} concurrent-modification retries on {watch}")
