"""A filled ROLE is a move (issue 16 item 1), pure.

When an opportunity of type ROLE is closed as filled (``opportunity.gig-closed``,
outcome ``filled``), each assigned employee moves into it: their profile's
department becomes the role's (kept when the role names none), their manager the
role's owner (the hiring manager) and their title the role's title. Gigs,
projects, mentorships, shadowing and freelance work never move anyone: the
employee keeps their home department and manager.

A move is applied once per (employee, role): the profile service remembers which
roles moved each employee, so a redelivered or re-emitted fill changes nothing,
and a replay (which restates state for rebuilding consumers) moves nobody.
"""

from __future__ import annotations

from dataclasses import dataclass

from itm.v1 import common_pb2, events_pb2, profile_pb2


@dataclass(frozen=True)
class Move:
    employee_id: str
    opportunity_id: str
    opportunity_title: str
    from_department: str
    to_department: str
    from_manager_id: str
    to_manager_id: str
    from_title: str
    to_title: str

    @property
    def changes(self) -> list[str]:
        """What the move changes, for the history entry ("department Data -> Sales", ...)."""
        out = []
        for what, old, new in (("department", self.from_department, self.to_department),
                               ("manager", self.from_manager_id, self.to_manager_id),
                               ("title", self.from_title, self.to_title)):
            if old != new:
                out.append(f"{what} {old or '(none)'} -> {new or '(none)'}")
        return out


def moves_anyone(closed: events_pb2.GigClosed, replayed: bool = False) -> bool:
    """Whether this close moves its assignees: a ROLE filled, as it happened (not a replay)."""
    opp = closed.opportunity
    return (not replayed and closed.outcome == "filled" and opp.type == common_pb2.OPPORTUNITY_TYPE_ROLE
            and bool(closed.assigned_employee_ids))


def move_for(emp: profile_pb2.Employee, role: common_pb2.OpportunityMatchProfile) -> Move:
    """Where filling ``role`` takes ``emp``."""
    return Move(
        employee_id=emp.employee_id, opportunity_id=role.opportunity_id, opportunity_title=role.title,
        from_department=emp.department, to_department=role.department or emp.department,
        from_manager_id=emp.manager_id,
        to_manager_id=role.owner_id if role.owner_id != emp.employee_id else emp.manager_id,
        from_title=emp.title, to_title=role.title or emp.title)


def apply(emp: profile_pb2.Employee, move: Move) -> None:
    emp.department, emp.manager_id, emp.title = move.to_department, move.to_manager_id, move.to_title


def event(move: Move, profile: common_pb2.EmployeeMatchProfile) -> events_pb2.EmployeeMoved:
    return events_pb2.EmployeeMoved(
        employee_id=move.employee_id, opportunity_id=move.opportunity_id, opportunity_title=move.opportunity_title,
        from_department=move.from_department, to_department=move.to_department,
        from_manager_id=move.from_manager_id, to_manager_id=move.to_manager_id,
        from_title=move.from_title, to_title=move.to_title, profile=profile)


def summary(move: Move) -> str:
    return f"moved into {move.opportunity_id} ({move.opportunity_title}): " + (", ".join(move.changes) or "no change")
