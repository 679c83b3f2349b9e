"""Issue 15, without I/O: every decode and check step of a record, and the generic request limits."""

from __future__ import annotations

import math
import re

import pytest
from google.protobuf import any_pb2

from itm.runtime import validation
from itm.runtime.envelope import MalformedEvent, decode, new_envelope
from itm.runtime.settings import Settings
from itm.v1 import common_pb2, events_pb2, notifier_pb2, opportunity_pb2, profile_pb2


def _crossing(**fields) -> bytes:
    payload = events_pb2.ThresholdCrossed(employee_id="R1", opportunity_id="O1", score_percent=85,
                                          threshold_percent=80, **fields)
    return new_envelope("match.threshold-crossed", "matcher", "R1", 1, payload).SerializeToString()


def test_a_valid_record_decodes_with_its_topic():
    event = decode(_crossing(), "match.threshold-crossed")
    assert event.payload.employee_id == "R1"


def test_corrupt_payload_bytes_are_a_malformed_event_not_a_crash():
    """The issue's poison pill: a valid envelope whose Any has a known type_url and value ff ff ff ff."""
    env = new_envelope("match.threshold-crossed", "matcher", "R1", 1, events_pb2.ThresholdCrossed(employee_id="R1"))
    env.payload.CopyFrom(any_pb2.Any(type_url=env.payload.type_url, value=b"\xff\xff\xff\xff"))
    with pytest.raises(MalformedEvent, match="payload bytes do not decode as itm.v1.ThresholdCrossed"):
        decode(env.SerializeToString(), "match.threshold-crossed")
    with pytest.raises(MalformedEvent):  # also without the topic (the matcher's own readers)
        decode(env.SerializeToString())


def test_a_record_on_the_wrong_topic_or_with_the_wrong_payload_is_malformed():
    with pytest.raises(MalformedEvent, match="event_type 'match.threshold-crossed' on topic 'match.updated'"):
        decode(_crossing(), "match.updated")
    env = new_envelope("opportunity.gig-posted", "opportunity", "O1", 1, events_pb2.GigPosted())
    env.event_type = "match.threshold-crossed"
    with pytest.raises(MalformedEvent, match="carries itm.v1.ThresholdCrossed, not itm.v1.GigPosted"):
        decode(env.SerializeToString(), "match.threshold-crossed")


@pytest.mark.parametrize("payload,field", [
    (events_pb2.SkillAdded(skill=common_pb2.EmployeeSkill(skill_id="sql", level=999)), "skill.level"),
    (events_pb2.EmployeeRegistered(profile=common_pb2.EmployeeMatchProfile(employee_id="E1", threshold_percent=1000)),
     "profile.threshold_percent"),
    (events_pb2.CourseCompleted(employee_id="E1", skills=[common_pb2.CourseSkill(skill_id="sql", level=0),
                                                          common_pb2.CourseSkill(skill_id="sql", level=9)]),
     "skills[1].level"),
])
def test_semantic_poison_is_malformed_and_names_the_field(payload, field):
    topic = {events_pb2.SkillAdded: "profile.skill-added", events_pb2.EmployeeRegistered: "profile.employee-registered",
             events_pb2.CourseCompleted: "learning.course-completed"}[type(payload)]
    env = new_envelope(topic, "x", "E1", 1, payload)
    with pytest.raises(MalformedEvent, match=re.escape(field) + " must be between"):
        decode(env.SerializeToString(), topic)


@pytest.mark.parametrize("weight", [math.nan, -1.0, math.inf])
def test_requirement_weights_must_be_finite_and_positive(weight):
    opp = common_pb2.OpportunityMatchProfile(opportunity_id="O1", requirements=[
        common_pb2.Requirement(skill_id="sql", min_level=3, weight=1.0),
        common_pb2.Requirement(skill_id="python", min_level=3, weight=weight)])
    env = new_envelope("opportunity.gig-posted", "opportunity", "O1", 1, events_pb2.GigPosted(opportunity=opp))
    with pytest.raises(MalformedEvent, match=r"opportunity.requirements\[1\].weight must be"):
        decode(env.SerializeToString(), "opportunity.gig-posted")


def test_oversized_envelope_fields_are_malformed_without_echoing_them():
    env = new_envelope("match.threshold-crossed", "matcher", "R1", 1, events_pb2.ThresholdCrossed(employee_id="R1"))
    env.event_id = "x" * 100_000
    with pytest.raises(MalformedEvent) as info:
        decode(env.SerializeToString(), "match.threshold-crossed")
    assert "event_id is longer than 200" in str(info.value) and len(str(info.value)) < 300


# --------------------------------------------------------------------------- requests


@pytest.mark.parametrize("request_msg,message", [
    (profile_pb2.GetEmployeeRequest(employee_id="E" * 20_000), "employee_id is longer than 200 characters (20000)"),
    (profile_pb2.UpsertSkillRequest(employee_id="E1", skill="sql", level=3,
                                    evidence_at={"seconds": -(2**62)}), "evidence_at must lie between 1970"),
    (opportunity_pb2.PostOpportunityRequest(title="t", apply_by={"seconds": 2**40}), "apply_by must lie between"),
    (opportunity_pb2.PostOpportunityRequest(title="t", requirements=[
        opportunity_pb2.RequirementInput(skill="sql", weight=math.nan)]), "requirements[0].weight must be a finite"),
    (notifier_pb2.SetNotificationPreferencesRequest(employee_id="E1", preferences=notifier_pb2.NotificationPreferences(
        quiet_hours=notifier_pb2.QuietHours(timezone="Europe/" + "x" * 300))),
     "preferences.quiet_hours.timezone is longer than 64"),
    (notifier_pb2.MarkReadRequest(employee_id="E1", notification_ids=["1-0"] * 1001), "notification_ids has more than"),
    (profile_pb2.UpsertSkillRequest(employee_id="E1", skill="sql", level=3, status=99), "status has no value 99"),
    (profile_pb2.GetEmployeeRequest(employee_id="E1\x00"), "employee_id must not contain control characters"),
    (profile_pb2.UpdateEmployeeRequest(employee_id="E1", expected_version=-3), "expected_version must be >= 0"),
])
def test_generic_request_limits_name_the_field(request_msg, message):
    problem = validation.problem(request_msg)
    assert problem is not None and problem.startswith(message.split(" ")[0]) and message in problem
    assert "x" * 100 not in problem and "E" * 100 not in problem  # never echoed


def test_ordinary_requests_pass_and_unset_fields_are_not_checked():
    assert validation.problem(profile_pb2.UpsertSkillRequest(employee_id="E1", skill="sql", level=3)) is None
    assert validation.problem(profile_pb2.ImportEmployeesRequest(csv="employee_id,name\n" + "E1,Ana\n" * 50_000)) is None
    assert validation.problem(opportunity_pb2.PostOpportunityRequest(title="t", description="d" * 5000)) is None


# --------------------------------------------------------------------------- consumer progress


def test_a_record_held_past_the_stall_limit_is_reported_until_the_consumer_gets_past_it(monkeypatch):
    from aiokafka import TopicPartition

    from itm.runtime import consumer as consumer_mod

    now = [1000.0]
    monkeypatch.setattr(consumer_mod.time, "monotonic", lambda: now[0])
    c = consumer_mod.IdempotentConsumer(Settings(consumer_stall_s=30), None, "c", ["match.updated"], None)
    tp = TopicPartition("match.updated", 2)
    c._holding(tp, 41)
    now[0] += 31
    assert c.stalled() == {tp: (41, 31.0)}
    c._holding(tp, 41)  # the same record again (the loop restarted on it): still as old
    assert c.stalled() == {tp: (41, 31.0)}
    c._holding(tp, 42)  # got past it
    assert c.stalled() == {}


def _records(keys: list[str]):
    from aiokafka import ConsumerRecord

    return [ConsumerRecord("t", 0, offset, 0, 0, key.encode(), b"", None, 0, 0, []) for offset, key in enumerate(keys)]


@pytest.mark.parametrize("concurrency", [1, 8])
def test_a_batch_keeps_each_keys_order_and_with_key_concurrency_handles_keys_at_once(concurrency):
    import asyncio

    from aiokafka import TopicPartition

    from itm.runtime import consumer as consumer_mod

    c = consumer_mod.IdempotentConsumer(Settings(), None, "c", ["t"], None, key_concurrency=concurrency)
    records = _records(["A", "B", "A", "C", "B", "A", "D"])
    handled: list[tuple[str, int]] = []
    in_flight, most = [0], [0]

    async def handle_record(record):
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        await asyncio.sleep(0.01)
        in_flight[0] -= 1
        handled.append((record.key.decode(), record.offset))
        return None if record.offset == 3 else f"event {record.offset}"  # offset 3: a duplicate

    c.handle_record = handle_record
    tp = TopicPartition("t", 0)
    applied = asyncio.run(c.handle_batch(tp, records))
    assert applied == [f"event {o}" for o in (0, 1, 2, 4, 5, 6)]  # in offset order, whatever finished first
    for key in "ABCD":
        offsets = [o for k, o in handled if k == key]
        assert offsets == sorted(offsets) and offsets, key
    assert sorted(o for _, o in handled) == list(range(7))
    assert (most[0] > 1) == (concurrency > 1)  # keys at once only when asked
    assert c.stalled(now=10**9) == {}  # nothing left in hand


def test_a_failing_record_cancels_the_rest_of_a_concurrent_batch_and_stays_in_hand():
    import asyncio

    from aiokafka import TopicPartition

    from itm.runtime import consumer as consumer_mod

    c = consumer_mod.IdempotentConsumer(Settings(consumer_stall_s=30), None, "c", ["t"], None, key_concurrency=4)
    finished = []

    async def handle_record(record):
        if record.offset == 0:
            raise RuntimeError("a bug")
        await asyncio.sleep(0.5)
        finished.append(record.offset)

    c.handle_record = handle_record
    tp = TopicPartition("t", 0)
    with pytest.raises(ExceptionGroup):
        asyncio.run(c.handle_batch(tp, _records(["A", "B", "C"])))
    assert finished == []  # cancelled, not left running beside the restarted loop
    assert c.stalled(now=10**9) == {tp: (0, pytest.approx(10**9, rel=0.01))}
