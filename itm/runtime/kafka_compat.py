"""Broker compatibility shim: correct "latest" offsets from fetch high watermarks.

The problem
-----------
Tansu (the dev/test broker) answers ListOffsets(timestamp=LATEST) with the
*base offset of the last record batch + 1*, not with the high watermark.
Measured: 25 records produced as one batch -> ``end_offsets`` says 1, while
every Fetch response for the same partition carries ``high_watermark=25``.
Everything that asks the broker for "latest" is affected, silently:

* faust table recovery reads a changelog only up to
  ``Consumer.highwaters()`` -> ``AIOKafkaConsumerThread._highwaters`` ->
  ``AIOKafkaConsumer.end_offsets`` and therefore misses the tail after a
  failover (measured: 399 of 400 counts recovered);
* ``auto_offset_reset="latest"`` and ``seek_to_end()`` position a consumer
  *inside* the last batch, so it re-reads records it meant to skip;
* consumer lag computed as ``end_offsets - committed`` is wrong.

What is patched
---------------
Exactly one function: ``aiokafka.consumer.fetcher.Fetcher._proc_offset_request``
(aiokafka 0.14.0). It is the single place where aiokafka sends a ListOffsets
request to one partition leader, and every path above goes through it:
``end_offsets`` / ``beginning_offsets`` / ``offsets_for_times``
(``_retrieve_offsets`` -> ``_proc_offset_requests``) and the offset-reset
path of the fetch loop (``_update_fetch_positions``). Patching it on the class
covers plain aiokafka consumers and faust alike (faust's aiokafka driver builds
ordinary ``aiokafka.AIOKafkaConsumer`` objects, in its consumer thread, and
uses no Fetcher subclass).

After the original ListOffsets answer, for the partitions asked for LATEST
only, the wrapper sends one Fetch request to the same leader at the offset the
broker just answered (``max_wait_ms=1``, ``min_bytes=0``, ``max_bytes=1``) and
returns ``max(ListOffsets answer, fetch high watermark)`` (the fetch's last
stable offset under ``read_committed``). EARLIEST and timestamp look-ups are
untouched. If the extra fetch fails for any reason, the original answer is
returned unchanged: the shim can never make a caller fail.

Why it is on by default (``ITM_KAFKA_END_OFFSET_FIX``, default ``1``)
---------------------------------------------------------------------
* Harmless on Apache Kafka: there ListOffsets(latest) already *is* the high
  watermark, so the fetch is made at the high watermark, carries no records
  and returns at once (``min_bytes=0``); ``max`` returns the same number (or a
  newer one if records landed in between, which is still a correct "latest").
* Cheap: one extra round trip per leader per ListOffsets(latest) call, and
  those calls happen at start-up, rebalance, table recovery, ``seek_to_end``
  and lag scrapes, never in the per-record fetch loop. On Tansu it costs about
  1 ms (Tansu ignores ``min_bytes=0`` when the fetch offset is at the end and
  waits ``max_wait_ms``; with ``max_wait_ms=0`` it returns no partitions at
  all, hence 1 ms).
* Detection would be worse: the bug only shows when the last batch holds more
  than one record, so a reliable probe has to write to the cluster, and broker
  versions/ApiVersions do not tell Tansu from Kafka. A fix that is always
  correct beats a heuristic that decides when to be correct.

Set ``ITM_KAFKA_END_OFFSET_FIX=0`` to opt out (``install()`` then does nothing).

Public API
----------
``install()`` / ``uninstall()`` / ``is_installed()``
    idempotent; call ``install()`` once per process before consumers start
    (the runtime does it where it builds faust apps and consumers).
``bypass()``
    context manager: ListOffsets answers pass through uncorrected in the
    current task (for tests and diagnostics).
``high_watermarks(source, partitions)``
    ``{TopicPartition: high watermark}`` for consumer-lag metrics
    (lag = high watermark - committed). Works whether or not ``install()``
    was called; ``source`` is a bootstrap string, an ``AIOKafkaConsumer`` or an
    ``AIOKafkaClient``.
``broker_end_offsets(source, partitions)``
    the raw, uncorrected ListOffsets(latest) answer (diagnostics, tests).
``correction_count()``
    how many partition answers the shim has raised in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import aiokafka.errors as Errors
from aiokafka import AIOKafkaClient, AIOKafkaConsumer
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.protocol.offset import OffsetRequest, OffsetResetStrategy
from aiokafka.structs import TopicPartition

__all__ = [
    "ENV_VAR",
    "broker_end_offsets",
    "bypass",
    "correction_count",
    "enabled_by_env",
    "high_watermarks",
    "install",
    "is_installed",
    "original_proc_offset_request",
    "uninstall",
]

log = logging.getLogger(__name__)

ENV_VAR = "ITM_KAFKA_END_OFFSET_FIX"
_FALSE = {"0", "false", "no", "off"}

LATEST = OffsetResetStrategy.LATEST  # -1 in ListOffsets
READ_COMMITTED = 1

# The probe fetch: tiny, and returns immediately on Kafka (min_bytes=0).
# Tansu returns an empty topic list for max_wait_ms=0, so 1 ms it is.
_PROBE_MAX_WAIT_MS = 1
_PROBE_MAX_BYTES = 1

_MARK = "_itm_kafka_compat"
_bypass: contextvars.ContextVar[bool] = contextvars.ContextVar("itm_kafka_compat_bypass", default=False)
_corrections = 0
_warned = False


def _unwrap(fn: Any) -> Any:
    while getattr(fn, _MARK, False):
        fn = fn.__wrapped__
    return fn


#: aiokafka's own implementation, whatever state the class is in at import time.
original_proc_offset_request = _unwrap(Fetcher._proc_offset_request)


def enabled_by_env() -> bool:
    """``ITM_KAFKA_END_OFFSET_FIX``: on unless set to 0/false/no/off."""
    return os.environ.get(ENV_VAR, "1").strip().lower() not in _FALSE


def correction_count() -> int:
    return _corrections


@contextlib.contextmanager
def bypass() -> Iterator[None]:
    """Let ListOffsets answers through uncorrected in the current task/context."""
    token = _bypass.set(True)
    try:
        yield
    finally:
        _bypass.reset(token)


# ---------------------------------------------------------------------------
# the probe: one Fetch per leader, read high watermarks (or LSO)


async def _fetch_highwaters(
    client: AIOKafkaClient,
    node_id: int,
    offsets: Mapping[TopicPartition, int],
    isolation_level: int,
) -> dict[TopicPartition, int]:
    """Fetch each partition at ``offsets[tp]`` from ``node_id``; return what the
    response says the end is (high watermark, or last stable offset under
    read_committed). Partitions answered with an error or missing from the
    response are left out."""
    by_topic: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for tp, offset in offsets.items():
        by_topic[tp.topic].append((tp.partition, max(offset, 0), _PROBE_MAX_BYTES))
    request = FetchRequest(
        _PROBE_MAX_WAIT_MS,
        0,  # min_bytes: answer at once
        _PROBE_MAX_BYTES,
        isolation_level,
        list(by_topic.items()),
    )
    response = await client.send(node_id, request)
    out: dict[TopicPartition, int] = {}
    for topic, partitions in response.topics:
        for partition, error_code, highwater, *part_data in partitions:
            if error_code != 0:
                continue
            end = highwater
            if isolation_level == READ_COMMITTED and response.API_VERSION >= 4:
                lso = part_data[0]
                if lso is not None and lso >= 0:
                    end = lso
            if end is not None and end >= 0:
                out[TopicPartition(topic, partition)] = end
    return out


def _note_correction(tp: TopicPartition, listed: int, highwater: int) -> None:
    global _corrections, _warned
    _corrections += 1
    msg = (
        "broker answered ListOffsets(latest)=%d for %s but its fetch high watermark is %d; "
        "using %d (known Tansu bug, see itm.runtime.kafka_compat)"
    )
    if not _warned:
        _warned = True
        log.warning(msg, listed, tp, highwater, highwater)
    else:
        log.debug(msg, listed, tp, highwater, highwater)


async def _corrected(
    client: AIOKafkaClient,
    node_id: int,
    latest: Mapping[TopicPartition, int],
    isolation_level: int,
) -> dict[TopicPartition, int]:
    """``latest`` (ListOffsets answers) raised to the fetch high watermark."""
    highwaters = await _fetch_highwaters(client, node_id, latest, isolation_level)
    out = {}
    for tp, listed in latest.items():
        hw = highwaters.get(tp)
        if hw is not None and hw > listed:
            _note_correction(tp, listed, hw)
            out[tp] = hw
        else:
            out[tp] = listed
    return out


# ---------------------------------------------------------------------------
# the patch


async def _proc_offset_request(self: Fetcher, node_id: int, topic_data: Mapping[str, list]) -> dict:
    result = await original_proc_offset_request(self, node_id, topic_data)
    if _bypass.get():
        return result
    latest: dict[TopicPartition, int] = {}
    for topic, partitions in topic_data.items():
        for partition, timestamp in partitions:
            tp = TopicPartition(topic, partition)
            if timestamp == LATEST and tp in result and result[tp][0] is not None and result[tp][0] >= 0:
                latest[tp] = result[tp][0]
    if not latest:
        return result
    try:
        fixed = await _corrected(self._client, node_id, latest, self._isolation_level)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # never make the caller fail because of the shim
        log.warning("end-offset correction skipped for %s: %r", sorted(latest), exc)
        return result
    for tp, offset in fixed.items():
        if offset != result[tp][0]:
            result[tp] = (offset, result[tp][1])
    return result


@functools.wraps(original_proc_offset_request)
async def _wrapper(self: Fetcher, node_id: int, topic_data: Mapping[str, list]) -> dict:
    return await _proc_offset_request(self, node_id, topic_data)


setattr(_wrapper, _MARK, True)


def is_installed() -> bool:
    return getattr(Fetcher._proc_offset_request, _MARK, False)


def install(enabled: bool | None = None) -> bool:
    """Patch aiokafka (and so faust) to return corrected "latest" offsets.

    Idempotent. ``enabled=None`` reads ``ITM_KAFKA_END_OFFSET_FIX`` (default
    on); ``False`` makes this a no-op. Returns whether the shim is installed.
    """
    if enabled is None:
        enabled = enabled_by_env()
    if not enabled:
        log.info("%s=0: aiokafka end offsets are not corrected", ENV_VAR)
        return is_installed()
    if not is_installed():
        if _unwrap(Fetcher._proc_offset_request) is not original_proc_offset_request:
            raise RuntimeError("aiokafka Fetcher._proc_offset_request was replaced by someone else")
        Fetcher._proc_offset_request = _wrapper
        log.debug("kafka_compat installed: Fetcher._proc_offset_request corrects LATEST offsets")
    return True


def uninstall() -> None:
    """Restore aiokafka's own ``Fetcher._proc_offset_request`` (idempotent)."""
    if is_installed():
        Fetcher._proc_offset_request = original_proc_offset_request


# ---------------------------------------------------------------------------
# standalone look-ups (lag metrics, diagnostics)


@contextlib.asynccontextmanager
async def _client_for(source: str | AIOKafkaClient | AIOKafkaConsumer, timeout_ms: int):
    if isinstance(source, AIOKafkaConsumer):
        fetcher = getattr(source, "_fetcher", None)
        if fetcher is None or source._closed:
            raise RuntimeError("AIOKafkaConsumer is not started")
        yield source._client, fetcher._isolation_level
    elif isinstance(source, AIOKafkaClient):
        yield source, 0
    elif isinstance(source, str):
        client = AIOKafkaClient(
            bootstrap_servers=source, client_id="itm-kafka-compat", request_timeout_ms=timeout_ms
        )
        try:
            await client.bootstrap()
            yield client, 0
        finally:
            await client.close()
    else:
        raise TypeError(f"expected bootstrap string, AIOKafkaConsumer or AIOKafkaClient, got {source!r}")


async def _list_latest(client: AIOKafkaClient, node_id: int, tps: list[TopicPartition], isolation_level: int):
    by_topic: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for tp in tps:
        by_topic[tp.topic].append((tp.partition, LATEST))
    response = await client.send(node_id, OffsetRequest(-1, isolation_level, list(by_topic.items())))
    out: dict[TopicPartition, int] = {}
    for topic, parts in response.topics:
        for partition, error_code, *info in parts:
            tp = TopicPartition(topic, partition)
            error_type = Errors.for_code(error_code)
            if error_type is not Errors.NoError:
                raise error_type(tp)
            if response.API_VERSION == 0:
                offsets = info[0]
                out[tp] = offsets[0] if offsets else -1
            else:
                out[tp] = info[1]
    return out


async def _latest_offsets(
    source: str | AIOKafkaClient | AIOKafkaConsumer,
    partitions: Iterable[TopicPartition],
    *,
    correct: bool,
    timeout_ms: int,
    isolation_level: int | None,
) -> dict[TopicPartition, int]:
    tps = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
    if not tps:
        return {}
    deadline = time.monotonic() + timeout_ms / 1000
    async with _client_for(source, timeout_ms) as (client, default_iso):
        iso = default_iso if isolation_level is None else isolation_level
        while True:
            try:
                for topic in {tp.topic for tp in tps}:
                    await client._wait_on_metadata(topic)
                by_node: dict[int, list[TopicPartition]] = defaultdict(list)
                for tp in tps:
                    leader = client.cluster.leader_for_partition(tp)
                    if leader is None:
                        raise Errors.UnknownTopicOrPartitionError(tp)
                    if leader == -1:
                        raise Errors.LeaderNotAvailableError(tp)
                    by_node[leader].append(tp)

                async def per_node(node_id: int, node_tps: list[TopicPartition]) -> dict:
                    listed = await _list_latest(client, node_id, node_tps, iso)
                    if not correct:
                        return listed
                    return await _corrected(client, node_id, listed, iso)

                parts = await asyncio.gather(*(per_node(n, t) for n, t in by_node.items()))
                return {tp: off for part in parts for tp, off in part.items()}
            except Errors.KafkaError as exc:
                if not exc.retriable or time.monotonic() >= deadline:
                    raise
                if exc.invalid_metadata:
                    client.force_metadata_update()
                await asyncio.sleep(0.1)


async def high_watermarks(
    source: str | AIOKafkaClient | AIOKafkaConsumer,
    partitions: Iterable[TopicPartition],
    *,
    timeout_ms: int = 10_000,
    isolation_level: int | None = None,
) -> dict[TopicPartition, int]:
    """The true end (high watermark) of each partition: the offset the next
    record will get, 0 for an empty partition. Use for lag:
    ``lag = high_watermark - committed``.

    Asks each leader ListOffsets(latest), then fetches at that offset and takes
    the larger of the answer and the fetch response's high watermark, so it is
    right on Tansu and on Kafka, with or without ``install()``. With an
    ``AIOKafkaConsumer`` its client (and isolation level) is reused; with a
    bootstrap string a short-lived client is made and closed.
    """
    return await _latest_offsets(
        source, partitions, correct=True, timeout_ms=timeout_ms, isolation_level=isolation_level
    )


async def broker_end_offsets(
    source: str | AIOKafkaClient | AIOKafkaConsumer,
    partitions: Iterable[TopicPartition],
    *,
    timeout_ms: int = 10_000,
    isolation_level: int | None = None,
) -> dict[TopicPartition, int]:
    """The broker's raw ListOffsets(latest) answer, uncorrected (diagnostics)."""
    return await _latest_offsets(
        source, partitions, correct=False, timeout_ms=timeout_ms, isolation_level=isolation_level
    )
