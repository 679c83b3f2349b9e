"""The owner's view of an application (services/opportunity/applicants.py), without I/O."""

from __future__ import annotations

from itm.v1 import common_pb2, events_pb2, matcher_pb2, opportunity_pb2 as O, profile_pb2 as P
from services.opportunity import applicants

S = common_pb2.SkillStatus
SRC = common_pb2.EvidenceSource


def opp(status=common_pb2.OPPORTUNITY_STATUS_OPEN) -> O.Opportunity:
    return O.Opportunity(opportunity_id="opp-1", status=status, owner_id="O1", requirements=[
        common_pb2.Requirement(skill_id="sql", min_level=3, weight=2.0, must_have=True),
        common_pb2.Requirement(skill_id="python", min_level=2, weight=1.0),
        common_pb2.Requirement(skill_id="figma", min_level=1, weight=1.0)])


def employee(**prefs) -> P.Employee:
    emp = P.Employee(employee_id="E1", name="Ana", preferences=P.MatchPreferences(**prefs))
    for skill_id, level, status, source, endorsements in (
            ("sql", 4, S.SKILL_STATUS_VERIFIED, SRC.EVIDENCE_SOURCE_COURSE, 2),
            ("python", 3, S.SKILL_STATUS_ASPIRATIONAL, SRC.EVIDENCE_SOURCE_SELF, 0),
            ("excel", 5, S.SKILL_STATUS_CLAIMED, SRC.EVIDENCE_SOURCE_SELF, 0)):
        emp.skills.add(skill=common_pb2.EmployeeSkill(skill_id=skill_id, level=level, status=status, source=source),
                       endorsements=endorsements)
    return emp


APP = common_pb2.Application(application_id="opp-1:E1", opportunity_id="opp-1", employee_id="E1", owner_id="O1")


def scores() -> dict[str, matcher_pb2.Match]:
    explanation = events_pb2.MatchExplanation(credits=[
        events_pb2.RequirementCredit(skill_id="figma", min_level=1, weight=1.0, credit=0.4, via_related_skill="sketch"),
        events_pb2.RequirementCredit(skill_id="sql", min_level=3, weight=2.0, must_have=True, employee_level=4,
                                     status=S.SKILL_STATUS_VERIFIED, credit=1.0),
        events_pb2.RequirementCredit(skill_id="python", min_level=2, weight=1.0, employee_level=3,
                                     status=S.SKILL_STATUS_ASPIRATIONAL, credit=0.0, via_related_skill="r"),
    ])
    return {"opp-1": matcher_pb2.Match(employee_id="E1", opportunity_id="opp-1", score_percent=60, qualified=True,
                                       explanation=explanation)}


def test_score_credits_and_required_skills_in_the_opportunitys_order():
    got = applicants.assessment(APP, opp(), employee(), scores())
    assert got.score_available and got.score_percent == 60 and got.qualified and not got.unavailable_reason
    assert [c.skill_id for c in got.credits] == ["sql", "python", "figma"]
    assert got.credits[2].via_related_skill == "sketch" and got.credits[2].credit == 0.4
    assert [(s.skill_id, s.required_level, s.must_have, s.weight) for s in got.skills] == [
        ("sql", 3, True, 2.0), ("python", 2, False, 1.0), ("figma", 1, False, 1.0)]
    sql = got.skills[0]
    assert (sql.level, sql.status, sql.source, sql.endorsements) == (4, S.SKILL_STATUS_VERIFIED,
                                                                      SRC.EVIDENCE_SOURCE_COURSE, 2)
    assert "excel" not in {s.skill_id for s in got.skills}  # only the skills the opportunity requires


def test_aspirational_skills_are_never_shown_to_the_owner():
    got = applicants.assessment(APP, opp(), employee(), scores())
    python = got.skills[1]
    assert (python.level, python.status, python.source) == (0, S.SKILL_STATUS_UNSPECIFIED, SRC.EVIDENCE_SOURCE_UNSPECIFIED)
    credit = got.credits[1]
    assert (credit.employee_level, credit.status, credit.via_related_skill) == (0, S.SKILL_STATUS_UNSPECIFIED, "")
    assert S.SKILL_STATUS_ASPIRATIONAL not in {c.status for c in got.credits} | {s.status for s in got.skills}


def test_opted_out_or_deactivated_applicants_show_skills_but_no_score():
    for emp in (employee(opted_out=True), employee()):
        if not emp.preferences.opted_out:
            emp.deactivated = True
        assert applicants.may_score(opp(), emp) == applicants.OPTED_OUT
        got = applicants.assessment(APP, opp(), emp, scores())  # even if the matcher had a score
        assert not got.score_available and got.score_percent == 0 and not got.credits
        assert got.unavailable_reason == applicants.OPTED_OUT
        assert got.skills[0].level == 4


def test_hidden_from_owners_still_shows_the_score_to_the_owner_applied_to():
    emp = employee()
    emp.visibility.hidden_from_opportunity_owners = True
    assert applicants.may_score(opp(), emp) == ""
    assert applicants.assessment(APP, opp(), emp, scores()).score_percent == 60


def test_why_there_is_no_score():
    filled = opp(common_pb2.OPPORTUNITY_STATUS_FILLED)
    assert applicants.assessment(APP, filled, employee(), None).unavailable_reason == \
        "the opportunity is filled: scores are for open opportunities"
    assert applicants.assessment(APP, opp(), employee(), None).unavailable_reason == applicants.MATCHER_DOWN
    assert applicants.assessment(APP, opp(), employee(), {}).unavailable_reason == applicants.NOT_SCORED
    gone = applicants.assessment(APP, opp(), None, None)
    assert gone.unavailable_reason == applicants.NO_PROFILE and [s.level for s in gone.skills] == [0, 0, 0]
    down = applicants.assessment(APP, opp(), None, None, "the profile service did not answer (UNAVAILABLE); retry")
    assert down.unavailable_reason.startswith("the profile service did not answer")
