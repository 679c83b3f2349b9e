"""`itm events tail`: read a topic and print its records as the documented JSON mapping.

One record as JSON (docs/events/README.md, "The JSON mapping"), one line each with
``--json``::

  {"topic": "profile.skill-verified", "partition": 0, "offset": 12,
   "timestamp": "2026-12-02T08:05:28.000Z", "key": "E1", "value": {<the envelope>}}

``value`` is the envelope in the canonical proto3 JSON mapping (``to_json``); a
record that is no envelope gets ``"value": null``, ``"error"`` and ``"value_base64"``.
The Node.js recipe in docs/events/recipes/node prints the same lines.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime

from itm.runtime.envelope import MalformedEvent, decode, to_json


def record_json(topic: str, partition: int, offset: int, timestamp_ms: int | None, key: bytes | None,
                value: bytes | None) -> dict:
    """One record as the documented JSON (``topic`` without the deployment prefix)."""
    out: dict = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": _timestamp(timestamp_ms),
        "key": key.decode("utf-8", "replace") if key is not None else None,
    }
    try:
        out["value"] = to_json(decode(value or b"").envelope)
    except MalformedEvent as exc:
        out.update(value=None, error=str(exc), value_base64=base64.b64encode(value or b"").decode())
    return out


def _timestamp(ms: int | None) -> str | None:
    if ms is None or ms < 0:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_record(rec: dict, as_json: bool) -> str:
    if as_json:
        return json.dumps(rec, separators=(",", ":"), ensure_ascii=False)
    head = f"# {rec['topic']} [{rec['partition']}] @{rec['offset']}  {rec['timestamp']}  key={rec['key']}"
    body = rec["value"] if rec["value"] is not None else {k: rec[k] for k in ("error", "value_base64")}
    return f"{head}\n{json.dumps(body, indent=2, ensure_ascii=False)}"


async def tail(bootstrap: str, prefix: str, topic: str, *, from_beginning: bool = False, key: str | None = None,
               limit: int | None = None, on_record: Callable[[dict, bytes], None]) -> int:
    """Read every partition of ``prefix + topic`` (no consumer group, nothing committed)
    from the beginning or from now, call ``on_record(json, raw value)`` for each record
    (with key ``key`` if given) until ``limit`` records; returns how many. LookupError
    when the topic does not exist, ConnectionError when the broker cannot be reached
    at start; a broker lost later is waited for (aiokafka reconnects)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import KafkaError

    from itm.runtime import kafka_compat

    kafka_compat.install()  # Tansu's ListOffsets(latest): seek_to_end lands at the real end
    full = f"{prefix}{topic}"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                client_id="itm-events-tail")
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise ConnectionError(f"cannot reach Kafka at {bootstrap}: {exc}") from None
    seen = 0
    try:
        partitions = consumer.partitions_for_topic(full)
        if not partitions and full in await consumer.topics():  # topics() refreshes the metadata
            partitions = consumer.partitions_for_topic(full)
        if not partitions:
            raise LookupError(f"topic {full!r} does not exist on {bootstrap}")
        tps = [TopicPartition(full, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        wanted = key.encode() if key is not None else None
        while limit is None or seen < limit:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for r in records:
                    if wanted is not None and r.key != wanted:
                        continue
                    on_record(record_json(topic, r.partition, r.offset, r.timestamp, r.key, r.value), r.value or b"")
                    seen += 1
                    if limit is not None and seen >= limit:
                        return seen
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return seen
