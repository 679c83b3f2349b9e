"""Issue 15 item 1, the matcher: its faust agents dead-letter envelope, payload and
semantic poison with the reason and go on; the good records behind the poison still
cross. A real matcher process over the real broker; the records are produced raw.
"""

from __future__ import annotations

import pytest

from itm.devstack import grpc_health
from itm.runtime.settings import Settings
from itm.v1 import common_pb2, events_pb2
from test_delivery import read_topic
from test_hardening_consumers import corrupt_payload, good, letters_of, produce

V = common_pb2.SKILL_STATUS_VERIFIED
OPEN = common_pb2.OPPORTUNITY_STATUS_OPEN
GIG = common_pb2.OPPORTUNITY_TYPE_GIG


def _employee(emp_id: str, level: int = 3, threshold: int = 80) -> events_pb2.EmployeeRegistered:
    return events_pb2.EmployeeRegistered(profile=common_pb2.EmployeeMatchProfile(
        employee_id=emp_id, threshold_percent=threshold,
        skills=[common_pb2.EmployeeSkill(skill_id="sql", level=level, status=V)]))


def _gig(opp_id: str, weight: float = 1.0, min_level: int = 3) -> events_pb2.GigPosted:
    return events_pb2.GigPosted(opportunity=common_pb2.OpportunityMatchProfile(
        opportunity_id=opp_id, title="Gig", type=GIG, status=OPEN, owner_id="someone-else",
        requirements=[common_pb2.Requirement(skill_id="sql", min_level=min_level, weight=weight)]))


@pytest.mark.timeout(180)
async def test_the_matcher_dead_letters_poison_with_the_reason_and_the_good_records_still_cross(
        start_service, topic_prefix, kafka_bootstrap):
    matcher = start_service("matcher", consumer_max_attempts=2, timeout=120)
    settings = Settings(topic_prefix=topic_prefix)
    reg, posted = "profile.employee-registered", "opportunity.gig-posted"
    await produce(kafka_bootstrap, settings, [
        # envelope poison, payload poison, semantic poison (the list)
        (reg, "M0", b"\xff\x00 not an envelope"),
        (reg, "M1", corrupt_payload(reg, "M1", _employee("M1"))),
        (reg, "M2", good(reg, "M2", _employee("M2", level=999))),
        (reg, "M3", good(reg, "M3", _employee("M3", threshold=1000))),
        (posted, "G1", good(posted, "G1", _gig("G1", weight=float("nan")))),
        (posted, "G2", good(posted, "G2", _gig("G2", weight=-1))),
        (posted, "G3", corrupt_payload(posted, "G3", _gig("G3"))),
        # the good ones behind them: M9 qualifies for G9 (100 % at 80)... below 100: 2 requirements
        (reg, "M9", good(reg, "M9", events_pb2.EmployeeRegistered(profile=common_pb2.EmployeeMatchProfile(
            employee_id="M9", threshold_percent=80,
            skills=[common_pb2.EmployeeSkill(skill_id="sql", level=3, status=V),
                    common_pb2.EmployeeSkill(skill_id="python", level=2, status=V)])))),
        (posted, "G9", good(posted, "G9", events_pb2.GigPosted(opportunity=common_pb2.OpportunityMatchProfile(
            opportunity_id="G9", title="Gig", type=GIG, status=OPEN, owner_id="someone-else",
            requirements=[common_pb2.Requirement(skill_id="sql", min_level=3, weight=4),
                          common_pb2.Requirement(skill_id="python", min_level=3, weight=1)])))),
    ])

    def matcher_letters(events):
        return [letter for letter in letters_of(events) if letter.consumer == "matcher"]

    events = await read_topic(settings, ["itm.dead-letter"], kafka_bootstrap,
                              lambda ev: len(matcher_letters(ev)) >= 7, timeout_s=90)
    letters = matcher_letters(events)
    by_key = {letter.original_key.decode(): letter.reason for letter in letters}
    assert sorted(by_key) == ["G1", "G2", "G3", "M0", "M1", "M2", "M3"], by_key
    assert len(letters) == 7, "each poison record is dead-lettered once (not once per broadcast copy)"
    assert "value is not an itm.v1.EventEnvelope" in by_key["M0"]
    assert "payload bytes do not decode as itm.v1.EmployeeRegistered" in by_key["M1"]
    assert "profile.skills[0].level must be between 1 and 5" in by_key["M2"]
    assert "profile.threshold_percent must be between 0 and 100" in by_key["M3"]
    assert "opportunity.requirements[0].weight must be a finite number" in by_key["G1"]
    assert "opportunity.requirements[0].weight must be greater than 0" in by_key["G2"]
    assert "payload bytes do not decode as itm.v1.GigPosted" in by_key["G3"]

    crossings = await read_topic(settings, ["match.threshold-crossed"], kafka_bootstrap,
                                 lambda ev: any(k == b"M9" for _, k, _ in ev), timeout_s=60)
    assert [k for _, k, _ in crossings] == [b"M9"]
    assert grpc_health(matcher.grpc_target) == (True, "SERVING")
    assert grpc_health(matcher.grpc_target, service="itm.consumers") == (True, "SERVING")
