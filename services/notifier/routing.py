"""Which channels a notification goes to, and what happens to a delivery now.

Pure functions (no I/O, no clock): the delivery worker and the consumers call them.

* ``category_of(kind)``: crossings, approvals, applications, releases;
* ``external_channels(prefs, category, email_ready)``: the email/Slack/Teams
  channels that get a notification of that category (switched on in
  ``prefs.channels``, routed for the category, with a destination);
* ``wants_in_app(prefs, kind)``: whether a live connection pushes it;
* ``decide(...)``: at send time, ``SEND``, ``HOLD`` until quiet hours end, or ``MUTE``;
* ``validate_destinations(prefs, allowed_hosts, allow_http)``: what is wrong with the
  addresses and webhook URLs a person gave;
* ``destination(channel, prefs)``: the concurrency bucket a send belongs to.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from itm.v1 import notifier_pb2
from services.notifier import prefs as policy

N = notifier_pb2
IN_APP, EMAIL, SLACK, TEAMS = N.CHANNEL_IN_APP, N.CHANNEL_EMAIL, N.CHANNEL_SLACK, N.CHANNEL_TEAMS
EXTERNAL = (EMAIL, SLACK, TEAMS)
CROSSINGS, APPROVALS = N.NOTIFICATION_CATEGORY_CROSSINGS, N.NOTIFICATION_CATEGORY_APPROVALS
APPLICATIONS, RELEASES = N.NOTIFICATION_CATEGORY_APPLICATIONS, N.NOTIFICATION_CATEGORY_RELEASES

CHANNEL_NAMES = {IN_APP: "in_app", EMAIL: "email", SLACK: "slack", TEAMS: "teams"}
BY_NAME = {v: k for k, v in CHANNEL_NAMES.items()}

_CATEGORIES = {
    "match.threshold-crossed": CROSSINGS,
    "opportunity.approval-requested": APPROVALS,
    "opportunity.time-release-requested": APPROVALS,
    "opportunity.application-submitted": APPLICATIONS,
    "opportunity.application-accepted": APPLICATIONS,
    "opportunity.application-declined": APPLICATIONS,
    "opportunity.time-release-approved": RELEASES,
    "opportunity.time-release-refused": RELEASES,
}

# a plain addr-spec: something@domain.tld, no spaces, no angle brackets or header injection
_EMAIL = re.compile(r"[^@\s<>,;:\"\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")


def category_of(kind: str) -> int:
    return _CATEGORIES.get(kind, N.NOTIFICATION_CATEGORY_UNSPECIFIED)


def switched_on(prefs: notifier_pb2.NotificationPreferences, channel: int) -> bool:
    c = prefs.channels
    return {IN_APP: c.in_app, EMAIL: c.email, SLACK: c.slack, TEAMS: c.teams}.get(channel, False)


def has_destination(prefs: notifier_pb2.NotificationPreferences, channel: int, email_ready: bool = True) -> bool:
    if channel == EMAIL:
        return email_ready and bool(prefs.email_address)
    if channel == SLACK:
        return bool(prefs.slack_webhook_url)
    if channel == TEAMS:
        return bool(prefs.teams_webhook_url)
    return channel == IN_APP


def routed(prefs: notifier_pb2.NotificationPreferences, category: int, channel: int) -> bool:
    """Does the person route ``category`` to ``channel``? (A category without a route: yes.)"""
    for route in prefs.routes:
        if route.category == category:
            return channel in route.channels
    return True


def external_channels(prefs: notifier_pb2.NotificationPreferences, category: int,
                      email_ready: bool = True) -> list[int]:
    """The external channels a notification of ``category`` goes to, in a fixed order."""
    return [ch for ch in EXTERNAL if switched_on(prefs, ch) and routed(prefs, category, ch)
            and has_destination(prefs, ch, email_ready)]


def digest_channels(prefs: notifier_pb2.NotificationPreferences, email_ready: bool = True) -> list[int]:
    wanted = [ch for ch in prefs.digest.channels if ch in EXTERNAL] or [EMAIL]
    return [ch for ch in EXTERNAL if ch in wanted and switched_on(prefs, ch) and has_destination(prefs, ch, email_ready)]


def wants_in_app(prefs: notifier_pb2.NotificationPreferences, kind: str) -> bool:
    """Is a notification of ``kind`` pushed to live connections? (Digests and unknown kinds: yes.)"""
    category = category_of(kind)
    return category == N.NOTIFICATION_CATEGORY_UNSPECIFIED or routed(prefs, category, IN_APP)


SEND, HOLD, MUTE = "send", "hold", "mute"


@dataclass(frozen=True, slots=True)
class Decision:
    action: str
    until: float | None = None  # HOLD: epoch seconds when quiet hours end
    reason: str = ""


def decide(prefs: notifier_pb2.NotificationPreferences, channel: int, category: int, now: float, *,
           deactivated: bool, digest: bool = False, email_ready: bool = True) -> Decision:
    """What to do with a queued delivery at ``now``, by the person's current preferences."""
    if deactivated:
        return Decision(MUTE, reason="deactivated")
    if not switched_on(prefs, channel):
        return Decision(MUTE, reason="channel off")
    if not has_destination(prefs, channel, email_ready):
        return Decision(MUTE, reason="no destination")
    if digest:
        if channel not in digest_channels(prefs, email_ready):
            return Decision(MUTE, reason="not a digest channel")
    elif not routed(prefs, category, channel):
        return Decision(MUTE, reason="not routed")
    until = policy.quiet_until(prefs, now)
    if until is not None:
        return Decision(HOLD, until=until, reason="quiet hours")
    return Decision(SEND)


def destination(channel: int, prefs: notifier_pb2.NotificationPreferences) -> str:
    """The concurrency bucket: the one SMTP relay, or one webhook URL."""
    if channel == EMAIL:
        return "email"
    url = prefs.slack_webhook_url if channel == SLACK else prefs.teams_webhook_url
    return f"{CHANNEL_NAMES[channel]}:{hashlib.sha256(url.encode()).hexdigest()[:16]}"


def _host_allowed(host: str, allowed: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.lower().strip()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def validate_destinations(p: notifier_pb2.NotificationPreferences, allowed_hosts: list[str],
                          allow_http: bool = False) -> str | None:
    """What is wrong with the addresses in requested preferences, or None."""
    if p.email_address and (len(p.email_address) > 254 or not _EMAIL.fullmatch(p.email_address)):
        return f"email_address must be an address like ana@example.com, got {p.email_address[:64]!r}"
    for name in ("slack_webhook_url", "teams_webhook_url"):
        url = getattr(p, name)
        if not url:
            continue
        if len(url) > 2048:
            return f"{name} must be at most 2048 characters"
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError:
            return f"{name} is not a URL"
        schemes = ("https", "http") if allow_http else ("https",)
        if parts.scheme not in schemes:
            return f"{name} must be an https:// URL, got {url[:64]!r}"
        if parts.username or parts.password:
            return f"{name} must not carry credentials before the host"
        if not _host_allowed(host, allowed_hosts):
            return (f"{name} must point at one of {', '.join(allowed_hosts)} (ITM_CHAT_WEBHOOK_ALLOWED_HOSTS), "
                    f"got host {host[:64]!r}")
    for route in p.routes:
        if route.category not in N.NotificationCategory.values() or route.category == N.NOTIFICATION_CATEGORY_UNSPECIFIED:
            return f"routes[].category must be a NotificationCategory, got {route.category}"
        for ch in route.channels:
            if ch not in CHANNEL_NAMES:
                return f"routes[].channels must be IN_APP, EMAIL, SLACK or TEAMS, got {ch}"
    if len({r.category for r in p.routes}) != len(p.routes):
        return "routes must name each category once"
    d = p.digest
    if p.HasField("digest") and d.frequency:
        if d.frequency not in N.DigestFrequency.values():
            return f"digest.frequency must be DAILY or WEEKLY, got {d.frequency}"
        if not 0 <= d.hour <= 23 or not 0 <= d.minute <= 59:
            return f"digest.hour must be 0..23 and digest.minute 0..59, got {d.hour}:{d.minute}"
        if d.frequency == N.DIGEST_FREQUENCY_WEEKLY and not 1 <= d.weekday <= 7:
            return f"digest.weekday must be 1 (Monday) .. 7 (Sunday) for a weekly digest, got {d.weekday}"
        if d.timezone and d.timezone not in policy._known_zones():
            return f"digest.timezone must be an IANA time zone like Europe/Berlin, got {d.timezone[:64]!r}"
        for ch in d.channels:
            if ch not in EXTERNAL:
                return f"digest.channels must be EMAIL, SLACK or TEAMS, got {ch}"
    return None
