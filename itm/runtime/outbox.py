"""Transactional outbox in a Redis Stream, and the relay that drains it to Kafka.

A domain write queues its state change and ``Outbox.add`` in one MULTI/EXEC, so
an event exists if and only if its change was stored. The relay publishes the
stream's entries in order with ``acks=all`` and deletes an entry only after the
broker acknowledged it: the stream *is* the backlog. When Kafka is down writes
keep succeeding and the backlog drains when it returns (at-least-once: a crash
between the broker's ack and the delete republishes, and consumers dedupe).

One relay per deployment publishes at a time (a Redis lease), which keeps the
per-entity order of the stream on the topics.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from itm.runtime import metrics
from itm.runtime.settings import Settings
from itm.runtime.topics import ensure_topics, topic
from itm.v1 import envelope_pb2

log = logging.getLogger(__name__)

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


def make_producer(settings: Settings, **overrides) -> AIOKafkaProducer:
    """The one producer configuration: acks=all, no idempotence (Tansu lacks it)."""
    opts = dict(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"itm-{settings.service}",
        acks="all",
        enable_idempotence=False,
        linger_ms=1,
        request_timeout_ms=settings.kafka_request_timeout_ms,
        retry_backoff_ms=200,
    )
    opts.update(overrides)
    return AIOKafkaProducer(**opts)


FactListener = Callable[[aioredis.client.Pipeline, envelope_pb2.EventEnvelope], None]


class Outbox:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.stream = settings.key(f"{settings.service}:outbox")
        self.listeners: list[FactListener] = []

    def on_fact(self, listener: FactListener) -> None:
        """``listener(pipe, env)`` queues more writes in the same MULTI for every new
        (not replayed) fact, e.g. the KPIs that the fact makes true."""
        self.listeners.append(listener)

    def add(self, pipe: aioredis.client.Pipeline, env: envelope_pb2.EventEnvelope) -> None:
        """Queue ``env`` in the caller's MULTI; published once the EXEC commits."""
        topic(env.event_type)  # fail fast on an unregistered topic
        pipe.xadd(
            self.stream,
            {b"topic": env.event_type.encode(), b"key": env.subject.encode(), b"value": env.SerializeToString()},
        )
        if not env.replayed:
            for listener in self.listeners:
                listener(pipe, env)


class OutboxRelay:
    def __init__(self, settings: Settings, redis: aioredis.Redis, outbox: Outbox):
        self.settings = settings
        self.redis = redis
        self.outbox = outbox
        self.lease_key = settings.key(f"{settings.service}:outbox:lease")
        self.owner = f"{socket.gethostname()}:{os.getpid()}".encode()
        self.producer: AIOKafkaProducer | None = None
        self.kafka_ok = False
        self._renew = redis.register_script(_RENEW)
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Tell the relay new entries exist (saves waiting for the next poll)."""
        self._wake.set()

    async def _hold_lease(self, ttl_ms: int = 10_000) -> bool:
        if await self._renew(keys=[self.lease_key], args=[self.owner, ttl_ms]):
            return True
        return bool(await self.redis.set(self.lease_key, self.owner, nx=True, px=ttl_ms))

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self.producer is None:
            producer = make_producer(self.settings)
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self.producer = producer
        return self.producer

    async def _drop_producer(self) -> None:
        if self.producer is not None:
            producer, self.producer = self.producer, None
            try:
                await asyncio.wait_for(producer.stop(), 5)
            except Exception:  # noqa: BLE001 - best effort on a broken connection
                pass

    async def publish_batch(self) -> int:
        """Publish up to one batch; returns how many entries were acked and removed."""
        entries = await self.redis.xrange(self.outbox.stream, "-", "+", count=self.settings.outbox_batch)
        self._observe_backlog(entries)
        if not entries:
            return 0
        producer = await self._ensure_producer()
        futures = []
        for _, fields in entries:
            name = fields[b"topic"].decode()
            futures.append(
                await producer.send(self.settings.topic(name), value=fields[b"value"], key=fields[b"key"])
            )
        await asyncio.gather(*futures)  # every record acked by the broker (acks=all)
        await self.redis.xdel(self.outbox.stream, *[entry_id for entry_id, _ in entries])
        for _, fields in entries:
            metrics.EVENTS_PRODUCED.labels(fields[b"topic"].decode()).inc()
        return len(entries)

    def _observe_backlog(self, entries) -> None:
        if entries:
            oldest_ms = int(entries[0][0].split(b"-")[0])
            metrics.OUTBOX_LAG.set(max(0.0, time.time() - oldest_ms / 1000))
        else:
            metrics.OUTBOX_LAG.set(0)

    async def run(self) -> None:
        backoff = 0.1
        while True:
            try:
                metrics.OUTBOX_BACKLOG.set(await self.redis.xlen(self.outbox.stream))
                if not await self._hold_lease():
                    await asyncio.sleep(1)  # another instance relays
                    continue
                sent = await self.publish_batch()
                self.kafka_ok = True
                backoff = 0.1
                if sent == 0:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), self.settings.outbox_block_ms / 1000)
                    except TimeoutError:
                        pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker or Redis down: keep the backlog, retry
                self.kafka_ok = False
                metrics.PUBLISH_FAILURES.inc()
                log.warning("outbox relay failed; will retry", extra={"error": repr(exc), "backoff_s": backoff})
                await self._drop_producer()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.retry_max_backoff_s)
                await self._recreate_topics()

    async def _recreate_topics(self) -> None:
        """A broker that came back empty (Tansu keeps nothing) needs its topics again."""
        try:
            await ensure_topics(self.settings.kafka_bootstrap, self.settings.topic_prefix, timeout_s=5,
                                replication_factor=self.settings.topic_replication_factor)
        except Exception as exc:  # noqa: BLE001 - still down; the next round retries
            log.debug("topics not ensured yet", extra={"error": repr(exc)})

    async def drain(self, timeout_s: float = 5) -> None:
        """On shutdown: publish what is left if the broker answers, within a bound."""
        try:
            async with asyncio.timeout(timeout_s):
                while await self.publish_batch():
                    pass
        except Exception as exc:  # noqa: BLE001
            log.info("outbox not fully drained at shutdown; it will be on restart", extra={"error": repr(exc)})
        finally:
            await self._drop_producer()
            if await self.redis.get(self.lease_key) == self.owner:
                await self.redis.delete(self.lease_key)
