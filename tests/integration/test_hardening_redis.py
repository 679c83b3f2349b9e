"""Issue 15 item 3 (and issue 16 item 5): Redis loading, failover, restart and pool
exhaustion answer UNAVAILABLE or RESOURCE_EXHAUSTED, never UNKNOWN, and the pool
heals at once. A real redis-server per test, the learning service in front of it."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import time

import grpc
import pytest
import redis.asyncio as aioredis

from itm.client import Clients
from itm.devstack import RedisProcess, free_port
from itm.runtime.settings import Settings
from itm.v1 import learning_pb2

RETRYABLE = {"OK", "UNAVAILABLE", "RESOURCE_EXHAUSTED"}


class LoadingRedis(RedisProcess):
    """redis-server writing a plain AOF (no RDB preamble): a large one takes long enough to
    load that clients see -LOADING (Redis answers while it replays commands)."""

    def command(self) -> list[str]:
        return [*super().command(), "--aof-use-rdb-preamble", "no"]


async def _start(start_service, tmp_path, cls=RedisProcess, **env):
    redis = cls(tmp_path / "own-redis", free_port())
    redis.start()
    learning = start_service("learning", redis_url=redis.url, **env)
    settings = Settings(topic_prefix=learning.env["ITM_TOPIC_PREFIX"])
    c = Clients.connect({"learning": learning.grpc_target}, settings)
    await c.learning.PublishCourse(learning_pb2.PublishCourseRequest(
        course_id="sql-101", title="SQL", hours=4, teaches=[learning_pb2.CourseSkillInput(skill="sql", level=2)]),
        metadata=c.metadata)
    return redis, learning, c


async def _get(c: Clients, timeout: float = 20) -> str:
    try:
        await c.learning.GetCourse(learning_pb2.GetCourseRequest(course_id="sql-101"), metadata=c.metadata,
                                   timeout=timeout)
        return "OK"
    except grpc.aio.AioRpcError as exc:
        return exc.code().name


async def _burst(c: Clients, n: int) -> collections.Counter:
    return collections.Counter(await asyncio.gather(*(_get(c) for _ in range(n))))


async def test_a_burst_of_200_concurrent_calls_is_served(start_service, tmp_path):
    """Before: the unbounded pool met Redis's limit or ran out, 'Too many connections' answered UNKNOWN."""
    redis, _, c = await _start(start_service, tmp_path)
    admin = aioredis.from_url(redis.url)
    try:
        assert await _burst(c, 200) == {"OK": 200}
        await admin.execute_command("CLIENT", "PAUSE", "500")  # a slow moment: every call holds its connection
        assert await _burst(c, 200) == {"OK": 200}
    finally:
        await admin.aclose()
        await c.close()
        redis.stop()


async def test_beyond_the_bounds_calls_are_refused_retryably_and_served_again_after(start_service, tmp_path):
    redis, _, c = await _start(start_service, tmp_path, max_concurrent_calls=8, max_queued_calls=16,
                               redis_pool_size=2, redis_pool_timeout_s=0.3)
    try:
        os.kill(redis.pid, signal.SIGSTOP)  # calls pile up on the pool and on the bound
        try:
            burst = asyncio.ensure_future(_burst(c, 200))
            await asyncio.sleep(1.5)
        finally:
            os.kill(redis.pid, signal.SIGCONT)
        codes = await burst
        assert set(codes) <= RETRYABLE, codes
        assert codes["RESOURCE_EXHAUSTED"] > 0 and codes["UNAVAILABLE"] > 0, codes
        # healed at once: as many calls as the bounds take (8 in progress + 16 queued) all served
        assert await _burst(c, 24) == {"OK": 24}
    finally:
        await c.close()
        redis.stop()


async def test_a_restarted_redis_serves_the_first_calls_after_it_returns(start_service, tmp_path):
    """Before: every stale pooled connection failed once on first use, long after the restart."""
    redis, _, c = await _start(start_service, tmp_path)
    try:
        assert await _burst(c, 60) == {"OK": 60}  # many pooled connections, all about to go stale
        redis.stop()
        assert set(await _burst(c, 10)) == {"UNAVAILABLE"}  # down: retryable, with words for people
        redis.start()  # back, data reloaded from the AOF
        assert await _burst(c, 60) == {"OK": 60}
    finally:
        await c.close()
        redis.stop()


@pytest.mark.timeout(150)
async def test_calls_while_redis_loads_its_data_answer_unavailable(start_service, tmp_path):
    redis, _, c = await _start(start_service, tmp_path, LoadingRedis)
    filler = aioredis.from_url(redis.url)
    try:
        await filler.execute_command("DEBUG", "POPULATE", 2_000_000, "filler", 10)
        await filler.bgrewriteaof()
        while (await filler.info("persistence"))["aof_rewrite_in_progress"] or \
                (await filler.info("persistence"))["aof_rewrite_scheduled"]:
            await asyncio.sleep(0.1)
        await filler.aclose()
        redis.stop()
        redis.spawn()  # not start(): that waits until the data set is loaded
        codes = collections.Counter()
        details = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                await c.learning.GetCourse(learning_pb2.GetCourseRequest(course_id="sql-101"), metadata=c.metadata,
                                           timeout=20)
                codes["OK"] += 1
                break
            except grpc.aio.AioRpcError as exc:
                codes[exc.code().name] += 1
                details.add(exc.details())
            await asyncio.sleep(0.05)
        assert set(codes) <= {"OK", "UNAVAILABLE"} and codes["OK"] == 1, (codes, details)
        assert any("loading" in d for d in details), details
        redis.wait_ready()
    finally:
        await c.close()
        redis.stop()


async def test_writes_to_a_demoted_redis_answer_unavailable_until_it_is_promoted(start_service, tmp_path):
    """A failover seen from the old primary: it became a replica and refuses writes (READONLY)."""
    redis, _, c = await _start(start_service, tmp_path)
    primary = RedisProcess(tmp_path / "new-primary", free_port(), name="primary")
    primary.start()
    admin = aioredis.from_url(redis.url)

    async def publish(i: int) -> str:
        try:
            await c.learning.PublishCourse(learning_pb2.PublishCourseRequest(
                course_id=f"c{i}", title="C", hours=1, teaches=[learning_pb2.CourseSkillInput(skill="sql", level=1)]),
                metadata=c.metadata, timeout=20)
            return "OK"
        except grpc.aio.AioRpcError as exc:
            return f"{exc.code().name}: {exc.details()}"

    try:
        await admin.execute_command("REPLICAOF", "127.0.0.1", str(primary.port))
        answers = [await publish(i) for i in range(3)]
        assert all(a.startswith("UNAVAILABLE: storage is failing over") for a in answers), answers
        await admin.execute_command("REPLICAOF", "NO", "ONE")
        assert await publish(9) == "OK"
    finally:
        await admin.aclose()
        await c.close()
        primary.stop()
        redis.stop()
