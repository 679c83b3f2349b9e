"""Rules behind the manager and owner pages, without I/O: the time-release budget
(services/opportunity/release.py), the one manager rule (itm/managers.py), who lists a
team (services/profile/team.py) and the owner's newest-first order (store.py)."""

from __future__ import annotations

import random

from itm.managers import is_acting_manager, may_act_as_manager
from itm.runtime.auth import Identity
from itm.v1 import common_pb2, opportunity_pb2 as O
from services.opportunity import release
from services.opportunity.store import member_id, owner_member
from services.profile.team import may_list_team

GIG, ROLE = common_pb2.OPPORTUNITY_TYPE_GIG, common_pb2.OPPORTUNITY_TYPE_ROLE


def app(app_id="g3:E1", hours=3.0, otype=GIG):
    return common_pb2.Application(application_id=app_id, employee_id="E1", hours_per_week=hours, opportunity_type=otype)


def test_a_release_fits_in_the_share_or_is_refused_with_the_figures():
    ledger = {"g1:E1": 4.0, "g2:E1": 1.0}
    ok = release.decide(app(hours=3), ledger, 40, 20)
    assert (ok.released, ok.total, ok.limit, ok.refusal) == (5, 8, 8, "")
    over = release.decide(app(hours=3.5), ledger, 40, 20)
    assert over.refusal == ("releasing 3.5 h/week would put E1 at 8.5 h/week on gigs, above the limit of 8 h "
                            "(20% of 40 h available); already released: 5 h")
    assert release.decide(app(hours=40, otype=ROLE), ledger, 40, 20).refusal == ""  # roles take none of the share
    again = release.decide(app("g1:E1", hours=4), ledger, 40, 20)  # its own hours are not counted twice
    assert again.released == 1 and not again.refusal


def test_the_budget_shows_released_remaining_and_the_assignments():
    b = release.budget("E1", "M1", {"g2:E1": 1.0, "g1:E1": 4.0}, 40, 20)
    assert (b.released_hours_per_week, b.limit_hours_per_week, b.remaining_hours_per_week) == (5, 8, 3)
    assert [(a.application_id, a.hours_per_week) for a in b.assignments] == [("g1:E1", 4), ("g2:E1", 1)]
    assert release.budget("E1", "M1", {"g1:E1": 9.0}, 40, 20).remaining_hours_per_week == 0
    assert isinstance(b, O.TimeReleaseBudget) and b.manager_id == "M1"


def test_the_one_manager_rule():
    act = "release the time of"
    assert may_act_as_manager(Identity("M1", "manager"), "M1", act, "E1") == ""
    assert may_act_as_manager(Identity("hr", "hr_admin"), "M1", act, "E1") == ""
    assert may_act_as_manager(Identity("lms", "service"), "", act, "E1") == ""
    assert "no manager role" not in may_act_as_manager(Identity("M2", "manager"), "M1", act, "E1")
    assert "(M1)" in may_act_as_manager(Identity("M2", "manager"), "M1", act, "E1")
    assert "has the employee role, not manager" in may_act_as_manager(Identity("M1", "employee"), "M1", act, "E1")
    assert "no manager on record" in may_act_as_manager(Identity("M1", "manager"), "", act, "E1")
    assert may_act_as_manager(Identity("E1", "employee"), "M1", act, "E1")  # never oneself
    # without disclosure (no existence oracle): a stranger hears the same words for a known and an unknown
    # employee, never the manager of record; only the manager of record learns the role is missing
    hidden = may_act_as_manager(Identity("M2", "manager"), "M1", act, "E1", disclose=False)
    assert hidden == may_act_as_manager(Identity("M2", "manager"), "", act, "E1", disclose=False) and "M1" not in hidden
    assert "has the employee role" in may_act_as_manager(Identity("M1", "employee"), "M1", act, "E1", disclose=False)
    assert may_act_as_manager(Identity("hr", "hr_admin"), "", act, "E1", disclose=False) == ""
    # the views follow the same rule
    assert is_acting_manager(Identity("M1", "manager"), "M1")
    assert not is_acting_manager(Identity("M1", "employee"), "M1")
    assert not is_acting_manager(Identity("M2", "manager"), "M1") and not is_acting_manager(Identity("M1", "manager"), "")


def test_who_lists_a_team():
    assert may_list_team(Identity("M1", "manager"), "M1") == ""
    assert may_list_team(Identity("hr", "hr_admin"), "M1") == ""
    assert "no manager role" in may_list_team(Identity("M1", "employee"), "M1")
    assert may_list_team(Identity("M2", "manager"), "M1")


def test_an_owners_postings_sort_newest_first_then_by_id():
    rng = random.Random(7)
    opps = []
    for i in range(200):
        opp = O.Opportunity(opportunity_id=f"opp-{rng.randrange(10**6):06d}-{i}")
        opp.created_at.seconds, opp.created_at.nanos = 1_700_000_000 + rng.randrange(50), rng.choice([0, 5, 999_999_999])
        opps.append(opp)
    by_member = sorted(opps, key=owner_member)
    newest_first = sorted(opps, key=lambda o: (-o.created_at.seconds, -o.created_at.nanos, o.opportunity_id))
    assert [o.opportunity_id for o in by_member] == [o.opportunity_id for o in newest_first]
    assert all(member_id(owner_member(o).encode()) == o.opportunity_id for o in opps)
