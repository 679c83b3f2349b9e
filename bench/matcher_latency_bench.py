"""API call -> push latency through the real services (issue 12 item 4). A script, not a test.

Starts its own Tansu broker, redis-server and the profile, opportunity, learning,
matcher and notifier services (``itm.devstack``, loopback, free ports, temporary
directory), seeds a small org through the gRPC APIs, connects one SSE client per
measured employee, then for each kind of call makes ``--repeats`` calls that each
qualify exactly one connected employee and times the call's start until that
client has parsed the push:

- VerifySkill: a manager verifies the claimed skill that was missing (75 % -> 100 %);
- CompleteCourse: a course teaching the missing skill is completed (-> 100 %);
- PostOpportunity: a gig requiring a skill the employee holds is posted;
- ChangeRequirements: the requirement the employee lacks is dropped (50 % -> 100 %).

Meanwhile ``--background`` skill changes per second (UpsertSkill on other
employees) keep the services busy. With ``--matcher-org 100000x10000`` the matcher
holds an enterprise-sized org besides: ``bench/matcher_bench.py``'s synthetic org
(catalog, open opportunities, then registrations) is produced straight into the
matcher's input topics after the stack is up, and the measurement starts once the
matcher and the notifier have consumed it (and the crossings it caused); those
people exist for the matcher only, not in the profile service. Then every measured
posting is scored against all of them, and every employee change against all the
opportunities. The matcher runs with ``ITM_MATCHER_LEGACY_MATCH_UPDATED=false``
(per-pair records off, as services/matcher/README.md advises at scale). The baseline, in the same run: one raw Kafka
hop (aiokafka produce acks=all -> a consumer with the services' fetch settings),
since the path has four hops (outbox relay -> matcher [-> broadcast] -> notifier).
p50/p95/p99 are printed, never asserted.

    .venv/bin/python bench/matcher_latency_bench.py [--repeats 20] [--background 20] [--org 200]
    .venv/bin/python bench/matcher_latency_bench.py --matcher-org 100000x10000 --background 200 --timeout 3600

(issue 12's bar; on the 2-core machine the full-size load through the whole stack took more than
the default 30 minutes a phase: Tansu, serving five services' consumers, was on a core of its own.)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from itm.client import Clients  # noqa: E402
from itm.devstack import DevStack  # noqa: E402
from itm.runtime.auth import mint_token  # noqa: E402
from itm.runtime.settings import Settings  # noqa: E402
from itm.v1 import common_pb2, learning_pb2, opportunity_pb2, profile_pb2  # noqa: E402

V, C = common_pb2.SKILL_STATUS_VERIFIED, common_pb2.SKILL_STATUS_CLAIMED
GIG = common_pb2.OPPORTUNITY_TYPE_GIG
PREFIX = "latency."
KINDS = ["VerifySkill", "CompleteCourse", "PostOpportunity", "ChangeRequirements"]
FILLER_SKILLS = ["excel", "communication", "project-management", "data-visualization", "java", "go"]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def fmt(values: list[float]) -> str:
    if not values:
        return "no samples"
    ms = [v * 1000 for v in values]
    return (f"p50 {pct(ms, 50):.1f} ms, p95 {pct(ms, 95):.1f} ms, p99 {pct(ms, 99):.1f} ms, "
            f"mean {statistics.fmean(ms):.1f} ms (n={len(ms)})")


class Pushes:
    """One SSE connection per employee; the arrival time of each push naming an opportunity."""

    def __init__(self, url: str, settings: Settings):
        self.url, self.settings = url, settings
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
        self.arrived: dict[tuple[str, str], float] = {}
        self.event = asyncio.Event()
        self.tasks: list[asyncio.Task] = []

    async def connect(self, employee: str) -> None:
        token = mint_token(self.settings, employee, "employee", ttl_s=3600)
        resp = await self.http.get(f"{self.url}/v1/employees/{employee}/notifications/stream",
                                   headers={"Authorization": f"Bearer {token}"})
        if resp.status != 200:
            raise SystemExit(f"SSE connect for {employee}: HTTP {resp.status}")
        self.tasks.append(asyncio.create_task(self._read(employee, resp)))

    async def _read(self, employee: str, resp) -> None:
        try:
            async for raw in resp.content:
                if raw.startswith(b"data:"):
                    now = time.perf_counter()
                    text = raw.decode(errors="replace")
                    for key in list(self.waiting):
                        if key[0] == employee and key[1] in text and key not in self.arrived:
                            self.arrived[key] = now
                            self.event.set()
        except (aiohttp.ClientError, asyncio.CancelledError):
            pass
        finally:
            resp.release()

    waiting: set[tuple[str, str]] = set()

    async def wait(self, key: tuple[str, str], timeout_s: float) -> float | None:
        deadline = time.monotonic() + timeout_s
        while key not in self.arrived and time.monotonic() < deadline:
            self.event.clear()
            try:
                await asyncio.wait_for(self.event.wait(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
        return self.arrived.get(key)

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.close()


class Crossings:
    """Every record on match.threshold-crossed from now on: per opportunity, how many and when
    the last one was produced (the record's timestamp, set by the matcher's producer)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.count: dict[str, int] = {}
        self.last_ms: dict[str, int] = {}
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        from aiokafka import TopicPartition

        from itm.runtime.consumer import make_consumer
        from itm.runtime.topics import TOPICS

        topic = self.settings.topic("match.threshold-crossed")
        self.consumer = make_consumer(self.settings, None, [])
        await self.consumer.start()
        tps = [TopicPartition(topic, p) for p in range(TOPICS["match.threshold-crossed"].partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)  # resolve the end now, before anything is measured
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        from itm.runtime.envelope import decode

        while True:
            for records in (await self.consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    opp = decode(r.value).payload.opportunity_id
                    self.count[opp] = self.count.get(opp, 0) + 1
                    self.last_ms[opp] = max(self.last_ms.get(opp, 0), r.timestamp)

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            await self.consumer.stop()


async def baseline_hop(bootstrap: str, settings: Settings, n: int) -> list[float]:
    from aiokafka import AIOKafkaProducer, TopicPartition

    from itm.runtime.consumer import make_consumer

    topic = settings.topic("profile.skill-added")
    consumer = make_consumer(settings, None, [])
    await consumer.start()
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    await consumer.seek_to_end(tp)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    out = []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            await producer.send_and_wait(topic, b"x" * 300, key=b"baseline", partition=0)
            async with asyncio.timeout(10):
                while True:
                    got = await consumer.getmany(tp, timeout_ms=1000)
                    if got.get(tp):
                        break
            out.append(time.perf_counter() - t0)
            await asyncio.sleep(0.05)
    finally:
        await producer.stop()
        await consumer.stop()
    return out


async def create(c: Clients, emp_id: str, skills) -> None:
    await c.profile.CreateEmployee(profile_pb2.CreateEmployeeRequest(
        request_id=f"create-{emp_id}", employee_id=emp_id, name=f"Name {emp_id}", department="Data",
        manager_id="M1", hours_available_per_week=8), metadata=c.metadata)
    for skill, level, status in skills:
        await set_skill(c, emp_id, skill, level, status)


async def set_skill(c: Clients, emp_id: str, skill: str, level: int, status=V) -> None:
    if status == V:
        await c.profile.VerifySkill(profile_pb2.VerifySkillRequest(
            employee_id=emp_id, skill=skill, level=level, source=common_pb2.EVIDENCE_SOURCE_MANAGER,
            reference="M1"), metadata=c.metadata)
    else:
        await c.profile.UpsertSkill(profile_pb2.UpsertSkillRequest(
            employee_id=emp_id, skill=skill, level=level, status=status), metadata=c.metadata)


def reqs(*spec):
    return [opportunity_pb2.RequirementInput(skill=s, min_level=lv, weight=1, must_have=False) for s, lv in spec]


async def post(c: Clients, title: str, *spec) -> opportunity_pb2.Opportunity:
    return await c.opportunity.PostOpportunity(opportunity_pb2.PostOpportunityRequest(
        request_id=f"post-{title}", title=title, type=GIG, department="Data", hours_per_week=4, duration_weeks=4,
        seats=1, owner_id="O1", requirements=reqs(*spec)), metadata=c.metadata)


async def caught_up(bootstrap: str, group: str, topics: list[str], timeout_s: float) -> float:
    """Wait until ``group`` has committed everything on ``topics``; the seconds it took."""
    import matcher_bench

    tps = matcher_bench._tps(PREFIX, topics)
    t0 = time.monotonic()
    while True:
        done, end = await matcher_bench.committed_progress(bootstrap, PREFIX + group, tps)
        if done >= end:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout_s:
            raise SystemExit(f"{group} did not catch up on {topics} in {timeout_s:.0f} s ({done} of {end})")
        await asyncio.sleep(0.5)


async def preload(spec: str, bootstrap: str, timeout_s: float) -> None:
    """The matcher's enterprise-sized org (see the module's docstring)."""
    import matcher_bench

    from itm.taxonomy import Taxonomy

    n_emp, n_opp = (int(n) for n in spec.lower().split("x"))
    load, _ = matcher_bench.envelopes_for_org(matcher_bench.Org(Taxonomy.load_default(), 1), n_emp, n_opp)
    t0 = time.monotonic()
    for name, part in zip(("catalog and postings", "registrations"), matcher_bench.postings_then_registrations(load)):
        await matcher_bench.produce(bootstrap, PREFIX, part)
        took = await caught_up(bootstrap, "itm-matcher", matcher_bench.matcher_inputs(), timeout_s)
        print(f"   {len(part):,} {name} matched {took:.0f} s after they were produced")
    took = await caught_up(bootstrap, "notifier.crossings", ["match.threshold-crossed"], timeout_s)
    print(f"   the notifier stored their crossings {took:.0f} s later; "
          f"the matcher's org: {n_emp:,} employees x {n_opp:,} opportunities ({time.monotonic() - t0:.0f} s)")


async def run(args) -> None:
    env = {"ITM_LOG_LEVEL": "WARNING"}
    if args.matcher_org:
        env["ITM_MATCHER_LEGACY_MATCH_UPDATED"] = "false"
    with tempfile.TemporaryDirectory(prefix="itm-latency-") as tmp:
        stack = DevStack(data_dir=tmp, services=["profile", "opportunity", "learning", "matcher", "notifier"],
                         topic_prefix=PREFIX, env=env, die_with_parent=True)
        t0 = time.monotonic()
        await asyncio.to_thread(stack.start)
        print(f"stack up in {time.monotonic() - t0:.1f} s")
        settings = Settings(kafka_bootstrap=stack.kafka_bootstrap, topic_prefix=PREFIX)
        c = Clients.connect({n: p.grpc_target for n, p in stack.services.items()}, settings)
        pushes = Pushes(stack.services["notifier"].http_url, settings)
        try:
            if args.matcher_org:
                print(f"loading the matcher's org {args.matcher_org} straight into its input topics ...")
                await preload(args.matcher_org, stack.kafka_bootstrap, args.timeout)
            await bench(args, stack, settings, c, pushes)
        finally:
            await pushes.close()
            await c.close()
            await asyncio.to_thread(stack.stop)


async def bench(args, stack, settings, c: Clients, pushes: Pushes) -> None:
    r = args.repeats
    # the org: background employees, and per repetition of each kind one employee set up one step away
    print(f"seeding {args.org} background employees and {4 * r} measured ones ...")
    await c.learning.PublishCourse(learning_pb2.PublishCourseRequest(
        request_id="course-k8s", course_id="k8s-basics", title="Kubernetes basics", hours=6, format="online",
        provider="ITM", teaches=[learning_pb2.CourseSkillInput(skill="kubernetes", level=3)]), metadata=c.metadata)
    background = [f"BG{i:05d}" for i in range(args.org)]
    for i, e in enumerate(background):
        await create(c, e, [(FILLER_SKILLS[i % len(FILLER_SKILLS)], 1 + i % 5, C)])
    setups = {kind: [] for kind in KINDS}
    for i in range(r):
        e = f"VS{i:03d}"
        await create(c, e, [("sql", 3, V), ("python", 3, C)])
        gig = await post(c, f"verify-{i}", ("sql", 3), ("python", 3))
        setups["VerifySkill"].append((e, gig.opportunity_id))
        e = f"CC{i:03d}"
        await create(c, e, [("sql", 3, V)])
        gig = await post(c, f"course-{i}", ("sql", 3), ("kubernetes", 3))
        setups["CompleteCourse"].append((e, gig.opportunity_id))
        e = f"PO{i:03d}"
        await create(c, e, [(f"rust", 4, V)])
        setups["PostOpportunity"].append((e, None))
        e = f"CR{i:03d}"
        await create(c, e, [("terraform", 3, V)])
        gig = await post(c, f"change-{i}", ("terraform", 3), ("scala", 4))
        setups["ChangeRequirements"].append((e, gig))
    for kind in KINDS:
        for e, _ in setups[kind]:
            await pushes.connect(e)
    await asyncio.sleep(5)  # everything seeded has been matched and pushed; the streams are connected

    stop = asyncio.Event()
    sent = 0
    refused = 0

    async def background_change(e: str, skill: str, level: int) -> None:
        nonlocal refused
        try:
            await set_skill(c, e, skill, level, C)
        except Exception:  # noqa: BLE001 - counted: an overloaded service refusing is a figure too
            refused += 1

    async def load():
        nonlocal sent
        if not args.background:
            return
        period = 1 / args.background
        nxt = time.perf_counter()
        while not stop.is_set():
            e = background[sent % len(background)]
            asyncio.ensure_future(background_change(e, FILLER_SKILLS[(sent // len(background)) % len(FILLER_SKILLS)],
                                                    1 + sent % 5))
            sent += 1
            nxt += period
            await asyncio.sleep(max(0, nxt - time.perf_counter()))

    print(f"\nbaseline: one raw Kafka hop (produce acks=all -> consumer with the services' fetch settings)")
    base = await baseline_hop(stack.kafka_bootstrap, settings, 30)
    print(f"   {fmt(base)}")
    crossings = Crossings(settings)
    await crossings.start()
    posted: list[tuple[str, float]] = []  # each measured posting's id and the wall-clock time of its call
    loader = asyncio.create_task(load())
    started = time.perf_counter()
    results: dict[str, list[float]] = {k: [] for k in KINDS}
    lost = {k: 0 for k in KINDS}
    for i in range(r):
        for kind in KINDS:
            e, extra = setups[kind][i]
            t0 = time.perf_counter()
            if kind == "VerifySkill":
                key = (e, extra)
                pushes.waiting.add(key)
                await set_skill(c, e, "python", 3, V)
            elif kind == "CompleteCourse":
                key = (e, extra)
                pushes.waiting.add(key)
                await c.learning.CompleteCourse(learning_pb2.CompleteCourseRequest(
                    request_id=f"cc-{e}", employee_id=e, course_id="k8s-basics"), metadata=c.metadata)
            elif kind == "PostOpportunity":
                title = f"rust-gig-{i}"
                # the id is only known from the answer: wait on the title, which the push carries
                key = (e, title)
                pushes.waiting.add(key)
                called = time.time()
                gig = await post(c, title, ("rust", 4))
                posted.append((gig.opportunity_id, called))
            else:
                key = (e, extra.opportunity_id)
                pushes.waiting.add(key)
                await c.opportunity.ChangeRequirements(opportunity_pb2.ChangeRequirementsRequest(
                    opportunity_id=extra.opportunity_id, expected_version=extra.version,
                    requirements=reqs(("terraform", 3))), metadata=c.metadata)
            got = await pushes.wait(key, 10)
            if got is None:
                lost[kind] += 1
            else:
                results[kind].append(got - t0)
            await asyncio.sleep(0.1)
    stop.set()
    await loader
    await asyncio.sleep(2)  # the last postings' crossings
    await crossings.close()
    elapsed = time.perf_counter() - started
    size = f" (the matcher also holding {args.matcher_org})" if args.matcher_org else ""
    print(f"\nAPI call -> push at an SSE client{size}, {args.org} background employees, "
          f"{sent / elapsed:.0f} background skill changes/s ({refused} refused):")
    for kind in KINDS:
        print(f"   {kind:<19} {fmt(results[kind])}" + (f", {lost[kind]} not pushed within 10 s" if lost[kind] else ""))
    spans = [(crossings.last_ms[o] / 1000 - called, crossings.count[o]) for o, called in posted if o in crossings.count]
    if spans:
        print(f"   a posting's crossings (everyone it qualified, the measured employee among them): "
              f"{statistics.median(n for _, n in spans):,.0f} a posting (median, max {max(n for _, n in spans):,}); "
              f"the last one produced {fmt([t for t, _ in spans])} after the call")
    everything = [v for vs in results.values() for v in vs]
    print(f"   all                 {fmt(everything)}")
    if base and everything:
        print(f"push p99 {pct(everything, 99) * 1000:.0f} ms = {pct(everything, 99) / pct(base, 50):.0f}x "
              f"the raw hop's p50")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--background", type=int, default=20, help="background skill changes per second")
    ap.add_argument("--org", type=int, default=200, help="background employees")
    ap.add_argument("--matcher-org", metavar="EMPLOYEESxOPPORTUNITIES",
                    help="also load an org this size into the matcher first, e.g. 100000x10000")
    ap.add_argument("--timeout", type=float, default=1800, help="per phase of --matcher-org's load, seconds")
    args = ap.parse_args()
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
