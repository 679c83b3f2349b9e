"""Matcher benchmark (a script, not a test): prints figures and ratios against
baselines measured in the same run.

Part 1, pair scorings per event (in process; counts, plus the cost per candidate
of the bounds against a scoring, timed over the same pairs): a synthetic
org drawn from the skills taxonomy (default 100,000 employees and 10,000 open
opportunities). For a mix of events (skill added, skill level raised,
requirement level changed, requirement added or removed) it counts the pairs
the matcher's rules (``services/matcher/engine.py``: ``opportunities_to_rescore``,
``employees_to_rescore``, then ``worth_scoring``/``worth_scoring_pair``, the
same functions the faust app calls) score, also for loading (a registration,
a posting),
against a naive full recompute (every open opportunity for an employee event,
every employee for an opportunity event) and against the previous rule (every
candidate of the employee / every employee with a required skill). It also
estimates how sparse the pair state is, and times the vectorised core the matcher
scores with (one employee against every opportunity, one opportunity against every
employee) against ``score_match`` per pair.

Part 2, the real thing (Tansu + Redis on free ports, the matcher as a process):
  A. load: opportunities, the catalog and employee registrations are produced,
     then the matcher starts and consumes them (load events/s, pair scorings);
  B. the matcher is stopped, a mix of skill-added and requirements-changed
     events is pre-produced, the matcher is started again and consumes them;
  D. a worker with another scoring version rescores everybody (time from healthy
     until no employee is left scored the old way);
  C. a bare faust agent (same faust settings, decodes each event, nothing else)
     consumes the same number of pre-produced events in its own topics.
  After A it also counts the bytes the load wrote to match.updated (per pair,
  deprecated), match.updated.v2 (per event and employee) and the crossings, per
  registration.
  Events/s come from the consumer groups' committed offsets (polled every
  0.1 s; the commit interval is 0.5 s, so each figure is good to about
  +-0.5 s of its run time). Peak memory is the processes' VmHWM.

Default Kafka org: 10,000 employees and 1,000 opportunities (a few minutes).
``--full`` runs part 2 at 100,000 x 10,000 too: about 12 minutes on a 2-core
machine with ``ITM_MATCHER_LEGACY_MATCH_UPDATED=false`` (with the deprecated
per-pair match.updated on, each registration also writes ~190 records, and
Tansu's memory storage holds ~14 GiB of them). The catalog and the postings are
loaded before the registrations, so each pair is scored once. Figures of one
run: services/matcher/README.md, "Measured".

    .venv/bin/python bench/matcher_bench.py            # ~5 minutes
    .venv/bin/python bench/matcher_bench.py --skip-kafka
    ITM_MATCHER_LEGACY_MATCH_UPDATED=false .venv/bin/python bench/matcher_bench.py --full
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from itm.taxonomy import Taxonomy  # noqa: E402
from services.matcher.engine import (  # noqa: E402
    EmployeeState,
    OpportunityState,
    Replica,
    SkillIndex,
    employees_to_rescore,
    opportunities_to_rescore,
)
from services.matcher.scoring import EvidenceFactors, Requirement  # noqa: E402

STATUSES = [("verified", 0.4), ("claimed", 0.4), ("inferred", 0.1), ("aspirational", 0.1)]
LEVELS = [(1, 0.1), (2, 0.3), (3, 0.35), (4, 0.18), (5, 0.07)]
FACTORS = EvidenceFactors()


def pick(rnd: random.Random, weighted):
    items, weights = zip(*weighted)
    return rnd.choices(items, weights)[0]


# --------------------------------------------------------------------------- synthetic org


class Org:
    """Employees and opportunities drawn from the taxonomy with realistic sparsity:
    each person or opportunity has one or two home categories (bigger categories
    more likely), 80 % of its skills come from them; within a category a few skills
    are popular (Zipf-like weights)."""

    def __init__(self, taxonomy: Taxonomy, seed: int):
        self.taxonomy = taxonomy
        self.rnd = random.Random(seed)
        by_cat: dict[str, list[str]] = {}
        for sid in taxonomy.ids():
            by_cat.setdefault(taxonomy.category(sid), []).append(sid)
        self.categories = sorted(by_cat)
        self.cat_weights = [len(by_cat[c]) for c in self.categories]
        self.skills = {}
        for c in self.categories:
            ids = sorted(by_cat[c])
            self.rnd.shuffle(ids)
            self.skills[c] = (ids, [1 / (i + 1) ** 0.8 for i in range(len(ids))])
        self.all_ids = sorted(taxonomy.ids())

    def _draw(self, n: int) -> list[str]:
        homes = self.rnd.choices(self.categories, self.cat_weights, k=self.rnd.choice([1, 1, 2]))
        chosen: list[str] = []
        guard = 0
        while len(chosen) < n and guard < 200:
            guard += 1
            if self.rnd.random() < 0.8:
                ids, weights = self.skills[self.rnd.choice(homes)]
                s = self.rnd.choices(ids, weights)[0]
            else:
                s = self.rnd.choice(self.all_ids)
            if s not in chosen:
                chosen.append(s)
        return chosen

    def employee(self, i: int) -> EmployeeState:
        skills = {s: (pick(self.rnd, LEVELS), pick(self.rnd, STATUSES)) for s in self._draw(self.rnd.randint(5, 15))}
        return EmployeeState(f"E{i:06d}", 1, skills, mentoring=self.rnd.random() < 0.05)

    def opportunity(self, j: int) -> OpportunityState:
        reqs = [Requirement(s, self.rnd.choice([2, 3, 3, 4]), float(self.rnd.choice([1, 1, 2, 3])),
                            self.rnd.random() < 0.2) for s in self._draw(self.rnd.randint(3, 8))]
        return OpportunityState(f"O{j:05d}", 1, f"Opportunity {j}", 1, True, reqs, owner_id="owner")

    def new_skill(self, emp: EmployeeState) -> str:
        for _ in range(50):
            s = self._draw(1)[0]
            if s not in emp.skills:
                return s
        return self.rnd.choice([s for s in self.all_ids if s not in emp.skills])


def with_skill(emp: EmployeeState, skill: str, level: int, status: str) -> EmployeeState:
    skills = dict(emp.skills)
    skills[skill] = (level, status)
    return EmployeeState(emp.employee_id, emp.version + 1, skills, emp.threshold, emp.opted_out, list(emp.types),
                         emp.mentoring, emp.department, emp.location)


def with_requirements(opp: OpportunityState, reqs: list[Requirement]) -> OpportunityState:
    return OpportunityState(opp.opportunity_id, opp.version + 1, opp.title, opp.type, True, reqs, opp.owner_id)


def mutate_skill(org: Org, emp: EmployeeState) -> tuple[str, EmployeeState]:
    if org.rnd.random() < 0.5 or not emp.skills:
        return "skill added", with_skill(emp, org.new_skill(emp), pick(org.rnd, LEVELS), pick(org.rnd, STATUSES))
    s = org.rnd.choice(sorted(emp.skills))
    level, _ = emp.skills[s]
    return "skill raised/verified", with_skill(emp, s, min(5, level + 1), "verified")


def mutate_requirements(org: Org, opp: OpportunityState) -> tuple[str, OpportunityState]:
    reqs = list(opp.requirements)
    roll = org.rnd.random()
    if roll < 0.5:
        i = org.rnd.randrange(len(reqs))
        r = reqs[i]
        reqs[i] = Requirement(r.skill_id, 5 if r.min_level < 5 else 4, r.weight, r.must_have)
        return "requirement level changed", with_requirements(opp, reqs)
    if roll < 0.75 or len(reqs) <= 3:
        existing = {r.skill_id for r in reqs}
        s = next(x for x in (org._draw(1)[0] for _ in range(50)) if x not in existing)
        reqs.append(Requirement(s, 3, 1.0, False))
        return "requirement added", with_requirements(opp, reqs)
    reqs.pop(org.rnd.randrange(len(reqs)))
    return "requirement removed", with_requirements(opp, reqs)


# --------------------------------------------------------------------------- part 1: counts


def nonzero(emp: EmployeeState, opp: OpportunityState, related) -> bool:
    """Whether the pair has a non-zero score (so the matcher stores it), without scoring."""
    for r in opp.requirements:
        ev = emp.skills.get(r.skill_id)
        if ev is not None and FACTORS.factor(ev[1]) > 0:
            return True
        for t, strength in related(r.skill_id).items():
            ev = emp.skills.get(t)
            if ev is not None and strength > 0 and FACTORS.factor(ev[1]) > 0:
                return True
    return False


def part1(n_emp: int, n_opp: int, samples: int, seed: int, floor: int) -> dict:
    from services.matcher.engine import Matcher

    taxonomy = Taxonomy.load_default()
    related = taxonomy.related_view
    engine = Matcher(FACTORS, related, 0.5, 80, 1, pair_floor=floor)
    floor_at = engine.floor_for(80)
    org = Org(taxonomy, seed)
    t0 = time.perf_counter()
    emps = [org.employee(i) for i in range(n_emp)]
    opps = [org.opportunity(j) for j in range(n_opp)]
    replica, index = Replica(related), SkillIndex(related)
    for o in opps:
        replica.put(o)
    for e in emps:
        index.put(e)
    by_id = {e.employee_id: e for e in emps}
    built = time.perf_counter() - t0
    scorings = 0

    def kept(e: EmployeeState, o: OpportunityState) -> tuple[bool, bool]:
        """(non-zero, at or above the floor)"""
        nonlocal scorings
        if not nonzero(e, o, related):
            return False, False
        scorings += 1
        return True, engine.score(e, o).percent >= floor_at

    def pairs_of(e: EmployeeState) -> tuple[set[str], set[str]]:
        nz, fl = set(), set()
        for o in replica.candidates_for(e.skills):
            a, b = kept(e, replica.opportunities[o])
            if a:
                nz.add(o)
            if b:
                fl.add(o)
        return nz, fl

    def holders_of(o: OpportunityState) -> tuple[set[str], set[str]]:
        nz, fl = set(), set()
        for e in index.employees_for(o.skills()):
            a, b = kept(by_id[e], o)
            if a:
                nz.add(e)
            if b:
                fl.add(e)
        return nz, fl

    def new_row() -> dict[str, list[int]]:
        return {"scored": [], "floor": [], "nofloor": [], "previous": [], "naive": []}

    rows: dict[str, dict[str, list[int]]] = {}
    pairs_nz, pairs_fl = [], []
    t1 = time.perf_counter()
    for _ in range(samples):
        e = org.rnd.choice(emps)
        kind, new = mutate_skill(org, e)
        nz, fl = pairs_of(e)
        pairs_nz.append(len(nz))
        pairs_fl.append(len(fl))
        row = rows.setdefault(kind, new_row())
        cands = opportunities_to_rescore(e, new, replica, fl, floor=lambda t: engine.floor_for(t or 80))
        row["scored"].append(len(engine.worth_scoring(new, cands, dict.fromkeys(fl), replica)[0]))
        row["floor"].append(len(cands))
        row["nofloor"].append(len(opportunities_to_rescore(e, new, replica, nz)))
        row["previous"].append(len(replica.candidates_for(new.skills) | nz))
        row["naive"].append(len(replica.opportunities))
    for _ in range(max(1, samples // 2)):
        o = org.rnd.choice(opps)
        kind, new = mutate_requirements(org, o)
        nz, fl = holders_of(o)
        row = rows.setdefault(kind, new_row())
        cands = employees_to_rescore(o, new, index, fl, floor=True)
        row["scored"].append(sum(engine.worth_scoring_pair(by_id[e].skills, 0, new, e in fl) for e in cands))
        row["floor"].append(len(cands))
        row["nofloor"].append(len(employees_to_rescore(o, new, index, nz)))
        row["previous"].append(len(index.employees_for(new.skills()) | nz))
        row["naive"].append(len(emps))
    # loading: a registration's candidates (every open opportunity with a skill or a
    # related one) and a posting's (every employee with one), and the cost per candidate
    # of the bounds (accumulated for a registration, per pair for a posting) against
    # a full scoring, timed over the same pairs in this run
    regs, posts, bound_s, pair_s, score_s, timed = [], [], 0.0, 0.0, 0.0, 0
    for e in org.rnd.sample(emps, min(200, len(emps))):
        cands = replica.candidates_for(e.skills)
        t = time.perf_counter()
        worth, _ = engine.worth_scoring(e, cands, {}, replica)
        bound_s += time.perf_counter() - t
        t = time.perf_counter()
        for o in cands:
            engine.worth_scoring_pair(e.skills, 0, replica.opportunities[o], False)
        pair_s += time.perf_counter() - t
        t = time.perf_counter()
        for o in cands:
            engine.score(e, replica.opportunities[o])
        score_s += time.perf_counter() - t
        timed += len(cands)
        regs.append((len(cands), len(worth)))
    for o in org.rnd.sample(opps, min(20, len(opps))):
        cands = index.employees_for(o.skills())
        posts.append((len(cands), sum(engine.worth_scoring_pair(by_id[e].skills, 0, o, False) for e in cands)))
    # the vectorised core (services/matcher/vector.py), what the matcher scores with: one employee
    # against every open opportunity, one opportunity against every employee, all of them
    from services.matcher.vector import SkillHolders, VectorScorer

    vec = VectorScorer(FACTORS, related, 0.5)
    for o in opps:
        vec.put(o.opportunity_id, o.requirements)
    people = SkillHolders()
    for e in emps:
        people.put(e.employee_id, e.skills)
    sample = org.rnd.sample(emps, min(2000, len(emps)))
    for e in sample[:100]:
        vec.score_row(e.skills)  # warm the per-skill caches
    t = time.perf_counter()
    for e in sample:
        vec.score_row(e.skills)
    row_s = (time.perf_counter() - t) / len(sample)
    cols = org.rnd.sample(opps, min(50, len(opps)))
    t = time.perf_counter()
    for o in cols:
        vec.score_column(o.opportunity_id, people)
    col_s = (time.perf_counter() - t) / len(cols)
    return {"vector_row_s": row_s, "vector_col_s": col_s,"employees": n_emp, "opportunities": n_opp, "build_s": built, "rows": rows, "floor": floor_at,
            "pairs_nonzero": statistics.mean(pairs_nz), "pairs_floor": statistics.mean(pairs_fl),
            "samples": samples, "sample_s": time.perf_counter() - t1, "scorings": scorings,
            "registration": [statistics.mean(x) for x in zip(*regs)],
            "posting": [statistics.mean(x) for x in zip(*posts)],
            "bound_us": bound_s / max(timed, 1) * 1e6, "pair_bound_us": pair_s / max(timed, 1) * 1e6,
            "score_us": score_s / max(timed, 1) * 1e6}


def _summary(label: str, rows: dict, kinds) -> None:
    cols = ("scored", "floor", "nofloor", "previous", "naive")
    sums = {c: sum(sum(rows[k][c]) for k in kinds) for c in cols}
    n = sum(len(rows[k]["floor"]) for k in kinds)
    means = {c: sums[c] / n for c in cols}
    print(f"{label:28s} {means['scored']:10,.0f} {'':8s} {'':8s} {means['floor']:11,.0f} {means['nofloor']:10,.0f} "
          f"{means['previous']:10,.0f} {means['naive']:9,.0f} {means['naive'] / max(means['scored'], 1e-9):12,.0f}x")


def print_part1(r: dict) -> None:
    n_emp, n_opp = r["employees"], r["opportunities"]
    print(f"\n== Part 1: pair scorings per event, {n_emp:,} employees x {n_opp:,} open opportunities ==")
    print(f"(org built and indexed in {r['build_s']:.1f} s; {r['samples']} employee events and {r['samples'] // 2} "
          f"requirement changes sampled in {r['sample_s']:.0f} s)")
    print(f"'scored': pairs the matcher scores (its rules with the default {r['floor']} % pair floor, then the "
          "score bound rules out\ncandidates not held that cannot reach the floor); 'candidates': the rules' "
          "pairs before the bound;\n'no floor': the rules keeping every non-zero pair; 'previous': every candidate "
          "of the employee / every\nemployee with a required skill; 'naive': full recompute")
    print(f"{'event':28s} {'scored':>10s} {'p50':>8s} {'p95':>8s} {'candidates':>11s} {'no floor':>10s} "
          f"{'previous':>10s} {'naive':>9s} {'naive/scored':>13s}")
    for kind, row in r["rows"].items():
        eng = row["scored"]
        q = statistics.quantiles(eng, n=20) if len(eng) >= 2 else [eng[0]] * 19
        mean = statistics.mean(eng)
        naive = statistics.mean(row["naive"])
        print(f"{kind:28s} {mean:10,.0f} {statistics.median(eng):8,.0f} {q[18]:8,.0f} "
              f"{statistics.mean(row['floor']):11,.0f} {statistics.mean(row['nofloor']):10,.0f} "
              f"{statistics.mean(row['previous']):10,.0f} {naive:9,.0f} {naive / max(mean, 1e-9):12,.0f}x")
    kinds = list(r["rows"])
    _summary("employee events", r["rows"], [k for k in kinds if k.startswith("skill")])
    _summary("requirement changes", r["rows"], [k for k in kinds if k.startswith("requirement")])
    (rc, rs), (pc, ps) = r["registration"], r["posting"]
    print(f"{'registration (load)':28s} {rs:10,.0f} {'':8s} {'':8s} {rc:11,.0f} {'':10s} {'':10s} {n_opp:9,.0f} "
          f"{n_opp / max(rs, 1e-9):12,.0f}x")
    print(f"{'posting (load)':28s} {ps:10,.0f} {'':8s} {'':8s} {pc:11,.0f} {'':10s} {'':10s} {n_emp:9,.0f} "
          f"{n_emp / max(ps, 1e-9):12,.0f}x")
    print(f"per candidate of a registration, same pairs in this run: accumulated bounds {r['bound_us']:.2f} us, "
          f"per-pair bound {r['pair_bound_us']:.2f} us, full scoring {r['score_us']:.2f} us "
          f"({r['score_us'] / max(r['bound_us'], 1e-9):.0f}x and {r['score_us'] / max(r['pair_bound_us'], 1e-9):.1f}x)")
    nz, fl = r["pairs_nonzero"], r["pairs_floor"]
    print(f"vectorised core (exact): one employee against all {n_opp:,} opportunities {r['vector_row_s'] * 1e3:.2f} ms "
          f"({r['vector_row_s'] / n_opp * 1e9:,.0f} ns a pair), one opportunity against all {n_emp:,} employees "
          f"{r['vector_col_s'] * 1e3:.1f} ms ({r['vector_col_s'] / n_emp * 1e9:,.0f} ns a pair), against "
          f"{r['score_us'] * 1e3:,.0f} ns a pair for score_match: every pair of the org in "
          f"{r['vector_row_s'] * n_emp:,.0f} s (score_match: {r['score_us'] * 1e-6 * n_emp * n_opp / 3600:,.1f} h)")
    print(f"pair state: {nz:,.0f} non-zero pairs per employee ({nz / n_opp:.1%} of the dense matrix, "
          f"~{nz * n_emp:,.0f} pairs); at or above the {r['floor']} % floor: {fl:,.1f} per employee "
          f"({fl / n_opp:.2%}, ~{fl * n_emp:,.0f} pairs kept)")


# --------------------------------------------------------------------------- part 2: Kafka


def envelopes_for_org(org: Org, n_emp: int, n_opp: int):
    from itm.runtime.envelope import new_envelope
    from itm.v1 import common_pb2, events_pb2

    status = {"verified": common_pb2.SKILL_STATUS_VERIFIED, "claimed": common_pb2.SKILL_STATUS_CLAIMED,
              "inferred": common_pb2.SKILL_STATUS_INFERRED, "aspirational": common_pb2.SKILL_STATUS_ASPIRATIONAL}

    def emp_profile(e: EmployeeState):
        return common_pb2.EmployeeMatchProfile(
            employee_id=e.employee_id, mentoring_opt_in=e.mentoring,
            skills=[common_pb2.EmployeeSkill(skill_id=s, level=lv, status=status[st]) for s, (lv, st) in e.skills.items()])

    def opp_profile(o: OpportunityState):
        return common_pb2.OpportunityMatchProfile(
            opportunity_id=o.opportunity_id, title=o.title, type=common_pb2.OPPORTUNITY_TYPE_GIG,
            status=common_pb2.OPPORTUNITY_STATUS_OPEN, owner_id=o.owner_id,
            requirements=[common_pb2.Requirement(skill_id=r.skill_id, min_level=r.min_level, weight=r.weight,
                                                 must_have=r.must_have) for r in o.requirements])

    emps = [org.employee(i) for i in range(n_emp)]
    opps = [org.opportunity(j) for j in range(n_opp)]
    courses = []
    for k, sid in enumerate(org.all_ids):
        for level in (3, 5):
            c = common_pb2.Course(course_id=f"C{k:03d}-{level}", title=f"{sid} to {level}", hours=4 * level,
                                  teaches=[common_pb2.CourseSkill(skill_id=sid, level=level)])
            courses.append(("learning.course-published", c.course_id,
                            new_envelope("learning.course-published", "bench", c.course_id, 1,
                                         events_pb2.CoursePublished(course=c))))
    load = list(courses)
    load += [("opportunity.gig-posted", o.opportunity_id,
              new_envelope("opportunity.gig-posted", "bench", o.opportunity_id, 1,
                           events_pb2.GigPosted(opportunity=opp_profile(o)))) for o in opps]
    load += [("profile.employee-registered", e.employee_id,
              new_envelope("profile.employee-registered", "bench", e.employee_id, 1,
                           events_pb2.EmployeeRegistered(profile=emp_profile(e)))) for e in emps]

    def mix(n_profile: int, n_opp_events: int):
        out = []
        for e in org.rnd.sample(emps, min(n_profile, len(emps))):
            added, lv, st = org.new_skill(e), pick(org.rnd, LEVELS), pick(org.rnd, STATUSES)
            new = with_skill(e, added, lv, st)
            out.append(("profile.skill-added", e.employee_id, new_envelope(
                "profile.skill-added", "bench", e.employee_id, new.version,
                events_pb2.SkillAdded(skill=common_pb2.EmployeeSkill(skill_id=added, level=lv, status=status[st]),
                                      profile=emp_profile(new)))))
        for o in org.rnd.sample(opps, min(n_opp_events, len(opps))):
            _, new = mutate_requirements(org, o)
            out.append(("opportunity.requirements-changed", o.opportunity_id, new_envelope(
                "opportunity.requirements-changed", "bench", o.opportunity_id, new.version,
                events_pb2.RequirementsChanged(opportunity=opp_profile(new)))))
        org.rnd.shuffle(out)
        return out

    return load, mix


def matcher_inputs() -> list[str]:
    """The matcher group's input topics: the profile topics and the broadcast (match agent), the
    opportunity topics (broadcast agent)."""
    from itm.runtime.topics import OPPORTUNITY_TOPICS, PROFILE_TOPICS

    return PROFILE_TOPICS + OPPORTUNITY_TOPICS + ["matcher.opportunity-broadcast"]


def postings_then_registrations(load) -> tuple[list, list]:
    """The org's load split in the order it is produced: the catalog and open opportunities
    first, then the employees register, so each pair is scored once, by the registration (were
    both produced at once, a posting's broadcast copy arriving after the registrations would
    score its pairs a second time; see services/matcher/README.md, "Measured")."""
    return ([r for r in load if not r[0].startswith("profile.")],
            [r for r in load if r[0].startswith("profile.")])


async def produce(bootstrap: str, prefix: str, records) -> float:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=20,
                                max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        futures = []
        for topic, key, env in records:
            futures.append(await producer.send(f"{prefix}{topic}", env.SerializeToString(), key=key.encode()))
        await producer.flush()
        for f in futures:
            await f
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def committed_progress(bootstrap: str, group: str, tps) -> tuple[int, int]:
    """(sum of committed offsets, sum of high watermarks) of ``group`` on ``tps``."""
    from aiokafka.admin import AIOKafkaAdminClient

    from itm.runtime.kafka_compat import high_watermarks

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        ends = await high_watermarks(bootstrap, tps)
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        done = sum(max(0, committed[tp].offset) if tp in committed else 0 for tp in tps)
        return done, sum(ends.values())
    finally:
        await admin.close()


def _tps(prefix: str, topics: list[str]):
    from aiokafka import TopicPartition

    from itm.runtime.topics import TOPICS

    return [TopicPartition(f"{prefix}{t}", p) for t in topics for p in range(TOPICS[t].partitions)]


async def watch(bootstrap: str, group: str, topics: list[str], prefix: str, timeout_s: float, proc=None,
                base: int = 0) -> dict:
    """Poll (every 20 ms) until the group has committed everything on ``topics``.

    Returns the progress series' key times: first and last progress seen, and the
    times 10 % and 90 % of the records were committed. faust commits every 100
    records or 0.5 s, so the ends of a run are blurred; the 10-90 % rate is not
    (both the matcher and the bare agent are measured this way)."""
    from aiokafka.admin import AIOKafkaAdminClient

    from itm.runtime.kafka_compat import high_watermarks

    tps = _tps(prefix, topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    series: list[tuple[float, int]] = []
    done = end = 0
    peak = 0
    last_hw = 0.0
    try:
        deadline = time.monotonic() + timeout_s
        stable = 0
        while time.monotonic() < deadline:
            now = time.monotonic()
            if now - last_hw > 0.5 or done >= end:
                end = sum((await high_watermarks(bootstrap, tps)).values())
                last_hw = now
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            done = sum(max(0, committed[tp].offset) if tp in committed else 0 for tp in tps)
            now = time.monotonic()
            series.append((now, done))
            if proc is not None:
                peak = max(peak, vm_hwm_kb(proc.pid))
            if done >= end and done > base:
                stable += 1
                if stable >= 3:
                    break
            else:
                stable = 0
            await asyncio.sleep(0.02)
        else:
            raise TimeoutError(f"{group} did not catch up on {topics} in {timeout_s:.0f}s "
                               f"({done - base} of {end - base})")
    finally:
        await admin.close()
    total = done - base

    def when(fraction: float) -> float:
        return next(t for t, d in series if d - base >= fraction * total)

    first, last = when(1e-9), when(1.0)
    t10, t90 = when(0.1), when(0.9)
    return {"first": first, "last": last, "events": total, "end": end, "peak_kb": peak,
            "rate_10_90": 0.8 * total / (t90 - t10) if t90 > t10 else float("nan")}


def vm_hwm_kb(pid: int | None) -> int:
    if not pid:
        return 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def scrape(url: str, metric: str = "itm_match_rescorings_total") -> dict[str, float]:
    """``metric`` by its ``cause`` label, from the matcher's /metrics."""
    text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
    out = {}
    for m in re.finditer(rf'^{metric}\{{cause="([^"]+)"\}} ([0-9.e+]+)$', text, re.M):
        out[m.group(1)] = float(m.group(2))
    return out


def gauge(url: str, metric: str) -> float | None:
    """An unlabelled gauge from the matcher's /metrics (None: absent)."""
    text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
    m = re.search(rf"^{metric} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else None


async def topic_bytes(bootstrap: str, prefix: str, topic: str, partitions: int | None = None) -> tuple[int, int]:
    """(records, bytes of keys and values) in ``topic``, read group-less to its end
    (``partitions``: for a topic not in ``TOPICS``, e.g. the matcher's table changelog)."""
    from aiokafka import TopicPartition

    from itm.runtime.kafka_compat import high_watermarks
    from itm.runtime.consumer import make_consumer
    from itm.runtime.settings import Settings
    from itm.runtime.topics import TOPICS

    if partitions is not None:
        tps = [TopicPartition(f"{prefix}{topic}", p) for p in range(partitions)]
    elif topic not in TOPICS:
        return 0, 0
    else:
        tps = _tps(prefix, [topic])
    ends = await high_watermarks(bootstrap, tps)
    if not sum(ends.values()):
        return 0, 0
    consumer = make_consumer(Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix), None, [],
                             max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    n = size = 0
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            for records in (await consumer.getmany(timeout_ms=500, max_records=50_000)).values():
                for r in records:
                    n += 1
                    size += len(r.value or b"") + len(r.key or b"")
    finally:
        await consumer.stop()
    return n, size


def bare_agent_main(args) -> None:
    """A faust app with one agent that decodes each event (the ceiling)."""
    import faust

    from itm.runtime import kafka_compat
    from itm.runtime.envelope import decode
    from itm.runtime.topics import EMPLOYEE_PARTITIONS, PROFILE_TOPICS

    kafka_compat.install()
    app = faust.App(f"{args.prefix}bench-bare", broker=f"kafka://{args.bootstrap}", store="memory://",
                    datadir=args.datadir, web_enabled=False, topic_partitions=EMPLOYEE_PARTITIONS,
                    topic_allow_declare=False, broker_rebalance_timeout=6, broker_session_timeout=6,
                    broker_heartbeat_interval=1, broker_commit_every=100, broker_commit_interval=0.5,
                    consumer_auto_offset_reset="earliest", stream_wait_empty=False, autodiscover=False)
    topic = app.topic(*[f"{args.prefix}{t}" for t in PROFILE_TOPICS], key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="bare")
    async def bare(stream):
        async for event in stream.events():
            decode(event.value)

    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


async def part2(n_emp: int, n_opp: int, n_profile: int, n_opp_events: int, seed: int, timeout_s: float,
                keep: bool = False) -> dict:
    from itm.devstack import BrokerProcess, RedisProcess, ServiceProcess
    from itm.runtime.topics import PROFILE_TOPICS, ensure_topics

    tmp = Path(tempfile.mkdtemp(prefix="itm-matcher-bench-"))
    broker, redis = BrokerProcess(tmp), RedisProcess(tmp)
    procs = []
    result: dict = {"employees": n_emp, "opportunities": n_opp}
    try:
        broker.start()
        redis.start()
        prefix, bare_prefix = "bench.", "bare."
        await ensure_topics(broker.bootstrap, prefix=prefix)
        await ensure_topics(broker.bootstrap, prefix=bare_prefix)
        org = Org(Taxonomy.load_default(), seed)
        t0 = time.perf_counter()
        load, mix = envelopes_for_org(org, n_emp, n_opp)
        measured = mix(n_profile, n_opp_events)
        result["generate_s"] = time.perf_counter() - t0
        postings, registrations = postings_then_registrations(load)
        result["produce_load_s"] = await produce(broker.bootstrap, prefix, postings)
        result["load_events"] = len(load)
        env = {"ITM_KAFKA_BOOTSTRAP": broker.bootstrap, "ITM_REDIS_URL": redis.url, "ITM_TOPIC_PREFIX": prefix,
               "ITM_LOG_FORMAT": "console", "ITM_DATA_DIR": str(tmp / "matcher")}
        match_topics = matcher_inputs()

        # A. load
        matcher = ServiceProcess("matcher", env, tmp)
        procs.append(matcher)
        started = time.monotonic()
        matcher.start(wait=False)
        await matcher.wait_healthy_async(timeout_s)
        healthy = time.monotonic()
        w = await watch(broker.bootstrap, f"{prefix}itm-matcher", match_topics, prefix, timeout_s, matcher)
        result["postings_s"] = w["last"] - w["first"]
        base, _ = await committed_progress(broker.bootstrap, f"{prefix}itm-matcher", _tps(prefix, match_topics))
        result["produce_load_s"] += await produce(broker.bootstrap, prefix, registrations)
        w = await watch(broker.bootstrap, f"{prefix}itm-matcher", match_topics, prefix, timeout_s, matcher, base)
        result["load_healthy_s"] = healthy - started
        result["load_s"] = w["last"] - w["first"]
        result["load_rate"] = w["rate_10_90"]
        result["load_committed"] = w["events"]
        result["load_scorings"] = scrape(matcher.http_url)
        result["load_ruled_out"] = scrape(matcher.http_url, "itm_match_pairs_ruled_out_total")
        result["load_peak_kb"] = max(w["peak_kb"], vm_hwm_kb(matcher.pid))
        await asyncio.to_thread(matcher.stop, 30)
        # what the load wrote to the broker besides crossings: per-pair records (match.updated,
        # while ITM_MATCHER_LEGACY_MATCH_UPDATED is on) and one record per event and employee (v2)
        for topic in ("match.updated", "match.updated.v2", "match.threshold-crossed"):
            result[f"bytes {topic}"] = await topic_bytes(broker.bootstrap, prefix, topic)
        # the matcher's table changelog (everything written, as Tansu's memory storage keeps it)
        from itm.runtime.topics import EMPLOYEE_PARTITIONS

        result["bytes changelog"] = await topic_bytes(broker.bootstrap, prefix, "itm-matcher-employees-changelog",
                                                      EMPLOYEE_PARTITIONS)

        # B. the measured mix, pre-produced while the matcher is down
        base, _ = await committed_progress(broker.bootstrap, f"{prefix}itm-matcher", _tps(prefix, match_topics))
        result["mix_events"] = len(measured)
        result["mix_profile"] = sum(1 for t, _, _ in measured if t.startswith("profile."))
        result["mix_opportunity"] = len(measured) - result["mix_profile"]
        await produce(broker.bootstrap, prefix, measured)
        matcher = ServiceProcess("matcher", env, tmp, instance="2")
        procs.append(matcher)
        started = time.monotonic()
        matcher.start(wait=False)
        await matcher.wait_healthy_async(timeout_s)
        result["restart_healthy_s"] = time.monotonic() - started  # recovery of tables + replica + mentor index
        w = await watch(broker.bootstrap, f"{prefix}itm-matcher", match_topics, prefix, timeout_s, matcher, base)
        result["mix_s"] = w["last"] - w["first"]
        result["mix_rate"] = w["rate_10_90"] * len(measured) / max(1, w["events"])  # records -> domain events
        result["mix_committed"] = w["events"]  # domain events + their broadcast copies
        result["mix_scorings"] = scrape(matcher.http_url)
        result["peak_kb"] = max(w["peak_kb"], vm_hwm_kb(matcher.pid), result["load_peak_kb"])
        await asyncio.to_thread(matcher.stop, 30)

        # D. rescoring everyone: a worker with another scoring version rescores every employee
        matcher = ServiceProcess("matcher", {**env, "ITM_SCORING_VERSION": "2"}, tmp, instance="3")
        procs.append(matcher)
        started = time.monotonic()
        matcher.start(wait=False)
        await matcher.wait_healthy_async(timeout_s)
        healthy = time.monotonic()
        deadline = healthy + timeout_s
        peak = 0
        while time.monotonic() < deadline:
            peak = max(peak, vm_hwm_kb(matcher.pid))
            left = gauge(matcher.http_url, "itm_match_stale_employees")
            if left == 0 and scrape(matcher.http_url).get("scoring-change", 0) > 0:
                break
            await asyncio.sleep(0.2)
        else:
            raise TimeoutError("rescoring everyone did not finish")
        result["rescore_healthy_s"] = healthy - started
        result["rescore_s"] = time.monotonic() - healthy
        result["rescore_scorings"] = scrape(matcher.http_url).get("scoring-change", 0)
        result["peak_kb"] = max(result["peak_kb"], peak, vm_hwm_kb(matcher.pid))
        await asyncio.to_thread(matcher.stop, 30)

        # C. a bare faust agent over the same number of pre-produced events
        bare_records = [(t if t.startswith("profile.") else "profile.skill-added", k, e) for t, k, e in measured]
        await produce(broker.bootstrap, bare_prefix, bare_records)
        cmd = [sys.executable, __file__, "bare-agent", "--bootstrap", broker.bootstrap, "--prefix", bare_prefix,
               "--datadir", str(tmp / "bare")]
        bare = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(tmp / "bare.log", "wb"))
        procs.append(bare)
        w = await watch(broker.bootstrap, f"{bare_prefix}bench-bare", PROFILE_TOPICS, bare_prefix, timeout_s, bare)
        result["bare_s"] = w["last"] - w["first"]
        result["bare_rate"] = w["rate_10_90"]
        result["bare_events"] = w["events"]
        result["bare_peak_kb"] = max(w["peak_kb"], vm_hwm_kb(bare.pid))
        bare.terminate()
        bare.wait(10)
        return result
    finally:
        for p in procs:
            try:
                if isinstance(p, subprocess.Popen):
                    if p.poll() is None:
                        p.kill()
                        p.wait(10)
                else:
                    p.stop(10)
            except Exception:  # noqa: BLE001
                pass
        redis.stop()
        broker.stop()
        if keep:
            print(f"(part 2 data and logs kept in {tmp})")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def print_part2(r: dict) -> None:
    print(f"\n== Part 2: the faust matcher on Tansu, {r['employees']:,} employees x {r['opportunities']:,} "
          f"opportunities ==")
    load_rate = r["load_rate"]
    sc = r["load_scorings"]
    ro = r.get("load_ruled_out") or {}
    print(f"load: {r['load_events']:,} events produced in {r['produce_load_s']:.1f} s; matcher healthy after "
          f"{r['load_healthy_s']:.1f} s; catalog and postings consumed in {r['postings_s']:.1f} s, then "
          f"{r['load_committed']:,} registrations in {r['load_s']:.1f} s ({load_rate:,.0f} events/s between 10 and "
          f"90 %);\n      pair scorings {sum(sc.values()):,.0f} ({', '.join(f'{k} {v:,.0f}' for k, v in sorted(sc.items()))}), "
          f"candidates ruled out by the score bound {sum(ro.values()):,.0f}")
    mix_rate, bare_rate = r["mix_rate"], r["bare_rate"]
    sc = r["mix_scorings"]
    print(f"restart with the mix waiting: healthy (tables, replica, mentor index recovered) after "
          f"{r['restart_healthy_s']:.1f} s")
    print(f"mix: {r['mix_events']:,} events ({r['mix_profile']:,} skill added, {r['mix_opportunity']:,} requirements "
          f"changed; {r['mix_committed']:,} records with the broadcast copies) in {r['mix_s']:.1f} s; "
          f"{mix_rate:,.0f} events/s between 10 and 90 %")
    per = {k: v / max(1, r['mix_profile'] if k == 'profile' else r['mix_opportunity']) for k, v in sc.items()}
    print(f"     pair scorings per event in the real run: "
          f"{', '.join(f'{k} {v:,.1f}' for k, v in sorted(per.items()))}")
    print(f"bare faust agent (decode only), same count: {r['bare_events']:,} events in {r['bare_s']:.1f} s; "
          f"{bare_rate:,.0f} events/s between 10 and 90 %  ->  matcher at {mix_rate / bare_rate:.1%} of the bare agent")
    print(f"rescoring everyone after a scoring-version change: healthy after {r['rescore_healthy_s']:.1f} s, "
          f"then every employee rescored in {r['rescore_s']:.1f} s ({r['rescore_scorings']:,.0f} pairs evaluated)")
    regs = max(1, r["employees"])
    for topic in ("match.updated", "match.updated.v2", "match.threshold-crossed"):
        n, size = r.get(f"bytes {topic}", (0, 0))
        print(f"broker bytes per registration: {topic} {size / regs:,.0f} B ({n / regs:,.1f} records)")
    n, size = r.get("bytes changelog", (0, 0))
    print(f"table changelog after the load: {size:,} B in {n:,} records ({size / max(1, n):,.0f} B a record, "
          f"{size / regs:,.0f} B per registration)")
    print(f"peak RSS: matcher {r['peak_kb'] / 1024:,.0f} MiB, bare agent {r['bare_peak_kb'] / 1024:,.0f} MiB")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "bare-agent":
        p = argparse.ArgumentParser()
        p.add_argument("cmd")
        p.add_argument("--bootstrap", required=True)
        p.add_argument("--prefix", required=True)
        p.add_argument("--datadir", required=True)
        args = p.parse_args()
        sys.argv = [sys.argv[0], "worker"]
        bare_agent_main(args)
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--employees", type=int, default=100_000, help="part 1 org size")
    p.add_argument("--opportunities", type=int, default=10_000, help="part 1 open opportunities")
    p.add_argument("--samples", type=int, default=200,
                   help="part 1: sampled employee events (and half as many requirement changes)")
    p.add_argument("--kafka-employees", type=int, default=10_000)
    p.add_argument("--kafka-opportunities", type=int, default=1_000)
    p.add_argument("--keep", action="store_true", help="keep the part 2 data and logs (printed path)")
    p.add_argument("--profile-events", type=int, default=5_000, help="part 2: skill-added events in the mix")
    p.add_argument("--opportunity-events", type=int, default=50, help="part 2: requirement changes in the mix")
    p.add_argument("--full", action="store_true", help="part 2 at 100,000 x 10,000 too (hours)")
    p.add_argument("--skip-kafka", action="store_true")
    p.add_argument("--timeout", type=float, default=1800, help="per phase of part 2, seconds")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--pair-floor", type=int, default=30, help="the matcher's ITM_MATCHER_PAIR_FLOOR_PERCENT (part 1)")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()
    if args.full:
        args.kafka_employees, args.kafka_opportunities = 100_000, 10_000
    started = time.perf_counter()
    r1 = part1(args.employees, args.opportunities, args.samples, args.seed, args.pair_floor)
    print_part1(r1)
    out = {"part1": r1}
    if not args.skip_kafka:
        r2 = asyncio.run(part2(args.kafka_employees, args.kafka_opportunities, args.profile_events,
                               args.opportunity_events, args.seed, args.timeout, args.keep))
        print_part2(r2)
        out["part2"] = r2
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
