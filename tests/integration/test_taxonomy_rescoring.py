"""A taxonomy change rescores only what it touched, over the real stack: a matcher
restarted with a file that gained a skill related to python rescores the python
holder and leaves the employee who holds only tableau alone."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import grpc
import pytest

from _stack import ModuleStack, uid
from itm.devstack import ServiceProcess
from itm.taxonomy import Taxonomy
from itm.v1 import common_pb2, matcher_pb2, matcher_pb2_grpc, opportunity_pb2 as O, profile_pb2 as P

RESCORED = re.compile(r'^itm_match_rescorings_total\{cause="scoring-change"\} ([0-9.e+]+)$', re.M)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("taxonomy-files")
    first = Taxonomy.load_default()
    second = first.with_skill({"id": "python-packaging", "name": "Python packaging", "related": {"python": 0.4}})
    paths = root / "first.json", root / "second.json"
    first.to_file(paths[0])
    second.to_file(paths[1])
    return paths


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, files, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("taxonomy-rescoring"))
    env = {"taxonomy_path": files[0]}
    await s.start({"profile": env, "opportunity": env, "matcher": {**env, "matcher_registry_ttl_s": 4}}, [])
    yield s
    await s.close(failed=request.session.testsfailed > 0)


async def scores(stack, emp, opp, matcher=None, want=50):
    """The employee's score once the matcher has applied their skill (it answers 0 % before)."""
    c = stack.clients
    stub = matcher or c.matcher
    async with asyncio.timeout(60):
        while True:
            try:
                got = await stub.ScoreOpportunities(matcher_pb2.ScoreOpportunitiesRequest(
                    employee_id=emp, opportunity_ids=[opp]), metadata=c.metadata, timeout=10)
                if got.matches and got.matches[0].score_percent == want:
                    return got.matches[0].score_percent
            except Exception:  # noqa: BLE001 - NOT_FOUND / UNAVAILABLE until the worker has the employee
                pass
            await asyncio.sleep(0.5)


async def rescorings(http_url: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(f"{http_url}/metrics") as r:
        m = RESCORED.search(await r.text())
        return float(m.group(1)) if m else 0.0


async def test_a_new_skill_rescores_only_the_holders_of_skills_it_touched(stack, files, tmp_path):
    c = stack.clients
    pythonista, analyst, owner = uid("E"), uid("E"), uid("O")
    for person, skill in ((pythonista, "python"), (analyst, "tableau"), (owner, "")):
        await c.profile.CreateEmployee(P.CreateEmployeeRequest(employee_id=person, name=f"N {person}"),
                                       metadata=c.metadata)
        if skill:  # verified: 50 % each, above the pair floor, so both hold a pair
            await c.profile.VerifySkill(P.VerifySkillRequest(employee_id=person, skill=skill, level=3,
                                                             source=common_pb2.EVIDENCE_SOURCE_ASSESSMENT),
                                        metadata=c.metadata)
    boss = stack.as_(owner, "employee")
    gig = await boss.opportunity.PostOpportunity(O.PostOpportunityRequest(
        title="Dashboards and scripts", type=common_pb2.OPPORTUNITY_TYPE_GIG, hours_per_week=4, seats=1,
        requirements=[O.RequirementInput(skill="python", min_level=3), O.RequirementInput(skill="tableau", min_level=3)]),
        metadata=boss.metadata)
    for emp in (pythonista, analyst):  # both hold a pair at 50 % (the helper waits for it)
        await scores(stack, emp, gig.opportunity_id)

    old = stack.procs["matcher"]
    await asyncio.to_thread(old.stop, 10)
    env = stack.env("matcher", taxonomy_path=files[1], matcher_registry_ttl_s=4)
    new = ServiceProcess("matcher", env, tmp_path, instance="second-taxonomy")
    new.start(wait=False)
    try:
        await new.wait_healthy_async(120)
        channel = grpc.aio.insecure_channel(new.grpc_target)
        stub = matcher_pb2_grpc.MatcherServiceStub(channel)
        for emp in (pythonista, analyst):  # the restarted worker answers the same scores
            await scores(stack, emp, gig.opportunity_id, stub)
        async with asyncio.timeout(60):
            while await rescorings(new.http_url) < 1:
                await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # room for a second, wrong rescoring to show
        assert await rescorings(new.http_url) == 1  # the python holder's one pair; tableau untouched
        await channel.close()
    except BaseException:
        print(f"===== the restarted matcher =====\n{new.log_tail(80)}")
        raise
    finally:
        await asyncio.to_thread(new.stop, 10)
