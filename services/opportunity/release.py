"""Time release within the share of the week, pure (the rule ApproveTimeRelease applies
and the budget the release approver and the team view are shown).

An employee's released time is the ledger ``gig-hours:<employee>`` (application ->
hours per week of every approved, unfinished assignment). Releasing one more
assignment may not put it above ``ITM_GIG_TIME_SHARE_PERCENT`` of the employee's
hours available per week. Roles (permanent moves) need the release but do not
count: they are not time taken from the home team's week, they are a new job.
"""

from __future__ import annotations

from dataclasses import dataclass

from itm.v1 import common_pb2, opportunity_pb2

EPS = 1e-9


def counts(opportunity_type: int) -> bool:
    """Whether an assignment of this type takes hours of the share."""
    return opportunity_type != common_pb2.OPPORTUNITY_TYPE_ROLE


def limit_hours(hours_available: float, share_percent: float) -> float:
    return round(hours_available * share_percent / 100, 2)


@dataclass(frozen=True)
class Decision:
    released: float   # hours released already, other than this application
    total: float      # what would be released with it
    limit: float
    refusal: str      # "" when it fits


def decide(app: common_pb2.Application, ledger: dict[str, float], hours_available: float,
           share_percent: float) -> Decision:
    """Whether releasing ``app``'s hours fits in the employee's share of the week."""
    limit = limit_hours(hours_available, share_percent)
    released = sum(h for k, h in ledger.items() if k != app.application_id)
    taking = app.hours_per_week if counts(app.opportunity_type) else 0.0
    total = released + taking
    refusal = ""
    if taking and total > limit + EPS:
        refusal = (f"releasing {app.hours_per_week:g} h/week would put {app.employee_id} at {total:g} h/week on gigs, "
                   f"above the limit of {limit:g} h ({share_percent:g}% of {hours_available:g} h available); "
                   f"already released: {released:g} h")
    return Decision(released, total, limit, refusal)


def budget(employee_id: str, manager_id: str, ledger: dict[str, float], hours_available: float,
           share_percent: float) -> opportunity_pb2.TimeReleaseBudget:
    """What is released for the employee and the cap, for the release approver, the
    employee and HR ("4 of 8 h/week already released")."""
    answer = opportunity_pb2.TimeReleaseBudget(
        employee_id=employee_id, manager_id=manager_id, released_hours_per_week=round(sum(ledger.values()), 2),
        limit_hours_per_week=limit_hours(hours_available, share_percent), share_percent=share_percent,
        hours_available_per_week=hours_available)
    for app_id in sorted(ledger):
        answer.assignments.add(application_id=app_id, hours_per_week=ledger[app_id])
    answer.remaining_hours_per_week = round(max(0.0, answer.limit_hours_per_week - answer.released_hours_per_week), 2)
    return answer
