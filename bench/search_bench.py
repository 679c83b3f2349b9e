"""Opportunity search at 10,000 open postings: what the index costs and how fast
SearchOpportunities answers, against a baseline measured in the same run.

1. In process (services/opportunity/search.py): build time and memory of the
   index for N postings; query latency for a mix of searches (filters, text,
   skills with related skills, sorts, later pages) against the baseline of a
   linear scan that filters and sorts every posting per query.
2. Over gRPC: a profile and an opportunity service on an embedded Tansu and
   redis-server (``itm.devstack``), N postings laid out in Redis as the service
   stores them; the first search (which builds the index from Redis), then the
   same mix of searches, each as one SearchOpportunities call, against the
   baseline of GetOpportunity (one Redis read) on the same connection.

Figures are printed, never asserted: the machine is shared and noisy.
Usage: python bench/search_bench.py [--postings 10000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))

from itm.taxonomy import Taxonomy  # noqa: E402
from itm.v1 import opportunity_pb2 as O  # noqa: E402
from services.opportunity import search  # noqa: E402
from test_opportunity_search import expected, generated  # noqa: E402  (the same postings as the test)

PREFIX = "bench."
MIX = [
    ("newest, no filter", dict(), {}),
    ("type + department", dict(types=[2, 6], department="Engineering"), {"types": [2, 6], "department": "Engineering"}),
    ("skill + related", dict(skills=["sql"], include_related_skills=True), {"skills": ["sql"], "related": True}),
    ("text prefixes", dict(text="dash quart"), {"text": "dash quart"}),
    ("location + remote + hours", dict(location="Lisbon", include_remote=True, min_hours_per_week=6,
                                       max_hours_per_week=10),
     {"location": "Lisbon", "remote": True, "low": 6, "high": 10}),
    ("deadline, everything", dict(types=[1, 2, 3], skills=["data-analysis"], include_related_skills=True,
                                  location="Prague", include_remote=True, max_hours_per_week=20, text="an",
                                  sort=O.OPPORTUNITY_SORT_DEADLINE),
     {"types": [1, 2, 3], "skills": ["data-analysis"], "related": True, "location": "Prague", "remote": True,
      "high": 20, "text": "an", "sort": O.OPPORTUNITY_SORT_DEADLINE}),
]
SORT = {O.OPPORTUNITY_SORT_NEWEST: search.NEWEST, O.OPPORTUNITY_SORT_DEADLINE: search.DEADLINE}


def query_of(fields: dict) -> search.Query:
    tax = Taxonomy.load_default()
    return search.Query(
        types=frozenset(fields.get("types", ())),
        skill_groups=search.skill_groups(fields.get("skills", []), tax.related_view,
                                         fields.get("include_related_skills", False)),
        department=fields.get("department", ""), location=fields.get("location", ""),
        include_remote=fields.get("include_remote", False), min_hours=fields.get("min_hours_per_week", 0),
        max_hours=fields.get("max_hours_per_week", 0), text=fields.get("text", ""),
        sort=SORT[fields.get("sort", O.OPPORTUNITY_SORT_NEWEST)])


def ms(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"p50 {statistics.median(xs) * 1e3:.2f} ms, p95 {xs[max(0, int(len(xs) * 0.95) - 1)] * 1e3:.2f} ms"


def in_process(opps, repeat: int) -> None:
    docs = [search.doc_of(o) for o in opps]
    t0 = time.perf_counter()
    index = search.SearchIndex()
    for d in docs:
        index.upsert(d)
    build_s = time.perf_counter() - t0
    tracemalloc.start()
    again = search.SearchIndex()
    for d in docs:
        again.upsert(d)
    mem = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del again
    by_id = {o.opportunity_id: o for o in opps}
    print(f"in process: index of {len(index)} open postings built in {build_s:.2f} s "
          f"({build_s / len(index) * 1e6:.0f} us each), {mem / 2**20:.1f} MiB (tracemalloc)")
    for name, fields, want in MIX:
        q = query_of(fields)
        page = index.search(q, 50)
        assert page.ids == expected(by_id, **want)[:50], name  # the benchmark measures right answers
        fast = [_timed(lambda: index.search(q, 50)) for _ in range(repeat)]
        token = page.next_token
        later = [_timed(lambda: index.search(q, 50, token)) for _ in range(repeat)] if token else []
        slow = [_timed(lambda: expected(by_id, **want)) for _ in range(max(3, repeat // 5))]
        print(f"  {name:<26} {page.total:>6} hits  index {ms(fast)}"
              f"{'  page 2 ' + ms(later) if later else ''}  |  linear scan {ms(slow)}  "
              f"({statistics.median(slow) / statistics.median(fast):.0f}x)")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


async def over_grpc(opps, repeat: int) -> None:
    import redis.asyncio as aioredis

    from itm.client import Clients
    from itm.devstack import DevStack
    from itm.runtime.settings import Settings
    from services.opportunity.store import OpportunityKeys

    with tempfile.TemporaryDirectory(prefix="itm-bench-") as tmp:
        stack = DevStack(data_dir=tmp, services=["profile", "opportunity"], topic_prefix=PREFIX,
                         env={"ITM_LOG_LEVEL": "WARNING", "ITM_RATE_LIMIT_BURST": "1000000"}, die_with_parent=True)
        await asyncio.to_thread(stack.start)
        settings = Settings(topic_prefix=PREFIX, kafka_bootstrap=stack.kafka_bootstrap)
        client = aioredis.from_url(stack.redis_url)
        keys = OpportunityKeys(settings)
        try:
            for i in range(0, len(opps), 1000):
                async with client.pipeline(transaction=True) as pipe:
                    for opp in opps[i:i + 1000]:
                        keys.store(pipe, opp)
                    await pipe.execute()
            c = Clients.connect({n: p.grpc_target for n, p in stack.services.items()}, settings, "E-bench", "employee")
            try:
                t0 = time.perf_counter()
                await c.opportunity.SearchOpportunities(O.SearchOpportunitiesRequest(page_size=1), metadata=c.metadata)
                print(f"over gRPC: first search (builds the index from Redis): {(time.perf_counter() - t0) * 1e3:.0f} ms")
                base = []
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    await c.opportunity.GetOpportunity(O.GetOpportunityRequest(opportunity_id=opps[0].opportunity_id),
                                                       metadata=c.metadata)
                    base.append(time.perf_counter() - t0)
                print(f"  baseline GetOpportunity      {ms(base)}")
                for name, fields, _ in MIX:
                    took = []
                    for _ in range(repeat):
                        t0 = time.perf_counter()
                        await c.opportunity.SearchOpportunities(O.SearchOpportunitiesRequest(page_size=50, **fields),
                                                                metadata=c.metadata)
                        took.append(time.perf_counter() - t0)
                    print(f"  {name:<26}   {ms(took)}  ({statistics.median(took) / statistics.median(base):.1f}x "
                          "GetOpportunity; 50 results, matcher not running)")
            finally:
                await c.close()
        finally:
            await client.aclose()
            await asyncio.to_thread(stack.stop)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--postings", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    opps = generated(args.postings)
    in_process(opps, args.repeat)
    asyncio.run(over_grpc(opps, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
