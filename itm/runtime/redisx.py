"""Redis connection and the one transaction helper every write goes through.

``transact`` runs read-validate-write under WATCH/MULTI/EXEC and retries when a
watched key changed meanwhile, so a state change and the events it causes
(outbox entries) are stored together or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import WatchError

T = TypeVar("T")


def connect(url: str) -> aioredis.Redis:
    return aioredis.from_url(url, decode_responses=False, health_check_interval=10, socket_timeout=10)


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
    raise RuntimeError(f"gave up after {attempts} concurrent-modification retries on {watch}")
