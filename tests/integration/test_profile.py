"""The profile service for real (process, Redis, broker): workflows through gRPC, the
stored state and the events on the topics; bad input for every RPC."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from _stack import ModuleStack, all_topics, expect_error, uid
from itm.v1 import common_pb2, profile_pb2

P = profile_pb2
V, C, A = common_pb2.SKILL_STATUS_VERIFIED, common_pb2.SKILL_STATUS_CLAIMED, common_pb2.SKILL_STATUS_ASPIRATIONAL
MANAGER, ASSESSMENT = common_pb2.EVIDENCE_SOURCE_MANAGER, common_pb2.EVIDENCE_SOURCE_ASSESSMENT
Code = grpc.StatusCode


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("profile"))
    await s.start({"profile": {}}, all_topics("profile."))
    yield s
    await s.close(failed=request.session.testsfailed > 0)


async def create(stack, emp_id, manager="M-" + "boss", **kw):
    c = stack.clients
    return await c.profile.CreateEmployee(P.CreateEmployeeRequest(
        request_id=f"req-{emp_id}", employee_id=emp_id, name=kw.pop("name", f"Name {emp_id}"), manager_id=manager,
        department=kw.pop("department", "Data"), hours_available_per_week=kw.pop("hours", 40), **kw), metadata=c.metadata)


async def test_an_employee_through_its_lifecycle_stored_and_emitted(stack):
    emp_id, boss = uid("E"), uid("M")
    me = stack.as_(emp_id)
    created = await create(stack, emp_id, manager=boss, location="Porto", career_aspirations=["data science lead"])
    assert (created.version, created.manager_id, created.location) == (1, boss, "Porto")

    updated = await me.profile.UpdateEmployee(P.UpdateEmployeeRequest(
        employee_id=emp_id, expected_version=1, hours_available_per_week=0, career_aspirations=[],
        update_mask=FieldMask(paths=["hours_available_per_week", "career_aspirations"])), metadata=me.metadata)
    assert updated.version == 2 and updated.hours_available_per_week == 0 and not updated.career_aspirations

    e = await me.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=emp_id, expected_version=2, skill="py", level=3),
                                     metadata=me.metadata)
    e = await me.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=emp_id, skill="Machine Learning", level=4,
                                                          status=A), metadata=me.metadata)
    mgr = stack.as_(boss, "manager")
    e = await mgr.profile.VerifySkill(P.VerifySkillRequest(employee_id=emp_id, expected_version=4, skill="python",
                                                           level=4, source=MANAGER), metadata=mgr.metadata)
    assert e.version == 5
    python = next(r for r in e.skills if r.skill.skill_id == "python")
    assert (python.skill.level, python.skill.status, python.skill.source) == (4, V, MANAGER)
    assert [(ev.source, ev.level, ev.status) for ev in python.evidence] == [
        (common_pb2.EVIDENCE_SOURCE_SELF, 3, C), (MANAGER, 4, V)]
    assert all(ev.at.seconds > 0 for ev in python.evidence) and python.evidence[1].actor == boss
    # a later, lower claim never overrides verified evidence; it stays as history
    e = await me.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=emp_id, skill="python", level=2),
                                     metadata=me.metadata)
    python = next(r for r in e.skills if r.skill.skill_id == "python")
    assert (python.skill.level, python.skill.status, len(python.evidence)) == (4, V, 3)
    e = await me.profile.SetPreferences(P.SetPreferencesRequest(employee_id=emp_id, preferences=P.MatchPreferences(
        threshold_percent=70, opportunity_types=[common_pb2.OPPORTUNITY_TYPE_GIG])), metadata=me.metadata)
    e = await me.profile.RemoveSkill(P.RemoveSkillRequest(employee_id=emp_id, expected_version=7, skill="ml"),
                                     metadata=me.metadata)
    assert e.version == 8 and [r.skill.skill_id for r in e.skills] == ["python"]

    stored = await stack.clients.profile.GetEmployee(P.GetEmployeeRequest(employee_id=emp_id), metadata=stack.clients.metadata)
    assert stored == e

    # the events: one per change, keyed by the employee, versions 1..8 in order, snapshots after each change
    expected = ["profile.employee-registered", "profile.employee-updated", "profile.skill-added", "profile.skill-added",
                "profile.skill-verified", "profile.skill-added", "profile.preferences-changed", "profile.skill-removed"]
    for topic in set(expected):
        await stack.log.wait_for(topic, emp_id, expected.count(topic))
    mine = sorted((s for s in stack.log.seen if s.key == emp_id.encode()), key=lambda s: s.event.version)
    assert [(s.topic, s.event.version) for s in mine] == [(t, v) for v, t in enumerate(expected, 1)]
    assert all(s.env.subject == emp_id and s.env.source == "profile" for s in mine)
    assert len({s.env.correlation_id for s in mine}) == len(mine)  # one request, one correlation id
    verified = mine[4].payload
    assert verified.verified_by == boss and verified.skill.skill_id == "python" and verified.skill.level == 4
    assert [(sk.skill_id, sk.status) for sk in verified.profile.skills] == [("python", V), ("machine-learning", A)]
    assert mine[6].payload.profile.threshold_percent == 70
    assert mine[6].payload.profile.opportunity_types == [common_pb2.OPPORTUNITY_TYPE_GIG]
    assert [sk.skill_id for sk in mine[7].payload.profile.skills] == ["python"]
    assert not any(hasattr(s.payload.profile, "name") for s in mine)  # blind: the snapshot has no name

    # the history lists every change with its event, oldest first, in pages
    first = await me.profile.ListEmployeeHistory(P.ListEmployeeHistoryRequest(employee_id=emp_id, page_size=5),
                                                 metadata=me.metadata)
    rest = await me.profile.ListEmployeeHistory(P.ListEmployeeHistoryRequest(
        employee_id=emp_id, page_size=5, page_token=first.next_page_token), metadata=me.metadata)
    entries = list(first.entries) + list(rest.entries)
    assert first.next_page_token and not rest.next_page_token
    assert [(h.version, h.event_type, h.event_id) for h in entries] == [
        (s.event.version, s.topic, s.event.event_id) for s in mine]
    assert entries[4].actor == boss and "verified python level 4" in entries[4].summary


async def test_create_is_idempotent_by_request_id_and_a_reused_id_is_refused(stack):
    emp_id = uid("E")
    first = await create(stack, emp_id)
    again = await create(stack, emp_id)
    assert again == first
    c = stack.clients
    await expect_error(c.profile.CreateEmployee(P.CreateEmployeeRequest(
        request_id=f"req-{emp_id}", employee_id=uid("E"), name="Someone Else"), metadata=c.metadata),
        Code.ALREADY_EXISTS, "request_id", "different request")
    await expect_error(c.profile.CreateEmployee(P.CreateEmployeeRequest(
        request_id=uid("r"), employee_id=emp_id, name="Twin"), metadata=c.metadata), Code.ALREADY_EXISTS, "already exists")
    await stack.log.wait_for("profile.employee-registered", emp_id)
    await stack.log.quiet(1.0)
    assert len(stack.log.of("profile.employee-registered", emp_id)) == 1


async def test_a_stale_write_is_aborted_and_changes_nothing(stack):
    emp_id = uid("E")
    await create(stack, emp_id)
    me = stack.as_(emp_id)
    await me.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=emp_id, expected_version=1, skill="sql", level=2),
                                 metadata=me.metadata)
    err = await expect_error(me.profile.UpsertSkill(P.UpsertSkillRequest(
        employee_id=emp_id, expected_version=1, skill="excel", level=2), metadata=me.metadata), Code.ABORTED,
        "version 2", "expected 1")
    assert "re-read" in err.details()
    e = await me.profile.GetEmployee(P.GetEmployeeRequest(employee_id=emp_id), metadata=me.metadata)
    assert e.version == 2 and [r.skill.skill_id for r in e.skills] == ["sql"]
    await stack.log.quiet(1.0)
    assert [s.event.version for s in stack.log.of("profile.skill-added", emp_id)] == [2]


async def test_who_may_verify(stack):
    emp_id, boss, other = uid("E"), uid("M"), uid("M")
    await create(stack, emp_id, manager=boss)
    req = P.VerifySkillRequest(employee_id=emp_id, skill="sql", level=3, source=MANAGER)
    for who, role, fragment in [(other, "manager", "not"), (emp_id, "employee", "manager"),
                                (uid("E"), "employee", "manager")]:
        c = stack.as_(who, role)
        await expect_error(c.profile.VerifySkill(req, metadata=c.metadata), Code.PERMISSION_DENIED, fragment)
    mgr = stack.as_(boss, "manager")
    await expect_error(mgr.profile.VerifySkill(P.VerifySkillRequest(
        employee_id=emp_id, skill="sql", level=3, source=ASSESSMENT), metadata=mgr.metadata), Code.PERMISSION_DENIED,
        "ASSESSMENT")
    assessor = stack.as_("assessment-service", "service")
    e = await assessor.profile.VerifySkill(P.VerifySkillRequest(
        employee_id=emp_id, skill="sql", level=3, source=ASSESSMENT, reference="sql-test-2024"), metadata=assessor.metadata)
    sql = e.skills[0]
    assert (sql.skill.status, sql.skill.source, sql.evidence[0].reference) == (V, ASSESSMENT, "sql-test-2024")
    events = await stack.log.wait_for("profile.skill-verified", emp_id)
    assert events[0].payload.verified_by == "assessment-service"


async def test_peer_endorsements_are_evidence_counted_once_per_peer(stack):
    emp_id, peer, peer2 = uid("E"), uid("E"), uid("E")
    for e in (emp_id, peer, peer2):
        await create(stack, e)
    me = stack.as_(emp_id)
    await me.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=emp_id, skill="sql", level=3), metadata=me.metadata)
    await me.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=emp_id, skill="go", level=2, status=A), metadata=me.metadata)
    p1, p2 = stack.as_(peer), stack.as_(peer2)
    e = await p1.profile.EndorseSkill(P.EndorseSkillRequest(employee_id=emp_id, skill="SQL", note="great queries"),
                                      metadata=p1.metadata)
    assert e.version == 4
    again = await p1.profile.EndorseSkill(P.EndorseSkillRequest(employee_id=emp_id, skill="sql", note="great queries"),
                                          metadata=p1.metadata)
    assert again.version == 4  # the same endorsement again changes nothing
    e = await p2.profile.EndorseSkill(P.EndorseSkillRequest(employee_id=emp_id, skill="sql", level=4), metadata=p2.metadata)
    sql = next(r for r in e.skills if r.skill.skill_id == "sql")
    assert sql.endorsements == 2 and sql.skill.status == C and sql.skill.level == 3  # evidence, not verification
    peers = [(ev.reference, ev.level) for ev in sql.evidence if ev.source == common_pb2.EVIDENCE_SOURCE_PEER]
    assert peers == [(peer, 3), (peer2, 4)]
    await expect_error(me.profile.EndorseSkill(P.EndorseSkillRequest(employee_id=emp_id, skill="sql"), metadata=me.metadata),
                       Code.INVALID_ARGUMENT, "own skills")
    await expect_error(p1.profile.EndorseSkill(P.EndorseSkillRequest(employee_id=emp_id, skill="go"), metadata=p1.metadata),
                       Code.FAILED_PRECONDITION, "aspiration")
    await expect_error(p1.profile.EndorseSkill(P.EndorseSkillRequest(employee_id=emp_id, skill="excel"), metadata=p1.metadata),
                       Code.FAILED_PRECONDITION, "does not list")
    stranger = stack.as_(uid("X"))
    await expect_error(stranger.profile.EndorseSkill(P.EndorseSkillRequest(employee_id=emp_id, skill="sql"),
                                                     metadata=stranger.metadata), Code.FAILED_PRECONDITION, "no profile")
    await expect_error(p1.profile.EndorseSkill(P.EndorseSkillRequest(employee_id=emp_id, skill="sql", endorser_id=peer2),
                                               metadata=p1.metadata), Code.PERMISSION_DENIED, "yourself")
    events = await stack.log.wait_for("profile.skill-endorsed", emp_id, 2)
    assert [(s.payload.endorser_id, s.payload.level, s.payload.endorsements, s.event.version) for s in events] == [
        (peer, 3, 1, 4), (peer2, 4, 2, 5)]
    assert events[1].payload.profile.employee_id == emp_id  # the matcher's snapshot rides along


async def test_aspirations_can_be_hidden_from_the_manager(stack):
    emp_id, boss = uid("E"), uid("M")
    await create(stack, emp_id, manager=boss, career_aspirations=["move to product"])
    me, mgr, stranger = stack.as_(emp_id), stack.as_(boss, "manager"), stack.as_(uid("M"), "manager")
    await me.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=emp_id, skill="sql", level=3), metadata=me.metadata)
    await me.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=emp_id, skill="product management", level=3, status=A),
                                 metadata=me.metadata)
    get = P.GetEmployeeRequest(employee_id=emp_id)
    seen = await mgr.profile.GetEmployee(get, metadata=mgr.metadata)
    assert len(seen.skills) == 2 and list(seen.career_aspirations) == ["move to product"]

    e = await me.profile.SetVisibility(P.SetVisibilityRequest(
        employee_id=emp_id, expected_version=3, visibility=P.Visibility(hide_aspirational_from_managers=True)),
        metadata=me.metadata)
    assert e.version == 4 and e.visibility.hide_aspirational_from_managers
    seen = await mgr.profile.GetEmployee(get, metadata=mgr.metadata)
    assert [r.skill.skill_id for r in seen.skills] == ["sql"] and not seen.career_aspirations
    assert len((await me.profile.GetEmployee(get, metadata=me.metadata)).skills) == 2
    assert len((await stack.clients.profile.GetEmployee(get, metadata=stack.clients.metadata)).skills) == 2
    await expect_error(stranger.profile.GetEmployee(get, metadata=stranger.metadata), Code.PERMISSION_DENIED, "may not read")
    await expect_error(mgr.profile.SetVisibility(P.SetVisibilityRequest(employee_id=emp_id, visibility=P.Visibility()),
                                                 metadata=mgr.metadata), Code.PERMISSION_DENIED, "consent")
    events = await stack.log.wait_for("profile.visibility-changed", emp_id)
    assert events[0].payload.hide_aspirational_from_managers and events[0].event.version == 4
    # the other choice: not listed for opportunity owners; the matcher's snapshot carries it
    both = P.Visibility(hide_aspirational_from_managers=True, hidden_from_opportunity_owners=True)
    e = await me.profile.SetVisibility(P.SetVisibilityRequest(employee_id=emp_id, expected_version=4, visibility=both),
                                       metadata=me.metadata)
    assert e.version == 5 and e.visibility == both
    same = await me.profile.SetVisibility(P.SetVisibilityRequest(employee_id=emp_id, visibility=both),
                                          metadata=me.metadata)
    assert same.version == 5  # the same choice again changes nothing
    events = await stack.log.wait_for("profile.visibility-changed", emp_id, count=2)
    assert [(x.payload.hidden_from_opportunity_owners, x.payload.profile.hidden_from_opportunity_owners,
             x.event.version) for x in events] == [(False, False, 4), (True, True, 5)]


async def test_hris_import_applies_good_rows_reports_bad_ones_and_is_idempotent(stack):
    a, b, existing, m1, m2 = uid("H"), uid("H"), uid("H"), uid("M"), uid("M")
    for manager in (m1, m2):
        await create(stack, manager, manager="")
    await create(stack, existing, manager=m1, department="Old")
    hr = stack.as_("hr-1", "hr_admin")
    csv_text = (
        "Employee ID,Name,Department,Manager ID,Location,Hours Available Per Week,Career Aspirations,Cost Centre\n"
        f"{a},Ana A,Data,{m1},Lisbon,40,analytics lead; mentor,CC1\n"
        f"{b},Ben B,Data,{b},Lagos,40,,CC1\n"                  # manages himself
        f",No Id,Data,{m1},Lagos,40,,CC1\n"
        f"{existing},Existing Person,New,{m2},Oslo,32,,CC2\n"
        f"{a},Ana Again,Data,{m1},Lisbon,40,,CC1\n"             # the same employee with other person columns
        f"bad id!,Someone,Data,{m1},Oslo,abc,,CC1\n"
        f"{uid('H')},Too Many,Data,{m1},Oslo,90,,CC1,extra\n"
    )
    for who, role in [("svc", "service"), (a, "employee"), ("m", "manager")]:
        c = stack.as_(who, role)
        await expect_error(c.profile.ImportEmployees(P.ImportEmployeesRequest(csv=csv_text), metadata=c.metadata),
                           Code.PERMISSION_DENIED, "HR admins")
    dry = await hr.profile.ImportEmployees(P.ImportEmployeesRequest(csv=csv_text, dry_run=True), metadata=hr.metadata)
    assert (dry.created, dry.updated, dry.rejected, dry.dry_run) == (1, 1, 5, True)
    await expect_error(hr.profile.GetEmployee(P.GetEmployeeRequest(employee_id=a), metadata=hr.metadata), Code.NOT_FOUND)

    req = P.ImportEmployeesRequest(request_id=uid("imp"), csv=csv_text)
    report = await hr.profile.ImportEmployees(req, metadata=hr.metadata)
    O = P.ImportOutcome
    assert (report.rows, report.created, report.updated, report.unchanged, report.rejected) == (7, 1, 1, 0, 5)
    outcome = {r.row: (r.employee_id, r.outcome) for r in report.results}
    assert outcome[2] == (a, O.IMPORT_OUTCOME_CREATED) and outcome[5] == (existing, O.IMPORT_OUTCOME_UPDATED)
    errors = {r.row: " ".join(r.errors) for r in report.results if r.outcome == O.IMPORT_OUTCOME_REJECTED}
    assert set(errors) == {3, 4, 6, 7, 8}
    assert "themselves" in errors[3] and "employee_id is empty" in errors[4] and "differ from line 2" in errors[6]
    assert "must be 1-64" in errors[7] and "not a number" in errors[7]
    assert "9 cells where the header has 8" in errors[8]
    ana = await hr.profile.GetEmployee(P.GetEmployeeRequest(employee_id=a), metadata=hr.metadata)
    assert (ana.name, ana.manager_id, list(ana.career_aspirations)) == ("Ana A", m1, ["analytics lead", "mentor"])
    moved = await hr.profile.GetEmployee(P.GetEmployeeRequest(employee_id=existing), metadata=hr.metadata)
    assert (moved.department, moved.manager_id, moved.location, moved.hours_available_per_week, moved.version) == (
        "New", m2, "Oslo", 32, 2)

    assert await hr.profile.ImportEmployees(req, metadata=hr.metadata) == report  # a retry: the first report
    again = await hr.profile.ImportEmployees(P.ImportEmployeesRequest(csv=csv_text), metadata=hr.metadata)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 5)
    await expect_error(hr.profile.ImportEmployees(P.ImportEmployeesRequest(request_id=req.request_id, csv="employee_id,name\n"),
                                                  metadata=hr.metadata), Code.ALREADY_EXISTS, "different import")
    await stack.log.wait_for("profile.employee-registered", a)
    updates = await stack.log.wait_for("profile.employee-updated", existing)
    await stack.log.quiet(1.0)
    assert len(stack.log.of("profile.employee-registered", a)) == 1 and len(stack.log.of("profile.employee-updated", existing)) == 1
    assert updates[0].payload.profile.department == "New" and updates[0].event.version == 2


async def test_lists_page_through_everyone(stack):
    ids = sorted(uid("L") for _ in range(5))
    for e in ids:
        await create(stack, e)
    c = stack.clients
    seen, token = [], ""
    while True:
        page = await c.profile.ListEmployees(P.ListEmployeesRequest(page_size=2, page_token=token), metadata=c.metadata)
        assert len(page.employees) <= 2
        seen += [e.employee_id for e in page.employees]
        token = page.next_page_token
        if not token:
            break
    assert [e for e in seen if e in ids] == ids and len(seen) == len(set(seen))
    me = stack.as_(ids[0])
    await expect_error(me.profile.ListEmployees(P.ListEmployeesRequest(), metadata=me.metadata), Code.PERMISSION_DENIED)


BAD_INPUT = [
    # (rpc, request, code, fragment)
    ("CreateEmployee", P.CreateEmployeeRequest(name="X"), Code.INVALID_ARGUMENT, "employee_id is required"),
    ("CreateEmployee", P.CreateEmployeeRequest(employee_id="E 1", name="X"), Code.INVALID_ARGUMENT, "employee_id"),
    ("CreateEmployee", P.CreateEmployeeRequest(employee_id="{new}"), Code.INVALID_ARGUMENT, "name is required"),
    ("CreateEmployee", P.CreateEmployeeRequest(employee_id="{new}", name="X", hours_available_per_week=-1),
     Code.INVALID_ARGUMENT, "hours_available_per_week"),
    ("CreateEmployee", P.CreateEmployeeRequest(employee_id="{new}", name="X", manager_id="{new}"),
     Code.INVALID_ARGUMENT, "themselves"),
    ("CreateEmployee", P.CreateEmployeeRequest(employee_id="{new}", name="X", request_id="r" * 200),
     Code.INVALID_ARGUMENT, "request_id"),
    ("GetEmployee", P.GetEmployeeRequest(), Code.INVALID_ARGUMENT, "employee_id is required"),
    ("GetEmployee", P.GetEmployeeRequest(employee_id="{unknown}"), Code.NOT_FOUND, "no employee"),
    ("UpdateEmployee", P.UpdateEmployeeRequest(employee_id="{emp}"), Code.INVALID_ARGUMENT, "nothing to update"),
    ("UpdateEmployee", P.UpdateEmployeeRequest(employee_id="{emp}", name="Y", expected_version=99), Code.ABORTED, "stale"),
    ("UpdateEmployee", P.UpdateEmployeeRequest(employee_id="{emp}", name="Y", expected_version=-1),
     Code.INVALID_ARGUMENT, "expected_version"),
    ("UpdateEmployee", P.UpdateEmployeeRequest(employee_id="{emp}", update_mask=FieldMask(paths=["salary"])),
     Code.INVALID_ARGUMENT, "unknown paths"),
    ("UpdateEmployee", P.UpdateEmployeeRequest(employee_id="{emp}", update_mask=FieldMask(paths=["name"])),
     Code.INVALID_ARGUMENT, "name is required"),
    ("UpdateEmployee", P.UpdateEmployeeRequest(employee_id="{emp}", hours_available_per_week=-5),
     Code.INVALID_ARGUMENT, "hours_available_per_week"),
    ("UpdateEmployee", P.UpdateEmployeeRequest(employee_id="{unknown}", name="Y"), Code.NOT_FOUND, "no employee"),
    ("UpsertSkill", P.UpsertSkillRequest(employee_id="{emp}", skill="pyhton", level=3), Code.INVALID_ARGUMENT,
     "did you mean: python"),
    ("UpsertSkill", P.UpsertSkillRequest(employee_id="{emp}", skill="", level=3), Code.INVALID_ARGUMENT, "skill is required"),
    ("UpsertSkill", P.UpsertSkillRequest(employee_id="{emp}", skill="sql", level=0), Code.INVALID_ARGUMENT, "between 1 and 5"),
    ("UpsertSkill", P.UpsertSkillRequest(employee_id="{emp}", skill="sql", level=6), Code.INVALID_ARGUMENT, "between 1 and 5"),
    ("UpsertSkill", P.UpsertSkillRequest(employee_id="{emp}", skill="sql", level=3, status=V), Code.INVALID_ARGUMENT,
     "VerifySkill"),
    ("UpsertSkill", P.UpsertSkillRequest(employee_id="{emp}", skill="sql", level=3, expected_version=99), Code.ABORTED,
     "stale"),
    ("UpsertSkill", P.UpsertSkillRequest(employee_id="{unknown}", skill="sql", level=3), Code.NOT_FOUND, "no employee"),
    ("RemoveSkill", P.RemoveSkillRequest(employee_id="{emp}", skill="kubernetes"), Code.NOT_FOUND, "has no skill"),
    ("RemoveSkill", P.RemoveSkillRequest(employee_id="{emp}", skill="kubernetees"), Code.INVALID_ARGUMENT, "kubernetes"),
    ("RemoveSkill", P.RemoveSkillRequest(employee_id="{emp}", skill="sql", expected_version=99), Code.ABORTED, "stale"),
    ("VerifySkill", P.VerifySkillRequest(employee_id="{emp}", skill="sql", level=6, source=MANAGER),
     Code.INVALID_ARGUMENT, "between 1 and 5"),
    ("VerifySkill", P.VerifySkillRequest(employee_id="{emp}", skill="sql", level=3), Code.INVALID_ARGUMENT, "source"),
    ("VerifySkill", P.VerifySkillRequest(employee_id="{emp}", skill="sql", level=3,
                                         source=common_pb2.EVIDENCE_SOURCE_SELF), Code.INVALID_ARGUMENT, "source"),
    ("VerifySkill", P.VerifySkillRequest(employee_id="{unknown}", skill="sql", level=3, source=MANAGER),
     Code.NOT_FOUND, "no employee"),
    ("VerifySkill", P.VerifySkillRequest(employee_id="{emp}", skill="sql", level=3, source=MANAGER, expected_version=99),
     Code.ABORTED, "stale"),
    ("VerifySkill", P.VerifySkillRequest(skill="sql", level=3, source=MANAGER), Code.INVALID_ARGUMENT, "employee_id"),
    ("EndorseSkill", P.EndorseSkillRequest(employee_id="{emp}", skill="sql"), Code.INVALID_ARGUMENT, "endorser_id"),
    ("EndorseSkill", P.EndorseSkillRequest(employee_id="{emp}", skill="sql", level=0, endorser_id="{emp}"),
     Code.INVALID_ARGUMENT, "own"),
    ("EndorseSkill", P.EndorseSkillRequest(employee_id="{emp}", skill="sql", level=7, endorser_id="x"),
     Code.INVALID_ARGUMENT, "between 1 and 5"),
    ("EndorseSkill", P.EndorseSkillRequest(employee_id="{unknown}", skill="sql", endorser_id="{emp}"),
     Code.NOT_FOUND, "no employee"),
    ("SetPreferences", P.SetPreferencesRequest(employee_id="{emp}", preferences=P.MatchPreferences(threshold_percent=101)),
     Code.INVALID_ARGUMENT, "threshold_percent"),
    ("SetPreferences", P.SetPreferencesRequest(employee_id="{emp}", preferences=P.MatchPreferences(
        opportunity_types=[0])), Code.INVALID_ARGUMENT, "opportunity_types"),
    ("SetPreferences", P.SetPreferencesRequest(employee_id="{emp}", expected_version=99), Code.ABORTED, "stale"),
    ("SetPreferences", P.SetPreferencesRequest(employee_id="{unknown}"), Code.NOT_FOUND, "no employee"),
    ("SetVisibility", P.SetVisibilityRequest(employee_id="{unknown}"), Code.PERMISSION_DENIED, "consent"),
    ("ListEmployees", P.ListEmployeesRequest(page_size=-1), Code.INVALID_ARGUMENT, "page_size"),
    ("ListEmployeeHistory", P.ListEmployeeHistoryRequest(employee_id="{emp}", page_token="abc"), Code.INVALID_ARGUMENT,
     "page_token"),
    ("ListEmployeeHistory", P.ListEmployeeHistoryRequest(employee_id="{unknown}"), Code.NOT_FOUND, "no employee"),
    ("ImportEmployees", P.ImportEmployeesRequest(csv=""), Code.PERMISSION_DENIED, "HR admins"),
]


@pytest.mark.parametrize("rpc,request_msg,code,fragment", BAD_INPUT,
                         ids=[f"{r}-{i}" for i, (r, *_rest) in enumerate(BAD_INPUT)])
async def test_bad_input_is_refused_with_a_message_and_writes_nothing(stack, rpc, request_msg, code, fragment):
    emp_id = uid("B")
    await create(stack, emp_id)
    c = stack.clients
    msg = type(request_msg)()
    msg.CopyFrom(request_msg)
    new, unknown = uid("N"), uid("U")
    for field, value in [(f.name, v) for f, v in msg.ListFields() if isinstance(v, str)]:
        setattr(msg, field, value.replace("{emp}", emp_id).replace("{unknown}", unknown).replace("{new}", new))
    await expect_error(getattr(c.profile, rpc)(msg, metadata=c.metadata), code, fragment)
    e = await c.profile.GetEmployee(P.GetEmployeeRequest(employee_id=emp_id), metadata=c.metadata)
    assert e.version == 1, "a refused request must not change the employee"


async def test_hr_import_bad_files(stack):
    hr = stack.as_("hr-1", "hr_admin")
    await expect_error(hr.profile.ImportEmployees(P.ImportEmployeesRequest(csv=" "), metadata=hr.metadata),
                       Code.INVALID_ARGUMENT, "empty")
    await expect_error(hr.profile.ImportEmployees(P.ImportEmployeesRequest(csv="id,full name\nE1,X\n"), metadata=hr.metadata),
                       Code.INVALID_ARGUMENT, "lacks employee_id, name")
