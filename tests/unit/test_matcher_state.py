"""The matcher app's compact state without a broker (issue 12 item 2).

A ``MatcherApp`` with an in-memory table and topics that only record what is
sent is fed random sequences of employee and opportunity events from the real
taxonomy. Checked:

- the pair scores kept incrementally equal the ones ``rebuild_indexes`` derives
  from the table and the replica (the scores after a rebalance);
- a worker rebuilt from its table every few events (as after a crash or a
  rebalance) sends exactly the crossings, with the same ids, and ends with the
  same table as one that never was: no lost and no doubled crossing, scores
  being derived;
- a table written by the previous version (pairs with scores) loads: its marks
  are kept, its scores rebuilt.
"""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from itm.runtime.envelope import Event, new_envelope
from itm.taxonomy import Taxonomy
from itm.v1 import common_pb2, events_pb2
from services.matcher.app import MatcherApp, partition_for
from services.matcher.config import MatcherSettings
from services.matcher.engine import record_marks
from services.matcher.pair_store import PairScores

STATUSES = [common_pb2.SKILL_STATUS_VERIFIED, common_pb2.SKILL_STATUS_CLAIMED, common_pb2.SKILL_STATUS_INFERRED]


class _Table(dict):
    """The faust table as the app uses it (``data`` is the store; no changelog here)."""

    @property
    def data(self):
        return self


class _Topic:
    def __init__(self, name: str):
        self.name = name
        self.sent: list[tuple[bytes, bytes]] = []

    async def send(self, key=None, value=None, **_):
        self.sent.append((key, value))
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    def get_topic_name(self) -> str:
        return self.name


def _app(floor: int, **settings) -> MatcherApp:
    app = MatcherApp(MatcherSettings(matcher_pair_floor_percent=floor, matcher_legacy_match_updated=False, **settings))
    app.employees = _Table()
    app.crossed_topic, app.updated_topic, app.updates_topic, app.broadcast_topic = (
        _Topic("crossed"), _Topic("updated"), _Topic("updates"), _Topic("broadcast"))
    app.owned = {0, 1, 2, 3}
    app.replica_ready.set()
    return app


def _crossing_ids(app: MatcherApp) -> list[str]:
    from itm.v1 import envelope_pb2

    out = []
    for _, value in app.crossed_topic.sent:
        env = envelope_pb2.EventEnvelope()
        env.ParseFromString(value)
        out.append(env.event_id)
    return out


def _skills(seed: int) -> list[str]:
    tax = Taxonomy.configured()
    rnd = random.Random(seed)
    start = rnd.sample(sorted(s.id for s in tax.skills()), 4)
    pool = set(start)
    for s in start:
        pool |= set(list(tax.related_view(s))[:4])
    return sorted(pool)


class _World:
    """Random events over a small org whose skills overlap (so pairs score, cross and move)."""

    def __init__(self, seed: int):
        self.rnd = random.Random(seed)
        self.skills = _skills(seed)
        self.versions: dict[str, int] = {}
        self.opp_open: dict[str, bool] = {}

    def _v(self, key: str) -> int:
        self.versions[key] = self.versions.get(key, 0) + 1
        return self.versions[key]

    def employee_event(self) -> Event:
        rnd = self.rnd
        emp_id = f"E{rnd.randrange(24)}"
        profile = common_pb2.EmployeeMatchProfile(
            employee_id=emp_id, threshold_percent=rnd.choice([0, 40, 55, 70]), opted_out=rnd.random() < 0.05,
            skills=[common_pb2.EmployeeSkill(skill_id=s, level=rnd.randint(1, 5), status=rnd.choice(STATUSES))
                    for s in rnd.sample(self.skills, rnd.randint(1, min(6, len(self.skills))))])
        env = new_envelope("profile.employee-registered", "test", emp_id, self._v(emp_id),
                           events_pb2.EmployeeRegistered(profile=profile))
        return Event(env, events_pb2.EmployeeRegistered(profile=profile))

    def opportunity_event(self) -> Event:
        rnd = self.rnd
        opp_id = f"O{rnd.randrange(10)}"
        close = self.opp_open.get(opp_id) and rnd.random() < 0.15
        profile = common_pb2.OpportunityMatchProfile(
            opportunity_id=opp_id, title=opp_id, type=common_pb2.OPPORTUNITY_TYPE_GIG,
            status=common_pb2.OPPORTUNITY_STATUS_CLOSED if close else common_pb2.OPPORTUNITY_STATUS_OPEN,
            owner_id="E3" if opp_id == "O3" else "",
            requirements=[common_pb2.Requirement(skill_id=s, min_level=rnd.randint(1, 5),
                                                 weight=rnd.choice([1.0, 2.0, 0.5]), must_have=rnd.random() < 0.2)
                          for s in rnd.sample(self.skills, rnd.randint(1, 3))])
        self.opp_open[opp_id] = not close
        if close:
            payload, kind = events_pb2.GigClosed(opportunity=profile), "opportunity.gig-closed"
        elif rnd.random() < 0.5:
            payload, kind = events_pb2.GigPosted(opportunity=profile), "opportunity.gig-posted"
        else:
            payload, kind = events_pb2.RequirementsChanged(opportunity=profile), "opportunity.requirements-changed"
        return Event(new_envelope(kind, "test", opp_id, self._v(opp_id), payload), payload)

    def event(self) -> Event:
        return self.employee_event() if self.rnd.random() < 0.55 else self.opportunity_event()


async def _feed(app: MatcherApp, event: Event) -> None:
    """An event as the matcher meets it: a profile event on its employee's partition; an
    opportunity event in the replica, and its broadcast copy on every partition in one go."""
    if hasattr(event.payload, "profile"):
        await app.on_employee(event, partition_for(event.subject))
    else:
        app.apply_replicated(event)
        for p in range(4):
            await app.on_opportunity(event, p)


def _state(app: MatcherApp) -> tuple[dict, dict]:
    scores = {p: s.as_dict() for p, s in app.pair_scores.items() if s.pair_count}
    holders = {p: s.holders_as_dict() for p, s in app.pair_scores.items() if s.pair_count}
    return scores, holders


@pytest.mark.parametrize("floor", [30, 0])
@pytest.mark.parametrize("seed", range(3))
def test_rebuilt_scores_equal_the_incremental_ones_and_a_rebuilt_worker_sends_the_same_crossings(seed, floor):
    async def run():
        steady, rebuilt = _app(floor), _app(floor)
        world = _World(seed)
        rebuilds = 0
        for step in range(260):
            event = world.event()
            for app in (steady, rebuilt):
                await _feed(app, event)
            if step % 9 == 8:
                before = _state(rebuilt)
                assert await rebuilt.rebuild_indexes({0, 1, 2, 3})
                rebuilds += 1
                assert _state(rebuilt) == before, "rebuilt scores differ from the incremental ones"
        assert rebuilds > 20
        ids = _crossing_ids(steady)
        assert len(ids) > 10  # the sequence did cross
        assert _crossing_ids(rebuilt) == ids  # none lost, none doubled, same ids
        assert rebuilt.employees == steady.employees  # the table (profiles, marks, crossing counts)
        assert _state(rebuilt) == _state(steady)
        assert all("pairs" not in r for r in steady.employees.values())
        for emp_id, record in steady.employees.items():  # the query API's view: scores with marks
            pairs = steady.pairs_of(emp_id)
            assert {o: [p[1], p[2]] for o, p in pairs.items() if p[1] or p[2]} == record_marks(record)
            assert {o: p[0] for o, p in pairs.items()} == steady.pair_scores[partition_for(emp_id)].row(emp_id)

    asyncio.run(run())


def test_a_table_written_by_the_previous_version_loads_its_marks_and_rebuilds_its_scores():
    async def run():
        app = _app(30)
        world = _World(5)
        for _ in range(150):
            event = world.event()
            await _feed(app, event)
        scores, holders = _state(app)
        marked = {e: record_marks(r) for e, r in app.employees.items()}
        assert any(marked.values())
        # the previous layout: every pair with its score, no "marks"; scores off on purpose (ignored)
        for emp_id, record in app.employees.items():
            pairs = app.pair_scores[partition_for(emp_id)].row(emp_id)
            marks = record.pop("marks", {})
            record["pairs"] = {o: [max(0, s - 7), *marks.get(o, (0, False))] for o, s in pairs.items()}
        app.pair_scores = {p: PairScores(app.opportunity_ids) for p in range(4)}
        assert await app.rebuild_indexes({0, 1, 2, 3})
        assert _state(app) == (scores, holders)
        assert {e: record_marks(r) for e, r in app.employees.items()} == marked
        assert all("pairs" not in r for r in app.employees.values())  # normalised in memory
        assert app.qualified == {p: {e for e, m in marked.items() if partition_for(e) == p and not
                                     app.employees[e]["out"] and any(x[0] for x in m.values())} for p in range(4)}

    asyncio.run(run())


def _crossings(app: MatcherApp) -> list:
    from itm.runtime.envelope import decode

    return [decode(value).payload for _, value in app.crossed_topic.sent]


def test_a_new_scoring_rescores_from_the_marks_and_ends_where_a_fresh_worker_would():
    """A worker with another scoring configuration takes over a table (rebuilt scores,
    then the control batches): it ends with the pair scores and marks of a worker that
    saw every event with the new scoring, and notifies exactly the pairs the new scoring
    makes newly qualified (or newly 100 %), reporting the unknown previous score as 0."""
    async def run():
        world = _World(7)
        events = [world.event() for _ in range(200)]

        old, fresh = _app(30), _app(30, scoring_version=2, factor_claimed=0.9)
        for app in (old, fresh):
            for event in events:
                await _feed(app, event)
        new = _app(30, scoring_version=2, factor_claimed=0.9, matcher_rescore_batch=2)  # several batches
        for event in events:  # the replica (read from the opportunity topics)
            if not hasattr(event.payload, "profile"):
                new.apply_replicated(event)
        new.employees.update({e: json.loads(json.dumps(r)) for e, r in old.employees.items()})  # recovered
        assert await new.rebuild_indexes({0, 1, 2, 3})
        assert sum(len(s) for s in new.stale.values()) == len(new.employees)
        rounds = 0
        while any(new.stale.values()):
            for p in range(4):
                await new.on_control(p)
            rounds += 1
        assert rounds > 1
        assert _state(new) == _state(fresh)
        assert {e: record_marks(r) for e, r in new.employees.items()} == \
               {e: record_marks(r) for e, r in fresh.employees.items()}
        before = {e: record_marks(r) for e, r in old.employees.items()}
        after = {e: record_marks(r) for e, r in new.employees.items()}
        expected = set()
        for e, marks in after.items():
            for o, (thr, full) in marks.items():
                was = before.get(e, {}).get(o, [0, False])
                if thr and not was[0] or full and not was[1]:
                    expected.add((e, o))
        sent = _crossings(new)
        assert {(c.employee_id, c.opportunity_id) for c in sent} == expected and len(sent) == len(expected)
        assert expected and all(c.previous_score_percent == 0 and c.scoring_version == 2 for c in sent)
        assert all(c.cause_event_type == "matcher.scoring-changed" for c in sent)

    asyncio.run(run())


class _SlowTopic(_Topic):
    """Acks after a few turns of the event loop (so a rebuild runs while handlers wait)."""

    async def send(self, key=None, value=None, **_):
        self.sent.append((key, value))
        for _ in range(3):
            await asyncio.sleep(0)
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def test_events_handled_while_a_rebuild_runs_leave_the_state_a_rebuild_after_them_gives():
    """A rebalance's rebuild yields to the event loop; a handler in flight (awaiting its acks)
    writes meanwhile. The employees it changed are derived again at the rebuild's end, so the
    swapped-in state is what the table says, and no crossing is lost or doubled."""
    async def run():
        steady, busy = _app(30), _app(30)
        busy.crossed_topic, busy.updates_topic = _SlowTopic("crossed"), _SlowTopic("updates")
        world = _World(11)

        async def feed_all(app, events):
            for event in events:
                await _feed(app, event)

        changed = 0
        for _ in range(12):
            events = [world.event() for _ in range(12)]
            await feed_all(steady, events)
            await feed_all(busy, events[:6])
            done = await asyncio.gather(busy.rebuild_indexes({0, 1, 2, 3}, chunk=1), feed_all(busy, events[6:]))
            assert done[0]
            changed += 1
            assert _state(busy) == _state(steady)
            assert busy.employees == steady.employees
            fresh = _state(busy)
            assert await busy.rebuild_indexes({0, 1, 2, 3})
            assert _state(busy) == fresh
        assert _crossing_ids(busy) == _crossing_ids(steady) and _crossing_ids(steady)

    asyncio.run(run())


def _payloads(topic: _Topic, message) -> list:
    from itm.v1 import envelope_pb2

    out = []
    for _, value in topic.sent:
        env = envelope_pb2.EventEnvelope()
        env.ParseFromString(value)
        m = message()
        env.payload.Unpack(m)
        out.append((env.subject, env.event_id if message is events_pb2.ThresholdCrossed else "", m))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_rescoring_everything_as_arrays_equals_the_pair_by_pair_reference(seed):
    """``rescore_all`` (registrations, opting back in, a new scoring: the quiet pairs as
    arrays) against the pair-by-pair path it replaced (the candidates of every skill, each
    pair through the crossing rule): over random events, the same crossings with the same
    ids, the same match.updated.v2 records, the same table and the same pair scores."""
    from services.matcher.engine import opportunities_to_rescore

    async def run():
        arrays, reference = _app(30), _app(30)

        async def pair_by_pair(emp, pairs, cause, cause_label, partition, crossed):
            affected = opportunities_to_rescore(None, emp, reference.replica, pairs, full=True)
            scores = reference._row_scores(emp, affected, pairs, cause_label)
            return await reference.rescore(emp, scores.keys() | (affected & pairs.keys()), pairs, cause, cause_label,
                                           partition, scores, crossed), None

        reference.rescore_all = pair_by_pair
        world = _World(100 + seed)
        events = [world.event() for _ in range(300)]
        # and an owner registering with a third of what their own opportunity asks for (a quiet
        # 33 %, above the floor): no pair with it, while a colleague with the same skills has one
        reqs = [common_pb2.Requirement(skill_id=s, min_level=3, weight=1.0) for s in world.skills[:3]]
        mine = common_pb2.OpportunityMatchProfile(opportunity_id="O-own", title="Own", owner_id="E-owner",
                                                  type=common_pb2.OPPORTUNITY_TYPE_GIG, requirements=reqs,
                                                  status=common_pb2.OPPORTUNITY_STATUS_OPEN)
        events.append(Event(new_envelope("opportunity.gig-posted", "test", "O-own", 1,
                                         events_pb2.GigPosted(opportunity=mine)), events_pb2.GigPosted(opportunity=mine)))
        for who in ("E-owner", "E-twin"):
            profile = common_pb2.EmployeeMatchProfile(employee_id=who, skills=[
                common_pb2.EmployeeSkill(skill_id=r.skill_id, level=1, status=STATUSES[0]) for r in reqs])
            events.append(Event(new_envelope("profile.employee-registered", "test", who, 1,
                                             events_pb2.EmployeeRegistered(profile=profile)),
                                events_pb2.EmployeeRegistered(profile=profile)))
        for event in events:
            for app in (arrays, reference):
                await _feed(app, event)
        assert "O-own" not in arrays.pairs_of("E-owner") and arrays.pairs_of("E-twin")["O-own"][0] == 33
        crossings = _payloads(arrays.crossed_topic, events_pb2.ThresholdCrossed)
        assert len(crossings) > 10
        assert crossings == _payloads(reference.crossed_topic, events_pb2.ThresholdCrossed)
        updates = _payloads(arrays.updates_topic, events_pb2.MatchesUpdated)
        assert sum(len(m.pairs) for _, _, m in updates) > 100
        assert updates == _payloads(reference.updates_topic, events_pb2.MatchesUpdated)
        assert arrays.employees == reference.employees
        assert _state(arrays) == _state(reference)

    asyncio.run(run())
