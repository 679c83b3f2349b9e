"""Marketplace KPIs the opportunity service's facts make true (issue 5).

Recorded by ``record`` for every new fact, in the same MULTI as the fact, so
they are exact and survive restarts (see itm/runtime/kpi.py)."""

from __future__ import annotations

from itm.runtime.envelope import decode_payload
from itm.runtime.kpi import COUNT_BUCKETS, DURATION_BUCKETS, KpiBook
from itm.v1 import common_pb2, envelope_pb2

HISTOGRAMS = {"time_to_fill_seconds": DURATION_BUCKETS}
TALLIES = {"manager_talent_export": COUNT_BUCKETS}
RATIOS = {"fill_rate": ("opportunities_filled", "opportunities_posted")}
# every series exists from the start, at 0 until its first fact
_TYPES = [{"type": t.removeprefix("OPPORTUNITY_TYPE_").lower()}
          for t in common_pb2.OpportunityType.keys() if t != "OPPORTUNITY_TYPE_UNSPECIFIED"]
ZEROS = {
    "opportunities_posted": _TYPES, "opportunities_filled": _TYPES, "applications": _TYPES,
    "time_to_fill_seconds": _TYPES, "internal_moves": [{}],
    "gig_time_unlocked_seconds_per_week": [t for t in _TYPES if t["type"] != "role"],
}


def _type(value: int) -> str:
    return common_pb2.OpportunityType.Name(value).removeprefix("OPPORTUNITY_TYPE_").lower()


def record(book: KpiBook, pipe, env: envelope_pb2.EventEnvelope) -> None:
    at = env.occurred_at.ToNanoseconds() / 1e9
    kind = env.event_type
    if kind not in _RECORDERS:
        return
    _RECORDERS[kind](book, pipe, decode_payload(env), at)


def _posted(book, pipe, p, at):
    book.count(pipe, "opportunities_posted", {"type": _type(p.opportunity.type)}, at=at)


def _closed(book, pipe, p, at):
    opp = p.opportunity
    labels = {"type": _type(opp.type)}
    book.count(pipe, "opportunities_closed", {**labels, "outcome": p.outcome}, at=at)
    if p.outcome != "filled":
        return
    book.count(pipe, "opportunities_filled", labels, at=at)
    if opp.posted_at.seconds:
        book.observe(pipe, "time_to_fill_seconds", max(0.0, at - opp.posted_at.ToNanoseconds() / 1e9), labels, at=at)


def _applied(book, pipe, p, at):
    book.count(pipe, "applications", {"type": _type(p.application.opportunity_type)}, at=at)


def _released(book, pipe, p, at):
    app = p.application
    if app.opportunity_type == common_pb2.OPPORTUNITY_TYPE_ROLE:
        return  # a role's release is no time given: the move it leads to is counted (record_move)
    # base units (promtool): seconds of gig time per week
    book.count(pipe, "gig_time_unlocked_seconds_per_week", {"type": _type(app.opportunity_type)},
               app.hours_per_week * 3600, at=at)
    book.tally(pipe, "manager_talent_export", app.release_approver_id or app.decided_by or "hr")


def record_move(book: KpiBook, pipe, env: envelope_pb2.EventEnvelope) -> None:
    """A filled role moved someone (``profile.employee-moved``, consumed by this service: the
    move is the profile's fact, the marketplace KPIs are this book's): an internal move, and
    talent exported by the manager they left (none when the manager stays the same)."""
    moved = decode_payload(env)
    book.count(pipe, "internal_moves", {}, at=env.occurred_at.ToNanoseconds() / 1e9)
    if moved.from_manager_id != moved.to_manager_id:
        book.tally(pipe, "manager_talent_export", moved.from_manager_id or "hr")


_RECORDERS = {
    "opportunity.gig-posted": _posted,
    "opportunity.gig-closed": _closed,
    "opportunity.application-submitted": _applied,
    "opportunity.time-release-approved": _released,
}
