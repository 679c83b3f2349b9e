"""HRIS import at size: a 100,000-line file through the profile service, dry run
and real, then the same file again (nothing changes), against baselines measured
in the same run.

Starts its own Tansu broker, redis-server and one profile service (``itm.devstack``,
loopback, free ports, temporary directory). The file: N lines, one employee each
with one skill, a manager for every ten (a tenth of the lines name a manager who
comes later in the file, so batches wait for later ones), sent the way
``itm import employees`` sends it (``itm.hris_import.import_file``, 1,000 lines a call).

Baselines:
1. read: the client cutting the file into batches without sending them;
2. store: the same employees written to Redis as plain SETs in 1,000-key pipelines
   (the floor of any import that stores them; no events, no checks).

Printed: seconds and lines/s for each run and the ratio to the store baseline,
the client's and the profile service's peak RSS (VmHWM), and when the outbox
(the import's events) drained to the broker. Figures are printed, never asserted.

Usage: python bench/hris_import_bench.py [--lines 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from itm.devstack import DevStack  # noqa: E402
from itm.hris_import import batches, import_file  # noqa: E402
from itm.runtime.auth import bearer, mint_token  # noqa: E402
from itm.runtime.settings import Settings  # noqa: E402
from itm.v1 import profile_pb2, profile_pb2_grpc  # noqa: E402

PREFIX = "bench."
SKILLS = ["sql", "python", "data-analysis", "stakeholder-management", "excel", "project-management", "java", "go"]


def write_file(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("employee_id,name,department,manager_id,location,hours_available_per_week,skill,level,status\n")
        for i in range(n):
            group = i // 10 * 10
            if i % 10 == 0:
                manager = f"E{i + 10:06d}" if i + 10 < n and i % 100 == 0 else ""  # some managers come later
            else:
                manager = f"E{group:06d}"
            fh.write(f"E{i:06d},Person {i},Dept {i % 37},{manager},City {i % 11},{20 + i % 20},"
                     f"{SKILLS[i % len(SKILLS)]},{1 + i % 5},{'verified' if i % 3 == 0 else 'claimed'}\n")


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def client_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def store_baseline(redis_url: str, n: int) -> float:
    client = aioredis.from_url(redis_url)
    value = profile_pb2.Employee(employee_id="E000000", name="Person 0", department="Dept 0", manager_id="E000010",
                                 location="City 0", hours_available_per_week=20, version=1).SerializeToString()
    started = time.perf_counter()
    for start in range(0, n, 1000):
        async with client.pipeline(transaction=False) as pipe:
            for i in range(start, min(n, start + 1000)):
                pipe.set(f"bench-baseline:employee:E{i:06d}", value)
                pipe.zadd("bench-baseline:employee:index", {f"E{i:06d}": 0})
            await pipe.execute()
    elapsed = time.perf_counter() - started
    keys = [k async for k in client.scan_iter(match="bench-baseline:*", count=5000)]
    for i in range(0, len(keys), 1000):
        await client.unlink(*keys[i:i + 1000])
    await client.aclose()
    return elapsed


async def outbox_drained(redis_url: str, timeout_s: float = 600) -> float:
    client = aioredis.from_url(redis_url)
    started = time.perf_counter()
    try:
        while await client.xlen(f"{PREFIX}profile:outbox") > 0:
            if time.perf_counter() - started > timeout_s:
                return float("nan")
            await asyncio.sleep(0.2)
        return time.perf_counter() - started
    finally:
        await client.aclose()


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="itm-hris-bench-") as tmp:
        path = Path(tmp) / "employees.csv"
        write_file(path, n)
        size_mb = path.stat().st_size / 2**20
        print(f"file: {n:,} lines + header, {size_mb:.1f} MiB")

        started = time.perf_counter()
        with open(path, "rb") as fh:
            count = sum(1 for _ in batches(fh))
        read_s = time.perf_counter() - started
        print(f"baseline read   : {read_s:7.2f} s  ({count} batches cut, nothing sent)")

        stack = DevStack(data_dir=tmp, services=["profile"], topic_prefix=PREFIX, die_with_parent=True)
        stack.start()
        try:
            store_s = await store_baseline(stack.redis_url, n)
            print(f"baseline store  : {store_s:7.2f} s  ({n / store_s:,.0f} employees/s as plain Redis SETs)")
            profile = stack.services["profile"]
            channel = grpc.aio.insecure_channel(profile.grpc_target)
            stub = profile_pb2_grpc.ProfileServiceStub(channel)
            metadata = bearer(mint_token(Settings(topic_prefix=PREFIX), "bench-hr", "hr_admin"))
            for label, dry_run in (("dry run", True), ("real run", False), ("re-run", False)):
                with open(path, "rb") as fh:
                    started = time.perf_counter()
                    summary = await import_file(stub, metadata, fh, dry_run)
                    elapsed = time.perf_counter() - started
                c = summary.counts
                print(f"{label:<16}: {elapsed:7.2f} s  ({n / elapsed:,.0f} lines/s, {elapsed / store_s:.1f}x the store "
                      f"baseline)  created {c['created']}, updated {c['updated']}, unchanged {c['unchanged']}, "
                      f"rejected {c['rejected']}; profile peak RSS {vm_hwm_mb(profile.pid):.0f} MiB")
                if label == "real run":
                    drained = await outbox_drained(stack.redis_url)
                    print(f"outbox drained  : {drained:7.2f} s after the real run's report (its {n:,} events relayed "
                          "to the broker)")
            print(f"client peak RSS : {client_peak_mb():.0f} MiB (reading the {size_mb:.1f} MiB file in batches)")
            await channel.close()
        finally:
            stack.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main(args.lines))
