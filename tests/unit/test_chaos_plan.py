"""``itm chaos`` without a stack: the compose backend's commands, the schedules, the report."""

from __future__ import annotations

import asyncio

import pytest

from itm.chaos import faults
from itm.chaos.backends import ComposeBackend
from itm.chaos.report import Report
from itm.chaos.workload import Workload


def _compose(**kw):
    ran = []
    backend = ComposeBackend({"profile": "h:1"}, "h:9092", run=ran.append, **kw)
    return backend, ran


def test_compose_commands_are_the_documented_ones():
    backend, ran = _compose(project="itm", files=["docker-compose.yml", "compose.override.yml"])

    async def all_actions():
        await backend.kill("matcher")
        await backend.start("matcher")
        await backend.pause("kafka")
        await backend.resume("kafka")
        await backend.restart("redis")

    asyncio.run(all_actions())
    base = ["docker", "compose", "-f", "docker-compose.yml", "-f", "compose.override.yml", "-p", "itm"]
    assert ran == [base + ["kill", "-s", "SIGKILL", "matcher"], base + ["start", "matcher"],
                   base + ["pause", "kafka"], base + ["unpause", "kafka"], base + ["restart", "redis"]]


def test_compose_v1_and_renamed_services():
    backend, _ = _compose(compose=["docker-compose"], service_names={"kafka": "broker"})
    assert backend.command("pause", "kafka") == ["docker-compose", "pause", "broker"]
    assert backend.command("restart", "notifier") == ["docker-compose", "restart", "notifier"]
    with pytest.raises(KeyError, match="not a service"):
        backend.command("kill", "postgres")


def test_the_full_schedule_has_every_fault_on_every_service_in_order():
    plan = faults.full_schedule(session_timeout_s=6, workers=2)
    kinds = {(f.kind, f.target) for f in plan}
    for service in faults.SERVICES:
        assert {("kill", service), ("pause", service), ("restart", service)} <= kinds
    assert {"pause-broker", "restart-redis", "poison", "freeze-worker"} <= {f.kind for f in plan}
    frozen = next(f for f in plan if f.kind == "freeze-worker")
    assert frozen.target == "matcher-2" and frozen.hold_s > 6
    ats = [f.at for f in plan]
    assert ats == sorted(ats) and 0 < ats[0] and ats[-1] < 1


def test_faults_missing_from_a_stack_are_skipped_and_said():
    class OneService:
        names = staticmethod(lambda: ["profile"])
        acted = []

        async def kill(self, name):
            self.acted.append(("kill", name))

        async def start(self, name):
            self.acted.append(("start", name))

    backend = OneService()
    done = asyncio.Event()
    out = asyncio.run(faults.run_schedule(backend, [faults.Fault(0, "kill", "profile", 0),
                                                    faults.Fault(0, "pause-broker", hold_s=0)],
                                          lambda: 1.0, done, say=lambda s: None))
    assert backend.acted == [("kill", "profile"), ("start", "profile")]
    assert "skipped (no kafka in this stack)" in out[1]


def test_poison_records_are_garbage_or_corrupt_payloads_on_consumed_topics():
    from itm.runtime.envelope import MalformedEvent, decode

    records = faults.poison_records("p.")
    assert {t for t, _, _ in records} == {"p.match.threshold-crossed", "p.profile.skill-verified",
                                         "p.opportunity.gig-posted", "p.learning.course-completed"}
    for _, _, value in records:
        with pytest.raises(MalformedEvent):
            decode(value)


def test_the_workload_knows_its_pushes_exactly():
    w = Workload(clients=None, writes=30, opportunities=2, run_id="r")
    assert len(w.employees) == 6 and w.planned_writes == 30
    w.acked.opportunities = ["O1", "O2"]
    for i, emp in enumerate(w.employees):
        w.acked.levels[emp] = {"python": 1, "sql": 3 if w.qualifies(i) else 2}
    assert w.expected_pushes() == {(e, o) for i, e in enumerate(w.employees) if i % 3 != 2 for o in ("O1", "O2")}


def test_the_report_is_clean_only_without_any_finding():
    assert Report(writes=10).clean
    for finding in (dict(lost=[("E", "O")]), dict(duplicated={("E", "O"): 1}), dict(unexpected=[("E", "O")]),
                    dict(acknowledged_missing=["E: sql 3 acknowledged, 2 stored"])):
        report = Report(writes=10, **finding)
        assert not report.clean and report.lines()[-1] == "NOT CLEAN"


def test_the_pacer_holds_writes_at_a_fault_mark_until_the_fault_is_in_effect():
    async def scenario():
        pacer = faults.Pacer()
        await asyncio.wait_for(pacer.wait(0.5), 1)  # no fault planned: never held
        pacer.plan([0.6, 0.3])
        await asyncio.wait_for(pacer.wait(0.2), 1)  # before the first mark: not held
        held = asyncio.ensure_future(pacer.wait(0.3))
        await asyncio.sleep(0.2)
        assert not held.done()
        pacer.fired(0.3)
        await asyncio.wait_for(held, 1)
        # the next fault's mark holds too, before that fault is even next (the one before it may take long)
        later = asyncio.ensure_future(pacer.wait(0.7))
        await asyncio.sleep(0.2)
        assert not later.done()
        pacer.fired(0.6)
        await asyncio.wait_for(later, 1)

    asyncio.run(scenario())


def test_a_slow_fault_does_not_let_the_writes_run_past_the_next_faults(monkeypatch):
    """Writes as fast as they come; the first fault takes a while. Every fault must fire
    while writes are still going on, never after the last one."""
    class SlowBackend:
        kafka_bootstrap = topic_prefix = ""

        def names(self):
            return ["profile", "notifier"]

        async def restart(self, name):
            await asyncio.sleep(0.3)

    async def scenario():
        pacer, acked, planned, done = faults.Pacer(), [0], 1000, asyncio.Event()
        at_fire = []

        async def writes():
            while acked[0] < planned:
                await pacer.wait(acked[0] / planned)
                acked[0] += 1
                await asyncio.sleep(0)
            done.set()

        schedule = [faults.Fault(0.1, "restart", "profile"), faults.Fault(0.2, "restart", "notifier"),
                    faults.Fault(0.3, "restart", "profile")]
        original = faults.inject

        async def inject(backend, fault, in_effect=lambda: None):
            at_fire.append(acked[0])
            await original(backend, fault, in_effect)

        monkeypatch.setattr(faults, "inject", inject)
        writer = asyncio.ensure_future(writes())
        lines = await faults.run_schedule(SlowBackend(), schedule, lambda: acked[0] / planned, done,
                                          say=lambda _: None, pacer=pacer)
        await writer
        assert len(lines) == 3 and not any("FAILED" in line for line in lines)
        assert all(n < planned for n in at_fire), at_fire
        assert at_fire == sorted(at_fire) and at_fire[1] <= 0.2 * planned + 1 and at_fire[2] <= 0.3 * planned + 1

    asyncio.run(scenario())
