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
