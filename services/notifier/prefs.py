"""Notification preferences: defaults, validation and the delivery policy.

Pure functions (no I/O) so the policy is unit-tested without a clock or Redis:

* ``validate`` returns what to fix, or None;
* ``quiet_until`` says until when live pushes are held by quiet hours;
* ``next_digest`` gives the next digest boundary (periods aligned to the Unix epoch);
* ``hold_until`` combines the channel switch and quiet hours.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from itm.v1 import common_pb2, notifier_pb2

IMMEDIATE = notifier_pb2.DELIVERY_MODE_IMMEDIATE
DIGEST = notifier_pb2.DELIVERY_MODE_DIGEST
DEFAULT_DIGEST_PERIOD_S = 3600
MIN_DIGEST_PERIOD_S = 5
MAX_DIGEST_PERIOD_S = 7 * 24 * 3600
FOREVER = math.inf


def defaults(employee_id: str) -> notifier_pb2.NotificationPreferences:
    return notifier_pb2.NotificationPreferences(
        employee_id=employee_id,
        channels=notifier_pb2.Channels(in_app=True, email=False, slack=False, teams=False),
        quiet_hours=notifier_pb2.QuietHours(enabled=False, timezone="UTC"),
        delivery=IMMEDIATE,
        digest_period_seconds=DEFAULT_DIGEST_PERIOD_S,
    )


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name or "UTC")


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def validate(p: notifier_pb2.NotificationPreferences) -> str | None:
    """What is wrong with requested preferences, in words that say what to fix."""
    q = p.quiet_hours
    if p.HasField("quiet_hours") and q.enabled:
        for name, hour in (("start_hour", q.start_hour), ("end_hour", q.end_hour)):
            if not 0 <= hour <= 23:
                return f"quiet_hours.{name} must be an hour 0..23, got {hour}"
        if q.start_hour == q.end_hour:
            return "quiet_hours.start_hour and end_hour must differ (22 -> 7 wraps midnight)"
    if q.timezone and q.timezone not in _known_zones():
        # looked up in the list, never opened as a path: a directory ("Europe") or a name too long
        # for the file system made ZoneInfo raise with the install path in its words
        return f"quiet_hours.timezone must be an IANA time zone like Europe/Berlin, got {q.timezone[:64]!r}"
    if p.delivery not in notifier_pb2.DeliveryMode.values():
        return f"delivery must be IMMEDIATE or DIGEST, got {p.delivery}"
    period = p.digest_period_seconds
    if period and not MIN_DIGEST_PERIOD_S <= period <= MAX_DIGEST_PERIOD_S:
        return (f"digest_period_seconds must be {MIN_DIGEST_PERIOD_S}..{MAX_DIGEST_PERIOD_S} "
                f"(0 = {DEFAULT_DIGEST_PERIOD_S}), got {period}")
    for t in p.muted_opportunity_types:
        if t == common_pb2.OPPORTUNITY_TYPE_UNSPECIFIED or t not in common_pb2.OpportunityType.values():
            known = ", ".join(n for n in common_pb2.OpportunityType.keys() if not n.endswith("UNSPECIFIED"))
            return f"muted_opportunity_types must be among {known}, got {t}"
    return None


def normalise(employee_id: str, p: notifier_pb2.NotificationPreferences) -> notifier_pb2.NotificationPreferences:
    """Validated request -> what is stored: absent parts take their defaults."""
    out = defaults(employee_id)
    if p.HasField("channels"):
        out.channels.CopyFrom(p.channels)
    if p.HasField("quiet_hours"):
        out.quiet_hours.CopyFrom(p.quiet_hours)
        out.quiet_hours.timezone = p.quiet_hours.timezone or "UTC"
        if not out.quiet_hours.enabled:
            out.quiet_hours.start_hour = out.quiet_hours.end_hour = 0
    out.delivery = DIGEST if p.delivery == DIGEST else IMMEDIATE
    out.digest_period_seconds = p.digest_period_seconds or DEFAULT_DIGEST_PERIOD_S
    out.muted_opportunity_types[:] = sorted(set(p.muted_opportunity_types))
    for route in sorted(p.routes, key=lambda r: r.category):
        out.routes.add(category=route.category, channels=sorted(set(route.channels)))
    out.email_address = p.email_address.strip()
    out.slack_webhook_url = p.slack_webhook_url
    out.teams_webhook_url = p.teams_webhook_url
    if p.HasField("digest") and p.digest.frequency:
        out.digest.CopyFrom(p.digest)
        out.digest.channels[:] = sorted(set(p.digest.channels))
        if out.digest.frequency != notifier_pb2.DIGEST_FREQUENCY_WEEKLY:
            out.digest.weekday = 0
    return out


def quiet_until(p: notifier_pb2.NotificationPreferences, now: float) -> float | None:
    """Epoch seconds when the current quiet hours end, or None when not quiet now."""
    q = p.quiet_hours
    if not q.enabled or q.start_hour == q.end_hour:
        return None
    tz = zone(q.timezone)
    local = datetime.fromtimestamp(now, tz)
    h, start, end = local.hour, q.start_hour, q.end_hour
    quiet = start <= h < end if start < end else (h >= start or h < end)
    if not quiet:
        return None
    day = local.date() if h < end else local.date() + timedelta(days=1)
    ends = datetime(day.year, day.month, day.day, end, tzinfo=tz)
    ends_ts = ends.astimezone(UTC).timestamp()
    # a DST gap can put the wall-clock end "before" now; never hold for less than a tick
    return ends_ts if ends_ts > now else now + 1.0


def next_digest(p: notifier_pb2.NotificationPreferences, now: float) -> float:
    """The first digest boundary strictly after ``now`` (multiples of the period since the epoch)."""
    period = p.digest_period_seconds or DEFAULT_DIGEST_PERIOD_S
    return (math.floor(now / period) + 1) * period


def hold_until(p: notifier_pb2.NotificationPreferences, now: float) -> float | None:
    """Until when live pushes are held (FOREVER while the in-app channel is off); None = push now."""
    if not p.channels.in_app:
        return FOREVER
    return quiet_until(p, now)
