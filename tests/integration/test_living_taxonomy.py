"""A living taxonomy over the real stack: an ESCO-shaped fixture of 300 skills
imported with `itm taxonomy import esco`, loaded by every service from
ITM_TAXONOMY_PATH, feeding autocomplete and matching; a service whose taxonomy
differs from the matcher's refuses to start; a renamed and a merged skill keep
resolving by their old ids and aliases."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _stack import ModuleStack, uid
from esco_fixture import write_esco_fixture
from itm.devstack import ServiceProcess
from itm.taxonomy import Taxonomy
from itm.v1 import common_pb2, matcher_pb2, opportunity_pb2 as O, profile_pb2 as P, taxonomy_pb2 as T


def itm(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "itm.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


@pytest.fixture(scope="module")
def taxonomy_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("esco")
    write_esco_fixture(root / "esco")
    out = root / "taxonomy.json"
    done = itm("taxonomy", "import", "esco", str(root / "esco"), "--esco-only", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "read 300 ESCO skills and" in done.stdout and "300 skills" in done.stdout
    return out


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, taxonomy_file, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("living-taxonomy"))
    env = {"taxonomy_path": taxonomy_file}
    await s.start({"profile": env, "opportunity": env,
                   "matcher": {**env, "matcher_registry_ttl_s": 4}}, ["profile.employee-registered"])
    yield s
    await s.close(failed=request.session.testsfailed > 0)


async def test_esco_skills_feed_autocomplete(stack, taxonomy_file):
    me = stack.as_(uid("E"), "employee")
    tax = Taxonomy.load_path(taxonomy_file)

    async def search(query, **kw):
        return await me.taxonomy.SearchSkills(T.SearchSkillsRequest(query=query, **kw), metadata=me.metadata)

    first = (await search("pyth", include_related=True)).hits[0]
    assert (first.skill.skill_id, first.skill.name) == ("python-computer-programming", "Python (computer programming)")
    assert first.skill.uri.startswith("http://data.europa.eu/esco/skill/") and first.skill.category == "esco-knowledge"
    assert ("analyse-big-data", 0.3) in [(r.skill_id, r.strength) for r in first.skill.related]
    alias = (await search("use excel")).hits[0]
    assert (alias.skill.skill_id, alias.kind, alias.matched) == ("use-spreadsheets-software", T.SKILL_MATCH_KIND_EXACT,
                                                                 "use Excel")
    typo = (await search("spredsheet")).hits[0]
    assert typo.skill.skill_id == "use-spreadsheets-software" and typo.kind == T.SKILL_MATCH_KIND_FUZZY
    page = await me.taxonomy.ListSkills(T.ListSkillsRequest(page_size=10), metadata=me.metadata)
    assert page.total == 300 and page.taxonomy_version == tax.version
    assert not (await search("telegraph")).hits  # obsolete in ESCO: not imported


async def test_esco_skills_feed_matching(stack):
    c = stack.clients
    emp, owner = uid("E"), uid("O")
    for person in (emp, owner):
        await c.profile.CreateEmployee(P.CreateEmployeeRequest(employee_id=person, name=f"N {person}",
                                                               hours_available_per_week=40), metadata=c.metadata)
    await c.profile.VerifySkill(P.VerifySkillRequest(employee_id=emp, skill="Structured Query Language", level=3,
                                                     source=common_pb2.EVIDENCE_SOURCE_ASSESSMENT), metadata=c.metadata)
    boss = stack.as_(owner, "employee")
    gig = await boss.opportunity.PostOpportunity(O.PostOpportunityRequest(
        title="Big data gig", type=common_pb2.OPPORTUNITY_TYPE_GIG, hours_per_week=4, seats=1,
        requirements=[O.RequirementInput(skill="SQL", min_level=3, weight=1),
                      O.RequirementInput(skill="analyse big data", min_level=2, weight=1)]), metadata=boss.metadata)
    assert {r.skill_id for r in gig.requirements} == {"sql", "analyse-big-data"}
    matcher = stack.clients.matcher
    async with asyncio.timeout(60):
        while True:
            try:
                scores = await matcher.ScoreOpportunities(matcher_pb2.ScoreOpportunitiesRequest(
                    employee_id=emp, opportunity_ids=[gig.opportunity_id]), metadata=c.metadata, timeout=10)
                if scores.matches:
                    break
            except Exception:  # noqa: BLE001 - NOT_FOUND until the matcher has the employee
                pass
            await asyncio.sleep(0.5)
    # sql verified at 3: full credit; analyse-big-data through ESCO's essential relation to SQL (0.6, capped at 0.5)
    assert scores.matches[0].score_percent == 75


async def test_a_service_on_another_taxonomy_refuses_to_start(stack, tmp_path):
    env = stack.env("profile")  # the same prefix and Redis, the shipped taxonomy instead of the ESCO one
    env.pop("ITM_TAXONOMY_PATH", None)
    proc = ServiceProcess("profile", env, tmp_path, instance="other-taxonomy")
    proc.start(wait=False)
    async with asyncio.timeout(60):
        while proc.returncode is None:
            await asyncio.sleep(0.2)
    assert proc.returncode == 2
    log = proc.log_tail(20)
    assert "differs from the one the matcher scores with" in log and Taxonomy.load_default().version in log


def test_renamed_and_merged_skills_keep_resolving(tmp_path, taxonomy_file):
    path = tmp_path / "t.json"
    path.write_bytes(taxonomy_file.read_bytes())
    for args in (["rename", "use-spreadsheets-software", "--name", "Use spreadsheets", "--new-id", "spreadsheets"],
                 ["merge", "SQL", "analyse big data"],
                 ["add", "--id", "prompt-engineering", "--name", "Prompt engineering", "--related",
                  "python-computer-programming=0.4"]):
        done = itm("taxonomy", *args, "--file", str(path))
        assert done.returncode == 0, done.stderr
    tax = Taxonomy.load_path(path)
    assert tax.normalise("use-spreadsheets-software") == tax.normalise("use Excel") == "spreadsheets"
    assert tax.normalise("use spreadsheets software") == "spreadsheets"  # the old name is an alias
    assert tax.resolve("sql") == "analyse-big-data" and tax.normalise("Structured Query Language") == "analyse-big-data"
    assert tax.related("prompt-engineering") == {"python-computer-programming": 0.4}
    assert len(tax) == 300 and tax.version != Taxonomy.load_path(taxonomy_file).version
    refused = itm("taxonomy", "merge", "sql", "analyse-big-data", "--file", str(path))
    assert refused.returncode != 0 and "into itself" in refused.stderr  # sql is analyse-big-data now
