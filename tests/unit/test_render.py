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
