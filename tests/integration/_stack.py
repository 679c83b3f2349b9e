"""Helpers for the domain-service tests: one stack per test module, an event log, status checks.

``ModuleStack`` starts the named services (real processes) against the session's
broker and Redis under a prefix of its own, so a module's tests share the
processes (lean on a 2-core machine) while each test uses unique ids.
``EventLog`` reads topics from the beginning in the background and lets a test
wait for the events it expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from itm.client import Clients
from itm.devstack import ServiceProcess, free_port
from itm.runtime.consumer import make_consumer
from itm.runtime.envelope import Event, decode
from itm.runtime.settings import Settings
from itm.runtime.topics import TOPICS, ensure_topics
from itm.v1 import matcher_pb2


@dataclass
class Seen:
    topic: str
    key: bytes
    event: Event

    @property
    def payload(self):
        return self.event.payload

    @property
    def env(self):
        return self.event.envelope


class EventLog:
    """Every record of ``topics`` since the beginning, decoded, in arrival order."""

    def __init__(self, settings: Settings, topics: list[str]):
        self.settings = settings
        self.topics = topics
        self.seen: list[Seen] = []
        self._task: asyncio.Task | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        consumer = make_consumer(self.settings, None, self.topics)
        await consumer.start()
        self._task = asyncio.create_task(self._run(consumer))

    async def _run(self, consumer) -> None:
        try:
            while True:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for r in records:
                        self.seen.append(Seen(r.topic[len(self.settings.topic_prefix):], r.key, decode(r.value)))
                    self._changed.set()
        finally:
            await consumer.stop()

    def of(self, topic: str | None = None, key: str | None = None) -> list[Seen]:
        return [s for s in self.seen if (topic is None or s.topic == topic) and (key is None or s.key == key.encode())]

    async def wait_for(self, topic: str, key: str, count: int = 1, timeout_s: float = 20) -> list[Seen]:
        """The events on ``topic`` with ``key`` once there are at least ``count``."""
        try:
            async with asyncio.timeout(timeout_s):
                while len(found := self.of(topic, key)) < count:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"after {timeout_s}s {topic} has {len(self.of(topic, key))} events for {key}, "
                                 f"expected {count}") from None
        return found

    async def quiet(self, seconds: float = 1.0) -> None:
        """Give events that should NOT appear a chance to appear."""
        await asyncio.sleep(seconds)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


@dataclass
class ModuleStack:
    infra: object
    root: Path
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}.")
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    log: EventLog | None = None
    clients: Clients | None = None
    matcher_port: int = 0  # chosen before any service starts, so the others know where to ask

    @property
    def settings(self) -> Settings:
        return Settings(topic_prefix=self.prefix, kafka_bootstrap=self.infra.kafka_bootstrap)

    def env(self, name: str, **extra) -> dict[str, str]:
        env = {
            "ITM_KAFKA_BOOTSTRAP": self.infra.kafka_bootstrap,
            "ITM_REDIS_URL": self.infra.redis_url,
            "ITM_TOPIC_PREFIX": self.prefix,
            "ITM_LOG_FORMAT": "console",
            "ITM_DATA_DIR": str(self.root / "data" / name),
        }
        if "profile" in self.procs:
            env["ITM_PROFILE_TARGET"] = self.procs["profile"].grpc_target
        if self.matcher_port:
            env["ITM_MATCHER_TARGET"] = f"127.0.0.1:{self.matcher_port}"
        env.update({f"ITM_{k.upper()}": str(v) for k, v in extra.items()})
        return env

    async def start(self, services: dict[str, dict], topics: list[str]) -> ModuleStack:
        await ensure_topics(self.infra.kafka_bootstrap, prefix=self.prefix)
        if "matcher" in services:
            self.matcher_port = free_port()
        for name, extra in services.items():  # profile first: the others learn its address
            port = self.matcher_port if name == "matcher" else None
            proc = ServiceProcess(name, self.env(name, **extra), self.root, grpc_port=port)
            self.procs[name] = proc
            proc.start(wait=False)
        for proc in self.procs.values():
            await proc.wait_healthy_async(90)
        self.clients = Clients.connect({n: p.grpc_target for n, p in self.procs.items()}, self.settings)
        self.log = EventLog(self.settings, topics)
        await self.log.start()
        return self

    def as_(self, subject: str, role: str = "employee") -> Clients:
        return self.clients.as_(self.settings, subject, role)

    async def close(self, failed: bool = False) -> None:
        if self.log:
            await self.log.stop()
        if self.clients:
            await self.clients.close()
        for proc in self.procs.values():
            with contextlib.suppress(Exception):
                proc.stop(timeout=10)
            if failed or (proc.returncode not in (0, None, -15)):
                print(f"\n===== {proc.name} (exit {proc.returncode}) =====\n{proc.log_tail(60)}")
        import redis.asyncio as aioredis

        client = aioredis.from_url(self.infra.redis_url)
        try:
            keys = [k async for k in client.scan_iter(match=f"{self.prefix}*", count=1000)]
            for i in range(0, len(keys), 500):
                await client.unlink(*keys[i:i + 500])
        finally:
            await client.aclose()


def all_topics(*prefixes: str) -> list[str]:
    return [n for n in TOPICS if n.startswith(prefixes)]


async def expect_error(call, code: grpc.StatusCode, *fragments: str) -> grpc.aio.AioRpcError:
    """Await ``call``; it must fail with ``code`` and a message holding every fragment."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    err = info.value
    assert err.code() == code, f"expected {code.name}, got {err.code().name}: {err.details()}"
    for fragment in fragments:
        assert fragment.lower() in (err.details() or "").lower(), f"{fragment!r} not in {err.details()!r}"
    return err


def uid(prefix: str = "E") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def eventually(check, timeout_s: float, what: str):
    """``await check()`` until it returns something true (returned), or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.2)


async def matched(clients: Clients, employee_id: str, opportunity_id: str, timeout_s: float = 60) -> int:
    """Wait until the matcher lists the pair among the employee's matches; its score.

    A module's tests seed one organisation each into the same stack, and each organisation's people match
    the others' postings too (same skills, same scores). Ties are ordered by opportunity id, so the whole
    list MyMatches gives (100) is read, not its first ten. Until the matcher knows the employee it answers
    NOT_FOUND, which is waited out like a missing pair.
    """
    async def score() -> tuple[int] | None:
        try:
            found = await clients.matcher.MyMatches(matcher_pb2.MyMatchesRequest(
                employee_id=employee_id, limit=100), metadata=clients.metadata, timeout=10)
        except grpc.aio.AioRpcError as e:
            if e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                return None
            raise
        return next(((m.score_percent,) for m in found.matches if m.opportunity_id == opportunity_id), None)

    (percent,) = await eventually(score, timeout_s, f"the matcher to list {opportunity_id} among {employee_id}'s matches")
    return percent
