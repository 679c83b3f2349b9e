"""The crossing rule and the replica, without Kafka."""

from __future__ import annotations

from services.matcher.engine import EmployeeState, Matcher, OpportunityState, Replica, SkillIndex, crossing_event_id
from services.matcher.scoring import EvidenceFactors, Requirement
from itm.v1 import common_pb2


def related(skill):
    return {"postgresql": {"sql": 0.8}, "sql": {"postgresql": 0.8}}.get(skill, {})


ENGINE = Matcher(EvidenceFactors(), related, 0.5, 80, 1)
GIG = OpportunityState("O1", 1, "Data Analyst", common_pb2.OPPORTUNITY_TYPE_GIG, True,
                       [Requirement("sql", 3, 1.0, True), Requirement("excel", 2, 1.0, False)])


def emp(sql=0, excel=0, status="verified", threshold=0, **kw):
    skills = {}
    if sql:
        skills["sql"] = (sql, status)
    if excel:
        skills["excel"] = (excel, status)
    return EmployeeState("E1", 1, skills, threshold, **kw)


def test_crossing_fires_once_and_again_only_after_dropping_below():
    replica = Replica()
    first = ENGINE.evaluate(emp(sql=3, excel=1), GIG, None, replica, "c1", "profile.skill-added")
    assert first.crossing is not None and first.crossing.score_percent == 75 or first.crossing is None
    # 75 % (1 + 0.5) / 2: below 80, no crossing yet
    assert first.crossing is None and first.pair == [75, 0, False]
    up = ENGINE.evaluate(emp(sql=3, excel=2), GIG, first.pair, replica, "c2", "profile.skill-verified")
    assert up.crossing is not None and up.crossing.score_percent == 100 and up.crossing.fully_qualified
    assert up.crossing.previous_score_percent == 75 and up.pair == [100, 80, True]
    again = ENGINE.evaluate(emp(sql=3, excel=2), GIG, up.pair, replica, "c3", "profile.employee-updated")
    assert again.crossing is None and again.updated is None  # nothing changed: no event at all
    down = ENGINE.evaluate(emp(sql=3, excel=1), GIG, again.pair, replica, "c4", "profile.skill-removed")
    assert down.crossing is None and down.pair == [75, 0, False] and down.updated.score_percent == 75
    back = ENGINE.evaluate(emp(sql=3, excel=2), GIG, down.pair, replica, "c5", "profile.skill-added")
    assert back.crossing is not None


def test_reaching_100_after_crossing_the_threshold_notifies_again_once():
    gig = OpportunityState("O2", 1, "Gig", common_pb2.OPPORTUNITY_TYPE_GIG, True,
                           [Requirement(s, 1, 1.0, False) for s in ("a", "b", "c", "d", "e")])
    four = EmployeeState("E1", 1, {s: (1, "verified") for s in "abcd"})
    five = EmployeeState("E1", 2, {s: (1, "verified") for s in "abcde"})
    at80 = ENGINE.evaluate(four, gig, None, Replica())
    assert at80.crossing is not None and at80.crossing.score_percent == 80 and not at80.crossing.fully_qualified
    full = ENGINE.evaluate(five, gig, at80.pair, Replica())
    assert full.crossing is not None and full.crossing.fully_qualified
    assert ENGINE.evaluate(five, gig, full.pair, Replica()).crossing is None


def test_must_have_at_zero_blocks_qualification_whatever_the_score():
    gig = OpportunityState("O3", 1, "Gig", common_pb2.OPPORTUNITY_TYPE_GIG, True,
                           [Requirement("sql", 1, 1.0, True)] + [Requirement(s, 1, 1.0, False) for s in "abcdefghi"])
    e = EmployeeState("E1", 1, {s: (1, "verified") for s in "abcdefghi"})
    out = ENGINE.evaluate(e, gig, None, Replica())
    assert out.pair[0] == 90 and out.crossing is None and out.pair[1] == 0


def test_personal_threshold_opt_out_and_muted_types():
    assert ENGINE.evaluate(emp(sql=3, excel=1, threshold=70), GIG, None, Replica()).crossing is not None
    assert ENGINE.evaluate(emp(sql=3, excel=2, opted_out=True), GIG, None, Replica()).pair is None
    muted = ENGINE.evaluate(emp(sql=3, excel=2, types=[common_pb2.OPPORTUNITY_TYPE_ROLE]), GIG, None, Replica())
    assert muted.crossing is None and muted.pair == [100, 80, True]


def test_closed_opportunity_releases_the_pair():
    closed = OpportunityState("O1", 2, "Data Analyst", common_pb2.OPPORTUNITY_TYPE_GIG, False, GIG.requirements)
    assert ENGINE.evaluate(emp(sql=3, excel=2), closed, [100, 80, True], Replica()).pair is None


def test_explanation_has_credits_gaps_and_a_learning_path_with_projection():
    replica = Replica()
    replica.apply_course(common_pb2.Course(course_id="sql3", title="SQL for Analysts", hours=6,
                                           teaches=[common_pb2.CourseSkill(skill_id="sql", level=3)]), 1)
    e = emp(sql=1, excel=2)
    result = ENGINE.score(e, GIG)
    exp = ENGINE.explanation(e, GIG, result, replica)
    assert [g.skill_id for g in exp.gaps] == ["sql"] and exp.gaps[0].current_level == 1
    assert [s.course_id for s in exp.learning_path] == ["sql3"] and list(exp.learning_path[0].closes_skill_ids) == ["sql"]
    assert exp.projected_score_percent == 100 and exp.learning_path_hours == 6


def test_replica_ignores_stale_versions_and_indexes_related_skills():
    replica = Replica(related)
    posted = common_pb2.OpportunityMatchProfile(opportunity_id="O1", title="v2", status=common_pb2.OPPORTUNITY_STATUS_OPEN,
                                                requirements=[common_pb2.Requirement(skill_id="sql", min_level=2, weight=1)])
    assert replica.apply_opportunity(posted, 2) is not None
    stale = common_pb2.OpportunityMatchProfile(opportunity_id="O1", title="v1", status=common_pb2.OPPORTUNITY_STATUS_OPEN)
    assert replica.apply_opportunity(stale, 1) is None and replica.opportunities["O1"].title == "v2"
    assert replica.candidates_for(["postgresql"]) == {"O1"}
    closed = common_pb2.OpportunityMatchProfile(opportunity_id="O1", status=common_pb2.OPPORTUNITY_STATUS_CLOSED)
    replica.apply_opportunity(closed, 3)
    assert "O1" not in replica.opportunities and replica.candidates_for(["sql"]) == set()
    assert replica.apply_opportunity(posted, 2) is None  # a late duplicate cannot reopen it


def test_skill_index_follows_employee_changes():
    index = SkillIndex(related)
    index.put(EmployeeState("E1", 1, {"postgresql": (3, "verified")}))
    assert index.employees_for(["sql"]) == {"E1"}
    index.put(EmployeeState("E1", 2, {"excel": (3, "verified")}))
    assert index.employees_for(["sql"]) == set() and index.employees_for(["excel"]) == {"E1"}
    index.remove("E1")
    assert index.employees_for(["excel"]) == set()


def test_crossing_event_ids_follow_the_state_not_the_cause():
    a = ENGINE.evaluate(emp(sql=3, excel=2), GIG, None, Replica(), "cause-1").crossing
    replayed = ENGINE.evaluate(emp(sql=3, excel=2), GIG, None, Replica(), "replay-cause").crossing
    assert crossing_event_id(a, 1, 1) == crossing_event_id(replayed, 1, 1)
    assert crossing_event_id(a, 1, 1) != crossing_event_id(a, 2, 1) != crossing_event_id(a, 2, 2)
