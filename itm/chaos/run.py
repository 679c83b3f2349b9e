"""One chaos round: the workload, the faults on their schedule, the read-back."""

from __future__ import annotations

import asyncio
import time

from itm.chaos.faults import Fault, Pacer, run_schedule
from itm.chaos.report import Report, read_back
from itm.chaos.workload import Workload
from itm.client import Clients
from itm.runtime.settings import Settings


async def run_round(backend, settings: Settings, *, writes: int, schedule: list[Fault], concurrency: int = 16,
                    opportunities: int = 4, settle_timeout_s: float = 120.0, run_id: str = "",
                    say=print) -> Report:
    clients = Clients.connect(dict(backend.targets), settings)
    try:
        workload = Workload(clients, writes=writes, opportunities=opportunities, concurrency=concurrency,
                            run_id=run_id)
        planned = workload.planned_writes
        say(f"chaos round {workload.run_id}: {planned} writes ({len(workload.employees)} employees, "
            f"{opportunities} gigs), {len(schedule)} faults")
        done = asyncio.Event()
        started = time.monotonic()
        marks = iter(range(10, 101, 10))
        next_mark = [next(marks)]

        def progress(n: int) -> None:
            if n * 100 >= next_mark[0] * planned:
                say(f"  {next_mark[0]}% of the writes acknowledged ({n}, {time.monotonic() - started:.0f} s)")
                next_mark[0] = next(marks, 1000)

        workload.progress = progress
        workload.pacer = Pacer()
        faults = asyncio.ensure_future(run_schedule(backend, schedule, lambda: workload.acked.writes / planned,
                                                    done, say, workload.pacer))
        try:
            await workload.run()
        finally:
            done.set()
        injected = await faults
        say("  reading every inbox and employee back")
        report = await read_back(workload, settle_timeout_s=settle_timeout_s, concurrency=concurrency,
                                 kafka_bootstrap=backend.kafka_bootstrap, topic_prefix=backend.topic_prefix)
        report.faults = injected
        report.elapsed_s = time.monotonic() - started
        return report
    finally:
        await clients.close()
