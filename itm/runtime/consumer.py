"""The idempotent consumer: at-least-once in, exactly-once effect in Redis.

Each event is handled inside a Redis transaction that also records its event id
(``transact``), so a redelivered event — after a crash, a rebalance or a relay
retry — finds its id and changes nothing. Offsets are committed only after the
batch's effects are stored. A record that cannot be decoded, or whose handler
raises ``PermanentError`` or keeps failing, goes to the dead-letter topic with
the reason, and the consumer moves on. Infrastructure errors (Redis down) are
retried forever: they are not the event's fault.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from itm.runtime import metrics
from itm.runtime.envelope import Event, MalformedEvent, decode, new_envelope
from itm.runtime.outbox import make_producer
from itm.runtime.redisx import transact
from itm.runtime.settings import Settings
from itm.runtime.topics import DEAD_LETTER
from itm.v1 import envelope_pb2

log = logging.getLogger(__name__)

DEDUPE_TTL_S = 7 * 24 * 3600

Handler = Callable[[Event, aioredis.client.Pipeline], Awaitable[None]]


class PermanentError(Exception):
    """The event can never be processed (bad data); dead-letter it."""


def make_consumer(settings: Settings, group: str | None, topics: list[str], **overrides) -> AIOKafkaConsumer:
    opts = dict(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.group(group) if group else None,
        client_id=f"itm-{settings.service}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.consumer_session_timeout_ms,
        rebalance_timeout_ms=settings.consumer_group_rebalance_timeout_ms,
        heartbeat_interval_ms=max(500, settings.consumer_session_timeout_ms // 3),
        max_poll_interval_ms=300_000,
        fetch_max_wait_ms=50,
    )
    opts.update(overrides)
    return AIOKafkaConsumer(*[settings.topic(t) for t in topics], **opts)


class DeadLetterPublisher:
    def __init__(self, settings: Settings, consumer_name: str):
        self.settings = settings
        self.consumer_name = consumer_name
        self._producer = None

    async def send(self, record: ConsumerRecord, reason: str) -> None:
        if self._producer is None:
            self._producer = make_producer(self.settings)
            await self._producer.start()
        letter = envelope_pb2.DeadLetter(
            original_topic=record.topic,
            original_partition=record.partition,
            original_offset=record.offset,
            original_key=record.key or b"",
            original_value=record.value or b"",
            consumer=self.consumer_name,
            reason=reason[:2000],
        )
        letter.failed_at.GetCurrentTime()
        subject = (record.key or b"unknown").decode(errors="replace")
        env = new_envelope(DEAD_LETTER, self.settings.service, subject, 0, letter)
        await self._producer.send_and_wait(self.settings.topic(DEAD_LETTER), env.SerializeToString(), key=record.key)
        metrics.DEAD_LETTERS.labels(metrics.bare_topic(record.topic, self.settings.topic_prefix), self.consumer_name).inc()
        log.warning("dead-lettered event", extra={"topic": record.topic, "offset": record.offset, "reason": reason})

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()


class IdempotentConsumer:
    """Consume ``topics`` in consumer group ``name``; ``handler`` gets each event once."""

    def __init__(
        self,
        settings: Settings,
        redis: aioredis.Redis,
        name: str,
        topics: list[str],
        handler: Handler,
        after_commit: Callable[[list[Event]], Awaitable[None]] | None = None,
    ):
        self.settings = settings
        self.redis = redis
        self.name = name
        self.topics = topics
        self.handler = handler
        self.after_commit = after_commit
        self.dead_letters = DeadLetterPublisher(settings, name)
        self.consumer: AIOKafkaConsumer | None = None
        self.assigned = asyncio.Event()

    def dedupe_key(self, event_id: str) -> str:
        return self.settings.key(f"dedupe:{self.name}:{event_id}")

    async def handle_record(self, record: ConsumerRecord) -> Event | None:
        """Process one record with retries; returns the event if it took effect."""
        label = metrics.bare_topic(record.topic, self.settings.topic_prefix)
        try:
            event = decode(record.value)
        except MalformedEvent as exc:
            await self.dead_letters.send(record, f"malformed: {exc}")
            return None
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                applied = await self._apply_once(event)
                metrics.EVENT_HANDLE_LATENCY.labels(self.name).observe(time.perf_counter() - started)
                if applied:
                    metrics.EVENTS_CONSUMED.labels(label, self.name).inc()
                    return event
                metrics.EVENTS_DUPLICATE.labels(label, self.name).inc()
                return None
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("redis unavailable; retrying event", extra={"error": repr(exc)})
                await asyncio.sleep(min(0.2 * attempt, self.settings.retry_max_backoff_s))
                attempt = 0  # infrastructure outage is not the event's fault
            except PermanentError as exc:
                await self.dead_letters.send(record, f"rejected by {self.name}: {exc}")
                return None
            except Exception as exc:  # noqa: BLE001 - a bug or bad data; bounded retries
                if attempt >= self.settings.consumer_max_attempts:
                    await self.dead_letters.send(record, f"failed {attempt} times in {self.name}: {exc!r}")
                    return None
                log.exception("event handler failed; retrying", extra={"event_id": event.event_id})
                await asyncio.sleep(min(0.1 * 2**attempt, self.settings.retry_max_backoff_s))

    async def _apply_once(self, event: Event) -> bool:
        key = self.dedupe_key(event.event_id)

        async def body(pipe):
            if await pipe.exists(key):
                return False
            await self.handler(event, pipe)
            if not pipe.explicit_transaction:
                pipe.multi()
            pipe.set(key, b"1", ex=DEDUPE_TTL_S)
            return True

        return await transact(self.redis, [key], body)

    async def run(self) -> None:
        from aiokafka import ConsumerRebalanceListener

        outer = self

        class _Listener(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked):
                pass

            async def on_partitions_assigned(self, assigned):
                outer.assigned.set()

        self.consumer = make_consumer(self.settings, self.name, [])
        await self.consumer.start()
        self.consumer.subscribe([self.settings.topic(t) for t in self.topics], listener=_Listener())
        try:
            while True:
                batches = await self.consumer.getmany(timeout_ms=500, max_records=500)
                for tp, records in batches.items():
                    applied = []
                    for record in records:
                        event = await self.handle_record(record)
                        if event is not None:
                            applied.append(event)
                    await self.consumer.commit({tp: records[-1].offset + 1})
                    if applied and self.after_commit:
                        await self.after_commit(applied)
                if batches:
                    await self._observe_lag()
        finally:
            await self.close()

    async def _observe_lag(self) -> None:
        consumer = self.consumer
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            position = await consumer.position(tp)
            metrics.CONSUMER_LAG.labels(
                metrics.bare_topic(tp.topic, self.settings.topic_prefix), str(tp.partition), self.name
            ).set(max(0, high - position))

    async def close(self) -> None:
        if self.consumer is not None:
            consumer, self.consumer = self.consumer, None
            await consumer.stop()
        await self.dead_letters.close()


__all__ = ["IdempotentConsumer", "PermanentError", "make_consumer", "DeadLetterPublisher", "TopicPartition"]
