"""The streaming matcher over the real broker, with the real domain services
driving it through their gRPC APIs.

One stack per module (profile, opportunity, learning and the matcher: the
crossings are read from ``match.threshold-crossed`` itself, so the notifier is
not needed); each test uses its own ids. The tests that change the matcher's
workers (a second worker, a SIGKILL, a new scoring version) come last, in that
order, and leave the stack with at least one healthy worker.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections import Counter
from pathlib import Path

import grpc
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from itm.client import Clients
from itm.devstack import ServiceProcess
from itm.runtime.consumer import make_consumer
from itm.runtime.envelope import decode
from itm.runtime.kafka_compat import high_watermarks
from itm.runtime.settings import Settings
from itm.runtime.topics import EMPLOYEE_PARTITIONS, OPPORTUNITY_TOPICS, PROFILE_TOPICS, TOPICS, ensure_topics
from itm.v1 import common_pb2, learning_pb2, matcher_pb2, opportunity_pb2, profile_pb2
from services.matcher.app import BROADCAST, partition_for

V, C = common_pb2.SKILL_STATUS_VERIFIED, common_pb2.SKILL_STATUS_CLAIMED
GIG = common_pb2.OPPORTUNITY_TYPE_GIG
MANAGER = common_pb2.EVIDENCE_SOURCE_MANAGER
MATCHER_ENV = {"matcher_mentors_per_gap": 8, "matcher_registry_ttl_s": 4}
_n = itertools.count(1)


# --------------------------------------------------------------------------- the stack


class Stack:
    def __init__(self, infra, root: Path):
        self.infra = infra
        self.root = root
        self.prefix = f"t{uuid.uuid4().hex[:8]}."
        self.settings = Settings(topic_prefix=self.prefix, kafka_bootstrap=infra.kafka_bootstrap)
        self.procs: dict[str, ServiceProcess] = {}
        self.matchers: list[ServiceProcess] = []
        self.clients: Clients | None = None
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _service(self, name: str, **env) -> ServiceProcess:
        label = f"{name}-{next(_n)}"
        full = {"ITM_KAFKA_BOOTSTRAP": self.infra.kafka_bootstrap, "ITM_REDIS_URL": self.infra.redis_url,
                "ITM_TOPIC_PREFIX": self.prefix,
                "ITM_LOG_FORMAT": os.environ.get("ITM_TEST_LOG_FORMAT", "console"),
                "ITM_DATA_DIR": str(self.root / "data" / label)}
        full.update({f"ITM_{k.upper()}": str(v) for k, v in env.items()})
        proc = ServiceProcess(name, full, self.root, instance=label.split("-", 1)[1])
        proc.start(wait=False)
        return proc

    def start_matcher(self, **env) -> ServiceProcess:
        proc = self._service("matcher", **{**MATCHER_ENV, **env})
        self.matchers.append(proc)
        return proc

    async def start_healthy_matcher(self, **env) -> ServiceProcess:
        """Start a matcher worker and wait for it (a start that died of the fork
        hazard is retried by ``ServiceProcess.wait_ready`` itself)."""
        return await self.start_matcher(**env).wait_healthy_async(120)

    async def start(self) -> None:
        await ensure_topics(self.infra.kafka_bootstrap, prefix=self.prefix)
        for name in ("profile", "opportunity", "learning"):
            self.procs[name] = self._service(name)
        matcher = self.start_matcher()
        for proc in [*self.procs.values(), matcher]:
            await proc.wait_healthy_async(120)
        self.clients = Clients.connect({**{n: p.grpc_target for n, p in self.procs.items()},
                                        "matcher": matcher.grpc_target}, self.settings)

    def matcher_stub(self, proc: ServiceProcess):
        channel = grpc.aio.insecure_channel(proc.grpc_target)
        return channel, Clients({"matcher": channel}, self.clients.metadata).matcher

    @property
    def matcher(self):
        """The query API of a live matcher worker (any worker answers for every employee)."""
        proc = next(p for p in self.matchers if p.returncode is None)
        if proc.grpc_target not in self._channels:
            self._channels[proc.grpc_target] = grpc.aio.insecure_channel(proc.grpc_target)
        return Clients({"matcher": self._channels[proc.grpc_target]}, self.clients.metadata).matcher

    async def stop(self) -> None:
        if self.clients:
            await self.clients.close()
        for channel in self._channels.values():
            await channel.close()
        for proc in [*self.matchers, *self.procs.values()]:
            try:
                await asyncio.to_thread(proc.stop, 10)
            except Exception:  # noqa: BLE001 - keep stopping the others
                proc.kill()

    def logs(self) -> str:
        return "\n".join(f"===== {p.name} =====\n{p.log_tail(60)}" for p in [*self.matchers, *self.procs.values()])


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory):
    s = Stack(infra, tmp_path_factory.mktemp("matcher-stack"))
    try:
        await s.start()
        yield s
    finally:
        await s.stop()


@pytest.fixture
def tag(request):
    """A unique suffix for this test's ids."""
    return f"-{uuid.uuid4().hex[:5]}"


# --------------------------------------------------------------------------- helpers


async def read_all(settings: Settings, topic: str) -> list:
    """Every record of ``topic`` up to its current end, decoded (group-less)."""
    tps = [TopicPartition(settings.topic(topic), p) for p in range(TOPICS[topic].partitions)]
    ends = await high_watermarks(settings.kafka_bootstrap, tps)
    consumer = make_consumer(settings, None, [])
    await consumer.start()
    out = []
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        async with asyncio.timeout(30):
            while any([await consumer.position(tp) < ends[tp] for tp in tps]):
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    out.extend(records)
    finally:
        await consumer.stop()
    return out


async def crossings(settings: Settings, employees, opportunities) -> list:
    """The crossings of these employees for these opportunities (other tests' gigs stay open)."""
    wanted, opps = set(employees), set(opportunities)
    return [e for e in (decode(r.value) for r in await read_all(settings, "match.threshold-crossed"))
            if e.payload.employee_id in wanted and e.payload.opportunity_id in opps]


async def wait_crossings(stack: Stack, want: dict[str, int], opportunities, timeout_s: float = 60) -> list:
    """Wait until each employee has at least ``want[e]`` crossings (distinct event ids)."""
    ids: dict = {}
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                seen = await crossings(stack.settings, want, opportunities)
                ids = {e: {x.event_id for x in seen if x.payload.employee_id == e} for e in want}
                if all(len(ids[e]) >= n for e, n in want.items()):
                    return seen
                await asyncio.sleep(0.3)
    except TimeoutError:
        short = [e for e, n in want.items() if len(ids.get(e, ())) < n]
        raise AssertionError(f"after {timeout_s}s: crossings {ids}, wanted {want}\n"
                             f"{await explain_missing(stack.settings, short)}\n{stack.logs()}") from None


async def explain_missing(settings: Settings, employees: list[str]) -> str:
    """For a report: where the records of ``employees`` are (profile topics, the matcher's
    table changelog) and what the matcher group committed on those partitions."""
    wanted = {e.encode() for e in employees}
    lines = []
    for topic in PROFILE_TOPICS:
        for r in await read_all(settings, topic):
            if r.key in wanted:
                lines.append(f"{topic}[{r.partition}]@{r.offset} {r.key.decode()} v{decode(r.value).version}")
    changelog = settings.topic("itm-matcher-employees-changelog")
    consumer = make_consumer(settings, None, [])
    await consumer.start()
    try:
        tps = [TopicPartition(changelog, p) for p in range(EMPLOYEE_PARTITIONS)]
        ends = await high_watermarks(settings.kafka_bootstrap, tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        async with asyncio.timeout(30):
            while any([await consumer.position(tp) < ends[tp] for tp in tps]):
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    for r in records:
                        if r.key and r.key.strip(b'"') in wanted:
                            lines.append(f"changelog[{r.partition}]@{r.offset} {r.value[:300]!r}")
    except Exception as exc:  # noqa: BLE001 - a report
        lines.append(f"changelog not read: {exc!r}")
    finally:
        await consumer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        inputs = [TopicPartition(settings.topic(t), p) for t in PROFILE_TOPICS + [BROADCAST]
                  for p in range(EMPLOYEE_PARTITIONS)]
        committed = await admin.list_consumer_group_offsets(settings.group("itm-matcher"), partitions=inputs)
        lines += [f"committed {tp.topic}[{tp.partition}] = {meta.offset}" for tp, meta in sorted(committed.items())]
    finally:
        await admin.close()
    return "\n".join(lines)


async def matcher_caught_up(settings: Settings, timeout_s: float = 60) -> None:
    """The matcher group has committed everything on its input topics, twice in a row
    (the broadcast agent writes records the match agent then has to read)."""
    topics = PROFILE_TOPICS + OPPORTUNITY_TOPICS + [BROADCAST]
    tps = [TopicPartition(settings.topic(t), p) for t in topics for p in range(TOPICS[t].partitions)]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    lagging: dict = {}
    try:
        async with asyncio.timeout(timeout_s):
            done_once = None
            while True:
                ends = await high_watermarks(settings.kafka_bootstrap, tps)
                committed = await admin.list_consumer_group_offsets(settings.group("itm-matcher"), partitions=tps)
                done = {tp: max(0, committed[tp].offset) if tp in committed else 0 for tp in tps}
                lagging = {f"{tp.topic}[{tp.partition}]": (done[tp], ends[tp]) for tp in tps if done[tp] < ends[tp]}
                if not lagging and done_once == ends:
                    return
                done_once = ends if not lagging else None
                await asyncio.sleep(0.4)
    except TimeoutError:
        raise AssertionError(f"matcher not caught up after {timeout_s}s: (committed, end) {lagging}") from None
    finally:
        await admin.close()


async def outboxes_drained(stack: Stack, timeout_s: float = 30) -> None:
    import redis.asyncio as aioredis

    r = aioredis.from_url(stack.infra.redis_url)
    try:
        async with asyncio.timeout(timeout_s):
            while any([await r.xlen(stack.settings.key(f"{n}:outbox")) for n in ("profile", "opportunity", "learning")]):
                await asyncio.sleep(0.2)
    finally:
        await r.aclose()


async def settle(stack: Stack) -> None:
    try:
        await outboxes_drained(stack)
        await matcher_caught_up(stack.settings)
    except (AssertionError, TimeoutError) as exc:
        raise AssertionError(f"{exc!r}\n{stack.logs()}") from None


async def employee(c: Clients, emp_id: str, skills=(), *, mentoring=False, threshold=0) -> profile_pb2.Employee:
    emp = await c.profile.CreateEmployee(profile_pb2.CreateEmployeeRequest(
        request_id=f"create-{emp_id}", employee_id=emp_id, name=f"Name {emp_id}", department="Data",
        manager_id="M1", hours_available_per_week=8), metadata=c.metadata)
    if mentoring or threshold:
        emp = await c.profile.SetPreferences(profile_pb2.SetPreferencesRequest(
            employee_id=emp_id, preferences=profile_pb2.MatchPreferences(
                mentoring_opt_in=mentoring, threshold_percent=threshold)), metadata=c.metadata)
    for skill, level, status in skills:
        emp = await set_skill(c, emp_id, skill, level, status)
    return emp


async def set_skill(c: Clients, emp_id: str, skill: str, level: int, status=V) -> profile_pb2.Employee:
    if status == V:
        return await c.profile.VerifySkill(profile_pb2.VerifySkillRequest(
            employee_id=emp_id, skill=skill, level=level, source=MANAGER, reference="M1"), metadata=c.metadata)
    return await c.profile.UpsertSkill(profile_pb2.UpsertSkillRequest(
        employee_id=emp_id, skill=skill, level=level, status=status), metadata=c.metadata)


def reqs(*spec):
    return [opportunity_pb2.RequirementInput(skill=s, min_level=lv, weight=w, must_have=m) for s, lv, w, m in spec]


async def post(c: Clients, title: str, *requirements, owner: str = "O1") -> opportunity_pb2.Opportunity:
    return await c.opportunity.PostOpportunity(opportunity_pb2.PostOpportunityRequest(
        request_id=f"post-{title}", title=title, type=GIG, department="Data", hours_per_week=4, duration_weeks=4,
        seats=1, owner_id=owner, requirements=reqs(*requirements)), metadata=c.metadata)


async def course(c: Clients, course_id: str, hours: float, *teaches) -> None:
    await c.learning.PublishCourse(learning_pb2.PublishCourseRequest(
        request_id=f"course-{course_id}", course_id=course_id, title=f"Course {course_id}", hours=hours,
        format="online", provider="ITM", teaches=[learning_pb2.CourseSkillInput(skill=s, level=lv) for s, lv in teaches]),
        metadata=c.metadata)


async def my_matches(stub, c: Clients, emp_id: str, timeout_s: float = 30) -> matcher_pb2.MatchList:
    """MyMatches, retrying while a partition is between owners (UNAVAILABLE)."""
    async with asyncio.timeout(timeout_s):
        while True:
            try:
                return await stub.MyMatches(matcher_pb2.MyMatchesRequest(employee_id=emp_id, limit=50),
                                            metadata=c.metadata)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                await asyncio.sleep(0.5)


def scores(matches: matcher_pb2.MatchList) -> dict[str, int]:
    return {m.opportunity_id: m.score_percent for m in matches.matches}


def ids_in(partition: int, stem: str, n: int = 1) -> list[str]:
    """``n`` employee ids with ``stem`` that the default partitioner puts in ``partition``."""
    out = []
    for i in itertools.count():
        candidate = f"{stem}{i}"
        if partition_for(candidate) == partition:
            out.append(candidate)
            if len(out) == n:
                return out


async def registry(stack: Stack) -> list[dict]:
    import redis.asyncio as aioredis

    from services.matcher.registry import WorkerRegistry

    r = aioredis.from_url(stack.infra.redis_url)
    try:
        return await WorkerRegistry(r, stack.settings, "reader", "", 10).workers()
    finally:
        await r.aclose()


async def wait_for_workers(stack: Stack, n: int, timeout_s: float = 60) -> list[dict]:
    """Until ``n`` live workers share all partitions, each owning at least one."""
    alive = {p.grpc_target for p in stack.matchers if p.returncode is None}
    async with asyncio.timeout(timeout_s):
        while True:
            workers = [w for w in await registry(stack) if w["address"] in alive and w["partitions"]]
            owned = sorted(p for w in workers for p in w["partitions"])
            if len(workers) == n and owned == list(range(EMPLOYEE_PARTITIONS)):
                return workers
            await asyncio.sleep(0.5)


# --------------------------------------------------------------------------- one worker


async def test_a_requirement_change_notifies_exactly_the_three_it_pushes_over_80_percent(stack, tag):
    c, s = stack.clients, stack.settings
    a, b, cc, d = (f"A{tag}", f"B{tag}", f"C{tag}", f"D{tag}")
    await employee(c, a, [("sql", 3, V), ("python", 3, V), ("excel", 2, V)])
    await employee(c, b, [("sql", 3, V), ("python", 3, V), ("excel", 1, V)])
    await employee(c, cc, [("sql", 3, V), ("python", 2, V), ("excel", 2, V)])
    await employee(c, d, [("sql", 3, V), ("python", 1, V), ("excel", 2, V)])
    gig = await post(c, f"Analytics gig{tag}", ("sql", 3, 1, False), ("python", 3, 1, False), ("excel", 2, 1, False),
                     ("kubernetes", 3, 1, False))
    await settle(stack)
    # nobody lacks only a little: 75, 62, 66 and 58 % of four equal requirements
    before = {e: scores(await my_matches(stack.matcher, c, e)).get(gig.opportunity_id) for e in (a, b, cc, d)}
    assert before == {a: 75, b: 62, cc: 66, d: 58}
    assert await crossings(s, [a, b, cc, d], [gig.opportunity_id]) == []

    changed = await c.opportunity.ChangeRequirements(opportunity_pb2.ChangeRequirementsRequest(
        opportunity_id=gig.opportunity_id, expected_version=gig.version,
        requirements=reqs(("sql", 3, 1, False), ("python", 3, 1, False), ("excel", 2, 1, False))), metadata=c.metadata)
    assert changed.version == gig.version + 1
    await wait_crossings(stack, {a: 1, b: 1, cc: 1}, [gig.opportunity_id])
    await settle(stack)
    seen = await crossings(s, [a, b, cc, d], [gig.opportunity_id])
    got = {(x.payload.employee_id, x.payload.score_percent, x.payload.previous_score_percent) for x in seen}
    assert got == {(a, 100, 75), (b, 83, 62), (cc, 88, 66)}
    assert len({x.event_id for x in seen}) == 3
    assert all(x.payload.cause_event_type == "opportunity.requirements-changed" for x in seen)
    assert all(x.payload.opportunity_id == gig.opportunity_id and x.payload.threshold_percent == 80 for x in seen)
    assert [x.payload.fully_qualified for x in seen if x.payload.employee_id == a] == [True]
    # the fourth moved too, but stays below 80
    assert scores(await my_matches(stack.matcher, c, d))[gig.opportunity_id] == 77


async def test_a_course_completion_from_70_to_85_notifies_with_the_learning_path_and_mentors(stack, tag):
    c, s = stack.clients, stack.settings
    learner, mentor, shy = f"L{tag}", f"M{tag}", f"N{tag}"
    await course(c, f"sql-3{tag}", 6, ("sql", 3))
    await course(c, f"k8s-4{tag}", 12, ("kubernetes", 4))
    await course(c, f"k8s-py{tag}", 20, ("kubernetes", 4), ("python", 4))
    await course(c, f"k8s-2{tag}", 3, ("kubernetes", 2))  # too low to close the gap
    await employee(c, mentor, [("kubernetes", 5, V), ("docker", 3, V)], mentoring=True)
    await employee(c, shy, [("kubernetes", 5, V), ("docker", 4, V)])  # no mentoring opt-in
    # sql claimed 2 (0.5 x 6), python 3 (5), excel 2 (3), kubernetes 2 of 4 (0.5 x 4), docker 1 of 2 (0.5 x 2)
    await employee(c, learner, [("sql", 2, C), ("python", 3, V), ("excel", 2, V), ("kubernetes", 2, V), ("docker", 1, V)])
    gig = await post(c, f"Platform data gig{tag}", ("sql", 2, 6, False), ("python", 3, 5, False), ("excel", 2, 3, False),
                     ("kubernetes", 4, 4, False), ("docker", 2, 2, False))
    await settle(stack)
    assert scores(await my_matches(stack.matcher, c, learner)).get(gig.opportunity_id) == 70

    done = await c.learning.CompleteCourse(learning_pb2.CompleteCourseRequest(
        request_id=f"complete{tag}", employee_id=learner, course_id=f"sql-3{tag}"), metadata=c.metadata)
    assert done.status == "completed"
    seen = await wait_crossings(stack, {learner: 1}, [gig.opportunity_id])
    crossed = seen[0].payload
    assert (crossed.score_percent, crossed.previous_score_percent, crossed.threshold_percent) == (85, 70, 80)
    assert crossed.cause_event_type == "profile.skill-verified" and not crossed.fully_qualified
    exp = crossed.explanation
    assert [(g.skill_id, g.required_level, g.current_level) for g in exp.gaps] == [("kubernetes", 4, 2), ("docker", 2, 1)]
    # the kubernetes course closes one gap (12 h); no course teaches docker: 17 + 2 of 20 = 95 %
    assert [st.course_id for st in exp.learning_path] == [f"k8s-4{tag}"] and exp.learning_path_hours == 12
    assert list(exp.uncovered_skill_ids) == ["docker"] and exp.projected_score_percent == 95
    assert {(m.employee_id, m.skill_id, m.level) for m in exp.mentors} >= {(mentor, "kubernetes", 5), (mentor, "docker", 3)}
    assert shy not in {m.employee_id for m in exp.mentors}
    await settle(stack)
    assert len(await crossings(s, [learner], [gig.opportunity_id])) == 1


async def test_a_closed_gig_never_notifies_again_and_its_state_is_released(stack, tag):
    c, s = stack.clients, stack.settings
    q = f"Q{tag}"
    await employee(c, q, [("sql", 3, V), ("excel", 3, V)])
    closing = await post(c, f"Closing gig{tag}", ("sql", 3, 1, False), ("excel", 3, 1, False))
    control = await post(c, f"Control gig{tag}", ("sql", 3, 1, False), ("excel", 3, 1, False))
    both = [closing.opportunity_id, control.opportunity_id]
    await wait_crossings(stack, {q: 2}, both)
    closed = await c.opportunity.CloseOpportunity(opportunity_pb2.CloseOpportunityRequest(
        opportunity_id=closing.opportunity_id, expected_version=closing.version, outcome="cancelled"), metadata=c.metadata)
    assert closed.status == common_pb2.OPPORTUNITY_STATUS_CLOSED
    await settle(stack)
    mine = scores(await my_matches(stack.matcher, c, q))
    assert closing.opportunity_id not in mine and mine[control.opportunity_id] == 100  # released
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stack.matcher.BestCandidates(matcher_pb2.BestCandidatesRequest(opportunity_id=closing.opportunity_id),
                                       metadata=c.metadata)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    # drop below and come back: a real re-crossing for the open gig, nothing for the closed one
    # (settled in between: removal and verification travel on different topics, so the
    # matcher may see the newer one first and rightly skip the older as stale)
    await c.profile.RemoveSkill(profile_pb2.RemoveSkillRequest(employee_id=q, skill="excel"), metadata=c.metadata)
    await settle(stack)
    assert scores(await my_matches(stack.matcher, c, q))[control.opportunity_id] == 50
    await set_skill(c, q, "excel", 3)
    # and a stale copy of the closed gig's posting cannot reopen it
    posted = [r for r in await read_all(s, "opportunity.gig-posted") if r.key == closing.opportunity_id.encode()]
    await produce(s, "opportunity.gig-posted", posted[0].key, posted[0].value)
    await wait_crossings(stack, {q: 3}, both)
    await settle(stack)
    per_gig = Counter(x.payload.opportunity_id for x in await crossings(s, [q], both))
    assert per_gig == {closing.opportunity_id: 1, control.opportunity_id: 2}
    assert closing.opportunity_id not in scores(await my_matches(stack.matcher, c, q))


async def produce(settings: Settings, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic(topic), value=value, key=key)
    finally:
        await producer.stop()


async def test_duplicated_and_stale_events_are_harmless(stack, tag):
    c, s = stack.clients, stack.settings
    e = f"S{tag}"
    await employee(c, e, [("sql", 3, V), ("excel", 2, V), ("python", 2, V)])
    gig = await post(c, f"Dup gig{tag}", ("sql", 3, 1, False), ("excel", 2, 1, False), ("python", 2, 1, False))
    await wait_crossings(stack, {e: 1}, [gig.opportunity_id])
    changed = await c.opportunity.ChangeRequirements(opportunity_pb2.ChangeRequirementsRequest(
        opportunity_id=gig.opportunity_id, requirements=reqs(("sql", 3, 1, False), ("excel", 2, 1, False),
                                                             ("python", 3, 1, False))), metadata=c.metadata)
    assert changed.version == 2
    await settle(stack)
    assert scores(await my_matches(stack.matcher, c, e)).get(gig.opportunity_id) == 88
    updates_before = [x for x in await read_all(s, "match.updated") if x.key == e.encode()]

    profile_events, opp_events = [], []
    for t in PROFILE_TOPICS:
        profile_events += [r for r in await read_all(s, t) if r.key == e.encode()]
    for t in OPPORTUNITY_TOPICS:
        opp_events += [r for r in await read_all(s, t) if r.key == gig.opportunity_id.encode()]
    profile_events.sort(key=lambda r: decode(r.value).version)
    latest, first = profile_events[-1], profile_events[0]
    assert decode(first.value).version == 1 and decode(latest.value).version == 4
    posted = next(r for r in opp_events if decode(r.value).version == 1)
    # a duplicate (same event, again), a stale registration without skills, a stale posting
    await produce(s, latest.topic[len(s.topic_prefix):], latest.key, latest.value)
    await produce(s, first.topic[len(s.topic_prefix):], first.key, first.value)
    await produce(s, "opportunity.gig-posted", posted.key, posted.value)
    await settle(stack)

    assert scores(await my_matches(stack.matcher, c, e)).get(gig.opportunity_id) == 88
    assert len(await crossings(s, [e], [gig.opportunity_id])) == 1
    assert [x for x in await read_all(s, "match.updated") if x.key == e.encode()] == updates_before
    # the matcher is alive and listening: a real change still goes through
    await set_skill(c, e, "python", 3)
    await wait_crossings(stack, {e: 2}, [gig.opportunity_id])
    assert scores(await my_matches(stack.matcher, c, e)).get(gig.opportunity_id) == 100


async def test_an_employee_hidden_from_owners_is_no_best_candidate_but_keeps_their_matches_and_pushes(stack, tag):
    c = stack.clients
    hidden_id, listed_id = f"H{tag}", f"L{tag}"
    for who in (hidden_id, listed_id):
        await employee(c, who, [("sql", 3, V), ("excel", 3, V)])
    gig = await post(c, f"Visibility gig{tag}", ("sql", 3, 1, False), ("excel", 3, 1, False))
    await wait_crossings(stack, {hidden_id: 1, listed_id: 1}, [gig.opportunity_id])
    owner = c.as_(stack.settings, "O1", "employee")  # the gig's owner

    async def best() -> set[str]:
        await settle(stack)
        answer = await stack.matcher.BestCandidates(matcher_pb2.BestCandidatesRequest(
            opportunity_id=gig.opportunity_id, limit=100), metadata=owner.metadata)
        assert not answer.missing_partitions
        return {m.employee_id for m in answer.matches}

    assert {hidden_id, listed_id} <= await best()
    me = c.as_(stack.settings, hidden_id, "employee")
    chosen = await me.profile.SetVisibility(profile_pb2.SetVisibilityRequest(
        employee_id=hidden_id, visibility=profile_pb2.Visibility(hidden_from_opportunity_owners=True)),
        metadata=me.metadata)
    assert chosen.visibility.hidden_from_opportunity_owners and not chosen.visibility.hide_aspirational_from_managers
    listed = await best()
    assert hidden_id not in listed and listed_id in listed, listed
    # their own matches and pushes are unaffected
    assert scores(await my_matches(stack.matcher, c, hidden_id))[gig.opportunity_id] == 100
    second = await post(c, f"Second visibility gig{tag}", ("sql", 2, 1, False))
    await wait_crossings(stack, {hidden_id: 1}, [second.opportunity_id])
    # and the choice can be taken back
    await me.profile.SetVisibility(profile_pb2.SetVisibilityRequest(
        employee_id=hidden_id, visibility=profile_pb2.Visibility()), metadata=me.metadata)
    assert {hidden_id, listed_id} <= await best()


async def score_opportunities(stub, c_or_md, emp_id: str, ids=(), explain=False) -> matcher_pb2.MatchList:
    md = c_or_md.metadata if isinstance(c_or_md, Clients) else c_or_md
    return await stub.ScoreOpportunities(matcher_pb2.ScoreOpportunitiesRequest(
        employee_id=emp_id, opportunity_ids=list(ids), explain=explain), metadata=md, timeout=30)


async def test_score_opportunities_answers_current_scores_below_the_floor_with_explanations(stack, tag):
    c, s = stack.clients, stack.settings
    e, other = f"SO{tag}", f"SX{tag}"
    await employee(c, e, [("sql", 3, V), ("excel", 1, C)])
    await employee(c, other, [("sql", 3, V)])
    strong = await post(c, f"Strong gig{tag}", ("sql", 3, 1, False), ("excel", 2, 1, False))  # 50 + 12 = 62 %
    weak = await post(c, f"Weak gig{tag}", ("sql", 3, 1, False), ("python", 3, 3, False))  # 25 %: below the floor
    nothing = await post(c, f"Unrelated gig{tag}", ("accounting", 3, 1, False))  # 0 %
    own = await post(c, f"Own gig{tag}", ("sql", 3, 1, False), owner=e)  # 100 %, but the employee's own
    closed = await post(c, f"Closed gig{tag}", ("sql", 3, 1, False))
    await c.opportunity.CloseOpportunity(opportunity_pb2.CloseOpportunityRequest(
        opportunity_id=closed.opportunity_id, expected_version=closed.version, outcome="cancelled"), metadata=c.metadata)
    await settle(stack)
    listed = [weak.opportunity_id, strong.opportunity_id, nothing.opportunity_id, own.opportunity_id,
              closed.opportunity_id, f"no-such-gig{tag}", weak.opportunity_id]
    me = c.as_(s, e, "employee")
    answer = await score_opportunities(stack.matcher, me, e, listed)
    # in the order asked, each once; the own, closed and unknown ones left out
    assert [(m.opportunity_id, m.score_percent, m.qualified) for m in answer.matches] == [
        (weak.opportunity_id, 25, False), (strong.opportunity_id, 62, False), (nothing.opportunity_id, 0, False)]
    assert all(m.employee_id == e and not m.HasField("explanation") for m in answer.matches)
    assert answer.matches[1].opportunity_title == f"Strong gig{tag}"
    # MyMatches lists only what reaches the pair floor (30 %), and never the own gig
    assert set(scores(await my_matches(stack.matcher, c, e))) & set(listed) == {strong.opportunity_id}

    explained = await score_opportunities(stack.matcher, c, e, [strong.opportunity_id], explain=True)
    exp = explained.matches[0].explanation
    assert [(x.skill_id, x.employee_level, round(x.credit, 3)) for x in exp.credits] == [("sql", 3, 1.0), ("excel", 1, 0.25)]
    assert [(g.skill_id, g.required_level, g.current_level) for g in exp.gaps] == [("excel", 2, 1)]

    every = await score_opportunities(stack.matcher, c, e)  # empty list: every open opportunity, best first
    got = {m.opportunity_id: m.score_percent for m in every.matches}
    assert {k: got.get(k) for k in (strong.opportunity_id, weak.opportunity_id, nothing.opportunity_id)} == {
        strong.opportunity_id: 62, weak.opportunity_id: 25, nothing.opportunity_id: 0}
    assert own.opportunity_id not in got and closed.opportunity_id not in got
    assert [m.score_percent for m in every.matches] == sorted((m.score_percent for m in every.matches), reverse=True)

    # a score that moves is answered as it is now
    await set_skill(c, e, "excel", 2)
    await settle(stack)
    again = await score_opportunities(stack.matcher, c, e, [strong.opportunity_id])
    assert [(m.score_percent, m.qualified) for m in again.matches] == [(100, True)]

    # who may ask: the employee, HR, a service; not another employee; and bad requests name the field
    hr = c.as_(s, "HR1", "hr_admin")
    assert len((await score_opportunities(stack.matcher, hr, e, [strong.opportunity_id])).matches) == 1
    for md, emp_id, ids, explain, code in [
        (c.as_(s, other, "employee").metadata, e, [strong.opportunity_id], False, grpc.StatusCode.PERMISSION_DENIED),
        (c.metadata, "", [], False, grpc.StatusCode.INVALID_ARGUMENT),
        (c.metadata, e, [f"O{i}" for i in range(1001)], False, grpc.StatusCode.INVALID_ARGUMENT),
        (c.metadata, e, ["x" * 10_000], False, grpc.StatusCode.INVALID_ARGUMENT),
        (c.metadata, e, [], True, grpc.StatusCode.INVALID_ARGUMENT),
        (c.metadata, f"nobody{tag}", [], False, grpc.StatusCode.NOT_FOUND),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await score_opportunities(stack.matcher, md, emp_id, ids, explain)
        assert err.value.code() == code, (emp_id, ids[:1], explain)
        assert len(err.value.details()) < 300


async def test_an_owner_is_never_matched_with_notified_about_or_listed_for_their_own_opportunity(stack, tag):
    c = stack.clients
    owner, peer = f"OW{tag}", f"PE{tag}"
    for who in (owner, peer):
        await employee(c, who, [("sql", 3, V), ("excel", 3, V)])
    gig = await post(c, f"Owned gig{tag}", ("sql", 3, 1, False), ("excel", 3, 1, False), owner=owner)
    await wait_crossings(stack, {peer: 1}, [gig.opportunity_id])
    await settle(stack)
    assert await crossings(stack.settings, [owner], [gig.opportunity_id]) == []
    assert gig.opportunity_id not in scores(await my_matches(stack.matcher, c, owner))
    me = c.as_(stack.settings, owner, "employee")
    best = await stack.matcher.BestCandidates(matcher_pb2.BestCandidatesRequest(
        opportunity_id=gig.opportunity_id, limit=100), metadata=me.metadata)
    assert peer in {m.employee_id for m in best.matches} and owner not in {m.employee_id for m in best.matches}
    # a requirement change that rescores everybody still leaves the owner out
    await c.opportunity.ChangeRequirements(opportunity_pb2.ChangeRequirementsRequest(
        opportunity_id=gig.opportunity_id, requirements=reqs(("sql", 3, 2, False), ("excel", 2, 1, False))),
        metadata=c.metadata)
    await settle(stack)
    assert await crossings(stack.settings, [owner], [gig.opportunity_id]) == []
    assert gig.opportunity_id not in scores(await my_matches(stack.matcher, c, owner))


async def set_threshold(c: Clients, emp_id: str, threshold: int) -> None:
    await c.profile.SetPreferences(profile_pb2.SetPreferencesRequest(
        employee_id=emp_id, preferences=profile_pb2.MatchPreferences(threshold_percent=threshold)), metadata=c.metadata)


async def test_lowering_the_threshold_does_not_push_a_crossing_already_shown_unless_it_dropped_below(stack, tag):
    c, s = stack.clients, stack.settings
    e = f"TL{tag}"
    await employee(c, e, [("sql", 3, V), ("excel", 1, V)], threshold=80)
    shown = await post(c, f"Shown gig{tag}", ("sql", 3, 3, False), ("excel", 2, 1, False))  # (3 + 0.5) / 4 = 87 %
    below = await post(c, f"Below gig{tag}", ("sql", 3, 1, False), ("excel", 2, 1, False))  # 75 %
    both = [shown.opportunity_id, below.opportunity_id]
    await wait_crossings(stack, {e: 1}, both)
    await set_threshold(c, e, 70)  # 87 % was shown and stays qualified; 75 % crosses 70 now
    await wait_crossings(stack, {e: 2}, both)
    await settle(stack)
    assert Counter(x.payload.opportunity_id for x in await crossings(s, [e], both)) == {
        shown.opportunity_id: 1, below.opportunity_id: 1}
    # above both scores (neither is qualified any more), then back down: both crossed again
    await set_threshold(c, e, 90)
    await settle(stack)
    await set_threshold(c, e, 70)
    await wait_crossings(stack, {e: 4}, both)
    await settle(stack)
    seen = await crossings(s, [e], both)
    assert Counter(x.payload.opportunity_id for x in seen) == {shown.opportunity_id: 2, below.opportunity_id: 2}
    assert sorted(x.payload.threshold_percent for x in seen) == [70, 70, 70, 80]


async def qualified_share_gauges(stack: Stack) -> tuple[float, float]:
    """(matchable employees, employees with a qualified match) from the only live worker's /metrics."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    await settle(stack)
    (proc,) = [p for p in stack.matchers if p.returncode is None]
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(f"{proc.http_url}/metrics", timeout=5).read().decode())
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    return values["itm_kpi_matchable_employees"], values["itm_kpi_employees_with_qualified_match"]


async def test_the_share_of_employees_with_a_qualified_match_follows_qualification_and_opt_out(stack, tag):
    c = stack.clients
    matchable, qualified = await qualified_share_gauges(stack)
    strong, weak = f"S{tag}", f"W{tag}"
    await employee(c, strong, [("sql", 3, V), ("excel", 3, V)])
    await employee(c, weak, [("sql", 1, C)])
    gig = await post(c, f"KPI gig{tag}", ("sql", 3, 1, False), ("excel", 3, 1, False))
    await wait_crossings(stack, {strong: 1}, [gig.opportunity_id])
    assert await qualified_share_gauges(stack) == (matchable + 2, qualified + 1)
    await c.profile.SetPreferences(profile_pb2.SetPreferencesRequest(
        employee_id=strong, preferences=profile_pb2.MatchPreferences(opted_out=True)), metadata=c.metadata)
    assert await qualified_share_gauges(stack) == (matchable + 1, qualified)


async def scrape(url: str) -> dict[str, float]:
    """A process's /metrics: sample name with labels -> value."""
    import aiohttp
    from prometheus_client.parser import text_string_to_metric_families

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/metrics") as resp:
            text = await resp.text()
    return {f"{x.name}{{{','.join(f'{k}={v}' for k, v in sorted(x.labels.items()))}}}": x.value
            for family in text_string_to_metric_families(text) for x in family.samples}


def total(samples: dict[str, float], name: str, **labels) -> float:
    want = [f"{k}={v}" for k, v in labels.items()]
    return sum(v for k, v in samples.items() if k.split("{")[0] == name and all(w in k.split("{", 1)[1].rstrip("}").split(",") for w in want))


async def test_the_matcher_reports_consumed_produced_and_lag_per_partition_like_every_consumer(stack, tag):
    """Issue 12 items 5 and 3: the metric names the other consumers use (itm/runtime/metrics.py),
    so the dashboard's panels and ITMConsumerLagGrowing cover the matcher too; and one
    match.updated.v2 record for the event that changed two pairs of one employee."""
    c, s = stack.clients, stack.settings
    proc = next(p for p in stack.matchers if p.returncode is None)
    await settle(stack)
    before = await scrape(proc.http_url)
    e = f"K{tag}"
    # a skill (with no related one) no other test uses: these two gigs are all it changes
    gigs = [await post(c, f"Metrics gig {i}{tag}", ("cobol", 3, 1, False)) for i in (1, 2)]
    ids = sorted(g.opportunity_id for g in gigs)
    await settle(stack)  # both gigs reached the match agent (through the broadcast) before she has the skill
    await employee(c, e, [("cobol", 3, V)])
    await wait_crossings(stack, {e: 2}, ids)
    await settle(stack)
    await asyncio.sleep(2.5)  # the lag is observed every second
    after = await scrape(proc.http_url)

    def grew(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("itm_events_consumed_total", topic="profile.skill-verified", consumer="matcher.match") == 1
    assert grew("itm_events_consumed_total", topic="opportunity.gig-posted", consumer="matcher.broadcast") == 2
    # the broadcast agent copies each posting to every partition; the match agent reads each copy
    assert grew("itm_events_produced_total", topic=BROADCAST) == 2 * EMPLOYEE_PARTITIONS
    assert grew("itm_events_consumed_total", topic=BROADCAST, consumer="matcher.match") == 2 * EMPLOYEE_PARTITIONS
    assert grew("itm_events_produced_total", topic="match.threshold-crossed") == 2
    assert grew("itm_events_produced_total", topic="match.updated.v2") == 1
    assert grew("itm_events_produced_total", topic="match.updated") == 2  # the deprecated topic, per pair
    # one worker holds every partition: a lag series for each, all caught up
    lag = {k: v for k, v in after.items() if k.startswith("itm_consumer_lag{")}
    match_series = {k for k in lag if "consumer=matcher.match" in k}
    broadcast_series = {k for k in lag if "consumer=matcher.broadcast" in k}
    assert len(match_series) == EMPLOYEE_PARTITIONS * (len(PROFILE_TOPICS) + 1), sorted(match_series)
    assert len(broadcast_series) == sum(TOPICS[t].partitions for t in OPPORTUNITY_TOPICS), sorted(broadcast_series)
    assert sum(lag.values()) == 0, {k: v for k, v in lag.items() if v}
    # recovered, so its fetches wait briefly (the long wait is for reading the changelog)
    assert total(after, "itm_match_fetch_wait_seconds") == 0.02

    # match.updated.v2: the skill verification changed both pairs, in one record
    v2 = [x for x in (decode(r.value) for r in await read_all(s, "match.updated.v2")) if x.subject == e]
    assert len(v2) == 1
    assert v2[0].envelope.schema_version == 2 and v2[0].payload.cause_event_type == "profile.skill-verified"
    assert v2[0].envelope.causation_id == v2[0].payload.cause_event_id != ""
    assert [(p.opportunity_id, p.score_percent, p.previous_score_percent, p.qualified)
            for p in v2[0].payload.pairs] == [(o, 100, 0, True) for o in ids]
    legacy = [x for x in (decode(r.value) for r in await read_all(s, "match.updated")) if x.subject == e]
    assert sorted(x.payload.opportunity_id for x in legacy) == ids


# --------------------------------------------------------------------------- more workers


async def scenario(stack: Stack, tag: str) -> dict:
    """Employees on every partition, two gigs, a requirement change, course completions
    and skill changes, phase by phase (each phase settles, so the crossings do not depend
    on how the phases' events interleave)."""
    c = stack.clients
    await course(c, f"py-3{tag}", 8, ("python", 3))
    people = [e for p in range(EMPLOYEE_PARTITIONS) for e in ids_in(p, f"W{tag}-{p}-", 3)]
    for i, e in enumerate(people):
        await employee(c, e, [("sql", 3, V), ("python", 1 + i % 3, V), ("excel", 2 if i % 2 else 1, V)])
    await settle(stack)
    g1 = await post(c, f"G1{tag}", ("sql", 3, 2, False), ("python", 3, 1, False), ("excel", 2, 1, False))
    g2 = await post(c, f"G2{tag}", ("sql", 2, 1, False), ("python", 2, 1, True), ("docker", 2, 1, False))
    await settle(stack)
    await c.opportunity.ChangeRequirements(opportunity_pb2.ChangeRequirementsRequest(
        opportunity_id=g2.opportunity_id, requirements=reqs(("sql", 2, 1, False), ("python", 2, 1, True))),
        metadata=c.metadata)
    await settle(stack)
    for e in people[::3]:
        await c.learning.CompleteCourse(learning_pb2.CompleteCourseRequest(
            request_id=f"done-{e}", employee_id=e, course_id=f"py-3{tag}"), metadata=c.metadata)
    for e in people[1::3]:
        await set_skill(c, e, "excel", 3)
    await settle(stack)
    return {"people": people, "titles": {g1.opportunity_id: "G1", g2.opportunity_id: "G2"}}


def crossing_set(events, scenario_: dict) -> set[tuple]:
    """(employee's place in the scenario, gig, score): comparable across runs."""
    place = {e: i for i, e in enumerate(scenario_["people"])}
    return {(place[x.payload.employee_id], scenario_["titles"][x.payload.opportunity_id], x.payload.score_percent)
            for x in events}


async def test_two_workers_give_the_same_crossings_and_answer_for_each_other(stack):
    c, s = stack.clients, stack.settings
    assert len([p for p in stack.matchers if p.returncode is None]) == 1
    one, two = "-one", "-two"
    # mentors on every partition (mentors_per_gap is 8 here): docker level 3
    mentors = [ids_in(p, f"Mentor{one}-{p}-")[0] for p in range(EMPLOYEE_PARTITIONS)]
    for m in mentors:
        await employee(c, m, [("docker", 3, V)], mentoring=True)

    first = await scenario(stack, one)
    await settle(stack)
    single = crossing_set(await crossings(s, first["people"], first["titles"]), first)
    assert len(single) >= 8, single

    await stack.start_healthy_matcher()
    workers = await wait_for_workers(stack, 2)
    second = await scenario(stack, two)
    await settle(stack)
    double = crossing_set(await crossings(s, second["people"], second["titles"]), second)
    assert double == single

    # MyMatches from either worker, forwarded to the owner when needed
    channels = []
    try:
        stubs = []
        for proc in stack.matchers:
            channel, stub = stack.matcher_stub(proc)
            channels.append(channel)
            stubs.append((proc.grpc_target, stub))
        owner = {p: w["address"] for w in workers for p in w["partitions"]}
        forwarded = Counter()
        for e in second["people"]:
            answers = [(asked, await my_matches(stub, c, e)) for asked, stub in stubs]
            (asked1, a1), (asked2, a2) = answers
            assert a1.matches == a2.matches and a1.matches
            assert a1.served_by == a2.served_by == owner[partition_for(e)]
            forwarded.update(asked for asked, a in answers if a.served_by != asked)
            scored = [await score_opportunities(stub, c, e, list(second["titles"])) for _, stub in stubs]
            assert scored[0].matches == scored[1].matches and len(scored[0].matches) == 2
            assert scored[0].served_by == scored[1].served_by == owner[partition_for(e)]
        assert set(forwarded) == {t for t, _ in stubs}  # each worker forwarded some

        # BestCandidates fans out to both workers and merges
        g1 = next(o for o, t in second["titles"].items() if t == "G1")
        lists = [await stub.BestCandidates(matcher_pb2.BestCandidatesRequest(opportunity_id=g1, limit=100),
                                           metadata=c.metadata) for _, stub in stubs]
        assert lists[0].matches == lists[1].matches and not lists[0].missing_partitions
        listed = {m.employee_id for m in lists[0].matches}
        assert {partition_for(e) for e in listed} == set(range(EMPLOYEE_PARTITIONS))
        assert [m.score_percent for m in lists[0].matches] == sorted((m.score_percent for m in lists[0].matches),
                                                                     reverse=True)
    finally:
        for channel in channels:
            await channel.close()

    # mentors from every partition, whichever worker computed the explanation
    learner = ids_in(0, f"Learner{two}-")[0]
    await employee(c, learner, [("sql", 3, V), ("python", 3, V)])
    gig = await post(c, f"Mentored gig{two}", ("sql", 3, 2, False), ("python", 3, 2, False), ("docker", 3, 1, False))
    crossed = (await wait_crossings(stack, {learner: 1}, [gig.opportunity_id]))[0].payload
    assert crossed.opportunity_id == gig.opportunity_id and crossed.score_percent == 80
    listed = {m.employee_id for m in crossed.explanation.mentors if m.skill_id == "docker"}
    assert listed >= set(mentors)  # (other tests' docker mentors may be listed too)
    assert len({w["address"] for w in workers}) == 2


async def test_a_worker_killed_mid_stream_loses_and_doubles_no_crossing(stack, tag):
    c, s = stack.clients, stack.settings
    alive = [p for p in stack.matchers if p.returncode is None]
    if len(alive) < 2:
        await stack.start_healthy_matcher()
    workers = await wait_for_workers(stack, 2)
    gig = await post(c, f"Failover gig{tag}", ("sql", 3, 1, False), ("excel", 2, 1, False))
    people = [e for p in range(EMPLOYEE_PARTITIONS) for e in ids_in(p, f"K{tag}-{p}-", 8)]
    for e in people:
        await employee(c, e, [("sql", 3, V)])  # 50 %
    await settle(stack)

    victim_entry = workers[-1]
    victim = next(p for p in stack.matchers if p.returncode is None and p.grpc_target == victim_entry["address"])
    victims = [e for e in people if partition_for(e) in victim_entry["partitions"]]

    # every employee's second skill at once (100 %: one crossing each); SIGKILL the worker
    # as soon as it has emitted its first crossing, so it dies with events in flight
    updates = asyncio.gather(*(set_skill(c, e, "excel", 2) for e in people))
    async with asyncio.timeout(60):
        while not await crossings(s, victims, [gig.opportunity_id]):
            await asyncio.sleep(0.05)
    victim.kill()  # no goodbye, no final commit, no producer flush
    at_kill = len(await crossings(s, victims, [gig.opportunity_id]))
    await updates
    assert victim.returncode is not None
    await wait_crossings(stack, {e: 1 for e in people}, [gig.opportunity_id], timeout_s=120)
    await settle(stack)
    seen = await crossings(s, people, [gig.opportunity_id])
    distinct = {}
    for x in seen:
        distinct.setdefault((x.payload.employee_id, x.payload.opportunity_id), set()).add(x.event_id)
    # every employee crossed, once: redeliveries after the failover carry the same id
    assert set(distinct) == {(e, gig.opportunity_id) for e in people}
    assert all(len(ids) == 1 for ids in distinct.values()), {k: v for k, v in distinct.items() if len(v) > 1}
    assert {x.payload.score_percent for x in seen} == {100}
    print(f"failover: killed after {at_kill} of the victim's {len(victims)} crossings; {len(seen)} crossing "
          f"records, {len(distinct)} distinct ({len(seen) - len(distinct)} redelivered with the same id)")
    survivor = next(p for p in stack.matchers if p.returncode is None)
    channel, stub = stack.matcher_stub(survivor)
    try:
        for e in people:  # the survivor recovered the dead worker's table from the changelog
            assert scores(await my_matches(stub, c, e)).get(gig.opportunity_id) == 100
    finally:
        await channel.close()


async def test_a_new_scoring_version_rescores_everything_and_notifies_only_the_newly_qualified(stack, tag):
    c, s = stack.clients, stack.settings
    claimed = [e for p in range(EMPLOYEE_PARTITIONS) for e in ids_in(p, f"P{tag}-{p}-", 1)]
    verified = f"V{tag}"
    for e in claimed:
        await employee(c, e, [("sql", 3, C), ("excel", 2, C)])  # 50 % now, 90 % with claimed at 0.9
    await employee(c, verified, [("sql", 3, V), ("excel", 2, V)])  # 100 % either way
    gig = await post(c, f"Scoring gig{tag}", ("sql", 3, 1, False), ("excel", 2, 1, False))
    await wait_crossings(stack, {verified: 1}, [gig.opportunity_id])
    await settle(stack)
    for e in claimed:
        assert scores(await my_matches(stack.matcher, c, e)).get(gig.opportunity_id) == 50

    for proc in stack.matchers:
        if proc.returncode is None:
            await asyncio.to_thread(proc.stop, 10)
    new = await stack.start_healthy_matcher(scoring_version=2, factor_claimed=0.9)
    channel, stub = stack.matcher_stub(new)
    try:
        await wait_crossings(stack, {e: 1 for e in claimed}, [gig.opportunity_id], timeout_s=90)
        await settle(stack)
        seen = await crossings(s, claimed + [verified], [gig.opportunity_id])
        newly = [x.payload for x in seen if x.payload.employee_id in claimed]
        assert sorted(x.employee_id for x in newly) == sorted(claimed)
        # scores are not stored (services/matcher/README.md, "Scoring changes"): the score under the old
        # scoring is unknown to the new worker, so the rescoring's crossings report 0 as the previous one
        assert all((x.score_percent, x.previous_score_percent, x.scoring_version) == (90, 0, 2) for x in newly)
        assert all(x.cause_event_type == "matcher.scoring-changed" for x in newly)
        assert len([x for x in seen if x.payload.employee_id == verified]) == 1  # still qualified: no second push
        for e in claimed:
            assert scores(await my_matches(stub, c, e)).get(gig.opportunity_id) == 90
    finally:
        await channel.close()
