"""`itm report --fairness` on a seeded organisation with a known answer."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import grpc

from itm.client import Clients
from itm.runtime.settings import Settings
from itm.v1 import common_pb2, matcher_pb2, opportunity_pb2 as O, profile_pb2 as P

# department A (Lisbon): 4 of 5 have SQL; department B (Lagos): 2 of 5 have SQL; one more opted out
ORG = [(f"A{i}", "A", "Lisbon", i < 4) for i in range(5)] + [(f"B{i}", "B", "Lagos", i < 2) for i in range(5)]


async def test_fairness_report_known_answer(start_service, topic_prefix, tmp_path):
    procs = {n: start_service(n, wait=False) for n in ("profile", "opportunity", "matcher")}
    for p in procs.values():
        await p.wait_healthy_async(90)
    settings = Settings(topic_prefix=topic_prefix)
    hr = Clients.connect({n: p.grpc_target for n, p in procs.items()}, settings, subject="hr-1", role="hr_admin")
    for emp, dept, loc, has_sql in ORG + [("C0", "B", "Lagos", False)]:
        await hr.profile.CreateEmployee(P.CreateEmployeeRequest(employee_id=emp, name=f"N {emp}", department=dept,
                                                                location=loc, hours_available_per_week=40),
                                        metadata=hr.metadata)
        await hr.profile.VerifySkill(P.VerifySkillRequest(
            employee_id=emp, skill="sql" if has_sql else "excel", level=3,
            source=common_pb2.EVIDENCE_SOURCE_ASSESSMENT), metadata=hr.metadata)
    await hr.profile.SetPreferences(P.SetPreferencesRequest(employee_id="C0", preferences=P.MatchPreferences(
        opted_out=True)), metadata=hr.metadata)
    await hr.opportunity.PostOpportunity(O.PostOpportunityRequest(
        title="SQL gig", type=common_pb2.OPPORTUNITY_TYPE_GIG, hours_per_week=4, owner_id="C0",  # an owner is never matched with their own posting
        requirements=[O.RequirementInput(skill="sql", min_level=2)]), metadata=hr.metadata)
    async def scored(emp: str) -> bool:
        try:
            mine = await hr.matcher.MyMatches(matcher_pb2.MyMatchesRequest(employee_id=emp), metadata=hr.metadata)
            return bool(mine.matches)
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND  # until the employee's events are applied
            return False

    async with asyncio.timeout(60):  # the matcher has scored everyone with SQL
        while not all([await scored(e) for e, _, _, has_sql in ORG if has_sql]):
            await asyncio.sleep(0.5)
    await hr.close()

    (tmp_path / "stack.json").write_text(json.dumps({"components": {
        n: {"kind": "service", "grpc_target": p.grpc_target} for n, p in procs.items()}}))
    out = subprocess.run([sys.executable, "-m", "itm.cli", "report", "--fairness", "--json", "--data-dir",
                          str(tmp_path)], env={**os.environ, "ITM_TOPIC_PREFIX": topic_prefix},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    rows = {(g["dimension"], g["group"]): g for g in doc["groups"]}
    assert doc["opted_out"] == 1
    assert (rows[("department", "A")]["qualified"], rows[("department", "A")]["employees"]) == (4, 5)
    assert rows[("department", "A")]["impact_ratio"] == 1.0 and not rows[("department", "A")]["flagged"]
    assert rows[("department", "B")]["rate"] == 0.4 and rows[("department", "B")]["impact_ratio"] == 0.5
    assert rows[("department", "B")]["flagged"]
    assert rows[("location", "Lagos")]["impact_ratio"] == 0.5 and rows[("location", "Lagos")]["flagged"]
