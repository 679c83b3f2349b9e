"""The crossing rule and the replica, without Kafka."""

from __future__ import annotations

import pytest

from services.matcher.engine import EmployeeState, Matcher, OpportunityState, Replica, SkillIndex, crossing_event_id
from services.matcher.scoring import EvidenceFactors, Requirement, plan_learning_path
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


def test_a_threshold_change_does_not_show_a_crossing_again_unless_the_score_dropped_below_in_between():
    shown = ENGINE.evaluate(emp(sql=3, excel=2, threshold=80), GIG, None, Replica())
    assert shown.crossing is not None and shown.pair == [100, 80, True]
    nine = OpportunityState("O9", 1, "Nine", common_pb2.OPPORTUNITY_TYPE_GIG, True,
                            [Requirement("sql", 3, 3.0, False), Requirement("excel", 2, 1.0, False)])
    at85 = ENGINE.evaluate(emp(sql=3, excel=1, threshold=80), nine, None, Replica())  # (3 + 0.5) / 4 = 87 %
    assert at85.crossing is not None and at85.pair[:2] == [87, 80]
    lowered = ENGINE.evaluate(emp(sql=3, excel=1, threshold=70), nine, at85.pair, Replica())
    assert lowered.crossing is None and lowered.pair[:2] == [87, 70]  # still shown, still qualified
    raised = ENGINE.evaluate(emp(sql=3, excel=1, threshold=85), nine, lowered.pair, Replica())
    assert raised.crossing is None and raised.pair[:2] == [87, 85]  # nothing crossed upward
    # dropped below in between (the threshold above the score), then lowered again: shown again
    above = ENGINE.evaluate(emp(sql=3, excel=1, threshold=90), nine, raised.pair, Replica())
    assert above.crossing is None and above.pair[:2] == [87, 0]
    again = ENGINE.evaluate(emp(sql=3, excel=1, threshold=70), nine, above.pair, Replica())
    assert again.crossing is not None and again.crossing.threshold_percent == 70


def test_an_owner_is_never_matched_with_their_own_opportunity():
    own = OpportunityState("O1", 1, "Data Analyst", common_pb2.OPPORTUNITY_TYPE_GIG, True, GIG.requirements,
                           owner_id="E1")
    out = ENGINE.evaluate(emp(sql=3, excel=2), own, None, Replica())
    assert out.pair is None and out.crossing is None and out.updated is None
    held = ENGINE.evaluate(emp(sql=3, excel=2), own, [100, 80, True], Replica())
    assert held.pair is None and held.crossing is None  # a pair held before is released


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


def test_courses_teaching_follows_republished_and_retired_courses():
    replica = Replica()

    def publish(course_id, version, *skills, retired=False):
        replica.apply_course(common_pb2.Course(course_id=course_id, title=course_id, hours=4, retired=retired,
                                               teaches=[common_pb2.CourseSkill(skill_id=s, level=3) for s in skills]),
                             version)

    publish("c1", 1, "sql", "excel")
    publish("c2", 1, "sql")
    publish("c3", 1, "python")
    assert sorted(c.course_id for c in replica.courses_teaching({"sql", "excel"})) == ["c1", "c2"]
    publish("c1", 2, "python")  # now teaches python only
    assert [c.course_id for c in replica.courses_teaching({"excel"})] == []
    assert sorted(c.course_id for c in replica.courses_teaching({"python"})) == ["c1", "c3"]
    publish("c3", 2, "python", retired=True)
    publish("c3", 1, "python")  # stale: stays retired
    assert [c.course_id for c in replica.courses_teaching({"python", "go"})] == ["c1"]
    # a learning path from the gaps' courses is the one from the whole catalog
    e = emp(sql=1, excel=2)
    result = ENGINE.score(e, GIG)
    whole = plan_learning_path(result.gaps, replica.courses.values())
    assert ENGINE.explanation(e, GIG, result, replica).learning_path_hours == whole.hours
    assert [c.course_id for c in whole.steps] == ["c2"]


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


def test_crossing_event_ids_follow_the_pair_and_its_ordinal_not_the_cause():
    a = ENGINE.evaluate(emp(sql=3, excel=2), GIG, None, Replica(), "cause-1").crossing
    replayed = ENGINE.evaluate(emp(sql=3, excel=2), GIG, None, Replica(), "replay-cause").crossing
    assert crossing_event_id(a, 0) == crossing_event_id(replayed, 0)
    assert crossing_event_id(a, 0) != crossing_event_id(a, 1)


def _apply(steps, weight_of, level_of):
    """Run the crossing rule over ``steps`` (("emp", version) | ("opp", version)) the way the
    matcher's task does, counting crossings as the record's ``x``; the ids pushed."""
    from services.matcher.engine import next_crossing

    pair, counts, ids = None, None, []
    ev, ov = 1, 1
    for what, version in steps:
        if what == "emp":
            ev = version
        else:
            ov = version
        opp = OpportunityState("O1", ov, "Analyst", common_pb2.OPPORTUNITY_TYPE_GIG, True,
                               [Requirement("sql", 3, weight_of[ov], False), Requirement("excel", 5, 1.0, False)])
        e = EmployeeState("E1", ev, {"sql": (level_of[ev], "verified"), "excel": (1, "verified")}, 0)
        out = ENGINE.evaluate(e, opp, pair, Replica())
        if out.crossing is not None:
            ordinal, counts = next_crossing(counts, pair, out.crossing)
            ids.append(crossing_event_id(out.crossing, ordinal))
        pair = out.pair
    return ids


def test_two_workers_meeting_the_same_changes_in_another_order_push_the_same_crossing_id():
    """Issue 15 item 2: a zombie worker and the one that took its partition over read the
    profile topics and the broadcast in another order. Scores only rise (sql 2 -> 3, the
    sql weight 4 -> 5): each order crosses once, at other versions; the ids must agree."""
    weight_of, level_of = {1: 4.0, 2: 5.0}, {1: 2, 2: 3}
    employee_first = _apply([("emp", 2), ("opp", 2)], weight_of, level_of)
    opportunity_first = _apply([("opp", 2), ("emp", 2)], weight_of, level_of)
    assert len(employee_first) == len(opportunity_first) == 1
    assert employee_first == opportunity_first


def test_a_crossing_after_a_drop_below_gets_a_new_id_and_the_counts_survive_the_pair():
    from services.matcher.engine import next_crossing

    up = ENGINE.evaluate(emp(sql=3, excel=1, threshold=70), GIG, None, Replica())  # 75 %: qualified at 70
    first, counts = next_crossing(None, None, up.crossing)
    assert (first, counts) == (0, [1, 0])
    down = ENGINE.evaluate(emp(sql=1, excel=1, threshold=70), GIG, up.pair, Replica())
    assert down.crossing is None and down.pair[1] == 0
    again = ENGINE.evaluate(emp(sql=3, excel=1, threshold=70), GIG, down.pair, Replica())
    second, counts = next_crossing(counts, down.pair, again.crossing)
    assert (second, counts) == (1, [2, 0])
    assert crossing_event_id(up.crossing, first) != crossing_event_id(again.crossing, second)
    full = ENGINE.evaluate(emp(sql=3, excel=2, threshold=70), GIG, again.pair, Replica())
    assert full.crossing.fully_qualified
    assert next_crossing(counts, again.pair, full.crossing) == (0, [2, 1])  # the first 100 %, same episode
    straight = ENGINE.evaluate(emp(sql=3, excel=2, threshold=70), GIG, None, Replica())
    assert next_crossing(None, None, straight.crossing) == (0, [1, 1])  # both kinds at once


# --------------------------------------------------------------------------- mentors

from services.matcher.engine import (  # noqa: E402
    MentorIndex,
    employee_record,
    employees_to_rescore,
    needs_rescore,
    opportunities_to_rescore,
    scoring_fingerprint,
    skill_changes,
)
from services.matcher.scoring import EvidenceFactors as _Factors  # noqa: E402

V, C = common_pb2.SKILL_STATUS_VERIFIED, common_pb2.SKILL_STATUS_CLAIMED


def profile(emp_id, skills, mentoring=True, opted_out=False):
    return common_pb2.EmployeeMatchProfile(
        employee_id=emp_id, mentoring_opt_in=mentoring, opted_out=opted_out,
        skills=[common_pb2.EmployeeSkill(skill_id=s, level=lv, status=st) for s, lv, st in skills])


def test_mentor_index_keeps_only_opted_in_verified_skills_and_is_version_guarded():
    m = MentorIndex()
    assert m.apply(profile("M1", [("sql", 4, V), ("excel", 5, C)]), 3)
    assert m.apply(profile("M2", [("sql", 2, V)], mentoring=False), 1)
    assert m.apply(profile("M3", [("sql", 5, V)], opted_out=True), 1)
    assert m.find("sql", 3) == [("M1", 4)]
    assert m.find("excel", 1) == []  # claimed, not verified
    assert not m.apply(profile("M1", [("sql", 4, V)]), 3)  # duplicate
    assert m.apply(profile("M1", [("sql", 4, V)], mentoring=False), 4)  # opted out of mentoring
    assert m.find("sql", 1) == [] and len(m) == 0
    assert not m.apply(profile("M1", [("sql", 4, V)]), 2)  # a stale event cannot bring them back
    assert m.find("sql", 1) == []
    m.apply(profile("M4", [("sql", 3, V)]), 1)
    m.erase("M4", 2)
    assert not m.apply(profile("M4", [("sql", 3, V)]), 1) and m.find("sql", 1) == []


def test_mentors_are_ordered_by_level_then_id_limited_and_never_the_learner():
    m = MentorIndex()
    for emp_id, level in [("B", 4), ("A", 4), ("C", 5), ("D", 3), ("E", 2)]:
        m.apply(profile(emp_id, [("sql", level, V)]), 1)
    assert m.find("sql", 3) == [("C", 5), ("A", 4), ("B", 4)]
    assert m.find("sql", 3, exclude="C", limit=10) == [("A", 4), ("B", 4), ("D", 3)]
    assert m.find("sql", 3, limit=0) == []


def test_explanation_lists_mentors_for_missing_and_level_gaps_not_for_verify_it_gaps():
    m = MentorIndex()
    m.apply(profile("M1", [("sql", 3, V), ("excel", 5, V)]), 1)
    m.apply(profile("M2", [("sql", 2, V)]), 1)  # below the required level
    e = emp(sql=0, excel=2, status="claimed")  # sql missing, excel at level but only claimed
    exp = ENGINE.explanation(e, GIG, ENGINE.score(e, GIG), Replica(), m)
    assert {g.skill_id for g in exp.gaps} == {"sql", "excel"}
    assert [(x.employee_id, x.skill_id, x.level) for x in exp.mentors] == [("M1", "sql", 3)]


# --------------------------------------------------------------------------- what a change affects

def _replica_with(*opps):
    replica = Replica(related)
    for o in opps:
        replica.put(o)
    return replica


def _opp(opp_id, reqs, open_=True, version=1):
    return OpportunityState(opp_id, version, opp_id, common_pb2.OPPORTUNITY_TYPE_GIG, open_,
                            [Requirement(s, lv, w, mh) for s, lv, w, mh in reqs])


def test_an_employee_change_rescores_only_opportunities_of_the_changed_skills():
    sql_gig, excel_gig, pg_gig = (_opp("S", [("sql", 3, 1.0, False)]), _opp("X", [("excel", 2, 1.0, False)]),
                                  _opp("P", [("postgresql", 2, 1.0, False)]))
    replica = _replica_with(sql_gig, excel_gig, pg_gig)
    old = EmployeeState("E1", 1, {"sql": (2, "verified"), "excel": (2, "verified")})
    new = EmployeeState("E1", 2, {"sql": (3, "verified"), "excel": (2, "verified")})
    assert skill_changes(old, new) == {"sql"}
    # sql changed: the sql gig and the postgresql gig (related), not the excel gig
    assert opportunities_to_rescore(old, new, replica, {"S": [66, 0, False], "X": [100, 80, True]}) == {"S", "P"}
    same = EmployeeState("E1", 3, dict(new.skills), department="Other")
    assert opportunities_to_rescore(new, same, replica, {"S": [100, 80, True]}) == set()
    stricter = EmployeeState("E1", 4, dict(new.skills), threshold=95)
    assert opportunities_to_rescore(new, stricter, replica, {"X": [100, 80, True]}) == {"X"}
    assert opportunities_to_rescore(None, new, replica, {}) == {"S", "X", "P"}
    out = EmployeeState("E1", 5, dict(new.skills), opted_out=True)
    assert opportunities_to_rescore(new, out, replica, {"X": [100, 80, True]}) == {"X"}
    assert opportunities_to_rescore(out, new, replica, {}) == {"S", "X", "P"}
    assert opportunities_to_rescore(new, new, replica, {}, full=True) == {"S", "X", "P"}


def test_a_requirement_change_rescores_skill_holders_and_on_weight_changes_every_pair_holder():
    index = SkillIndex(related)
    index.put(EmployeeState("Esql", 1, {"sql": (3, "verified")}))
    index.put(EmployeeState("Epg", 1, {"postgresql": (3, "verified")}))
    index.put(EmployeeState("Exl", 1, {"excel": (3, "verified")}))
    v1 = _opp("O", [("sql", 2, 1.0, False), ("excel", 2, 1.0, False)])
    holders = {"Esql", "Epg", "Exl"}
    level_only = _opp("O", [("sql", 3, 1.0, False), ("excel", 2, 1.0, False)], version=2)
    assert employees_to_rescore(v1, level_only, index, holders) == {"Esql", "Epg"}
    reweighted = _opp("O", [("sql", 2, 2.0, False), ("excel", 2, 1.0, False)], version=2)
    assert employees_to_rescore(v1, reweighted, index, holders | {"Eother"}) == holders | {"Eother"}
    must = _opp("O", [("sql", 2, 1.0, True), ("excel", 2, 1.0, False)], version=2)
    assert employees_to_rescore(v1, must, index, {"Exl"}) == {"Esql", "Epg", "Exl"}
    retitled = OpportunityState("O", 2, "New title", common_pb2.OPPORTUNITY_TYPE_GIG, True, v1.requirements)
    assert employees_to_rescore(v1, retitled, index, holders) == set()
    assert employees_to_rescore(None, v1, index, set()) == holders
    closed = _opp("O", [("sql", 2, 1.0, False)], open_=False, version=3)
    assert employees_to_rescore(v1, closed, index, {"Exl"}) == {"Exl"}
    assert employees_to_rescore(v1, None, index, {"Exl"}) == {"Exl"}


@pytest.mark.parametrize("floor", [0, 30])
def test_incremental_rescoring_equals_a_full_recompute_over_random_changes(floor):
    """The delta rules never miss a pair whose score or qualification moved, with or
    without a pair floor (pairs below it are not kept)."""
    import random

    rnd = random.Random(7 + floor)
    skills = ["sql", "postgresql", "excel", "python", "docker", "kubernetes"]

    def rel(s):
        return {"sql": {"postgresql": 0.8}, "postgresql": {"sql": 0.8},
                "docker": {"kubernetes": 0.6}, "kubernetes": {"docker": 0.6}}.get(s, {})

    engine = Matcher(_Factors(), rel, 0.5, 80, 1, pair_floor=floor)
    floor_fn = (lambda t: engine.floor_for(t or 80)) if floor else None
    statuses = ["verified", "claimed", "inferred", "aspirational"]

    def rand_emp(eid, version):
        chosen = rnd.sample(skills, rnd.randint(0, 4))
        return EmployeeState(eid, version, {s: (rnd.randint(1, 5), rnd.choice(statuses)) for s in chosen},
                             threshold=rnd.choice([0, 0, 20, 50, 90]), opted_out=rnd.random() < 0.1)

    def rand_opp(oid, version):
        chosen = rnd.sample(skills, rnd.randint(1, 4))
        return OpportunityState(oid, version, oid, common_pb2.OPPORTUNITY_TYPE_GIG, rnd.random() > 0.1,
                                [Requirement(s, rnd.randint(1, 5), rnd.choice([1.0, 2.0]), rnd.random() < 0.3)
                                 for s in chosen])

    replica, index = Replica(rel), SkillIndex(rel)
    emps = {f"E{i}": rand_emp(f"E{i}", 1) for i in range(12)}
    pairs: dict[str, dict] = {e: {} for e in emps}
    holders: dict[str, set] = {}

    def apply_opp(o):
        replica.versions[o.opportunity_id] = o.version
        old = replica.opportunities.get(o.opportunity_id)
        replica.drop(o.opportunity_id)
        if o.open:
            replica.put(o)
        return old

    def rescore(e, opp_ids):
        for oid in opp_ids:
            opp = replica.opportunities.get(oid)
            prev = pairs[e.employee_id].get(oid)
            out = engine.evaluate(e, opp, prev, replica) if opp else None
            new = out.pair if out else None
            if new is None:
                pairs[e.employee_id].pop(oid, None)
                holders.get(oid, set()).discard(e.employee_id)
            else:
                pairs[e.employee_id][oid] = new
                holders.setdefault(oid, set()).add(e.employee_id)

    for e in emps.values():
        index.put(e)
    opps = {}
    kept = 0
    for step in range(600):
        if rnd.random() < 0.5:
            eid = rnd.choice(list(emps))
            cur = emps[eid]
            roll = rnd.random()
            if roll < 0.2:
                new = rand_emp(eid, cur.version + 1)
            elif roll < 0.45:  # only the threshold (or opting out/in)
                new = EmployeeState(eid, cur.version + 1, dict(cur.skills), rnd.choice([0, 20, 50, 90]),
                                    rnd.random() < 0.1)
            else:  # one skill changes
                have = dict(cur.skills)
                s = rnd.choice(skills)
                if s in have and rnd.random() < 0.4:
                    del have[s]
                else:
                    have[s] = (rnd.randint(1, 5), rnd.choice(statuses))
                new = EmployeeState(eid, cur.version + 1, have, cur.threshold, cur.opted_out)
            affected = opportunities_to_rescore(cur, new, replica, pairs[eid], floor=floor_fn)
            affected, _ = engine.worth_scoring(new, affected, pairs[eid], replica)  # as the matcher does
            emps[eid] = new
            index.put(new)
            rescore(new, affected)
        else:
            oid = f"O{rnd.randint(0, 7)}"
            cur = opps.get(oid)
            roll = rnd.random()
            if cur is None or roll < 0.25:
                new = rand_opp(oid, cur.version + 1 if cur else 1)
            else:
                reqs = list(cur.requirements)
                if roll < 0.5 and len(reqs) > 1:  # one requirement less
                    reqs.pop(rnd.randrange(len(reqs)))
                elif roll < 0.65:  # one more
                    spare = [x for x in skills if x not in {r.skill_id for r in reqs}]
                    if spare:
                        reqs.append(Requirement(rnd.choice(spare), rnd.randint(1, 5), rnd.choice([1.0, 2.0]), False))
                else:  # a level, a weight or a must-have changes
                    i = rnd.randrange(len(reqs))
                    r = reqs[i]
                    reqs[i] = rnd.choice([Requirement(r.skill_id, rnd.randint(1, 5), r.weight, r.must_have),
                                          Requirement(r.skill_id, r.min_level, rnd.choice([1.0, 2.0, 3.0]), r.must_have),
                                          Requirement(r.skill_id, r.min_level, r.weight, not r.must_have)])
                new = OpportunityState(oid, cur.version + 1, oid, cur.type, cur.open or rnd.random() < 0.5, reqs)
            old = apply_opp(new)
            opps[oid] = new
            for eid in employees_to_rescore(old, new if new.open else None, index, holders.get(oid, set()),
                                            floor=floor > 0):
                e = emps[eid]
                if engine.worth_scoring_pair(e.skills, e.threshold, replica.opportunities.get(oid),
                                             eid in holders.get(oid, set())):  # as the matcher does
                    rescore(e, {oid})
        # the incremental state equals what scoring every pair from scratch gives
        for eid, e in emps.items():
            for oid, opp in replica.opportunities.items():
                expect = engine.evaluate(e, opp, pairs[eid].get(oid), replica).pair
                want = None if expect is None else expect[0]
                got = pairs[eid].get(oid)
                assert (got[0] if got else None) == want, (step, eid, oid)
                if got:
                    kept += 1
                    full = engine.score(e, opp)
                    assert bool(got[1]) == full.qualified(e.threshold_or(80)), (step, eid, oid)
                    assert got[0] >= engine.floor_for(e.threshold_or(80)) or got[1] or got[2]
    assert kept > 1000  # the comparison saw plenty of kept pairs


# --------------------------------------------------------------------------- scoring changes

def test_records_scored_by_an_older_scoring_version_or_configuration_need_rescoring():
    fp = scoring_fingerprint(_Factors(), 0.5, 80)
    assert fp == scoring_fingerprint(_Factors(), 0.5, 80)
    assert fp != scoring_fingerprint(_Factors(claimed=0.6), 0.5, 80) != scoring_fingerprint(_Factors(), 0.5, 70)
    rec = employee_record(emp(sql=3), {"O1": [100, 80, True]}, [1, fp])
    assert not needs_rescore(rec, 1, fp)
    assert needs_rescore(rec, 2, fp)  # a new scoring version
    assert needs_rescore(rec, 1, "other")  # same version, another configuration
    assert not needs_rescore(employee_record(emp(sql=3), {}, [3, fp]), 2, "x")  # never roll back a newer one
    legacy = {k: v for k, v in rec.items() if k != "sv"}
    assert needs_rescore(legacy, 1, fp) and not needs_rescore(None, 1, fp)
    assert EmployeeState.from_json(rec) == emp(sql=3)


def test_a_new_scoring_fires_only_for_pairs_it_makes_newly_qualified():
    v2 = Matcher(_Factors(claimed=0.9), related, 0.5, 80, 2)
    claimed = emp(sql=3, excel=2, status="claimed")  # v1: 50 %, v2: 90 %
    before = ENGINE.evaluate(claimed, GIG, None, Replica())
    assert before.pair == [50, 0, False] and before.crossing is None
    after = v2.evaluate(claimed, GIG, before.pair, Replica())
    assert after.crossing is not None and after.crossing.scoring_version == 2 and after.pair == [90, 80, False]
    full = emp(sql=3, excel=2)  # qualified (and notified) under both scorings
    notified = ENGINE.evaluate(full, GIG, None, Replica()).pair
    again = v2.evaluate(full, GIG, notified, Replica())
    assert again.crossing is None and again.pair == notified


def test_pairs_below_the_floor_are_not_kept_and_send_no_updates_but_qualified_ones_always_are():
    floored = Matcher(_Factors(), related, 0.5, 80, 1, pair_floor=30)
    gig = OpportunityState("O9", 1, "Gig", common_pb2.OPPORTUNITY_TYPE_GIG, True,
                           [Requirement(s, 1, 1.0, False) for s in "abcde"])
    one = EmployeeState("E1", 1, {"a": (1, "verified")})  # 20 %
    low = floored.evaluate(one, gig, None, Replica())
    assert low.pair is None and low.updated is None and low.crossing is None
    assert ENGINE.evaluate(one, gig, None, Replica()).pair == [20, 0, False]  # no floor: kept
    two = EmployeeState("E1", 2, {"a": (1, "verified"), "b": (1, "verified")})  # 40 %
    kept = floored.evaluate(two, gig, None, Replica())
    assert kept.pair == [40, 0, False] and kept.updated.score_percent == 40
    dropped = floored.evaluate(one, gig, kept.pair, Replica())  # the last update says where it went
    assert dropped.pair is None and dropped.updated.score_percent == 20 and dropped.updated.previous_score_percent == 40
    modest = EmployeeState("E1", 3, {"a": (1, "verified")}, threshold=20)  # qualified at their own 20 %
    out = floored.evaluate(modest, gig, None, Replica())
    assert out.pair == [20, 20, False] and out.crossing is not None
    assert floored.floor_for(20) == 20 and floored.floor_for(80) == 30 and ENGINE.floor_for(80) == 1


@pytest.mark.parametrize("floor", [0, 30])
def test_the_score_bound_never_undercuts_a_score_and_what_it_rules_out_would_change_nothing(floor):
    """Over random pairs drawn from the real taxonomy (related skills, duplicate
    requirements, no requirements): the per-pair bound and the accumulated bounds
    agree, neither is below the score, a pair the accumulation leaves out scores 0,
    and a pair not held whose bound is below the floor would, if scored, be
    dropped without a crossing or an update."""
    import random

    from itm.taxonomy import Taxonomy

    taxonomy = Taxonomy.load_default()
    rel = taxonomy.related_view
    ids = sorted(taxonomy.ids())
    rnd = random.Random(11 + floor)
    engine = Matcher(_Factors(), rel, 0.5, 80, 1, pair_floor=floor)
    statuses = ["verified", "claimed", "inferred", "aspirational"]
    pool = [s for s in ids if taxonomy.related_view(s)][:40] + rnd.sample(ids, 10)  # related skills are common
    replica = Replica(rel)
    opps = []
    for j in range(300):
        reqs = [Requirement(s, rnd.randint(1, 5), rnd.choice([0.5, 1.0, 3.0]), rnd.random() < 0.3)
                for s in rnd.choices(pool, k=rnd.randint(0, 6))]  # choices: duplicates happen
        opps.append(OpportunityState(f"O{j}", 1, "gig", common_pb2.OPPORTUNITY_TYPE_GIG, True, reqs))
        replica.put(opps[-1])
    for gone in opps[:20]:  # closed ones leave the postings
        replica.drop(gone.opportunity_id)
    opps = opps[20:]
    ruled_out = 0
    for i in range(150):
        e = EmployeeState(f"E{i}", 1, {s: (rnd.randint(1, 5), rnd.choice(statuses))
                                       for s in rnd.sample(pool, rnd.randint(0, 8))},
                          threshold=rnd.choice([0, 0, 10, 20, 50, 90]))
        bounds = engine.bounds_for(e.skills, replica)
        assert set(bounds) <= set(replica.opportunities)
        for o in opps:
            bound = engine.score_bound(e.skills, o)
            score = engine.score(e, o).percent
            # floats: 12 % exactly may bound as 11.999...; the matcher allows the same 1e-6
            assert bound >= score - 1e-6, (e, o)
            if o.opportunity_id in bounds:
                assert bounds[o.opportunity_id] == pytest.approx(bound, abs=1e-9), (e, o)
            elif o.requirements:
                assert score == 0 and bound == 0, (e, o)
            if bound < engine.bound_floor(e.threshold):
                ruled_out += 1
                out = engine.evaluate(e, o, None, replica)
                assert out.pair is None and out.crossing is None and out.updated is None, (e, o)
    assert ruled_out > 1000  # the bound does rule pairs out (most of these pairs score 0 or little)


def test_the_advertised_address_is_host_port_and_an_ipv6_pod_ip_gets_brackets():
    from pydantic import ValidationError

    from services.matcher.config import MatcherSettings

    def advertised(value):
        return MatcherSettings(matcher_advertise_address=value).advertise_address

    assert advertised("10.1.2.3:50051") == "10.1.2.3:50051"
    assert advertised("fd00::1:50051") == "[fd00::1]:50051"  # "$(POD_IP):50051" on an IPv6 cluster
    assert advertised("[fd00::1]:50051") == "[fd00::1]:50051"
    for bad in ("matcher", ":50051", "matcher:grpc"):
        with pytest.raises(ValidationError, match="expected host:port"):
            MatcherSettings(matcher_advertise_address=bad)


@pytest.mark.parametrize("floor", [0, 30])
def test_a_quiet_pair_is_decided_as_decide_decides_it_and_a_pair_that_may_cross_is_not_quiet(floor):
    """``Matcher.quiet`` (the matcher's fast path for most pairs) over every combination
    around the thresholds, the floor and 100 %: where it answers, it answers what
    ``decide`` answers (pair, no crossing, the same PairScore); it declines every pair
    that crosses or carries a mark."""
    import itertools

    engine = Matcher(EvidenceFactors(), related, 0.5, 80, 1, pair_floor=floor)
    gig = OpportunityState("O9", 1, "Gig", common_pb2.OPPORTUNITY_TYPE_GIG, True, [Requirement("sql", 1, 1.0, False)])
    own = OpportunityState("O10", 1, "Mine", common_pb2.OPPORTUNITY_TYPE_GIG, True, [Requirement("sql", 1, 1.0, False)],
                           owner_id="E1")
    employees = [EmployeeState("E1", 1, {"sql": (1, "verified")}, t, opted_out=o, types=ty)
                 for t, o, ty in itertools.product([0, 29, 30, 31, 79, 80, 81, 100], [False, True],
                                                   [[], [common_pb2.OPPORTUNITY_TYPE_PROJECT]])]
    prevs = [None, [0, 0, False], [29, 0, False], [30, 0, False], [79, 0, False], [80, 80, False], [85, 80, False],
             [100, 80, True], [100, 0, True], [50, 70, False]]
    answered = declined_crossing = 0
    for e, opp, prev, percent, missing in itertools.product(
            employees, [gig, own], prevs, [0, 1, 29, 30, 31, 79, 80, 81, 99, 100], [False, True]):
        threshold = e.threshold_or(engine.default_threshold)
        quick = engine.quiet(e, opp, prev, percent, missing, threshold)
        full = engine.decide(e, opp, prev, percent, missing, Replica())
        if quick is None:
            declined_crossing += full.crossing is not None
            continue
        answered += 1
        assert full.crossing is None and quick.crossing is None
        assert quick.pair == full.pair, (e, opp.opportunity_id, prev, percent, missing)
        assert (quick.updated is None) == (full.updated is None)
        if quick.updated is not None:
            assert quick.updated == full.updated
    assert answered > 1000 and declined_crossing > 100  # both sides of the rule were exercised
