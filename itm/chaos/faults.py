"""The fault schedule: what happens when, in terms of the round's progress.

A fault fires once the workload has had ``at`` (a share, 0..1) of its writes
acknowledged, and lasts ``hold_s`` before it is undone (a killed service is started
again, a paused one resumed). Faults run one after another, never two at once, so
the printout says what each one did.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass

from google.protobuf import any_pb2

from itm.runtime.envelope import new_envelope
from itm.v1 import events_pb2

log = logging.getLogger(__name__)

KINDS = ("kill", "pause", "restart", "pause-broker", "restart-redis", "poison", "freeze-worker")


@dataclass(frozen=True)
class Fault:
    at: float           # share of the planned writes acknowledged when it fires
    kind: str           # one of KINDS
    target: str = ""    # the service (kill, pause, restart, freeze-worker)
    hold_s: float = 3.0

    def describe(self) -> str:
        what = {"kill": f"SIGKILL {self.target}, started again after {self.hold_s:g} s",
                "pause": f"pause {self.target} for {self.hold_s:g} s",
                "restart": f"restart {self.target}",
                "pause-broker": f"pause the broker for {self.hold_s:g} s",
                "restart-redis": "restart Redis",
                "poison": "poison records on 4 topics",
                "freeze-worker": f"freeze {self.target} for {self.hold_s:g} s (past the session timeout), resume"}
        return f"at {self.at:.0%}: {what[self.kind]}"


SERVICES = ("profile", "opportunity", "learning", "matcher", "notifier")


def short_schedule() -> list[Fault]:
    """CI's round: a few faults of the kinds that lost or doubled pushes before."""
    return [
        Fault(0.15, "kill", "matcher", 2),
        Fault(0.30, "poison"),
        Fault(0.45, "kill", "notifier", 2),
        Fault(0.60, "pause-broker", hold_s=8),
        Fault(0.75, "kill", "profile", 1),
    ]


def full_schedule(session_timeout_s: float = 6.0, workers: int = 2) -> list[Fault]:
    """Every fault: kill, pause and restart each service; the broker, Redis, poison,
    a frozen matcher worker."""
    faults: list[tuple[str, str, float]] = []
    for s in SERVICES:
        faults += [("kill", s, 2.0), ("pause", s, 4.0), ("restart", s, 0.0)]
    faults += [("pause-broker", "", 15.0), ("restart-redis", "", 0.0), ("poison", "", 0.0)]
    if workers > 1:
        faults.append(("freeze-worker", "matcher-2", session_timeout_s + 6))
    else:
        faults.append(("freeze-worker", "matcher", session_timeout_s + 6))
    n = len(faults)
    return [Fault(round(0.05 + 0.85 * i / n, 3), kind, target, hold) for i, (kind, target, hold) in enumerate(faults)]


def poison_records(prefix: str) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value): garbage, and valid envelopes with corrupt payload bytes."""
    def corrupt(topic: str, subject: str, payload) -> bytes:
        env = new_envelope(topic, "chaos", subject, 1, payload)
        env.payload.CopyFrom(any_pb2.Any(type_url=env.payload.type_url, value=b"\xff\xff\xff\xff"))
        return env.SerializeToString()

    return [
        (prefix + "match.threshold-crossed", b"chaos-poison",
         corrupt("match.threshold-crossed", "chaos-poison", events_pb2.ThresholdCrossed())),
        (prefix + "profile.skill-verified", b"chaos-poison", b"\x00 not an envelope"),
        (prefix + "opportunity.gig-posted", b"chaos-poison",
         corrupt("opportunity.gig-posted", "chaos-poison", events_pb2.GigPosted())),
        (prefix + "learning.course-completed", b"chaos-poison",
         corrupt("learning.course-completed", "chaos-poison", events_pb2.CourseCompleted())),
    ]


class Pacer:
    """Holds the workload at each fault's mark until that fault is in effect, so every
    fault lands while writes are going on. All marks are held from the start: a fault that
    takes a while (a restart, a kill and start) would otherwise let the writes run past the
    marks of the faults after it, which then fired after the last write (a fast stack
    finished a full round's writes while the notifier was still restarting)."""

    def __init__(self):
        self.pending: list[float] = []  # marks (shares of the writes) of the faults not in effect yet

    def plan(self, marks) -> None:
        self.pending = sorted(marks)

    def fired(self, at: float) -> None:
        """The fault at mark ``at`` is in effect (or failed, or was skipped): stop holding for it."""
        if at in self.pending:
            self.pending.remove(at)

    async def wait(self, share: float) -> None:
        while self.pending and share >= self.pending[0]:
            await asyncio.sleep(0.05)


async def inject(backend, fault: Fault, in_effect=lambda: None) -> None:
    """Do ``fault``; ``in_effect()`` once it holds (the service is down or paused, the
    records are sent), before it is undone."""
    if fault.kind == "kill":
        await backend.kill(fault.target)
        in_effect()
        await asyncio.sleep(fault.hold_s)
        await backend.start(fault.target)
    elif fault.kind in ("pause", "freeze-worker", "pause-broker"):
        target = "kafka" if fault.kind == "pause-broker" else fault.target
        await backend.pause(target)
        in_effect()
        try:
            await asyncio.sleep(fault.hold_s)
        finally:
            await backend.resume(target)
    elif fault.kind in ("restart", "restart-redis"):
        in_effect()  # writes go on while it stops and starts
        await backend.restart("redis" if fault.kind == "restart-redis" else fault.target)
    elif fault.kind == "poison":
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=backend.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for topic, key, value in poison_records(backend.topic_prefix):
                await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()
    else:
        raise ValueError(f"unknown fault {fault.kind!r}; one of {KINDS}")


async def run_schedule(backend, schedule: list[Fault], progress, done: asyncio.Event, say=print,
                       pacer: Pacer | None = None) -> list[str]:
    """Fire each fault when ``progress()`` (0..1) reaches it; returns what was done.
    With a ``pacer`` the workload waits at each fault's mark until it is in effect."""
    out = []
    names = set(backend.names())
    pacer = pacer or Pacer()

    def missing(fault: Fault) -> str:
        target = "kafka" if fault.kind == "pause-broker" else "redis" if fault.kind == "restart-redis" else fault.target
        return target if target and target not in names else ""

    schedule = sorted(schedule, key=lambda f: f.at)
    pacer.plan(f.at for f in schedule if not missing(f))
    for fault in schedule:
        if target := missing(fault):
            out.append(f"{fault.describe()}: skipped (no {target} in this stack)")
            continue
        while progress() < fault.at and not done.is_set():
            await asyncio.sleep(0.05)
        started = time.monotonic()
        try:
            await inject(backend, fault, functools.partial(pacer.fired, fault.at))
            line = f"{fault.describe()} ({time.monotonic() - started:.1f} s)"
        except Exception as exc:  # noqa: BLE001 - report it; the round goes on
            line = f"{fault.describe()}: FAILED {exc!r}"[:300]
        finally:
            pacer.fired(fault.at)
        say(f"  fault {line}")
        out.append(line)
    return out
