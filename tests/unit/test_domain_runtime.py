"""The shared domain helpers (itm/runtime/domain.py) and the topic registry's rules for them."""

from __future__ import annotations

import grpc
import pytest

from itm.runtime import domain, topics
from itm.v1 import events_pb2, profile_pb2


class Aborted(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code.name}: {message}")
        self.code, self.message = code, message


class FakeContext:
    async def abort(self, code, message):
        raise Aborted(code, message)


async def refused(coro) -> Aborted:
    with pytest.raises(Aborted) as info:
        await coro
    return info.value


def test_fingerprint_tells_requests_and_callers_apart_and_is_stable():
    a = profile_pb2.CreateEmployeeRequest(request_id="r1", employee_id="E1", name="Ana")
    same = profile_pb2.CreateEmployeeRequest(name="Ana", employee_id="E1", request_id="r1")
    other = profile_pb2.CreateEmployeeRequest(request_id="r1", employee_id="E1", name="Ana B")
    assert domain.fingerprint(a, "hr") == domain.fingerprint(same, "hr")
    assert domain.fingerprint(a, "hr") != domain.fingerprint(other, "hr")
    assert domain.fingerprint(a, "hr") != domain.fingerprint(a, "someone-else")


async def test_check_version_aborts_stale_writes_with_the_current_version():
    ctx = FakeContext()
    await domain.check_version(ctx, "employee", "E1", 3, 0)  # 0: no check
    await domain.check_version(ctx, "employee", "E1", 3, 3)
    err = await refused(domain.check_version(ctx, "employee", "E1", 3, 2))
    assert err.code == grpc.StatusCode.ABORTED and "version 3" in err.message and "expected 2" in err.message
    err = await refused(domain.check_version(ctx, "employee", "E1", 3, -1))
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("value,ok", [("E100", True), ("a.b_c@d-e", True), ("", False), ("E 1", False),
                                      ("-x", False), ("x" * 65, False), ("é", False)])
async def test_ids_are_validated(value, ok):
    if ok:
        assert await domain.check_id(FakeContext(), value, "employee_id") == value
    else:
        assert (await refused(domain.check_id(FakeContext(), value, "employee_id"))).code == grpc.StatusCode.INVALID_ARGUMENT


async def test_paging_arguments():
    ctx = FakeContext()
    assert await domain.page_size_of(ctx, 0) == domain.DEFAULT_PAGE
    assert await domain.page_size_of(ctx, 10_000) == domain.MAX_PAGE
    assert (await refused(domain.page_size_of(ctx, -1))).code == grpc.StatusCode.INVALID_ARGUMENT
    assert await domain.offset_token(ctx, "") == 0 and await domain.offset_token(ctx, "40") == 40
    assert "page_token" in (await refused(domain.offset_token(ctx, "-3"))).message


async def test_unknown_skills_get_suggestions_and_aliases_normalise():
    ctx = FakeContext()
    assert await domain.canonical_skill(ctx, "Python 3") == "python"
    err = await refused(domain.canonical_skill(ctx, "pyhton", "requirements[2].skill"))
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT and err.message.startswith("requirements[2].skill")
    assert "python" in err.message
    assert "required" in (await refused(domain.canonical_skill(ctx, "  "))).message


async def test_future_evidence_dates_are_refused():
    ts = domain.now_ts()
    await domain.check_past(FakeContext(), ts, "evidence_at")
    ts.seconds += 3600
    assert "future" in (await refused(domain.check_past(FakeContext(), ts, "evidence_at"))).message


def test_every_profile_topic_carries_the_snapshot_the_matcher_applies():
    for name in topics.PROFILE_TOPICS:
        payload = topics.TOPICS[name].payload
        assert payload is events_pb2.EmployeeErased or "profile" in payload.DESCRIPTOR.fields_by_name, name
        assert topics.TOPICS[name].partitions == topics.EMPLOYEE_PARTITIONS
    for name in ("profile.skill-endorsed", "profile.visibility-changed"):
        assert name in topics.PROFILE_TOPICS


def test_the_matcher_gets_opportunity_snapshots_and_not_application_events():
    assert set(topics.OPPORTUNITY_TOPICS) == {"opportunity.gig-posted", "opportunity.requirements-changed",
                                               "opportunity.gig-closed", "opportunity.approval-requested"}
    for name in topics.APPLICATION_TOPICS:
        t = topics.TOPICS[name]
        assert t.key == "application_id" and t.writer == "opportunity" and name not in topics.OPPORTUNITY_TOPICS
    assert {"opportunity.application-submitted", "opportunity.application-accepted", "opportunity.time-release-approved",
            "opportunity.feedback-given"} <= set(topics.APPLICATION_TOPICS)
    assert topics.TOPICS["learning.course-enrolled"].partitions == topics.EMPLOYEE_PARTITIONS
