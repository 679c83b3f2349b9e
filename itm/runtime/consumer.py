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


MAX_LETTER_VALUE = 256 * 1024  # of the original record kept in a dead letter (the broker caps record sizes)
MAX_LETTER_KEY = 1024


class DeadLetterPublisher:
    """Sends dead letters to ``itm.dead-letter``; a letter that cannot be sent is retried
    (the record is never committed past without its letter), and a closed publisher
    opens a new producer on its next send, so it outlives consumer restarts."""

    def __init__(self, settings: Settings, consumer_name: str):
        self.settings = settings
        self.consumer_name = consumer_name
        self._producer = None

    def letter(self, record: ConsumerRecord, reason: str) -> envelope_pb2.EventEnvelope:
        value, key = record.value or b"", record.key or b""
        if len(value) > MAX_LETTER_VALUE:
            reason = f"{reason} (original value truncated from {len(value)} bytes)"
            value = value[:MAX_LETTER_VALUE]
        letter = envelope_pb2.DeadLetter(
            original_topic=record.topic,
            original_partition=record.partition,
            original_offset=record.offset,
            original_key=key[:MAX_LETTER_KEY],
            original_value=value,
            consumer=self.consumer_name,
            reason=reason[:2000],
        )
        letter.failed_at.GetCurrentTime()
        subject = key[:MAX_LETTER_KEY].decode(errors="replace") or "unknown"
        return new_envelope(DEAD_LETTER, self.settings.service, subject, 0, letter)

    async def send(self, record: ConsumerRecord, reason: str) -> None:
        env = self.letter(record, reason)
        attempt = 0
        while True:
            try:
                if self._producer is None:
                    producer = make_producer(self.settings)
                    try:
                        await producer.start()
                    except BaseException:
                        await producer.stop()
                        raise
                    self._producer = producer
                await self._producer.send_and_wait(self.settings.topic(DEAD_LETTER), env.SerializeToString(),
                                                   key=record.key[:MAX_LETTER_KEY] if record.key else None)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker away or producer broken: a new one, later
                attempt += 1
                log.warning("dead letter not sent yet; retrying", extra={"error": repr(exc), "attempt": attempt})
                await self.close()
                await asyncio.sleep(min(0.2 * 2 ** min(attempt, 6), self.settings.retry_max_backoff_s))
        metrics.DEAD_LETTERS.labels(metrics.bare_topic(record.topic, self.settings.topic_prefix), self.consumer_name).inc()
        log.warning("dead-lettered event", extra={"topic": record.topic, "offset": record.offset, "reason": reason[:500]})

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), 5)
            except Exception:  # noqa: BLE001 - best effort on a broken connection
                pass


class PartitionProgress:
    """Which record each partition has in hand, and since when: a partition whose record
    has been in hand longer than ``ITM_CONSUMER_STALL_S`` is stalled. Kept across restarts
    of the loop that feeds it, so a record that keeps crashing that loop keeps its age.
    A service watches it (``Service.watch_progress``): NOT_SERVING on ``itm.consumers``
    and ``itm_consumer_stalled`` while any partition is stalled."""

    consumer = None  # no aiokafka consumer of its own to list assignments from

    def __init__(self, settings: Settings, name: str):
        self.settings = settings
        self.name = name
        self._in_hand: dict[TopicPartition, tuple[int, float]] = {}

    def holding(self, tp: TopicPartition, offset: int) -> None:
        current = self._in_hand.get(tp)
        if current is None or current[0] != offset:
            self._in_hand[tp] = (offset, time.monotonic())

    def done(self, tp: TopicPartition) -> None:
        self._in_hand.pop(tp, None)

    def stalled(self, now: float | None = None) -> dict[TopicPartition, tuple[int, float]]:
        now = time.monotonic() if now is None else now
        limit = self.settings.consumer_stall_s
        return {tp: (offset, now - since) for tp, (offset, since) in self._in_hand.items() if now - since > limit}


class IdempotentConsumer:
    """Consume ``topics`` in consumer group ``name``; ``handler`` gets each event once.

    Progress is watched per partition: ``stalled()`` lists the partitions whose
    current record has been in hand for longer than ``ITM_CONSUMER_STALL_S``
    (Redis down, the dead-letter topic unwritable, a handler that hangs). The
    service reports them on grpc.health.v1 (``itm.consumers``) and as
    ``itm_consumer_stalled``.
    """

    def __init__(
        self,
        settings: Settings,
        redis: aioredis.Redis,
        name: str,
        topics: list[str],
        handler: Handler,
        after_commit: Callable[[list[Event]], Awaitable[None]] | None = None,
        key_concurrency: int = 1,
    ):
        self.settings = settings
        # records of one partition with different keys handled at once, up to this many keys
        # (records with the same key always in order): for handlers whose effects are per key
        self.key_concurrency = max(1, key_concurrency)
        self.redis = redis
        self.name = name
        self.topics = topics
        self.handler = handler
        self.after_commit = after_commit
        self.dead_letters = DeadLetterPublisher(settings, name)
        self.consumer: AIOKafkaConsumer | None = None
        self.assigned = asyncio.Event()
        # partition -> (offset of the record in hand, since when): kept across restarts of run(),
        # so a record that keeps crashing the loop keeps its age
        self._in_hand: dict[TopicPartition, tuple[int, float]] = {}

    def _holding(self, tp: TopicPartition, offset: int) -> None:
        current = self._in_hand.get(tp)
        if current is None or current[0] != offset:
            self._in_hand[tp] = (offset, time.monotonic())

    def stalled(self, now: float | None = None) -> dict[TopicPartition, tuple[int, float]]:
        """Partitions whose record in hand is older than the stall limit: tp -> (offset, seconds)."""
        now = time.monotonic() if now is None else now
        limit = self.settings.consumer_stall_s
        return {tp: (offset, now - since) for tp, (offset, since) in self._in_hand.items() if now - since > limit}

    def dedupe_key(self, event_id: str) -> str:
        return self.settings.key(f"dedupe:{self.name}:{event_id}")

    async def handle_record(self, record: ConsumerRecord) -> Event | None:
        """Process one record with retries; returns the event if it took effect.

        Only cancellation leaves this method with an exception: a record that cannot
        be decoded or checked, or whose handler rejects it or keeps failing, is
        dead-lettered; infrastructure errors are retried without limit.
        """
        label = metrics.bare_topic(record.topic, self.settings.topic_prefix)
        try:
            event = decode(record.value, label)
        except MalformedEvent as exc:
            await self.dead_letters.send(record, f"malformed: {exc}")
            return None
        except Exception as exc:  # noqa: BLE001 - a decoder bug must not wedge the partition either
            log.exception("record could not be decoded", extra={"topic": record.topic, "offset": record.offset})
            await self.dead_letters.send(record, f"undecodable: {type(exc).__name__}")
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
                    await self.dead_letters.send(record, f"failed {attempt} times in {self.name}: "
                                                         f"{type(exc).__name__}: {str(exc)[:500]}")
                    return None
                log.exception("event handler failed; retrying", extra={"event_id": event.event_id})
                await asyncio.sleep(min(0.1 * 2**attempt, self.settings.retry_max_backoff_s))

    async def handle_batch(self, tp: TopicPartition, records: list[ConsumerRecord]) -> list[Event]:
        """Handle one partition's fetched records; returns the events that took effect, in offset order.

        Records with the same key are handled in order. With ``key_concurrency`` > 1 up to that
        many keys are handled at once (each record in its own transaction, as always), so a
        handler waiting on Redis round trips does not hold up other keys' records; the batch is
        committed by the caller once all of it is done. The record in hand, for the stall watch,
        is the lowest offset not yet done."""
        if self.key_concurrency == 1 or len(records) == 1:
            applied = []
            for record in records:
                self._holding(tp, record.offset)
                event = await self.handle_record(record)
                self._in_hand.pop(tp, None)
                if event is not None:
                    applied.append(event)
            return applied
        by_key: dict[bytes | None, list[ConsumerRecord]] = {}
        for record in records:
            by_key.setdefault(record.key, []).append(record)
        done: set[int] = set()
        lowest = [0]  # index into records of the lowest offset not done
        took: dict[int, Event] = {}
        gate = asyncio.Semaphore(self.key_concurrency)

        async def in_order(same_key: list[ConsumerRecord]) -> None:
            async with gate:
                for record in same_key:
                    event = await self.handle_record(record)
                    if event is not None:
                        took[record.offset] = event
                    done.add(record.offset)
                    while lowest[0] < len(records) and records[lowest[0]].offset in done:
                        lowest[0] += 1
                    if lowest[0] < len(records):
                        self._holding(tp, records[lowest[0]].offset)

        self._holding(tp, records[0].offset)
        try:
            async with asyncio.TaskGroup() as group:  # a failure cancels the rest: the batch is not committed
                for same_key in by_key.values():
                    group.create_task(in_order(same_key))
        finally:
            if lowest[0] >= len(records):
                self._in_hand.pop(tp, None)
        return [took[offset] for offset in sorted(took)]

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
                for tp in revoked:  # another member takes over what we held
                    outer._in_hand.pop(tp, None)

            async def on_partitions_assigned(self, assigned):
                outer.assigned.set()

        self.consumer = make_consumer(self.settings, self.name, [])
        await self.consumer.start()
        self.consumer.subscribe([self.settings.topic(t) for t in self.topics], listener=_Listener())
        try:
            while True:
                batches = await self.consumer.getmany(timeout_ms=500, max_records=500)
                for tp, records in batches.items():
                    applied = await self.handle_batch(tp, records)
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


__all__ = ["IdempotentConsumer", "PartitionProgress", "PermanentError", "make_consumer", "DeadLetterPublisher", "TopicPartition"]
