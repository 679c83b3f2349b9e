"""Marketplace KPIs as metrics: computed from the facts, exact, and the same after a restart."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from itm.client import Clients
from itm.runtime.settings import Settings
from itm.v1 import common_pb2, opportunity_pb2 as O, profile_pb2 as P


async def scrape(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/metrics") as resp:
            text = await resp.text()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("itm_kpi_"):
                labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                out[f"{s.name}{{{labels}}}"] = s.value
    return out


async def test_one_posted_gig_and_one_fill_give_fill_rate_one_and_survive_a_restart(start_service, topic_prefix,
                                                                                      redis_url):
    profile = start_service("profile", wait=False)
    opportunity = start_service("opportunity", wait=False, profile_target=profile.grpc_target)
    for p in (profile, opportunity):
        await p.wait_healthy_async(60)
    settings = Settings(topic_prefix=topic_prefix)
    hr = Clients.connect({"profile": profile.grpc_target, "opportunity": opportunity.grpc_target}, settings,
                         subject="hr-1", role="hr_admin")
    for emp, manager in [("O1", ""), ("E1", "M1"), ("E2", "M1"), ("M1", "")]:
        await hr.profile.CreateEmployee(P.CreateEmployeeRequest(
            request_id=f"r-{emp}", employee_id=emp, name=f"N {emp}", manager_id=manager, hours_available_per_week=40),
            metadata=hr.metadata)
    owner, mgr = hr.as_(settings, "O1", "employee"), hr.as_(settings, "M1", "manager")

    async def post(otype, hours):
        return await owner.opportunity.PostOpportunity(O.PostOpportunityRequest(
            title="t", type=otype, hours_per_week=hours, seats=1,
            requirements=[O.RequirementInput(skill="sql", min_level=2)]), metadata=owner.metadata)

    async def fill(opp, emp):
        applicant = hr.as_(settings, emp, "employee")
        app = await applicant.opportunity.Apply(O.ApplyRequest(opportunity_id=opp.opportunity_id),
                                                metadata=applicant.metadata)
        await owner.opportunity.AcceptApplication(O.AcceptApplicationRequest(application_id=app.application_id),
                                                  metadata=owner.metadata)
        await mgr.opportunity.ApproveTimeRelease(O.ApproveTimeReleaseRequest(application_id=app.application_id),
                                                 metadata=mgr.metadata)
        await owner.opportunity.CloseOpportunity(O.CloseOpportunityRequest(
            opportunity_id=opp.opportunity_id, outcome="filled"), metadata=owner.metadata)

    gig = await post(common_pb2.OPPORTUNITY_TYPE_GIG, 6)
    await fill(gig, "E1")
    role = await post(common_pb2.OPPORTUNITY_TYPE_ROLE, 0)
    await fill(role, "E2")
    project = await post(common_pb2.OPPORTUNITY_TYPE_PROJECT, 4)
    await owner.opportunity.CloseOpportunity(O.CloseOpportunityRequest(
        opportunity_id=project.opportunity_id, outcome="cancelled"), metadata=owner.metadata)
    await mgr.profile.VerifySkill(P.VerifySkillRequest(employee_id="E1", skill="sql", level=3,
                                                       source=common_pb2.EVIDENCE_SOURCE_MANAGER), metadata=mgr.metadata)

    expected_opportunity = {
        'itm_kpi_opportunities_posted{type=gig}': 1, 'itm_kpi_opportunities_posted{type=role}': 1,
        'itm_kpi_opportunities_posted{type=project}': 1,
        'itm_kpi_opportunities_filled{type=gig}': 1, 'itm_kpi_opportunities_filled{type=role}': 1,
        'itm_kpi_fill_rate{type=gig}': 1.0, 'itm_kpi_fill_rate{type=role}': 1.0, 'itm_kpi_fill_rate{type=project}': 0.0,
        'itm_kpi_opportunities_closed{outcome=cancelled,type=project}': 1,
        'itm_kpi_time_to_fill_seconds_count{type=gig}': 1, 'itm_kpi_time_to_fill_seconds_count{type=role}': 1,
        'itm_kpi_applications{type=gig}': 1, 'itm_kpi_applications{type=role}': 1,
        'itm_kpi_gig_time_unlocked_seconds_per_week{type=gig}': 6 * 3600,
        'itm_kpi_internal_moves{}': 1,
        # one manager let two people go (E1's gig time, E2's move): one member with count 2
        'itm_kpi_manager_talent_export_bucket{le=1.0}': 0, 'itm_kpi_manager_talent_export_bucket{le=2.0}': 1,
        'itm_kpi_manager_talent_export_count{}': 1, 'itm_kpi_manager_talent_export_sum{}': 2,
    }
    async with asyncio.timeout(30):  # the role's move comes back from the profile service (profile.employee-moved)
        while (before := await scrape(opportunity.http_url)).get('itm_kpi_internal_moves{}') != 1:
            await asyncio.sleep(0.2)
    for key, value in expected_opportunity.items():
        assert before.get(key) == pytest.approx(value), (key, before.get(key))
    assert before['itm_kpi_time_to_fill_seconds_sum{type=gig}'] < 60  # filled within the test
    validated = await scrape(profile.http_url)
    assert validated['itm_kpi_skills_validated{source=manager}'] == 1
    assert not any(k.startswith("itm_kpi_opportunities") for k in validated)  # each service exports its own

    opportunity.restart()
    after = await scrape(opportunity.http_url)
    assert after == before, "KPIs must be the same after a restart"
    await hr.close()

    # `itm report` gives the same figures for the period (today)
    env = {**os.environ, "ITM_TOPIC_PREFIX": topic_prefix}
    out = subprocess.run([sys.executable, "-m", "itm.cli", "report", "--redis-url", redis_url, "--json",
                          "--data-dir", "/nonexistent"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["by_type"]["gig"]["fill_rate"] == 1.0 and doc["by_type"]["project"]["fill_rate"] == 0.0
    assert doc["by_type"]["gig"]["applications"] == 1 and doc["internal_moves"] == 1
    assert doc["gig_hours_unlocked_per_week"] == 6 and doc["skills_validated"] == {"manager": 1}
    assert doc["by_type"]["role"]["mean_time_to_fill_days"] < 0.01
