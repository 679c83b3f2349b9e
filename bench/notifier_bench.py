"""Notifier benchmark: push latency and how many live SSE clients one instance holds.

Starts its own Tansu broker, redis-server and one notifier (``itm.devstack``,
loopback only, free ports, temporary directory) and measures, in one run:

1. baseline: one raw Kafka hop. aiokafka produce (acks=all) -> a plain
   aiokafka consumer (same fetch settings as the services) receives it, at the
   same rate and with the same record values as step 2;
2. end-to-end: a crossing produced to ``match.threshold-crossed`` -> the
   notifier consumes it, stores it in the inbox, fans out through Redis ->
   a connected SSE client has parsed the event. RATE events/s for SECONDS s
   spread over CLIENTS connected employees. p50/p95/p99 and the ratio to 1;
3. capacity: idle SSE clients ramped to each LEVELS value (one employee
   each), then one event to every client at once: connected count (client
   side and the notifier's gauge), delivery success ratio, burst latency, and
   the notifier's RSS.

Figures are printed, never asserted: the machine is shared and noisy.
Usage: python bench/notifier_bench.py [--rate 200] [--seconds 10] [--clients 50] [--levels 100,500,1000,2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaProducer, TopicPartition

from itm.devstack import DevStack
from itm.runtime.auth import mint_token
from itm.runtime.consumer import make_consumer
from itm.runtime.envelope import new_envelope
from itm.runtime.settings import Settings
from itm.runtime.topics import TOPICS, ensure_topics
from itm.v1 import common_pb2, events_pb2

TOPIC = "match.threshold-crossed"
PREFIX = "bench."
BASE_PREFIX = "bench-base."


def crossing(employee: str, i: int):
    payload = events_pb2.ThresholdCrossed(
        employee_id=employee, opportunity_id=f"O{i}", opportunity_title=f"Data Analyst {i}",
        opportunity_type=common_pb2.OPPORTUNITY_TYPE_GIG, score_percent=82, previous_score_percent=60,
        threshold_percent=80,
        explanation=events_pb2.MatchExplanation(
            gaps=[events_pb2.Gap(skill_id="sql", required_level=3, current_level=1)],
            learning_path=[events_pb2.LearningStep(course_id="sql-for-analysts", title="SQL for Analysts", hours=6)],
            projected_score_percent=100))
    return new_envelope(TOPIC, "matcher", employee, 1, payload)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def fmt(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"p50 {pct(ms, 50):7.1f} ms  p95 {pct(ms, 95):7.1f} ms  p99 {pct(ms, 99):7.1f} ms  "
            f"(n={len(ms)}, mean {statistics.fmean(ms) if ms else float('nan'):.1f} ms)")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def paced(rate: int, seconds: float, send) -> int:
    """Call ``send(i)`` ``rate`` times a second for ``seconds`` (10 ms ticks, no drift)."""
    total = int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        send(i)
    return total


# --------------------------------------------------------------------------- baseline


async def baseline(bootstrap: str, rate: int, seconds: float, value: bytes) -> list[float]:
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=BASE_PREFIX)
    await ensure_topics(bootstrap, prefix=BASE_PREFIX)
    topic = settings.topic(TOPIC)
    consumer = make_consumer(settings, None, [])
    await consumer.start()
    parts = [TopicPartition(topic, p) for p in range(TOPICS[TOPIC].partitions)]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    for tp in parts:
        await consumer.position(tp)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    sent: dict[bytes, float] = {}
    latencies: list[float] = []
    total = int(rate * seconds)

    async def consume():
        while len(latencies) < total:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                now = time.perf_counter()
                for r in records:
                    if r.key in sent:
                        latencies.append(now - sent.pop(r.key))

    def send(i: int):
        key = f"k{i}".encode()
        sent[key] = time.perf_counter()
        pending.append(asyncio.ensure_future(producer.send(topic, value, key=key)))

    pending: list = []
    reader = asyncio.create_task(consume())
    try:
        await paced(rate, seconds, send)
        await asyncio.gather(*pending)
        await asyncio.wait_for(reader, 30)
    except TimeoutError:
        print(f"  baseline: only {len(latencies)} of {total} records came back within 30 s")
    finally:
        reader.cancel()
        await producer.stop()
        await consumer.stop()
    return latencies


# --------------------------------------------------------------------------- SSE clients


class Clients:
    """Many SSE connections in one session; every received event's latency is recorded."""

    def __init__(self, url: str, settings: Settings):
        self.url = url
        self.settings = settings
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None, sock_connect=30))
        self.sent: dict[str, float] = {}      # event id -> produce time
        self.got: dict[str, float] = {}       # event id -> latency
        self.tasks: list[asyncio.Task] = []
        self.connected = 0
        self.failed = 0
        self.arrived = asyncio.Event()

    async def connect(self, employee: str) -> bool:
        token = mint_token(self.settings, employee, "employee", ttl_s=3600)
        try:
            resp = await self.http.get(f"{self.url}/v1/employees/{employee}/notifications/stream",
                                       headers={"Authorization": f"Bearer {token}"})
        except (aiohttp.ClientError, OSError):
            self.failed += 1
            return False
        if resp.status != 200:
            self.failed += 1
            resp.release()
            return False
        self.connected += 1
        self.tasks.append(asyncio.create_task(self._read(resp)))
        return True

    async def _read(self, resp) -> None:
        try:
            async for raw in resp.content:
                if raw.startswith(b"data:"):
                    now = time.perf_counter()
                    event_id = json.loads(raw[5:])["source_event_id"]
                    if event_id in self.sent:
                        self.got[event_id] = now - self.sent[event_id]
                        self.arrived.set()
        except (aiohttp.ClientError, asyncio.CancelledError):
            pass
        finally:
            self.connected -= 1
            resp.release()

    async def connect_many(self, employees: list[str], parallel: int = 100) -> None:
        for i in range(0, len(employees), parallel):
            await asyncio.gather(*(self.connect(e) for e in employees[i:i + parallel]))

    async def wait_for(self, ids: list[str], timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(i in self.got for i in ids):
                break
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), max(0.05, deadline - time.monotonic()))
            except TimeoutError:
                break
        return sum(1 for i in ids if i in self.got)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.close()


async def gauge(http_url: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{http_url}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith('itm_notifier_connected_clients{transport="sse"}'):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


class Producer:
    def __init__(self, bootstrap: str, settings: Settings, clients: Clients):
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
        self.topic = settings.topic(TOPIC)
        self.clients = clients
        self.pending: list = []
        self.n = 0

    def send(self, employee: str) -> str:
        self.n += 1
        env = crossing(employee, self.n)
        self.clients.sent[env.event_id] = time.perf_counter()
        self.pending.append(asyncio.ensure_future(
            self.producer.send(self.topic, env.SerializeToString(), key=employee.encode())))
        return env.event_id

    async def flush(self) -> None:
        await asyncio.gather(*self.pending)
        self.pending.clear()


# --------------------------------------------------------------------------- main


async def run(args) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    levels = [int(x) for x in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="itm-bench-") as tmp:
        stack = DevStack(data_dir=tmp, services=["notifier"], topic_prefix=PREFIX,
                         env={"ITM_LOG_LEVEL": "WARNING"}, die_with_parent=True)
        t0 = time.monotonic()
        await asyncio.to_thread(stack.start)
        notifier = stack.services["notifier"]
        print(f"stack up in {time.monotonic() - t0:.1f} s: Tansu {stack.kafka_bootstrap}, {stack.redis_url}, "
              f"notifier pid {notifier.pid} (1 process, 1 event loop); machine: {_cpus()} CPUs")
        settings = Settings(kafka_bootstrap=stack.kafka_bootstrap, topic_prefix=PREFIX)
        clients = Clients(notifier.http_url, settings)
        producer = Producer(stack.kafka_bootstrap, settings, clients)
        await producer.producer.start()
        try:
            await bench(args, levels, stack, notifier, settings, clients, producer)
        finally:
            await producer.producer.stop()
            await clients.close()
            await asyncio.to_thread(stack.stop)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


async def bench(args, levels, stack, notifier, settings, clients: Clients, producer: Producer) -> None:
    value = crossing("E-baseline", 0).SerializeToString()
    rss_idle = rss_mb(notifier.pid)

    # warm-up: the consumer group has joined and a client gets a push
    await clients.connect("warmup")
    warm = producer.send("warmup")
    await producer.flush()
    if not await clients.wait_for([warm], 60):
        raise SystemExit("warm-up push never arrived; see the notifier log in the temporary dir")

    print(f"\n1. baseline, one raw Kafka hop (aiokafka produce acks=all -> consumer), "
          f"{args.rate} records/s for {args.seconds:g} s, {len(value)}-byte values")
    base = await baseline(stack.kafka_bootstrap, args.rate, args.seconds, value)
    print(f"   {fmt(base)}")

    print(f"\n2. end to end: produced to {TOPIC} -> notifier -> SSE client has the event; "
          f"{args.rate} events/s for {args.seconds:g} s over {args.clients} connected employees")
    employees = [f"E{i:05d}" for i in range(args.clients)]
    await clients.connect_many(employees)
    ids: list[str] = []
    await paced(args.rate, args.seconds, lambda i: ids.append(producer.send(employees[i % len(employees)])))
    await producer.flush()
    arrived = await clients.wait_for(ids, 60)
    e2e = [clients.got[i] for i in ids if i in clients.got]
    print(f"   {fmt(e2e)}; delivered {arrived}/{len(ids)}")
    for p in (50, 95, 99):
        print(f"   ratio p{p}: {pct(e2e, p) / pct(base, p):5.1f}x the raw hop")
    print(f"   notifier RSS {rss_mb(notifier.pid):.0f} MB (idle at start: {rss_idle:.0f} MB)")

    print("\n3. capacity: idle SSE clients (one employee each), then one event to every client at once")
    print(f"   {'clients':>7} {'connected':>9} {'gauge':>6} {'delivered':>11} {'success':>8} "
          f"{'burst p50':>10} {'burst p99':>10} {'RSS MB':>7} {'connect s':>9}")
    await clients.close()
    clients.__init__(notifier.http_url, settings)  # a fresh session: only the capacity clients remain
    producer.clients = clients
    await asyncio.sleep(1)
    rss_zero = rss_mb(notifier.pid)
    have: list[str] = []
    for level in levels:
        started = time.monotonic()
        more = [f"C{i:05d}" for i in range(len(have), level)]
        await clients.connect_many(more)
        have += more
        connect_s = time.monotonic() - started
        connected = clients.connected
        live_gauge = await gauge(notifier.http_url)
        burst = [producer.send(e) for e in have]
        await producer.flush()
        ok = await clients.wait_for(burst, 120)
        lat = [clients.got[i] for i in burst if i in clients.got]
        rss = rss_mb(notifier.pid)
        print(f"   {level:>7} {connected:>9} {live_gauge:>6.0f} {ok:>5}/{len(burst):<5} {ok / len(burst):>8.1%} "
              f"{pct(lat, 50) * 1000:>7.0f} ms {pct(lat, 99) * 1000:>7.0f} ms {rss:>7.0f} {connect_s:>9.1f}")
    if have:
        per = (rss_mb(notifier.pid) - rss_zero) * 1024 / max(1, clients.connected)
        print(f"   ~{per:.0f} KB of notifier RSS per connected SSE client (RSS with no clients {rss_zero:.0f} MB); "
              f"connect failures: {clients.failed}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=int, default=200, help="events per second in steps 1 and 2")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=50, help="connected employees in step 2")
    ap.add_argument("--levels", default="100,500,1000,2000", help="idle SSE clients in step 3")
    args = ap.parse_args()
    if args.rate * args.seconds > 20_000 or max(int(x) for x in args.levels.split(",")) > 5000:
        print("bounded on purpose: at most 20000 events and 5000 clients", file=sys.stderr)
        return 2
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
