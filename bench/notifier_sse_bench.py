"""5,000 SSE clients on one notifier instance (issue 12 item 6): is every push delivered,
and how long from the topic to the client?

Starts its own Tansu broker, redis-server and one notifier (loopback, free ports,
temporary directory), then in one run:

1. baseline: one raw Kafka hop (aiokafka produce acks=all -> a plain consumer), at the
   rate of step 3, with the same record values;
2. connects CLIENTS SSE clients (one employee each; default 5,000) and checks the
   notifier's connected gauge;
3. produces one crossing per client to ``match.threshold-crossed`` at RATE events/s and
   waits until each client has parsed its event: delivered count and the topic -> client
   latency p50/p95/p99 (produce time to the client having the event), with the ratio to
   the raw hop.

Latency is printed, never asserted (the machine is shared). Exit status 1 when a push
was not delivered (or a client could not connect): that is a correctness failure.
Usage: python bench/notifier_sse_bench.py [--clients 5000] [--rate 500]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from notifier_bench import Clients, Producer, baseline, crossing, fmt, gauge, paced, pct, rss_mb  # noqa: E402

from itm.devstack import DevStack  # noqa: E402
from itm.runtime.settings import Settings  # noqa: E402

PREFIX = "ssebench."


async def run(args) -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="itm-ssebench-") as tmp:
        stack = DevStack(data_dir=tmp, services=["notifier"], topic_prefix=PREFIX,
                         env={"ITM_LOG_LEVEL": "WARNING", "ITM_RATE_LIMIT_PER_S": "100000",
                              "ITM_RATE_LIMIT_BURST": "100000"}, die_with_parent=True)
        t0 = time.monotonic()
        await asyncio.to_thread(stack.start)
        notifier = stack.services["notifier"]
        print(f"stack up in {time.monotonic() - t0:.1f} s; notifier pid {notifier.pid} (one process, one loop)")
        settings = Settings(kafka_bootstrap=stack.kafka_bootstrap, topic_prefix=PREFIX)
        clients = Clients(notifier.http_url, settings)
        producer = Producer(stack.kafka_bootstrap, settings, clients)
        await producer.producer.start()
        try:
            return await bench(args, stack, notifier, clients, producer)
        finally:
            await producer.producer.stop()
            await clients.close()
            await asyncio.to_thread(stack.stop)


async def bench(args, stack, notifier, clients: Clients, producer: Producer) -> int:
    await clients.connect("warmup")
    warm = producer.send("warmup")
    await producer.flush()
    if not await clients.wait_for([warm], 90):
        print("warm-up push never arrived")
        return 1

    value = crossing("E-baseline", 0).SerializeToString()
    seconds = args.clients / args.rate
    print(f"\n1. baseline, one raw Kafka hop: {args.rate} records/s for {seconds:g} s, {len(value)}-byte values")
    base = await baseline(stack.kafka_bootstrap, args.rate, seconds, value)
    print(f"   {fmt(base)}")

    print(f"\n2. {args.clients} SSE clients, one employee each")
    employees = [f"S{i:05d}" for i in range(args.clients)]
    started = time.monotonic()
    await clients.connect_many(employees, parallel=200)
    print(f"   connected {clients.connected - 1}/{args.clients} in {time.monotonic() - started:.1f} s "
          f"(failed {clients.failed}); notifier gauge {await gauge(notifier.http_url):.0f}; "
          f"RSS {rss_mb(notifier.pid):.0f} MB")

    print(f"\n3. one crossing per client at {args.rate}/s: topic -> notifier -> SSE client has the event")
    ids: list[str] = []
    await paced(args.rate, seconds, lambda i: ids.append(producer.send(employees[i])))
    await producer.flush()
    delivered = await clients.wait_for(ids, args.wait_s)
    lat = [clients.got[i] for i in ids if i in clients.got]
    print(f"   delivered {delivered}/{len(ids)}; {fmt(lat)}")
    for p in (50, 95, 99):
        print(f"   ratio p{p}: {pct(lat, p) / pct(base, p):6.1f}x the raw hop")
    print(f"   notifier RSS {rss_mb(notifier.pid):.0f} MB")
    ok = delivered == len(ids) and clients.failed == 0
    print("\nevery push delivered" if ok else f"\nNOT every push delivered: {len(ids) - delivered} missing, "
                                            f"{clients.failed} clients failed to connect")
    if not ok:
        print("\nthe notifier's log, last lines:\n" + notifier.log_tail(40))
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=500, help="crossings produced per second")
    parser.add_argument("--wait-s", type=float, default=300, help="how long to wait for the last push")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
