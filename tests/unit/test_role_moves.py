"""A filled ROLE is a move (services/profile/moves.py), and the KPIs that count it
(services/opportunity/kpi.py), without I/O."""

from __future__ import annotations

from itm.runtime.envelope import new_envelope
from itm.runtime.settings import Settings
from itm.runtime.kpi import KpiBook
from itm.v1 import common_pb2, events_pb2, profile_pb2
from services.opportunity import kpi
from services.profile import moves

ROLE, GIG = common_pb2.OPPORTUNITY_TYPE_ROLE, common_pb2.OPPORTUNITY_TYPE_GIG


def role(**kw) -> common_pb2.OpportunityMatchProfile:
    base = dict(opportunity_id="opp-r", title="Sales Engineer", type=ROLE, department="Sales", owner_id="MB")
    return common_pb2.OpportunityMatchProfile(**{**base, **kw})


def ana() -> profile_pb2.Employee:
    return profile_pb2.Employee(employee_id="E1", department="Data", manager_id="MA", title="Analyst")


def closed(outcome="filled", otype=ROLE, ids=("E1",)) -> events_pb2.GigClosed:
    return events_pb2.GigClosed(opportunity=role(type=otype), outcome=outcome, assigned_employee_ids=list(ids))


def test_only_a_filled_role_as_it_happens_moves_anyone():
    assert moves.moves_anyone(closed())
    assert not moves.moves_anyone(closed(), replayed=True)  # a replay restates, never moves
    assert not moves.moves_anyone(closed("cancelled"))
    assert not moves.moves_anyone(closed("expired"))
    for other in (GIG, common_pb2.OPPORTUNITY_TYPE_PROJECT, common_pb2.OPPORTUNITY_TYPE_MENTORSHIP):
        assert not moves.moves_anyone(closed(otype=other))  # gigs and projects keep the home team
    assert not moves.moves_anyone(closed(ids=()))


def test_the_move_takes_the_roles_department_owner_and_title():
    emp = ana()
    move = moves.move_for(emp, role())
    assert (move.to_department, move.to_manager_id, move.to_title) == ("Sales", "MB", "Sales Engineer")
    assert move.changes == ["department Data -> Sales", "manager MA -> MB", "title Analyst -> Sales Engineer"]
    moves.apply(emp, move)
    assert (emp.department, emp.manager_id, emp.title) == ("Sales", "MB", "Sales Engineer")
    payload = moves.event(move, common_pb2.EmployeeMatchProfile(employee_id="E1", department="Sales"))
    assert (payload.from_manager_id, payload.to_manager_id, payload.opportunity_id) == ("MA", "MB", "opp-r")
    assert moves.summary(move).startswith("moved into opp-r (Sales Engineer): department Data -> Sales")


def test_a_role_without_a_department_keeps_it_and_an_owner_never_manages_themself():
    move = moves.move_for(ana(), role(department="", title=""))
    assert (move.to_department, move.to_title) == ("Data", "Analyst") and move.to_manager_id == "MB"
    within = moves.move_for(profile_pb2.Employee(employee_id="MB", manager_id="X"), role())
    assert within.to_manager_id == "X"


class Pipe:
    """Records what a KPI book queues."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *a, **kw: self.calls.append((name, a))


def test_a_move_counts_an_internal_move_and_the_old_managers_talent_export():
    book = KpiBook(Settings(topic_prefix="t."), "opportunity")
    pipe = Pipe()
    moved = events_pb2.EmployeeMoved(employee_id="E1", from_manager_id="MA", to_manager_id="MB")
    kpi.record_move(book, pipe, new_envelope("profile.employee-moved", "profile", "E1", 3, moved))
    assert ("hincrby", (book.tally_key("manager_talent_export"), "MA", 1)) in pipe.calls
    assert any(n == "hincrbyfloat" and "internal_moves|" in a[1] for n, a in pipe.calls)
    same = Pipe()
    kpi.record_move(book, same, new_envelope("profile.employee-moved", "profile", "E1", 3, events_pb2.EmployeeMoved(
        employee_id="E1", from_manager_id="MB", to_manager_id="MB")))
    assert not any(n == "hincrby" for n, _ in same.calls)  # nobody left a manager: no talent exported


def test_a_roles_time_release_tallies_no_talent_export_but_a_gigs_does():
    book = KpiBook(Settings(topic_prefix="t."), "opportunity")
    for otype, tallied in ((ROLE, False), (GIG, True)):
        pipe = Pipe()
        app = common_pb2.Application(application_id="o:E1", employee_id="E1", opportunity_type=otype,
                                     hours_per_week=4, release_approver_id="MA")
        kpi.record(book, pipe, new_envelope("opportunity.time-release-approved", "opportunity", "o:E1", 2,
                                            events_pb2.TimeReleaseApproved(application=app)))
        assert any(n == "hincrby" for n, _ in pipe.calls) == tallied
