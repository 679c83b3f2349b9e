"""Skill autocomplete at ESCO size: build time, memory and query latency of the
taxonomy's search index (itm/taxonomy_search.py) against a linear scan of every
label measured in the same run.

The taxonomy is synthetic but ESCO-shaped: 14,000 skills whose preferred labels
are two- to four-word phrases ("manage budgets", "apply statistical analysis")
with five alternative labels each on average, plus the shipped curated skills.
Queries are what people type: prefixes of one to eight characters, whole words,
later words, and words with a typo.

    .venv/bin/python bench/taxonomy_bench.py [--skills 14000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from itm.taxonomy import Taxonomy, match_key  # noqa: E402

VERBS = ["manage", "apply", "develop", "analyse", "design", "monitor", "operate", "maintain", "evaluate", "plan",
         "coordinate", "prepare", "perform", "use", "implement", "advise on", "negotiate", "supervise", "teach",
         "assess", "conduct", "create", "ensure", "handle", "install", "inspect", "interpret", "measure", "review"]
NOUNS = ["budgets", "statistical analysis", "software", "customer relations", "risk", "quality standards",
         "machinery", "inventory", "contracts", "data models", "marketing campaigns", "legal requirements",
         "financial statements", "training programmes", "networks", "databases", "suppliers", "projects",
         "safety procedures", "electrical systems", "medical records", "food hygiene", "vehicles", "logistics",
         "web applications", "cloud infrastructure", "survey results", "research", "sales forecasts", "staff",
         "production schedules", "chemical processes", "patient care", "tax returns", "audits", "translations"]
QUALIFIERS = ["", "", "", "advanced", "basic", "industrial", "digital", "clinical", "agricultural", "maritime",
              "public", "retail", "environmental", "construction", "laboratory", "hospitality"]


def esco_like(n: int, reserved: set[str] = frozenset(), seed: int = 7) -> list[dict]:
    """``n`` ESCO-shaped records whose labels avoid the lookup keys in ``reserved``."""
    rng = random.Random(seed)
    records, used = [], set(reserved)
    while len(records) < n:
        q = rng.choice(QUALIFIERS)
        label = " ".join(x for x in (rng.choice(VERBS), q, rng.choice(NOUNS)) if x)
        label += f" {rng.randrange(1000)}" if rng.random() < 0.5 else ""
        key = match_key(label)
        if key in used:
            continue
        used.add(key)
        aliases = []
        for _ in range(rng.randrange(0, 11)):
            alt = f"{rng.choice(VERBS)} {rng.choice(NOUNS)} {rng.randrange(10000)}"
            if match_key(alt) not in used:
                used.add(match_key(alt))
                aliases.append(alt)
        records.append({"id": f"esco-{len(records)}", "name": label, "category": f"esco-{rng.randrange(12)}",
                        "aliases": aliases})
    return records


def linear_scan(records: list[dict], text: str, limit: int = 10) -> list[str]:
    """The baseline: every label of every skill, prefix or substring of its key."""
    q = match_key(text)
    hits = []
    for r in records:
        keys = [match_key(t) for t in (r["name"], *r["aliases"])]
        if any(k.startswith(q) for k in keys):
            hits.append((0, len(keys[0]), r["id"]))
        elif any(q in k for k in keys):
            hits.append((1, len(keys[0]), r["id"]))
    return [h[2] for h in sorted(hits)[:limit]]


QUERIES = ["m", "ma", "man", "manag", "manage bud", "budgets", "statist", "analys", "negotiat", "cloud inf",
           "mange", "budgest", "statistcal", "supervsie", "python", "pyhton", "sql", "stakeholder man",
           "web app", "financial stat", "kubernets", "c++", "postgres", "data anal", "inventroy"]


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skills", type=int, default=14_000)
    args = ap.parse_args()
    curated = Taxonomy.load_default()
    taken = {match_key(t) for s in curated.skills() for t in (s.id, s.name, *s.aliases)}
    records = curated.to_records() + esco_like(args.skills, taken)
    labels = sum(1 + len(r["aliases"]) for r in records)

    t0 = time.perf_counter()
    tax = Taxonomy.from_records(records)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = tax.search_index()
    build_s = time.perf_counter() - t0

    # memory in a second pass (tracemalloc slows everything it watches)
    tracemalloc.start()
    again = Taxonomy.from_records(records)
    load_mem = tracemalloc.get_traced_memory()[0]
    again.search_index()
    index_mem = tracemalloc.get_traced_memory()[0] - load_mem
    tracemalloc.stop()
    del again

    per_query = []
    for q in QUERIES:
        per_query += timed(lambda: index.search(q, 10), 5)
    baseline = []
    for q in QUERIES[:8]:
        baseline += timed(lambda: linear_scan(records, q), 1)
    typos = [q for q in QUERIES if index.search(q, 10) and index.search(q, 10)[0].kind == "fuzzy"]
    fuzzy = []
    for q in typos:
        fuzzy += timed(lambda: index.search(q, 10), 5)

    def ms(xs):
        return f"p50 {statistics.median(xs) * 1000:.2f} ms, p95 {sorted(xs)[int(len(xs) * 0.95) - 1] * 1000:.2f} ms"

    print(f"taxonomy: {len(tax)} skills, {labels} labels, {len(index)} index keys")
    print(f"load (from_records): {load_s:.2f} s, {load_mem / 2**20:.1f} MiB")
    print(f"search index build: {build_s:.2f} s, {index_mem / 2**20:.1f} MiB")
    print(f"search: {ms(per_query)} over {len(QUERIES)} queries")
    print(f"search, typo queries only: {ms(fuzzy)} over {len(typos)} queries")
    print(f"baseline linear scan: {ms(baseline)}")
    print(f"speed-up vs linear scan (p50): {statistics.median(baseline) / statistics.median(per_query):.0f}x")
    for q in ("manag", "budgest", "stakeholder man", "pyhton"):
        print(f"  {q!r}: {[h.skill.name for h in index.search(q, 3)]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
