from itm.v1 import common_pb2, events_pb2
from services.notifier.render import render_crossing

NAMES = {"sql": "SQL", "docker": "Docker", "excel": "Excel"}.get


def crossing(**kw):
    exp = events_pb2.MatchExplanation(**kw)
    return events_pb2.ThresholdCrossed(employee_id="E1", opportunity_id="O1", opportunity_title="Data Analyst (Marketing)",
                                       score_percent=82, threshold_percent=80, explanation=exp)


def test_crossing_with_a_learning_path_reads_like_the_product_promise():
    note = render_crossing(crossing(
        gaps=[events_pb2.Gap(skill_id="sql", required_level=3, current_level=1, current_status=common_pb2.SKILL_STATUS_VERIFIED)],
        learning_path=[events_pb2.LearningStep(course_id="sql3", title="SQL for Analysts", hours=6)],
        projected_score_percent=100), "https://itm.example", NAMES)
    assert note.body == ("You're 82% qualified for Data Analyst (Marketing). Missing: SQL level 3. "
                         "Take 'SQL for Analysts' (6 h) to reach 100%.")
    assert note.opportunity_link == "https://itm.example/opportunities/O1"
    assert list(note.course_links) == ["https://itm.example/courses/sql3"]


def test_claimed_skills_ask_for_verification_and_uncovered_gaps_are_named():
    note = render_crossing(crossing(
        gaps=[events_pb2.Gap(skill_id="excel", required_level=2, current_level=3, current_status=common_pb2.SKILL_STATUS_CLAIMED),
              events_pb2.Gap(skill_id="docker", required_level=2)],
        uncovered_skill_ids=["docker"]), "https://x", NAMES)
    assert "Missing: Excel level 2 (verify it), Docker level 2." in note.body
    assert note.body.endswith("No course in the catalog teaches Docker yet.")


def test_workflow_refusal_tells_applicant_and_owner_and_orphan_approvals_go_to_hr_queue():
    from services.notifier.render import render_workflow

    app = common_pb2.Application(application_id="O1:E1", opportunity_id="O1", employee_id="E1", owner_id="OW",
                                 reason="quarter end")
    notes = render_workflow("opportunity.time-release-refused", events_pb2.TimeReleaseRefused(application=app),
                            lambda _id: "Churn model", "https://x")
    assert [r for r, _ in notes] == ["E1", "OW"]
    assert notes[0][1].body == "E1's manager did not release the time for 'Churn model' (quarter end)."
    orphan = events_pb2.ApprovalRequested(opportunity=common_pb2.OpportunityMatchProfile(opportunity_id="O2"))
    assert render_workflow("opportunity.approval-requested", orphan, lambda _id: None, "https://x") == []
    assert render_workflow("opportunity.gig-posted", events_pb2.GigPosted(), lambda _id: None, "https://x") == []


def test_a_move_tells_the_employee_and_both_managers_naming_the_role():
    from services.notifier.render import render_workflow

    moved = events_pb2.EmployeeMoved(employee_id="E1", opportunity_id="R1", opportunity_title="Sales Engineer",
                                     from_department="Data", to_department="Sales", from_manager_id="M1",
                                     to_manager_id="M2", from_title="Analyst", to_title="Sales Engineer")
    notes = {who: n for who, n in render_workflow("profile.employee-moved", moved, None, "https://x")}
    assert set(notes) == {"E1", "M1", "M2"}
    assert (notes["E1"].title, notes["E1"].body) == (
        "You moved to Sales Engineer", "Filling 'Sales Engineer' moved you from Data to Sales; you now report to M2.")
    assert (notes["M1"].title, notes["M1"].body) == (
        "E1 moved to Sales Engineer", "E1 filled 'Sales Engineer' in Sales and now reports to M2; they have left your team.")
    assert (notes["M2"].title, notes["M2"].body) == (
        "E1 joined your team as Sales Engineer", "E1 moved from Data to Sales to fill 'Sales Engineer' and now reports to you.")
    assert {n.kind for n in notes.values()} == {"profile.employee-moved"}
    assert {n.opportunity_link for n in notes.values()} == {"https://x/opportunities/R1"}
    # the same manager before and after (a move within the team): told once; no manager before: only the new one
    same = render_workflow("profile.employee-moved", events_pb2.EmployeeMoved(
        employee_id="E1", opportunity_id="R1", opportunity_title="Lead", from_manager_id="M2", to_manager_id="M2"),
        None, "https://x")
    assert [who for who, _ in same] == ["E1", "M2"]
    fresh = render_workflow("profile.employee-moved", events_pb2.EmployeeMoved(
        employee_id="E1", opportunity_id="R1", opportunity_title="Lead", to_manager_id="M2"), None, "https://x")
    assert [who for who, _ in fresh] == ["E1", "M2"]
