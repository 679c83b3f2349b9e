"""The notifier's channel rules without I/O: routing, quiet-hour holds, digest times,
email and chat payloads, unsubscribe tokens, backoff."""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from itm.v1 import common_pb2, events_pb2, notifier_pb2 as N
from services.notifier import chat, digest, mail, routing
from services.notifier import prefs as policy
from services.notifier.ledger import backoff_s, delivery_id, idempotency_key, notification_key
from services.notifier.render import render_crossing

BASE = "https://itm.example.com"
HOOK = "https://hooks.slack.com/services/T0/B0/xyz"
TEAMS = "https://prod-1.westeurope.logic.azure.com/workflows/abc"
ALLOWED = ["hooks.slack.com", "*.webhook.office.com", "*.logic.azure.com"]


def ts(*args, tz="UTC") -> float:
    return datetime(*args, tzinfo=ZoneInfo(tz)).timestamp()


def prefs(**kw) -> N.NotificationPreferences:
    base = dict(channels=N.Channels(in_app=True, email=True, slack=True, teams=False),
                email_address="ana@example.com", slack_webhook_url=HOOK)
    base.update(kw)
    return N.NotificationPreferences(**base)


def crossing_note(fully=False) -> N.Notification:
    c = events_pb2.ThresholdCrossed(
        employee_id="E1", opportunity_id="O1", opportunity_title="Data Analyst (R&D)", score_percent=82,
        threshold_percent=80, fully_qualified=fully, opportunity_type=common_pb2.OPPORTUNITY_TYPE_GIG,
        explanation=events_pb2.MatchExplanation(
            gaps=[] if fully else [events_pb2.Gap(skill_id="sql", required_level=3, current_level=1)],
            learning_path=[] if fully else [events_pb2.LearningStep(course_id="c1", title="SQL for Analysts", hours=6)],
            projected_score_percent=100))
    return render_crossing(c, BASE, lambda s: s.upper())


# ---- routing -------------------------------------------------------------------------------

def test_switched_on_channels_with_a_destination_get_every_category_unless_routed():
    p = prefs()
    assert routing.external_channels(p, routing.CROSSINGS) == [routing.EMAIL, routing.SLACK]
    assert routing.external_channels(p, routing.CROSSINGS, email_ready=False) == [routing.SLACK]
    p.routes.add(category=routing.APPROVALS, channels=[routing.SLACK, routing.IN_APP])
    assert routing.external_channels(p, routing.APPROVALS) == [routing.SLACK]
    assert routing.external_channels(p, routing.CROSSINGS) == [routing.EMAIL, routing.SLACK]
    p.routes.add(category=routing.CROSSINGS, channels=[])
    assert routing.external_channels(p, routing.CROSSINGS) == []
    assert not routing.wants_in_app(p, "match.threshold-crossed") and routing.wants_in_app(p, "opportunity.approval-requested")
    assert routing.wants_in_app(p, "digest")
    no_url = prefs(channels=N.Channels(teams=True))  # on, but nowhere to send
    assert routing.external_channels(no_url, routing.CROSSINGS) == []


def test_kinds_fall_into_their_categories():
    assert routing.category_of("match.threshold-crossed") == routing.CROSSINGS
    assert routing.category_of("opportunity.time-release-requested") == routing.APPROVALS
    assert routing.category_of("opportunity.application-declined") == routing.APPLICATIONS
    assert routing.category_of("opportunity.time-release-refused") == routing.RELEASES


def test_send_time_decision_mutes_holds_or_sends():
    p = prefs()
    now = ts(2025, 1, 15, 12)
    assert routing.decide(p, routing.SLACK, routing.CROSSINGS, now, deactivated=False).action == routing.SEND
    assert routing.decide(p, routing.SLACK, routing.CROSSINGS, now, deactivated=True).reason == "deactivated"
    off = prefs(channels=N.Channels(email=False, slack=True))
    assert routing.decide(off, routing.EMAIL, routing.CROSSINGS, now, deactivated=False).action == routing.MUTE
    quiet = prefs(quiet_hours=N.QuietHours(enabled=True, start_hour=11, end_hour=14, timezone="Europe/Berlin"))
    held = routing.decide(quiet, routing.EMAIL, routing.CROSSINGS, now, deactivated=False)  # 13:00 in Berlin
    assert held.action == routing.HOLD and held.until == ts(2025, 1, 15, 14, tz="Europe/Berlin")
    assert routing.decide(quiet, routing.EMAIL, routing.CROSSINGS, held.until, deactivated=False).action == routing.SEND
    p.digest.CopyFrom(N.DigestSchedule(frequency=N.DIGEST_FREQUENCY_DAILY, channels=[routing.SLACK]))
    assert routing.decide(p, routing.EMAIL, 0, now, deactivated=False, digest=True).action == routing.MUTE
    assert routing.decide(p, routing.SLACK, 0, now, deactivated=False, digest=True).action == routing.SEND


@pytest.mark.parametrize("fields, fix", [
    (dict(email_address="not an address"), "email_address must be an address"),
    (dict(email_address="a@b.com\r\nBcc: x@y.com"), "email_address must be an address"),
    (dict(slack_webhook_url="http://hooks.slack.com/x"), "must be an https:// URL"),
    (dict(slack_webhook_url="https://evil.example.com/hook"), "must point at one of hooks.slack.com"),
    (dict(teams_webhook_url="https://webhook.office.com.evil.net/x"), "must point at one of"),
    (dict(slack_webhook_url="https://user:pw@hooks.slack.com/x"), "credentials"),
    (dict(routes=[N.Route(category=0)]), "routes[].category"),
    (dict(routes=[N.Route(category=1), N.Route(category=1)]), "each category once"),
    (dict(digest=N.DigestSchedule(frequency=1, hour=24)), "digest.hour must be 0..23"),
    (dict(digest=N.DigestSchedule(frequency=2, hour=8)), "digest.weekday must be 1 (Monday)"),
    (dict(digest=N.DigestSchedule(frequency=1, timezone="Mars/Base")), "digest.timezone"),
    (dict(digest=N.DigestSchedule(frequency=1, channels=[N.CHANNEL_IN_APP])), "digest.channels"),
])
def test_bad_destinations_say_what_to_fix(fields, fix):
    problem = routing.validate_destinations(N.NotificationPreferences(**fields), ALLOWED)
    assert problem is not None and fix in problem


def test_good_destinations_pass_and_are_kept_by_normalise():
    p = N.NotificationPreferences(email_address="ana@example.com", slack_webhook_url=HOOK, teams_webhook_url=TEAMS,
                                  routes=[N.Route(category=2, channels=[3, 3, 1])],
                                  digest=N.DigestSchedule(frequency=1, hour=8, weekday=3, timezone="Asia/Kolkata"))
    assert routing.validate_destinations(p, ALLOWED) is None
    stored = policy.normalise("E1", p)
    assert stored.email_address == "ana@example.com" and stored.teams_webhook_url == TEAMS
    assert list(stored.routes[0].channels) == [1, 3] and stored.digest.weekday == 0  # daily: no weekday


def test_a_destination_is_the_relay_or_one_webhook():
    assert routing.destination(routing.EMAIL, prefs()) == "email"
    assert routing.destination(routing.SLACK, prefs()).startswith("slack:")
    assert routing.destination(routing.SLACK, prefs()) != routing.destination(routing.SLACK, prefs(slack_webhook_url=HOOK + "2"))


# ---- digests ---------------------------------------------------------------------------------

def schedule(freq, hour, minute=0, weekday=0, tz="Asia/Kolkata"):
    return N.NotificationPreferences(digest=N.DigestSchedule(frequency=freq, hour=hour, minute=minute, weekday=weekday,
                                                             timezone=tz))


def test_daily_and_weekly_digests_fall_at_local_time():
    daily = schedule(N.DIGEST_FREQUENCY_DAILY, 8, 30)
    assert digest.next_at(daily, ts(2025, 1, 15, 8, 0, tz="Asia/Kolkata")) == ts(2025, 1, 15, 8, 30, tz="Asia/Kolkata")
    assert digest.next_at(daily, ts(2025, 1, 15, 8, 30, tz="Asia/Kolkata")) == ts(2025, 1, 16, 8, 30, tz="Asia/Kolkata")
    weekly = schedule(N.DIGEST_FREQUENCY_WEEKLY, 9, weekday=1, tz="America/New_York")  # Mondays 09:00
    assert digest.next_at(weekly, ts(2025, 1, 15, tz="America/New_York")) == ts(2025, 1, 20, 9, tz="America/New_York")
    assert digest.next_at(schedule(0, 8), 0) is None
    # the zone falls back to quiet hours' zone, then UTC
    p = N.NotificationPreferences(digest=N.DigestSchedule(frequency=1, hour=7),
                                  quiet_hours=N.QuietHours(timezone="Europe/Berlin"))
    assert digest.next_at(p, ts(2025, 1, 15, 12)) == ts(2025, 1, 16, 7, tz="Europe/Berlin")


def test_digest_times_across_daylight_saving_changes():
    spring = schedule(N.DIGEST_FREQUENCY_DAILY, 2, 30, tz="Europe/Berlin")  # 02:30 does not exist on 2025-03-30
    at = digest.next_at(spring, ts(2025, 3, 29, 12, tz="Europe/Berlin"))
    assert datetime.fromtimestamp(at, ZoneInfo("Europe/Berlin")).strftime("%m-%d %H:%M") == "03-30 03:30"
    autumn = schedule(N.DIGEST_FREQUENCY_DAILY, 2, 30, tz="Europe/Berlin")  # 02:30 happens twice on 2025-10-26
    first = digest.next_at(autumn, ts(2025, 10, 25, 12, tz="Europe/Berlin"))
    assert first == ts(2025, 10, 26, 0, 30)  # 02:30 CEST
    assert digest.next_at(autumn, first) == ts(2025, 10, 27, 1, 30)  # not again the same night
    nine = schedule(N.DIGEST_FREQUENCY_DAILY, 9, tz="America/New_York")
    assert digest.next_at(nine, ts(2025, 3, 8, 10, tz="America/New_York")) - ts(2025, 3, 8, 9, tz="America/New_York") == 23 * 3600


def test_a_digest_leads_with_the_best_next_step_and_lists_each_push():
    approval = N.Notification(kind="opportunity.approval-requested", title="Approval needed: Churn model",
                              opportunity_link=f"{BASE}/opportunities/O9")
    learn, ready = crossing_note(), crossing_note(fully=True)
    note = digest.render("E1", [learn, ready], ts(2025, 1, 15, 8), BASE)
    assert note.title == "Your ITM digest: 2 new notifications" and note.kind == "digest"
    assert note.body.split("\n") == [
        "Best next step: Apply for Data Analyst (R&D).",
        "- You're 82% qualified for Data Analyst (R&D) -- Take 'SQL for Analysts' (6 h) to reach 100% for Data Analyst (R&D)",
        "- You're fully qualified for Data Analyst (R&D) -- Apply for Data Analyst (R&D)",
    ]
    with_approval = digest.render("E1", [learn, approval], ts(2025, 1, 15, 8), BASE)
    assert with_approval.body.startswith("Best next step: Approve or refuse: Churn model.")
    assert with_approval.opportunity_link == f"{BASE}/opportunities/O9"
    assert digest.render("E1", [learn], 0, BASE).title == "Your ITM digest: 1 new notification"


# ---- email -------------------------------------------------------------------------------------

def test_an_email_has_both_parts_console_links_one_click_unsubscribe_and_a_stable_message_id():
    note = crossing_note()
    args = dict(to="ana@example.com", from_address="ITM <itm@corp.example>", base_url=BASE,
                unsubscribe_url="https://n.example/v1/unsubscribe/T", delivery_key="k1", now=ts(2025, 1, 15))
    msg = mail.build(note, **args)
    assert msg["Message-ID"] == "<k1@corp.example>" == mail.build(note, **{**args, "now": 0})["Message-ID"]
    assert msg["List-Unsubscribe"] == "<https://n.example/v1/unsubscribe/T>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain = msg.get_body(("plain",)).get_content()
    page = msg.get_body(("html",)).get_content()
    assert plain.startswith(note.body + "\n")
    assert f"See the opportunity: {BASE}/opportunities/O1" in plain and f"Course: SQL for Analysts: {BASE}/courses/c1" in plain
    assert "Data Analyst (R&amp;D)" in page and f'href="{BASE}/matches"' in page and "https://n.example/v1/unsubscribe/T" in page


def test_unsubscribe_tokens_name_the_person_and_channel_and_cannot_be_forged():
    token = mail.unsubscribe_token("s" * 32, "E1", "email")
    assert mail.read_unsubscribe_token("s" * 32, token) == ("E1", "email")
    assert mail.read_unsubscribe_token("t" * 32, token) is None
    body, _, sig = token.partition(".")
    other = mail.unsubscribe_token("s" * 32, "E2", "email").partition(".")[0]
    assert mail.read_unsubscribe_token("s" * 32, f"{other}.{sig}") is None
    assert mail.read_unsubscribe_token("s" * 32, "garbage") is None


# ---- chat ----------------------------------------------------------------------------------------

def test_slack_text_escapes_and_links_and_teams_is_an_adaptive_card():
    note = crossing_note()
    payload = chat.slack_payload(note, BASE)
    assert payload["text"] == note.body.replace("&", "&amp;") + f"\n<{BASE}/opportunities/O1|Open in ITM>"
    card = chat.teams_payload(note, BASE)["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["body"][1]["text"] == note.body  # Adaptive Cards need no escaping of &


# ---- ledger rules ----------------------------------------------------------------------------------

def test_backoff_doubles_with_jitter_up_to_the_cap():
    rng = random.Random(7)
    waits = [backoff_s(n, 2.0, 60.0, rng) for n in range(1, 8)]
    for n, w in enumerate(waits, start=1):
        raw = min(60.0, 2.0 * 2 ** (n - 1))
        assert 0.8 * raw <= w <= 1.2 * raw


def test_idempotency_keys_are_stable_per_notification_and_channel_and_opaque():
    nkey = notification_key("ev-1", "E1", "match.threshold-crossed")
    a, b = idempotency_key(delivery_id(nkey, "email")), idempotency_key(delivery_id(nkey, "slack"))
    assert a == idempotency_key(delivery_id(nkey, "email")) and a != b and "E1" not in a
