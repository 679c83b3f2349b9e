"""The console in a browser, per role (issue 11 items 3-5 and "Tests"): the manager's approvals and team,
the owner's postings, candidates and pipeline, HR's import, KPIs, fairness and audit export; the
authorization matrix through the console; a CSRF refusal. Real services, Debian's chromium, axe-core on
every page, a screenshot of each main page."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import expect

from itm.v1 import common_pb2 as C, opportunity_pb2 as O, profile_pb2 as P

pytestmark = pytest.mark.timeout(600)  # a module stack of six processes on a contended machine


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


async def person(stack, emp_id: str, name: str, manager: str = "", hours: float = 40, dept: str = "Marketing",
                 skills=(), title: str = "") -> str:
    c = stack.clients
    await c.profile.CreateEmployee(P.CreateEmployeeRequest(
        employee_id=emp_id, name=name, manager_id=manager, department=dept, location="Lisbon",
        hours_available_per_week=hours, title=title), metadata=c.metadata)
    for skill, level, status in skills:
        await c.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=emp_id, skill=skill, level=level,
                                                         status=status), metadata=c.metadata)
    return emp_id


async def post(stack, owner: str, title: str, hours: float, reqs=(("sql", 2, False),), otype=C.OPPORTUNITY_TYPE_GIG):
    me = stack.as_(owner)
    return await me.opportunity.PostOpportunity(O.PostOpportunityRequest(
        title=title, type=otype, hours_per_week=hours, duration_weeks=4, seats=2, department="Marketing",
        description=f"{title}: help the team for a few weeks.",
        requirements=[O.RequirementInput(skill=s, min_level=lv, must_have=m) for s, lv, m in reqs]),
        metadata=me.metadata)


async def test_manager_approves_a_posting_releases_time_and_verifies_a_skill(console_stack, as_person, a11y,
                                                                             screenshot):
    s = console_stack
    boss, owner, report = uid("M"), uid("O"), uid("E")
    await person(s, boss, "Morgan Reyes", title="Head of Marketing")
    await person(s, owner, "Olivia Stone", manager=boss, title="Campaign lead")
    await person(s, report, "Ana Lima", manager=boss, title="Marketing analyst",
                 skills=[("sql", 2, C.SKILL_STATUS_CLAIMED), ("data-visualization", 3, C.SKILL_STATUS_CLAIMED)])
    big = await post(s, owner, "Customer churn deep-dive", 15)  # above the 10 h threshold: waits for the manager
    assert big.status == C.OPPORTUNITY_STATUS_PENDING_APPROVAL and big.approver_id == boss
    gig = await post(s, owner, "Campaign dashboard", 6)
    applicant = s.as_(report)
    app = await applicant.opportunity.Apply(O.ApplyRequest(opportunity_id=gig.opportunity_id, note="Keen!"),
                                            metadata=applicant.metadata)
    await s.as_(owner).opportunity.AcceptApplication(O.AcceptApplicationRequest(
        application_id=app.application_id), metadata=s.as_(owner).metadata)

    page = await as_person(boss, "manager")
    await page.goto(f"{s.url}/manager/approvals")
    posting = page.locator(f"#posting-{big.opportunity_id}")
    await expect(posting).to_contain_text("Customer churn deep-dive")
    await expect(posting).to_contain_text("Olivia Stone")
    release = page.locator(f'[id="release-{app.application_id}"]')
    await expect(release).to_contain_text("Ana Lima")
    await expect(release).to_contain_text("0 h of 8 h per week already released")  # 20 % of 40 h
    await expect(release).to_contain_text("8 h remaining")
    await a11y(page, "manager approvals")
    await screenshot(page, "manager-approvals")

    await posting.get_by_role("button", name="Approve").click()
    await expect(page.locator("#flash")).to_contain_text("Posting approved")
    await expect(page.locator(f"#posting-{big.opportunity_id}")).to_have_count(0)
    got = await s.clients.opportunity.GetOpportunity(O.GetOpportunityRequest(opportunity_id=big.opportunity_id),
                                                     metadata=s.clients.metadata)
    assert got.status == C.OPPORTUNITY_STATUS_OPEN and got.decided_by == boss

    await page.locator(f'[id="approve-release-{app.application_id}"]').click()
    await expect(page.locator("#flash")).to_contain_text("Time released")
    released = await s.clients.opportunity.GetApplication(O.GetApplicationRequest(
        application_id=app.application_id), metadata=s.clients.metadata)
    assert released.time_release == C.TIME_RELEASE_STATUS_APPROVED

    await page.goto(f"{s.url}/manager/team")
    member = page.locator(f"#member-{report}")
    await expect(member).to_contain_text("Ana Lima")
    await expect(member).to_contain_text("Campaign dashboard")
    await expect(member).to_contain_text("6 h of 8 h/week released")
    await expect(member).to_contain_text("SQL · 2")  # the taxonomy's name
    await member.get_by_label("Verify a skill").select_option("sql")
    await member.get_by_label("at level").select_option("3")
    await member.get_by_role("button", name="Verify").click()
    await expect(page.locator("#flash")).to_contain_text("Skill verified")
    await a11y(page, "manager team")
    await screenshot(page, "manager-team")
    emp = await s.clients.profile.GetEmployee(P.GetEmployeeRequest(employee_id=report), metadata=s.clients.metadata)
    sql = next(r.skill for r in emp.skills if r.skill.skill_id == "sql")
    assert (sql.status, sql.level, sql.source) == (C.SKILL_STATUS_VERIFIED, 3, C.EVIDENCE_SOURCE_MANAGER)


@pytest.mark.parametrize("path", ["/manager/approvals", "/manager/team"])
async def test_an_employee_opening_a_manager_page_gets_403(console_stack, as_person, path):
    s = console_stack
    emp = await person(s, uid("E"), "Eve Curious")
    page = await as_person(emp, "employee")
    response = await page.goto(f"{s.url}{path}")
    assert response.status == 403
    await expect(page.locator("#error")).to_have_attribute("data-status", "403")
    await expect(page.locator("#error-message")).to_contain_text("manager")


async def reload_until(page, locator, timeout_s: float = 45, text: str | None = None) -> None:
    """Server-rendered pages show what the services know when loaded: reload until it is there
    (the matcher scores asynchronously)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        if await locator.count() and (text is None or text in (await locator.first.text_content() or "")):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout_s}s {locator} is not on {page.url}" + (f" with {text!r}" if text else ""))
        await asyncio.sleep(1)
        await page.reload()


async def test_owner_posts_edits_sees_candidates_runs_the_pipeline_and_completes_with_feedback(
        console_stack, as_person, a11y, screenshot):
    s = console_stack
    boss, owner, fit, hidden = uid("M"), uid("O"), uid("E"), uid("E")
    await person(s, boss, "Morgan Reyes")
    await person(s, owner, "Olivia Stone", manager=boss)
    await person(s, fit, "Bruno Costa", manager=boss, skills=[("sql", 3, C.SKILL_STATUS_CLAIMED),
                                                              ("data-visualization", 3, C.SKILL_STATUS_CLAIMED)])
    await person(s, hidden, "Hana Hidden", manager=boss, skills=[("sql", 3, C.SKILL_STATUS_CLAIMED),
                                                                 ("data-visualization", 3, C.SKILL_STATUS_CLAIMED)])
    me = s.as_(hidden)
    emp = await me.profile.GetEmployee(P.GetEmployeeRequest(employee_id=hidden), metadata=me.metadata)
    await me.profile.SetVisibility(P.SetVisibilityRequest(employee_id=hidden, expected_version=emp.version,
                                                          visibility=P.Visibility(hidden_from_opportunity_owners=True)),
                                   metadata=me.metadata)

    page = await as_person(owner)
    await page.goto(f"{s.url}/owner")
    await expect(page.locator("#no-postings")).to_be_visible()
    await page.locator("#post-new").click()
    await expect(page.locator("h1")).to_have_text("Post an opportunity")
    await page.locator("#type-project").check()
    await page.get_by_label("Title").fill("Q3 pricing analysis")
    await page.get_by_label("What is it about?").fill("Model the price tiers with the finance team.")
    await page.get_by_label("Hours per week").fill("4")
    await page.locator("#req-0-skill").fill("SQL")
    await page.locator("#req-0-level").select_option("2")
    await page.locator("#req-0-must").check()
    await page.locator("#req-1-skill").fill("Quantum basket weaving")
    await a11y(page, "owner new posting")
    await screenshot(page, "owner-new")
    await page.locator("#post-submit").click()
    # the service's refusal is shown next to the field it names; what was typed is kept
    await expect(page.locator("#req-1-skill-error")).to_contain_text("Quantum basket weaving")
    await expect(page.locator("#req-1-skill")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Title")).to_have_value("Q3 pricing analysis")
    await expect(page.locator("#type-project")).to_be_checked()
    await page.locator("#req-1-skill").fill("data visualization")
    await page.locator("#post-submit").click()
    await expect(page.locator("#flash")).to_contain_text("it is open")
    opp_id = page.url.split("/owner/opportunities/")[1].split("?")[0]
    opp = await s.clients.opportunity.GetOpportunity(O.GetOpportunityRequest(opportunity_id=opp_id),
                                                     metadata=s.clients.metadata)
    assert opp.type == C.OPPORTUNITY_TYPE_PROJECT and opp.owner_id == owner
    assert [(r.skill_id, r.min_level, r.must_have) for r in opp.requirements] == [
        ("sql", 2, True), ("data-visualization", 3, False)]

    # best candidates: the fitting colleague with a score; the one who hid from owners is not listed
    await reload_until(page, page.locator(f"#candidate-{fit}"))
    await expect(page.locator(f"#candidate-{fit}")).to_contain_text("%")
    await expect(page.locator(f"#candidate-{hidden}")).to_have_count(0)

    applicant = s.as_(fit)
    app = await applicant.opportunity.Apply(O.ApplyRequest(opportunity_id=opp_id, note="I ran last year's model."),
                                            metadata=applicant.metadata)
    card_id = "#app-" + app.application_id.replace(":", "-")
    await reload_until(page, page.locator(card_id), text="%")
    card = page.locator(card_id)
    await expect(card).to_contain_text("I ran last year's model.")
    await expect(card.locator(".credits")).to_contain_text("SQL")
    await a11y(page, "owner candidates and pipeline")
    await screenshot(page, "owner-candidates")
    await card.get_by_role("button", name="Shortlist").click()
    await expect(page.locator("#flash")).to_contain_text("Shortlisted")
    await page.locator(card_id).get_by_role("button", name="Accept").click()
    await expect(page.locator("#flash")).to_contain_text("Accepted")
    await expect(page.locator(card_id)).to_contain_text("Time release pending")

    # requirements edited on the open posting
    await page.locator("#requirements #req-1-level").select_option("2")
    await page.locator("#requirements-submit").click()
    await expect(page.locator("#flash")).to_contain_text("Requirements saved")
    opp = await s.clients.opportunity.GetOpportunity(O.GetOpportunityRequest(opportunity_id=opp_id),
                                                     metadata=s.clients.metadata)
    assert [(r.skill_id, r.min_level) for r in opp.requirements] == [("sql", 2), ("data-visualization", 2)]

    mgr = s.as_(boss, "manager")
    await mgr.opportunity.ApproveTimeRelease(O.ApproveTimeReleaseRequest(application_id=app.application_id),
                                             metadata=mgr.metadata)
    await page.reload()
    form = page.locator("#complete-" + app.application_id.replace(":", "-"))
    await form.get_by_label("SQL: level shown").select_option("4")
    await form.get_by_label("Comment on SQL").fill("Clean, tested queries.")
    await form.get_by_role("button", name="Complete assignment").click()
    await expect(page.locator("#flash")).to_contain_text("Assignment completed")
    await expect(page.locator(card_id)).to_have_attribute("data-status", "Completed")
    done = await s.clients.profile.GetEmployee(P.GetEmployeeRequest(employee_id=fit), metadata=s.clients.metadata)
    sql = next(r for r in done.skills if r.skill.skill_id == "sql")
    assert any(e.source == C.EVIDENCE_SOURCE_GIG and e.level == 4 for e in sql.evidence)

    await page.goto(f"{s.url}/owner")
    await expect(page.locator(f"#posting-{opp_id}")).to_contain_text("Q3 pricing analysis")
    await a11y(page, "owner postings")
    await screenshot(page, "owner-postings")


async def test_only_the_owner_manages_a_posting(console_stack, as_person):
    s = console_stack
    owner, other = await person(s, uid("O"), "Olivia Owner"), await person(s, uid("E"), "Eve Other")
    gig = await post(s, owner, "Data clean-up", 3)
    page = await as_person(other)
    response = await page.goto(f"{s.url}/owner/opportunities/{gig.opportunity_id}")
    assert response.status == 403
    await expect(page.locator("#error-message")).to_contain_text("owner")


async def test_hr_imports_with_a_dry_run_reads_kpis_and_fairness_and_downloads_the_audit(console_stack, as_person,
                                                                                      a11y, screenshot):
    import json
    from datetime import UTC, datetime, timedelta

    from itm import report
    from itm.v1 import reports_pb2_grpc

    s = console_stack
    hr = uid("hr")
    a, b = uid("E"), uid("E")
    csv = ("employee_id,name,department,manager_id,location,hours_available_per_week,career_aspirations,skill,level\n"
           f"{a},Carla Dias,Finance,,Porto,40,analytics,sql,3\n"
           f"{b},Duarte Reis,Finance,,Porto,30,,excel,4\n"
           f"{uid('E')},Bad Level,Finance,,Porto,30,,sql,9\n").encode()
    page = await as_person(hr, "hr_admin")
    await page.goto(f"{s.url}/hr/import")
    await expect(page.locator("#dry_run")).to_be_checked()
    await page.locator("#file").set_input_files(files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": csv}])
    await page.locator("#import-submit").click()
    await expect(page.locator("#import-report")).to_have_attribute("data-dry-run", "1")
    await expect(page.locator("#import-summary")).to_contain_text("4 lines: 1 header, 2 created")
    await expect(page.locator("#count-rejected")).to_have_text("1")
    await expect(page.locator("#line-4")).to_contain_text("rejected")
    await expect(page.locator("#line-4")).to_contain_text("level")
    await a11y(page, "HR import report")
    await screenshot(page, "hr-import")
    import grpc
    with pytest.raises(grpc.aio.AioRpcError):  # a dry run writes nothing
        await s.clients.profile.GetEmployee(P.GetEmployeeRequest(employee_id=a), metadata=s.clients.metadata)
    await page.locator("#dry_run").uncheck()
    await page.locator("#file").set_input_files(files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": csv}])
    await page.locator("#import-submit").click()
    await expect(page.locator("#import-report")).to_have_attribute("data-dry-run", "0")
    await expect(page.locator("#count-created")).to_have_text("2")
    made = await s.clients.profile.GetEmployee(P.GetEmployeeRequest(employee_id=a), metadata=s.clients.metadata)
    assert (made.name, made.department, made.skills[0].skill.skill_id) == ("Carla Dias", "Finance", "sql")

    # a filled gig and a verified skill, then the KPI page shows what itm report computes
    boss, owner = await person(s, uid("M"), "Mia Boss"), None
    owner = await person(s, uid("O"), "Omar Owner", manager=boss)
    gig = await post(s, owner, "Budget model", 4)
    who = s.as_(a)
    app = await who.opportunity.Apply(O.ApplyRequest(opportunity_id=gig.opportunity_id), metadata=who.metadata)
    own, mgr = s.as_(owner), s.as_(boss, "manager")
    await own.opportunity.AcceptApplication(O.AcceptApplicationRequest(application_id=app.application_id),
                                            metadata=own.metadata)
    await s.clients.opportunity.ApproveTimeRelease(O.ApproveTimeReleaseRequest(application_id=app.application_id),
                                                   metadata=s.clients.metadata)
    await own.opportunity.CloseOpportunity(O.CloseOpportunityRequest(opportunity_id=gig.opportunity_id,
                                                                     outcome="filled"), metadata=own.metadata)
    today = datetime.now(UTC).date()
    await page.goto(f"{s.url}/hr/kpis")
    stubs = {n: reports_pb2_grpc.ReportServiceStub(s.clients.channels[n]) for n in report.KPI_SERVICES}
    doc = await report.kpis_over_grpc(stubs, s.clients.metadata, today - timedelta(days=29), today)
    posted = sum(r["posted"] for r in doc["by_type"].values())
    filled = sum(r["filled"] for r in doc["by_type"].values())
    assert filled >= 1
    await expect(page.locator("#kpi-fill-rate")).to_contain_text(f"{filled:g} of {posted:g} postings filled")
    await expect(page.locator("#kpi-fill-rate .value")).to_have_text(f"{filled / posted * 100:.0f} %")
    await expect(page.locator("#kpi-gig-hours .value")).to_have_text(f"{doc['gig_hours_unlocked_per_week']:g} h")
    await expect(page.locator("#chart-posted-filled svg")).to_be_visible()
    await expect(page.locator("#chart-fill-rate")).to_contain_text("Gig")
    await a11y(page, "HR KPIs")
    await screenshot(page, "hr-kpis")
    # a bad period is shown next to its field
    await page.goto(f"{s.url}/hr/kpis?since=2026-12-31&until=2026-01-01")
    await expect(page.locator("#since-error")).to_contain_text("after the last")

    await page.goto(f"{s.url}/hr/fairness")
    await expect(page.locator("#fairness-department")).to_contain_text("Finance")
    await a11y(page, "HR fairness")
    await screenshot(page, "hr-fairness")

    await page.goto(f"{s.url}/hr/audit")
    await expect(page.locator("#audit-recent")).to_contain_text("PostOpportunity")
    await a11y(page, "HR audit")
    async with page.expect_download() as download_info:
        await page.locator("#audit-download").click()
    download = await download_info.value
    assert download.suggested_filename.startswith("itm-audit-") and download.suggested_filename.endswith(".jsonl")
    lines = [json.loads(line) for line in open(await download.path()).read().splitlines()]
    assert any(r["method"] == "CloseOpportunity" and r["subject"] == owner for r in lines), lines[-5:]
    assert any(r["method"] == "ImportEmployees" and r["subject"] == hr for r in lines)


@pytest.mark.parametrize("path", ["/hr/kpis", "/hr/import", "/hr/fairness", "/hr/audit", "/hr/audit/export"])
async def test_an_employee_or_manager_opening_an_hr_page_gets_403(console_stack, as_person, path):
    s = console_stack
    for role in ("employee", "manager"):
        page = await as_person(uid("E"), role)
        response = await page.goto(f"{s.url}{path}")
        assert response.status == 403, (role, path, response.status)
