"""The webhooks service's pure rules: subscriptions, the CloudEvents mapping, signatures, retries."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest
from google.protobuf import json_format
from standardwebhooks.webhooks import Webhook

from itm.runtime.envelope import new_envelope
from itm.runtime.topics import INTERNAL_TOPICS, TOPICS
from itm.v1 import common_pb2, events_pb2
from services.webhooks import cloudevents, delivery, signing
from services.webhooks import subscriptions as rules


def _event():
    payload = events_pb2.SkillVerified(profile=common_pb2.EmployeeMatchProfile(employee_id="E1"),
                                       skill=common_pb2.EmployeeSkill(skill_id="sql", level=3))
    return new_envelope("profile.skill-verified", "profile", "E1", 7, payload, correlation_id="c-1"), payload


# -- subscriptions -----------------------------------------------------------------------------

def test_webhook_topics_are_the_public_ones_without_the_dead_letters():
    assert "profile.skill-verified" in rules.WEBHOOK_TOPICS
    assert not set(rules.WEBHOOK_TOPICS) & set(INTERNAL_TOPICS)
    assert "itm.dead-letter" not in rules.WEBHOOK_TOPICS
    assert set(rules.WEBHOOK_TOPICS) == {n for n, t in TOPICS.items() if not t.internal} - {"itm.dead-letter"}


def test_a_generated_secret_is_a_valid_standard_webhooks_secret():
    secret = rules.generate_secret()
    assert secret.startswith("whsec_") and rules.check_secret(secret) is None
    assert len(rules.secret_key(secret)) == rules.GENERATED_SECRET_BYTES
    assert rules.secret_hint(secret) == secret[:10] + "…"


@pytest.mark.parametrize("secret, says", [
    ("no-prefix", "must start with 'whsec_'"),
    ("whsec_***", "not base64"),
    ("whsec_c2hvcnQ=", "24-64 bytes, got 5"),
])
def test_bad_secrets_are_named(secret, says):
    assert says in rules.check_secret(secret)


@pytest.mark.parametrize("url, production, says", [
    ("", False, "url is required"),
    ("ftp://x.example/hook", False, "url must be http:// or https://"),
    ("http://x.example/hook", True, "url must be https:// in production"),
    ("https://u:p@x.example/hook", False, "user name or password"),
    ("https://x.example/hook#frag", False, "#fragment"),
    ("https:///hook", False, "no host"),
    ("https://x.example:99999/hook", False, "not a valid URL"),
    ("https://x.example/a b", False, "spaces"),
])
def test_bad_urls_are_named(url, production, says):
    assert says in rules.check_url(url, production)


def test_good_urls_pass():
    assert rules.check_url("https://hooks.example.com:8443/itm?x=1", True) is None
    assert rules.check_url("http://127.0.0.1:18080/hooks", False) is None


def test_topic_problems_name_the_item():
    assert rules.check_topics([]).startswith("topics:")
    assert rules.check_topics(["profile.skill-verified", "matcher.opportunity-broadcast"]) == (
        "topics[1]: 'matcher.opportunity-broadcast' is internal; public topics are listed in docs/events/topics.md")
    assert "is not a topic" in rules.check_topics(["nope"])
    assert "listed twice" in rules.check_topics(["profile.skill-verified", "profile.skill-verified"])
    assert "dead-letter" in rules.check_topics(["itm.dead-letter"])


def test_check_subscription_reports_the_first_problem_by_field():
    ok = dict(topics=["profile.skill-verified"], url="https://x.example/h", secret="", description="",
              max_attempts=0, production=True)
    assert rules.check_subscription(**ok) is None
    assert rules.check_subscription(**{**ok, "max_attempts": 101}).startswith("max_attempts")
    assert rules.check_subscription(**{**ok, "max_attempts": -1}).startswith("max_attempts")
    assert rules.check_subscription(**{**ok, "description": "x" * 501}).startswith("description")
    assert rules.check_subscription(**{**ok, "secret": "bad"}).startswith("secret")


# -- CloudEvents -------------------------------------------------------------------------------

def test_an_event_maps_to_a_cloudevent_with_the_documented_json_data():
    env, payload = _event()
    ce = cloudevents.to_cloudevent(env, payload)
    assert ce["specversion"] == "1.0" and ce["id"] == env.event_id
    assert (ce["source"], ce["type"], ce["subject"]) == ("/itm/profile", "profile.skill-verified", "E1")
    assert ce["time"] == env.occurred_at.ToJsonString() and ce["time"].endswith("Z")
    assert ce["datacontenttype"] == "application/json"
    assert ce["dataschema"] == "urn:itm:proto:itm.v1.SkillVerified"
    assert ce["data"] == json_format.MessageToDict(payload, preserving_proto_field_name=True)
    assert ce["data"]["skill"] == {"skill_id": "sql", "level": 3}
    assert (ce["itmentityversion"], ce["itmschemaversion"], ce["itmcorrelationid"]) == (7, 1, "c-1")
    assert "itmcausationid" not in ce and "itmreplayed" not in ce
    for name in ce:  # CloudEvents attribute names: lower-case letters and digits, at most 20
        assert name.isalnum() and name.islower() and len(name) <= 20, name
    assert json.loads(cloudevents.body(env, payload)) == ce


def test_replayed_and_caused_events_say_so():
    payload = events_pb2.SkillVerified(profile=common_pb2.EmployeeMatchProfile(employee_id="E1"),
                                       skill=common_pb2.EmployeeSkill(skill_id="sql", level=3))
    env = new_envelope("profile.skill-verified", "profile", "E1", 1, payload, causation_id="ev-0", replayed=True)
    ce = cloudevents.to_cloudevent(env, payload)
    assert ce["itmcausationid"] == "ev-0" and ce["itmreplayed"] is True


# -- signatures --------------------------------------------------------------------------------

def test_signatures_verify_with_the_standard_webhooks_reference_library():
    secret = rules.generate_secret()
    body = b'{"id":"ev-1","data":{"x":"\xc3\xa9"}}'
    now = int(datetime.now(UTC).timestamp())
    headers = signing.headers(rules.secret_key(secret), "ev-1", now, body)
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    assert signing.verify(rules.secret_key(secret), headers, body, now) == "ev-1"
    # and ours agrees with the reference's signer
    stamp = datetime.fromtimestamp(now, UTC)
    assert Webhook(secret).sign("ev-1", stamp, body.decode()) == headers["webhook-signature"]


def test_a_tampered_body_a_wrong_secret_or_an_old_timestamp_fail():
    key = rules.secret_key(rules.generate_secret())
    h = signing.headers(key, "ev-1", 1_000_000, b"{}")
    with pytest.raises(signing.SignatureError, match="no matching"):
        signing.verify(key, h, b"{ }", 1_000_000)
    with pytest.raises(signing.SignatureError, match="no matching"):
        signing.verify(rules.secret_key(rules.generate_secret()), h, b"{}", 1_000_000)
    with pytest.raises(signing.SignatureError, match="too far"):
        signing.verify(key, h, b"{}", 1_000_000 + 301)
    with pytest.raises(signing.SignatureError, match="missing"):
        signing.verify(key, {"webhook-id": "ev-1"}, b"{}", 1_000_000)


# -- retries -----------------------------------------------------------------------------------

def test_backoff_doubles_up_to_the_cap():
    assert [delivery.backoff_s(n, 1.0, 600) for n in (1, 2, 3, 4, 10, 11, 50)] == [1, 2, 4, 8, 512, 600, 600]
    rng = random.Random(1)
    for n in range(1, 20):
        wait = delivery.backoff_s(n, 1.0, 600, jitter=0.1, rng=rng)
        assert 0.9 * delivery.backoff_s(n, 1.0, 600) <= wait <= delivery.backoff_s(n, 1.0, 600)


def test_only_2xx_is_delivered_and_the_last_attempt_dead_letters():
    assert delivery.after_attempt(204, 1, 3, 1, 10) == delivery.Outcome(True)
    assert delivery.after_attempt(301, 1, 3, 1, 10) == delivery.Outcome(False, retry_in_s=1)
    assert delivery.after_attempt(0, 2, 3, 1, 10) == delivery.Outcome(False, retry_in_s=2)
    assert delivery.after_attempt(500, 3, 3, 1, 10) == delivery.Outcome(False, dead=True)
    assert delivery.after_attempt(200, 3, 3, 1, 10).delivered
    assert delivery.describe(503) == "HTTP 503" and delivery.describe(0, "cannot connect") == "cannot connect"
    assert delivery.describe(0) == "no answer"


def test_while_a_secret_rotates_both_secrets_verify():
    old, new = rules.generate_secret(), rules.generate_secret()
    now = int(datetime.now(UTC).timestamp())
    body = b'{"id":"ev-2"}'
    headers = signing.headers(rules.secret_key(new), "ev-2", now, body, rules.secret_key(old))
    first, second = headers["webhook-signature"].split(" ")
    assert first == signing.signature(rules.secret_key(new), "ev-2", now, body)
    assert second == signing.signature(rules.secret_key(old), "ev-2", now, body)
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"id": "ev-2"}
        assert signing.verify(rules.secret_key(secret), headers, body, now) == "ev-2"
    with pytest.raises(signing.SignatureError):
        signing.verify(rules.secret_key(rules.generate_secret()), headers, body, now)


def test_rotation_rules():
    assert rules.check_rotation("", 0) is None and rules.check_rotation(rules.generate_secret(), 3600) is None
    assert rules.check_rotation("", rules.MAX_PREVIOUS_VALID_S + 1).startswith("previous_valid_s")
    assert rules.check_rotation("", -1).startswith("previous_valid_s")
    assert rules.check_rotation("nope", 0).startswith("secret")
