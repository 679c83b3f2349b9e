"""The matcher's compact state in process (a script, not a test): what the pair
scores cost to rebuild after a rebalance and to hold, against the previous layout.

An org drawn like ``bench/matcher_bench.py``'s (default 100,000 employees x 10,000
open opportunities) is put into a ``MatcherApp`` without a broker: the replica
gets the opportunities, an in-memory table one record per employee (profile, no
marks: nobody crossed yet). Then ``MatcherApp.rebuild_indexes`` runs as after a
rebalance (one ``VectorScorer.score_row`` per employee, the ``PairScores`` and
holders built from them); it prints its wall and CPU time and the resident memory
it added. For comparison it then attaches to every record the previous layout's
``pairs`` (``{opportunity: [score, 0, false]}`` for the same pairs) and prints the
memory that took, and the JSON size of a record (one changelog record) in both
layouts.

    .venv/bin/python bench/matcher_rebuild_bench.py                     # 100,000 x 10,000
    .venv/bin/python bench/matcher_rebuild_bench.py --employees 20000 --opportunities 2000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def rss_kb(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class _Table(dict):
    @property
    def data(self):
        return self


async def main_async(args) -> None:
    from matcher_bench import Org
    from itm.taxonomy import Taxonomy
    from services.matcher.app import MatcherApp
    from services.matcher.config import MatcherSettings
    from services.matcher.engine import employee_record

    app = MatcherApp(MatcherSettings(matcher_pair_floor_percent=args.pair_floor))
    app.employees = _Table()
    org = Org(Taxonomy.load_default(), args.seed)
    t0 = time.perf_counter()
    for j in range(args.opportunities):
        app.replica.put(org.opportunity(j))
    base = rss_kb()
    for i in range(args.employees):
        e = org.employee(i)
        app.employees[e.employee_id] = employee_record(e, {}, app.engine.scored_with)
    gc.collect()
    table_kb = rss_kb() - base
    print(f"org: {args.employees:,} employees x {args.opportunities:,} open opportunities built in "
          f"{time.perf_counter() - t0:.0f} s; the table's records (profiles) {table_kb / 1024:,.0f} MiB")
    before = rss_kb()
    wall, cpu = time.perf_counter(), time.process_time()
    assert await app.rebuild_indexes({0, 1, 2, 3}, chunk=1000)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    gc.collect()
    state_kb = rss_kb() - before
    pairs = sum(s.pair_count for s in app.pair_scores.values())
    packed = sum(s.nbytes for s in app.pair_scores.values())
    print(f"rebuild after a rebalance: {args.employees:,} employees in {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"({cpu / args.employees * 1e3:.2f} ms CPU an employee); {pairs:,} pairs ({pairs / args.employees:.1f} an "
          f"employee, {packed / 2**20:,.0f} MiB packed)")
    print(f"resident memory the rebuild added (skill holders, pair scores and holders, scorer caches): "
          f"{state_kb / 1024:,.0f} MiB")
    new_sizes = [len(json.dumps(r)) for r in app.employees.values()]
    before = rss_kb()
    for emp_id, record in app.employees.items():
        row = app.pair_scores[0].row(emp_id) or app.pair_scores[1].row(emp_id) or app.pair_scores[2].row(emp_id) \
            or app.pair_scores[3].row(emp_id)
        record["pairs"] = {o: [s, 0, False] for o, s in row.items()}
    gc.collect()
    old_kb = rss_kb() - before
    old_sizes = [len(json.dumps(r)) for r in app.employees.values()]
    print(f"the previous layout's pairs in the table values would add {old_kb / 1024:,.0f} MiB "
          f"({old_kb * 1024 / max(1, pairs):,.0f} B a pair)")
    print(f"one changelog record (JSON value): {sum(new_sizes) / len(new_sizes):,.0f} B now, "
          f"{sum(old_sizes) / len(old_sizes):,.0f} B in the previous layout; all records "
          f"{sum(new_sizes) / 2**20:,.0f} MiB against {sum(old_sizes) / 2**20:,.0f} MiB")
    print(f"peak RSS: rebuild bench {rss_kb('VmHWM') / 1024:,.0f} MiB")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--employees", type=int, default=100_000)
    p.add_argument("--opportunities", type=int, default=10_000)
    p.add_argument("--pair-floor", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
