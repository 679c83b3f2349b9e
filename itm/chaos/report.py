"""Read the stack back after a round and compare it with what the workload says must be there."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from itm.v1 import notifier_pb2, profile_pb2

CROSSING = "match.threshold-crossed"


@dataclass
class Report:
    writes: int = 0
    retried: int = 0
    retried_codes: dict[str, int] = field(default_factory=dict)
    expected: int = 0
    pushed: int = 0
    lost: list[tuple[str, str]] = field(default_factory=list)
    duplicated: dict[tuple[str, str], int] = field(default_factory=dict)  # pair -> pushes beyond the first
    unexpected: list[tuple[str, str]] = field(default_factory=list)
    acknowledged_missing: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    lost_where: list[str] = field(default_factory=list)  # where the lost ones got to (diagnose_lost)
    elapsed_s: float = 0.0
    settle_s: float = 0.0

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected or self.acknowledged_missing)

    def lines(self) -> list[str]:
        codes = ", ".join(f"{k} {v}" for k, v in sorted(self.retried_codes.items())) or "none"
        out = [
            f"writes acknowledged:           {self.writes} (retried {self.retried}: {codes})",
            f"faults injected:               {len(self.faults)}",
            *[f"  {f}" for f in self.faults],
            f"notifications expected:        {self.expected}",
            f"notifications pushed:          {self.pushed}",
            f"lost:                          {len(self.lost)}",
            f"duplicated:                    {sum(self.duplicated.values())}",
            f"unexpected:                    {len(self.unexpected)}",
            f"acknowledged but missing:      {len(self.acknowledged_missing)}",
            f"round: {self.elapsed_s:.0f} s, settled {self.settle_s:.0f} s after the last write",
        ]
        for what, items in (("lost", self.lost), ("duplicated", list(self.duplicated)),
                            ("unexpected", self.unexpected), ("acknowledged but missing", self.acknowledged_missing)):
            if items:
                out.append(f"first {what}: {', '.join(map(str, items[:5]))}")
        out += [f"  {line}" for line in self.lost_where]
        out.append("CLEAN" if self.clean else "NOT CLEAN")
        return out


async def inbox_pairs(clients, employee_id: str, opportunities: set[str], metadata=None) -> Counter:
    """(employee, opportunity) -> pushes of crossings in this employee's inbox, for these gigs."""
    counts: Counter = Counter()
    token = ""
    while True:
        page = await clients.notifier.ListInbox(notifier_pb2.ListInboxRequest(
            employee_id=employee_id, page_size=100, page_token=token), metadata=metadata or clients.metadata, timeout=10)
        for note in page.notifications:
            if note.kind == CROSSING and note.opportunity_id in opportunities:
                counts[(employee_id, note.opportunity_id)] += 1
        token = page.next_page_token
        if not token or not page.notifications:
            return counts


async def read_back(workload, *, settle_timeout_s: float = 180.0, quiet_s: float = 10.0,
                    concurrency: int = 16, kafka_bootstrap: str = "", topic_prefix: str = "",
                    max_wait_s: float = 1800.0) -> Report:
    """Wait until the pushes are all there and nothing changed for ``quiet_s``, then
    compare. While pushes are missing the wait goes on as long as pushes keep arriving:
    it ends once nothing arrived for ``settle_timeout_s`` (a slow stack is late, not
    lossy), or after ``max_wait_s`` in all. Calls are retried like the workload's."""
    c = workload.c
    opportunities = set(workload.acked.opportunities)
    expected = workload.expected_pushes()
    started = time.monotonic()
    sem = asyncio.Semaphore(concurrency)

    async def one(emp):
        async with sem:
            for _ in range(30):
                try:
                    return await inbox_pairs(c, emp, opportunities)
                except Exception:  # noqa: BLE001 - the stack is still recovering: again
                    await asyncio.sleep(1)
            return await inbox_pairs(c, emp, opportunities)

    async def all_pushes() -> Counter:
        total: Counter = Counter()
        for counts in await asyncio.gather(*(one(e) for e in workload.employees)):
            total.update(counts)
        return total

    last, since = None, time.monotonic()
    while True:
        pushes = await all_pushes()
        if pushes != last:
            last, since = pushes, time.monotonic()
        complete = expected <= set(pushes)
        quiet = time.monotonic() - since
        if (complete and quiet >= quiet_s) or quiet > settle_timeout_s or time.monotonic() - started > max_wait_s:
            break
        await asyncio.sleep(2)

    report = Report(writes=workload.acked.writes, retried=workload.acked.retries,
                    retried_codes=dict(workload.acked.codes), expected=len(expected), pushed=sum(pushes.values()),
                    settle_s=time.monotonic() - started)
    report.lost = sorted(expected - set(pushes))
    report.duplicated = {pair: n - 1 for pair, n in sorted(pushes.items()) if n > 1}
    report.unexpected = sorted(set(pushes) - expected)
    report.acknowledged_missing = await missing_writes(workload, sem)
    if report.lost:
        report.lost_where = await diagnose_lost(workload, report.lost, kafka_bootstrap, topic_prefix)
    return report


async def diagnose_lost(workload, lost, kafka_bootstrap: str = "", topic_prefix: str = "") -> list[str]:
    """Where the lost pushes got to: does the matcher hold the pair as qualified
    (MyMatches), and was a crossing published (``match.threshold-crossed``)?"""
    from itm.v1 import matcher_pb2

    from collections import Counter as _Counter

    c = workload.c
    employees = sorted({e for e, _ in lost})
    lost_set = set(lost)
    held = 0
    stored: _Counter = _Counter()  # the matcher's stored score of each lost pair ("none": no pair held)
    for emp in employees[:200]:
        try:
            got = await c.matcher.MyMatches(matcher_pb2.MyMatchesRequest(employee_id=emp, limit=100),
                                            metadata=c.metadata, timeout=10)
            scores = {m.opportunity_id: m for m in got.matches}
            for e, opp in lost_set:
                if e == emp:
                    m = scores.get(opp)
                    stored[f"{m.score_percent} %" if m else "none"] += 1
                    held += bool(m and m.qualified)
        except Exception:  # noqa: BLE001 - a diagnosis, best effort
            stored["unanswered"] += 1
    out = [f"lost pairs the matcher holds as qualified: {held} (first 200 employees asked); their stored scores: "
           + ", ".join(f"{k} x{v}" for k, v in sorted(stored.items()))]
    if kafka_bootstrap:
        published = await _crossings_published(kafka_bootstrap, topic_prefix, set(lost))
        out.append(f"lost pairs with a crossing on match.threshold-crossed: {published} of {len(lost)}")
    out.append(f"lost employees: {', '.join(employees[:20])}{' ...' if len(employees) > 20 else ''}")
    return out


async def _crossings_published(bootstrap: str, prefix: str, pairs: set) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from itm.runtime.envelope import decode
    from itm.runtime.kafka_compat import high_watermarks
    from itm.runtime.topics import TOPICS

    topic = prefix + CROSSING
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    found = set()
    try:
        tps = [TopicPartition(topic, p) for p in range(TOPICS[CROSSING].partitions)]
        ends = await high_watermarks(consumer, tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        async with asyncio.timeout(60):
            while any((await consumer.position(tp)) < ends[tp] for tp in tps):
                for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                    for r in records:
                        try:
                            p = decode(r.value).payload
                        except Exception:  # noqa: BLE001 - poison is there too
                            continue
                        if (p.employee_id, p.opportunity_id) in pairs:
                            found.add((p.employee_id, p.opportunity_id))
    except Exception:  # noqa: BLE001 - best effort
        pass
    finally:
        await consumer.stop()
    return len(found)


async def missing_writes(workload, sem: asyncio.Semaphore) -> list[str]:
    """Acknowledged writes the profile service does not show (created employees, verified levels)."""
    c = workload.c
    out: list[str] = []

    async def check(emp: str):
        async with sem:
            for attempt in range(30):
                try:
                    got = await c.profile.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id=emp),
                                                      metadata=c.metadata, timeout=10)
                    break
                except Exception as exc:  # noqa: BLE001
                    if getattr(exc, "code", None) and exc.code().name == "NOT_FOUND":
                        out.append(f"{emp}: created, not found")
                        return
                    await asyncio.sleep(1)
            else:
                out.append(f"{emp}: unreadable")
                return
        have = {s.skill.skill_id: s.skill.level for s in got.skills}
        for skill, level in workload.acked.levels.get(emp, {}).items():
            if have.get(skill, 0) < level:
                out.append(f"{emp}: {skill} {level} acknowledged, {have.get(skill, 0)} stored")
        for skill in workload.acked.claimed.get(emp, ()):
            if skill not in have:
                out.append(f"{emp}: {skill} acknowledged, not stored")

    await asyncio.gather(*(check(e) for e in sorted(workload.acked.created)))
    return sorted(out)
