"""Turn events into the words people read."""

from __future__ import annotations

from itm.v1 import common_pb2, events_pb2, notifier_pb2


def _hours(h: float) -> str:
    return f"{h:g} h"


def render_crossing(c: events_pb2.ThresholdCrossed, base_url: str, skill_name) -> notifier_pb2.Notification:
    """"You're 82% qualified for Data Analyst (Marketing). Missing: SQL level 3.
    Take 'SQL for Analysts' (6 h) to reach 100%." """
    exp = c.explanation
    title = (f"You're fully qualified for {c.opportunity_title}" if c.fully_qualified
             else f"You're {c.score_percent}% qualified for {c.opportunity_title}")
    parts = [title + "."]
    if exp.gaps:
        missing = []
        for g in exp.gaps:
            name = skill_name(g.skill_id)
            if g.current_level >= g.required_level and g.current_status != common_pb2.SKILL_STATUS_VERIFIED:
                missing.append(f"{name} level {g.required_level} (verify it)")
            else:
                missing.append(f"{name} level {g.required_level}")
        parts.append("Missing: " + ", ".join(missing) + ".")
    if exp.learning_path:
        courses = " and ".join(f"'{s.title}' ({_hours(s.hours)})" for s in exp.learning_path)
        parts.append(f"Take {courses} to reach {exp.projected_score_percent}%.")
    if exp.uncovered_skill_ids:
        names = ", ".join(skill_name(s) for s in exp.uncovered_skill_ids)
        parts.append(f"No course in the catalog teaches {names} yet.")
    return notifier_pb2.Notification(
        employee_id=c.employee_id,
        kind="match.threshold-crossed",
        title=title,
        body=" ".join(parts),
        opportunity_id=c.opportunity_id,
        opportunity_link=f"{base_url}/opportunities/{c.opportunity_id}",
        course_links=[f"{base_url}/courses/{s.course_id}" for s in exp.learning_path],
        match=c,
    )


def render_digest(employee_id: str, notes: list[notifier_pb2.Notification], now: float) -> notifier_pb2.Notification:
    """One message for a period's notifications: "3 new notifications" and a line each."""
    n = len(notes)
    title = f"{n} new notification{'s' if n != 1 else ''}"
    digest = notifier_pb2.Notification(
        notification_id=notes[-1].notification_id,  # resume position: after the last one bundled
        employee_id=employee_id,
        kind="digest",
        title=title,
        body="\n".join(f"- {note.title}" for note in notes),
        items=notes,
    )
    digest.created_at.FromNanoseconds(int(now * 1e9))
    return digest


# ---- workflow notifications: applications, approvals, outcomes -----------------------

def _note(recipient: str, kind: str, title: str, body: str, opp_id: str, base_url: str) -> tuple[str, notifier_pb2.Notification]:
    return recipient, notifier_pb2.Notification(
        employee_id=recipient, kind=kind, title=title, body=body, opportunity_id=opp_id,
        opportunity_link=f"{base_url}/opportunities/{opp_id}" if opp_id else "")


def render_move(m: events_pb2.EmployeeMoved, base_url: str) -> list[tuple[str, notifier_pb2.Notification]]:
    """A filled role moved someone (``profile.employee-moved``): the employee, the old
    manager and the new manager are told, each once, naming the role."""
    kind, role, emp = "profile.employee-moved", m.opportunity_title or m.opportunity_id, m.employee_id
    moved_dept = m.from_department != m.to_department
    path = (f" from {m.from_department} to {m.to_department}" if moved_dept and m.from_department
            else f" to {m.to_department}" if moved_dept else "")
    notes = [_note(emp, kind, f"You moved to {role}",
                   f"Filling '{role}' moved you{path}"
                   + (f"; you now report to {m.to_manager_id}." if m.to_manager_id else "."),
                   m.opportunity_id, base_url)]
    if m.from_manager_id and m.from_manager_id != m.to_manager_id and m.from_manager_id != emp:
        notes.append(_note(m.from_manager_id, kind, f"{emp} moved to {role}",
                           f"{emp} filled '{role}'" + (f" in {m.to_department}" if m.to_department else "")
                           + f" and now reports to {m.to_manager_id or 'nobody on record'}; they have left your team.",
                           m.opportunity_id, base_url))
    if m.to_manager_id and m.to_manager_id != emp:
        notes.append(_note(m.to_manager_id, kind, f"{emp} joined your team as {role}",
                           f"{emp} moved{path} to fill '{role}' and now reports to you.", m.opportunity_id, base_url))
    return notes


def render_workflow(kind: str, payload, title_of, base_url: str) -> list[tuple[str, notifier_pb2.Notification]]:
    """(recipient, notification) pairs for a workflow fact; empty when nobody needs to know."""
    if kind == "profile.employee-moved":
        return render_move(payload, base_url)
    if kind == "opportunity.approval-requested":
        opp = payload.opportunity
        if not payload.approver_id:
            return []  # no manager on record: HR decides from its queue
        return [_note(payload.approver_id, kind, f"Approval needed: {opp.title}",
                      f"{opp.owner_id} posted '{opp.title}' at {opp.hours_per_week:g} h/week, above the "
                      f"{payload.threshold_hours:g} h threshold; it opens once you approve it.",
                      opp.opportunity_id, base_url)]
    app = getattr(payload, "application", None)
    if app is None:
        return []
    title = title_of(app.opportunity_id) or app.opportunity_id
    notes = []
    if kind == "opportunity.application-submitted":
        notes.append(_note(app.owner_id, kind, f"New applicant for {title}",
                           f"{app.employee_id} applied to '{title}'.", app.opportunity_id, base_url))
    elif kind == "opportunity.application-accepted":
        notes.append(_note(app.employee_id, kind, f"You're in: {title}",
                           f"Your application for '{title}' was accepted." +
                           (" Your manager now approves releasing the time." if app.release_approver_id else ""),
                           app.opportunity_id, base_url))
        if app.release_approver_id:
            notes.append(_note(app.release_approver_id, "opportunity.time-release-requested",
                               f"Approval needed: time for {title}",
                               f"{app.employee_id} was accepted for '{title}' ({app.hours_per_week:g} h/week); "
                               "approve or refuse releasing the time.", app.opportunity_id, base_url))
    elif kind == "opportunity.application-declined":
        reason = f" ({app.reason})" if app.reason else ""
        notes.append(_note(app.employee_id, kind, f"Update on {title}",
                           f"Your application for '{title}' was not taken forward{reason}.", app.opportunity_id, base_url))
    elif kind == "opportunity.time-release-approved":
        notes.append(_note(app.employee_id, kind, f"Time released for {title}",
                           f"Your manager released {app.hours_per_week:g} h/week for '{title}'.", app.opportunity_id, base_url))
        notes.append(_note(app.owner_id, kind, f"{app.employee_id} can start on {title}",
                           f"{app.employee_id}'s manager released the time for '{title}'.", app.opportunity_id, base_url))
    elif kind == "opportunity.time-release-refused":
        reason = f" ({app.reason})" if app.reason else ""
        for who in (app.employee_id, app.owner_id):
            notes.append(_note(who, kind, f"Time not released for {title}",
                               f"{app.employee_id}'s manager did not release the time for '{title}'{reason}.",
                               app.opportunity_id, base_url))
    return notes
