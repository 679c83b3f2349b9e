"""Digests sent at a person's local time: when, and what they say. Pure (no I/O, no clock).

* ``next_at(prefs, after)``: the first scheduled local time strictly after ``after``
  (daily at hh:mm, or weekly on a weekday at hh:mm, in the digest's time zone),
  as epoch seconds; None when the person has no digest. A wall-clock time that
  does not exist on a DST change day (02:30 in a spring-forward gap) is sent as
  far after the gap as it was into it (03:30); one that happens twice, the first time.
* ``next_step(note, base_url)``: the best next step for one notification.
* ``render(employee_id, notes, period_end, base_url)``: one message listing the
  period's notifications, led by the best next step among them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from itm.v1 import notifier_pb2
from services.notifier import prefs as policy
from services.notifier import routing

N = notifier_pb2


def timezone_of(prefs: notifier_pb2.NotificationPreferences) -> str:
    return prefs.digest.timezone or prefs.quiet_hours.timezone or "UTC"


def _wall(day, hour: int, minute: int, tz) -> float:
    """Epoch seconds of a local wall-clock time: its first occurrence when it happens twice;
    shifted by the gap when it does not exist (02:30 on a spring-forward night is 03:30)."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz, fold=0).timestamp()


def next_at(prefs: notifier_pb2.NotificationPreferences, after: float) -> float | None:
    d = prefs.digest
    if not d.frequency:
        return None
    tz = policy.zone(timezone_of(prefs))
    today = datetime.fromtimestamp(after, tz).date()
    for offset in range(0, 9):
        day = today + timedelta(days=offset)
        if d.frequency == N.DIGEST_FREQUENCY_WEEKLY and day.isoweekday() != (d.weekday or 1):
            continue
        at = _wall(day, d.hour, d.minute, tz)
        if at > after:
            return at
    raise AssertionError("unreachable: a day of the week recurs within 8 days")


def period_start(prefs: notifier_pb2.NotificationPreferences, period_end: float) -> float:
    """Where a period ending at ``period_end`` starts when nothing earlier was recorded."""
    days = 7 if prefs.digest.frequency == N.DIGEST_FREQUENCY_WEEKLY else 1
    return period_end - days * 86400


def next_step(note: notifier_pb2.Notification, base_url: str) -> tuple[str, str]:
    """(what to do, where) for one notification."""
    link = note.opportunity_link or f"{base_url}/notifications"
    if note.kind == "match.threshold-crossed":
        exp = note.match.explanation
        if note.match.fully_qualified or not exp.learning_path:
            return f"Apply for {note.match.opportunity_title}", link
        courses = " and ".join(f"'{s.title}' ({s.hours:g} h)" for s in exp.learning_path)
        course_link = note.course_links[0] if note.course_links else link
        return f"Take {courses} to reach {exp.projected_score_percent}% for {note.match.opportunity_title}", course_link
    if routing.category_of(note.kind) == routing.APPROVALS:
        return "Approve or refuse: " + note.title.removeprefix("Approval needed: "), link
    if note.kind == "opportunity.application-submitted":
        return "Review the applicant: " + note.title.removeprefix("New applicant for "), link
    return note.title, link


def _rank(note: notifier_pb2.Notification) -> tuple:
    """Lower is better: decisions others wait on, then ready-to-apply matches, then the
    learning path with the fewest hours to the highest score, then everything else."""
    if routing.category_of(note.kind) == routing.APPROVALS:
        return (0, 0, 0)
    if note.kind == "match.threshold-crossed":
        exp = note.match.explanation
        if note.match.fully_qualified or not exp.learning_path:
            return (1, -note.match.score_percent, 0)
        return (2, -exp.projected_score_percent, sum(s.hours for s in exp.learning_path))
    if note.kind == "opportunity.application-submitted":
        return (3, 0, 0)
    return (4, 0, 0)


def best(notes: list[notifier_pb2.Notification]) -> notifier_pb2.Notification:
    return min(enumerate(notes), key=lambda pair: (_rank(pair[1]), pair[0]))[1]


def render(employee_id: str, notes: list[notifier_pb2.Notification], period_end: float,
           base_url: str) -> notifier_pb2.Notification:
    """The digest: "Your ITM digest: 3 new notifications", the best next step, a line each."""
    n = len(notes)
    step, link = next_step(best(notes), base_url)
    lines = [f"Best next step: {step}."]
    for note in notes:
        what, _ = next_step(note, base_url)
        line = f"- {note.title}"
        if what != note.title:
            line += f" -- {what}"
        lines.append(line)
    digest = N.Notification(
        employee_id=employee_id, kind="digest",
        title=f"Your ITM digest: {n} new notification{'s' if n != 1 else ''}",
        body="\n".join(lines), opportunity_link=link, items=notes)
    digest.created_at.FromNanoseconds(int(period_end * 1e9))
    return digest


def local_label(prefs: notifier_pb2.NotificationPreferences, at: float) -> str:
    tz = policy.zone(timezone_of(prefs))
    return datetime.fromtimestamp(at, tz).strftime("%Y-%m-%d %H:%M %Z")

