"""One Kafka hop on Tansu against the consumer's fetch_max_wait_ms (a script, not a test).

Starts its own Tansu broker (``itm.devstack``) and, for each wait, produces records at
random moments (0.2-1 s apart) to a partition a consumer is fetching from, and prints the
produce -> consume latency. faust's worker consumer fetches with a hard-coded 1,500 ms; the
matcher shortens it (services/matcher/app.py, FETCH_MAX_WAIT_MS), because Tansu holds a fetch
that found nothing for its whole wait even when records arrive meanwhile.

    .venv/bin/python bench/fetch_wait_bench.py [--records 15]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402

from itm.devstack import BrokerProcess  # noqa: E402


async def measure(bootstrap: str, wait_ms: int, n: int) -> list[float]:
    topic = f"fetch-wait-{wait_ms}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    await producer.send_and_wait(topic, b"warm-up", partition=0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=wait_ms, enable_auto_commit=False)
    await consumer.start()
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    await consumer.seek_to_end(tp)
    out: list[float] = []

    async def reader():
        while True:
            got = await consumer.getmany(tp, timeout_ms=5000)
            for r in got.get(tp, []):
                out.append(time.perf_counter() - float(r.value))

    task = asyncio.create_task(reader())
    try:
        await asyncio.sleep(1)
        for _ in range(n):
            await asyncio.sleep(random.uniform(0.2, 1.0))
            await producer.send_and_wait(topic, str(time.perf_counter()).encode(), partition=0)
        await asyncio.sleep(2)
    finally:
        task.cancel()
        await consumer.stop()
        await producer.stop()
    return out


async def main(n: int) -> None:
    broker = BrokerProcess(Path(tempfile.mkdtemp(prefix="itm-fetch-wait-")))
    broker.start()
    try:
        for wait_ms in (1500, 500, 50, 20):
            lat = await measure(broker.bootstrap, wait_ms, n)
            print(f"fetch_max_wait_ms={wait_ms}: produce -> consume p50 {statistics.median(lat) * 1000:.0f} ms, "
                  f"max {max(lat) * 1000:.0f} ms (n={len(lat)})")
    finally:
        broker.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=15)
    asyncio.run(main(ap.parse_args().records))
