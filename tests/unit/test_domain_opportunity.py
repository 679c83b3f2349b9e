"""Opportunity and learning rules that need no server: replay mapping, catalog content."""

from __future__ import annotations

from itm.v1 import common_pb2, events_pb2, opportunity_pb2
from services.learning.server import _content
from services.opportunity.server import replay_envelope

St = common_pb2.OpportunityStatus


def test_replay_re_emits_each_opportunity_as_the_event_that_leads_to_its_state():
    base = dict(opportunity_id="opp-1", title="T", owner_id="O1", version=4)
    cases = [
        (St.OPPORTUNITY_STATUS_OPEN, "opportunity.gig-posted", events_pb2.GigPosted),
        (St.OPPORTUNITY_STATUS_PENDING_APPROVAL, "opportunity.approval-requested", events_pb2.ApprovalRequested),
        (St.OPPORTUNITY_STATUS_CLOSED, "opportunity.gig-closed", events_pb2.GigClosed),
        (St.OPPORTUNITY_STATUS_FILLED, "opportunity.gig-closed", events_pb2.GigClosed),
    ]
    for status, topic, cls in cases:
        opp = opportunity_pb2.Opportunity(status=status, approver_id="M1", outcome="filled",
                                          assigned_employee_ids=["E1"], **base)
        env = replay_envelope(opp)
        payload = cls()
        assert env.event_type == topic and env.entity_version == 4 and env.subject == "opp-1"
        assert env.payload.Unpack(payload) and payload.opportunity.status == status


def test_a_course_republished_with_the_same_content_is_the_same_course():
    a = common_pb2.Course(course_id="c1", title="SQL", hours=4, teaches=[common_pb2.CourseSkill(skill_id="sql", level=2)],
                          version=1)
    b = common_pb2.Course()
    b.CopyFrom(a)
    b.version = 7
    assert _content(a) == _content(b)
    b.hours = 5
    assert _content(a) != _content(b)


async def test_an_unreachable_profile_service_is_unavailable_with_a_retry_hint():
    import grpc
    import pytest

    from itm.devstack import free_port
    from itm.runtime.settings import Settings
    from services.opportunity.server import ProfileDirectory

    class Aborted(Exception):
        pass

    class Ctx:
        async def abort(self, code, message):
            raise Aborted(code, message)

    directory = ProfileDirectory(Settings(profile_target=f"127.0.0.1:{free_port()}", service="opportunity"))
    try:
        with pytest.raises(Aborted) as info:
            await directory.employee(Ctx(), "E1", "owner")
    finally:
        await directory.close()
    code, message = info.value.args
    assert code == grpc.StatusCode.UNAVAILABLE and "profile service" in message and "retry" in message
