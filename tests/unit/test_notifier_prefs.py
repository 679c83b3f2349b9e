"""Notification preferences: validation, defaults, quiet hours and digest periods."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from itm.v1 import common_pb2, notifier_pb2
from services.notifier import prefs as policy


def p(**kw) -> notifier_pb2.NotificationPreferences:
    return notifier_pb2.NotificationPreferences(**kw)


def quiet(start, end, tz="UTC"):
    return p(quiet_hours=notifier_pb2.QuietHours(enabled=True, start_hour=start, end_hour=end, timezone=tz))


def ts(*args, tz="UTC") -> float:
    return datetime(*args, tzinfo=ZoneInfo(tz)).timestamp()


@pytest.mark.parametrize("prefs, fix", [
    (quiet(22, 22), "must differ"),
    (quiet(24, 7), "quiet_hours.start_hour must be an hour 0..23, got 24"),
    (quiet(22, -1), "end_hour must be an hour 0..23"),
    (quiet(22, 7, "Mars/Olympus"), "IANA time zone like Europe/Berlin, got 'Mars/Olympus'"),
    (p(delivery=policy.DIGEST, digest_period_seconds=1), "digest_period_seconds must be 5..604800"),
    (p(muted_opportunity_types=[common_pb2.OPPORTUNITY_TYPE_UNSPECIFIED]), "OPPORTUNITY_TYPE_GIG"),
    (p(muted_opportunity_types=[99]), "got 99"),
    (p(delivery=7), "IMMEDIATE or DIGEST"),
])
def test_bad_preferences_say_what_to_fix(prefs, fix):
    problem = policy.validate(prefs)
    assert problem is not None and fix in problem


def test_absent_parts_take_defaults_and_muted_types_are_deduplicated():
    assert policy.validate(p()) is None
    stored = policy.normalise("E1", p(muted_opportunity_types=[common_pb2.OPPORTUNITY_TYPE_ROLE] * 2))
    assert stored.channels.in_app and not stored.channels.email
    assert stored.delivery == policy.IMMEDIATE and stored.digest_period_seconds == 3600
    assert list(stored.muted_opportunity_types) == [common_pb2.OPPORTUNITY_TYPE_ROLE]
    assert not stored.quiet_hours.enabled and stored.quiet_hours.timezone == "UTC"
    off = policy.normalise("E1", p(channels=notifier_pb2.Channels(in_app=False)))
    assert not off.channels.in_app  # an explicit channels message is taken as it is


def test_quiet_hours_wrap_midnight_and_end_at_the_local_end_hour():
    night = quiet(22, 7, "Europe/Berlin")
    assert policy.quiet_until(night, ts(2025, 1, 15, 21, 59, tz="Europe/Berlin")) is None
    assert policy.quiet_until(night, ts(2025, 1, 15, 23, 30, tz="Europe/Berlin")) == ts(2025, 1, 16, 7, tz="Europe/Berlin")
    assert policy.quiet_until(night, ts(2025, 1, 16, 3, 0, tz="Europe/Berlin")) == ts(2025, 1, 16, 7, tz="Europe/Berlin")
    assert policy.quiet_until(night, ts(2025, 1, 16, 7, 0, tz="Europe/Berlin")) is None
    lunch = quiet(12, 13, "America/New_York")
    assert policy.quiet_until(lunch, ts(2025, 6, 1, 16, 30)) == ts(2025, 6, 1, 13, tz="America/New_York")  # 12:30 EDT
    assert policy.quiet_until(lunch, ts(2025, 6, 1, 12, 30)) is None  # 08:30 EDT


def test_quiet_hours_across_a_dst_change_end_at_the_wall_clock_hour():
    night = quiet(1, 4, "Europe/Berlin")  # 2025-03-30: 02:00 -> 03:00
    start = ts(2025, 3, 30, 1, 30, tz="Europe/Berlin")
    end = policy.quiet_until(night, start)
    assert end == ts(2025, 3, 30, 4, tz="Europe/Berlin") and end - start == 1.5 * 3600


def test_disabled_quiet_hours_and_the_in_app_channel_decide_the_hold():
    now = ts(2025, 1, 15, 23, 0)
    assert policy.hold_until(policy.defaults("E1"), now) is None
    muted_live = policy.defaults("E1")
    muted_live.channels.in_app = False
    assert policy.hold_until(muted_live, now) == math.inf
    assert policy.hold_until(policy.normalise("E1", quiet(22, 7)), now) == ts(2025, 1, 16, 7)


def test_digest_boundaries_are_aligned_multiples_of_the_period():
    d = p(delivery=policy.DIGEST, digest_period_seconds=600)
    assert policy.next_digest(d, 1_000_000.0) == 1_000_200.0
    assert policy.next_digest(d, 1_000_200.0) == 1_000_800.0  # strictly after
    assert policy.next_digest(p(delivery=policy.DIGEST), 10.0) == 3600.0
    assert datetime.fromtimestamp(policy.next_digest(p(digest_period_seconds=86400), ts(2025, 1, 15, 9, 0)), UTC).hour == 0
