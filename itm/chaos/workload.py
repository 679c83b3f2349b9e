"""A workload whose notifications are known exactly.

``opportunities`` gigs require sql at level 3 (weight 4) and python at level 5
(weight 1). Every employee is created and then climbs, one acknowledged write at a
time: python 1, sql 1, sql 2 and, for two employees in three, sql 3 (all verified);
the others get a claimed excel 1 instead (a skill no gig asks for). Scores only rise
(4 %, 30 %, 57 %, 84 %) and never reach 100 % (python 1 earns 0.2 of 1), so at the
default threshold of 80 % every employee whose sql 3 was acknowledged must be pushed
exactly once per gig, and nobody else ever.

Five writes per employee; writes run ``concurrency`` at a time. A write that fails
retryably (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, a broken
channel) is retried with the same content until it is acknowledged (creates carry a
request id, verifications set a level: a retry has one effect). ``acked`` lists what
was acknowledged, for the read-back.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from itm.client import Clients
from itm.v1 import common_pb2, opportunity_pb2, profile_pb2

RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
             grpc.StatusCode.ABORTED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.CANCELLED}
WRITES_PER_EMPLOYEE = 5
MANAGER = common_pb2.EVIDENCE_SOURCE_MANAGER


@dataclass
class Acked:
    """What the stack acknowledged, per employee: created, and the verified levels."""

    created: set[str] = field(default_factory=set)
    levels: dict[str, dict[str, int]] = field(default_factory=dict)  # employee -> skill -> highest level acked
    claimed: dict[str, set[str]] = field(default_factory=dict)        # employee -> claimed skills acked
    opportunities: list[str] = field(default_factory=list)
    writes: int = 0
    retries: int = 0
    codes: dict[str, int] = field(default_factory=dict)               # retried failures by code

    def level(self, emp: str, skill: str) -> int:
        return self.levels.get(emp, {}).get(skill, 0)


class Workload:
    def __init__(self, clients: Clients, *, writes: int, opportunities: int = 4, concurrency: int = 16,
                 run_id: str = "", seed: int = 1, call_timeout_s: float = 10.0, give_up_s: float = 300.0):
        self.c = clients
        self.run_id = run_id or f"{int(time.time()):x}"
        self.employees = [f"chaos-{self.run_id}-{i}" for i in range(max(1, writes // WRITES_PER_EMPLOYEE))]
        self.n_opportunities = opportunities
        self.concurrency = concurrency
        self.rng = random.Random(seed)
        self.call_timeout_s = call_timeout_s
        self.give_up_s = give_up_s
        self.acked = Acked()
        self.owner = f"chaos-{self.run_id}-owner"
        self.progress: Callable[[int], None] | None = None
        self.pacer = None  # a faults.Pacer: holds the writes at a fault's mark until it is in effect

    @property
    def planned_writes(self) -> int:
        return len(self.employees) * WRITES_PER_EMPLOYEE

    @staticmethod
    def qualifies(index: int) -> bool:
        return index % 3 != 2

    # -- calls ------------------------------------------------------------------------
    async def call(self, method, request):
        """``method(request)`` until acknowledged; retryable failures are retried with backoff.
        Waits first while the pacer holds the writes for a fault (``faults.Pacer``)."""
        if self.pacer is not None:
            await self.pacer.wait(self.acked.writes / self.planned_writes)
        deadline = time.monotonic() + self.give_up_s
        delay = 0.1
        while True:
            try:
                return await method(request, metadata=self.c.metadata, timeout=self.call_timeout_s)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RETRYABLE or time.monotonic() > deadline:
                    raise
                self.acked.retries += 1
                self.acked.codes[exc.code().name] = self.acked.codes.get(exc.code().name, 0) + 1
                await asyncio.sleep(delay * (0.5 + self.rng.random()))
                delay = min(delay * 2, 2.0)

    def _wrote(self) -> None:
        self.acked.writes += 1
        if self.progress:
            self.progress(self.acked.writes)

    # -- the plan -------------------------------------------------------------------------
    async def post_opportunities(self) -> None:
        for i in range(self.n_opportunities):
            opp = await self.call(self.c.opportunity.PostOpportunity, opportunity_pb2.PostOpportunityRequest(
                request_id=f"chaos-{self.run_id}-post-{i}", title=f"Chaos gig {i} ({self.run_id})",
                type=common_pb2.OPPORTUNITY_TYPE_GIG, department="Chaos", hours_per_week=2, duration_weeks=2,
                seats=1, owner_id=self.owner, requirements=[
                    opportunity_pb2.RequirementInput(skill="sql", min_level=3, weight=4),
                    opportunity_pb2.RequirementInput(skill="python", min_level=5, weight=1)]))
            self.acked.opportunities.append(opp.opportunity_id)

    async def employee(self, index: int) -> None:
        emp = self.employees[index]
        await self.call(self.c.profile.CreateEmployee, profile_pb2.CreateEmployeeRequest(
            request_id=f"{emp}-create", employee_id=emp, name=f"Chaos {index}", department="Chaos",
            manager_id=self.owner, hours_available_per_week=4))
        self.acked.created.add(emp)
        self._wrote()
        steps = [("python", 1), ("sql", 1), ("sql", 2)] + ([("sql", 3)] if self.qualifies(index) else [])
        for skill, level in steps:
            await self.call(self.c.profile.VerifySkill, profile_pb2.VerifySkillRequest(
                employee_id=emp, skill=skill, level=level, source=MANAGER, reference=self.owner))
            levels = self.acked.levels.setdefault(emp, {})
            levels[skill] = max(levels.get(skill, 0), level)
            self._wrote()
        if not self.qualifies(index):
            await self.call(self.c.profile.UpsertSkill, profile_pb2.UpsertSkillRequest(
                employee_id=emp, skill="excel", level=1, status=common_pb2.SKILL_STATUS_CLAIMED))
            self.acked.claimed.setdefault(emp, set()).add("excel")
            self._wrote()

    async def run(self) -> None:
        """Post the gigs, then every employee's climb, ``concurrency`` employees at a time."""
        await self.post_opportunities()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(len(self.employees)):
            queue.put_nowait(i)

        async def worker():
            while not queue.empty():
                await self.employee(queue.get_nowait())

        await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    # -- what must come out --------------------------------------------------------------------
    def expected_pushes(self) -> set[tuple[str, str]]:
        """(employee, opportunity) pairs that must be pushed exactly once."""
        return {(emp, opp) for emp in self.employees if self.acked.level(emp, "sql") >= 3
                for opp in self.acked.opportunities}
