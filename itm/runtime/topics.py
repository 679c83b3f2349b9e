"""The topic registry: every topic, its single writer, key, payload and partitions.

Topics are facts, past tense. All are created up front (``ensure_topics``).
Employee-keyed topics share one partition count so the matcher can join them
partition by partition (co-partitioning).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from google.protobuf.message import Message

from itm.v1 import envelope_pb2, events_pb2

log = logging.getLogger(__name__)

EMPLOYEE_PARTITIONS = 4
OPPORTUNITY_PARTITIONS = 2
CATALOG_PARTITIONS = 1


@dataclass(frozen=True)
class Topic:
    name: str
    writer: str
    key: str  # what the record key is
    payload: type[Message] | None  # None: carries envelopes of other topics unchanged
    partitions: int
    compacted: bool = False
    # the version of this topic's payload contract, in every envelope's schema_version;
    # moves only as docs/architecture.md ("How a topic's schema moves") says
    schema_version: int = 1

    @property
    def internal(self) -> bool:
        """An implementation detail of its writer, not a contract: nobody else reads it."""
        return self.name in INTERNAL_TOPICS


def _t(name, writer, key, payload, partitions):
    return Topic(name, writer, key, payload, partitions)


TOPICS: dict[str, Topic] = {
    t.name: t
    for t in [
        _t("profile.employee-registered", "profile", "employee_id", events_pb2.EmployeeRegistered, EMPLOYEE_PARTITIONS),
        _t("profile.employee-updated", "profile", "employee_id", events_pb2.EmployeeUpdated, EMPLOYEE_PARTITIONS),
        _t("profile.skill-added", "profile", "employee_id", events_pb2.SkillAdded, EMPLOYEE_PARTITIONS),
        _t("profile.skill-removed", "profile", "employee_id", events_pb2.SkillRemoved, EMPLOYEE_PARTITIONS),
        _t("profile.skill-verified", "profile", "employee_id", events_pb2.SkillVerified, EMPLOYEE_PARTITIONS),
        _t("profile.preferences-changed", "profile", "employee_id", events_pb2.PreferencesChanged, EMPLOYEE_PARTITIONS),
        _t("profile.employee-erased", "profile", "employee_id", events_pb2.EmployeeErased, EMPLOYEE_PARTITIONS),
        _t("profile.skill-endorsed", "profile", "employee_id", events_pb2.SkillEndorsed, EMPLOYEE_PARTITIONS),
        _t("profile.visibility-changed", "profile", "employee_id", events_pb2.VisibilityChanged, EMPLOYEE_PARTITIONS),
        _t("profile.employee-deactivated", "profile", "employee_id", events_pb2.EmployeeDeactivated, EMPLOYEE_PARTITIONS),
        _t("profile.employee-reactivated", "profile", "employee_id", events_pb2.EmployeeReactivated, EMPLOYEE_PARTITIONS),
        _t("profile.employee-moved", "profile", "employee_id", events_pb2.EmployeeMoved, EMPLOYEE_PARTITIONS),
        _t("opportunity.gig-posted", "opportunity", "opportunity_id", events_pb2.GigPosted, OPPORTUNITY_PARTITIONS),
        _t("opportunity.requirements-changed", "opportunity", "opportunity_id", events_pb2.RequirementsChanged, OPPORTUNITY_PARTITIONS),
        _t("opportunity.gig-closed", "opportunity", "opportunity_id", events_pb2.GigClosed, OPPORTUNITY_PARTITIONS),
        _t("opportunity.approval-requested", "opportunity", "opportunity_id", events_pb2.ApprovalRequested, OPPORTUNITY_PARTITIONS),
        # applications are entities of their own ("<opportunity_id>:<employee_id>"), keyed by that id
        _t("opportunity.application-submitted", "opportunity", "application_id", events_pb2.ApplicationSubmitted, OPPORTUNITY_PARTITIONS),
        _t("opportunity.application-withdrawn", "opportunity", "application_id", events_pb2.ApplicationWithdrawn, OPPORTUNITY_PARTITIONS),
        _t("opportunity.application-shortlisted", "opportunity", "application_id", events_pb2.ApplicationShortlisted, OPPORTUNITY_PARTITIONS),
        _t("opportunity.application-accepted", "opportunity", "application_id", events_pb2.ApplicationAccepted, OPPORTUNITY_PARTITIONS),
        _t("opportunity.application-declined", "opportunity", "application_id", events_pb2.ApplicationDeclined, OPPORTUNITY_PARTITIONS),
        _t("opportunity.time-release-approved", "opportunity", "application_id", events_pb2.TimeReleaseApproved, OPPORTUNITY_PARTITIONS),
        _t("opportunity.time-release-refused", "opportunity", "application_id", events_pb2.TimeReleaseRefused, OPPORTUNITY_PARTITIONS),
        _t("opportunity.feedback-given", "opportunity", "application_id", events_pb2.FeedbackGiven, OPPORTUNITY_PARTITIONS),
        _t("learning.course-published", "learning", "course_id", events_pb2.CoursePublished, CATALOG_PARTITIONS),
        _t("learning.course-completed", "learning", "employee_id", events_pb2.CourseCompleted, EMPLOYEE_PARTITIONS),
        _t("learning.course-enrolled", "learning", "employee_id", events_pb2.CourseEnrolled, EMPLOYEE_PARTITIONS),
        _t("match.threshold-crossed", "matcher", "employee_id", events_pb2.ThresholdCrossed, EMPLOYEE_PARTITIONS),
        # deprecated: one record per changed pair, written while ITM_MATCHER_LEGACY_MATCH_UPDATED is on
        _t("match.updated", "matcher", "employee_id", events_pb2.MatchUpdated, EMPLOYEE_PARTITIONS),
        # one record per triggering event and employee, listing the changed pairs (issue 12 item 3)
        Topic("match.updated.v2", "matcher", "employee_id", events_pb2.MatchesUpdated, EMPLOYEE_PARTITIONS,
              schema_version=2),
        _t("itm.dead-letter", "any consumer", "original key", envelope_pb2.DeadLetter, 1),
        # internal to the matcher: every opportunity event copied to every partition,
        # so each partition's task rescores its own employees (see docs/architecture.md)
        _t("matcher.opportunity-broadcast", "matcher", "opportunity_id", None, EMPLOYEE_PARTITIONS),
    ]
}

DEAD_LETTER = "itm.dead-letter"

# Internal topics: the matcher's own plumbing, whose format may change in any release.
# The two faust topics are created by faust (compacted changelog), not by ensure_topics,
# and carry faust's records, not envelopes; their names follow the matcher's app id.
INTERNAL_TOPICS: dict[str, str] = {
    "matcher.opportunity-broadcast": "every opportunity event copied to every partition, so each matcher "
                                     "task rescores its own employees",
    "itm-matcher-employees-changelog": "faust's changelog of the matcher's employees table (compacted)",
    "itm-matcher-__assignor-__leader": "faust's leader election for the matcher's consumer group",
}


def _carries(t: Topic, field: str) -> bool:
    return t.payload is not None and field in t.payload.DESCRIPTOR.fields_by_name


# What the matcher consumes. Every profile.* payload carries the employee's match
# snapshot in `profile` (except the erasure, which the matcher handles by type);
# OPPORTUNITY_TOPICS are the opportunity.* topics whose payload carries the
# opportunity's snapshot in `opportunity`. Application events (keyed by
# application id) are not the matcher's business.
PROFILE_TOPICS = [n for n in TOPICS if n.startswith("profile.")]
OPPORTUNITY_TOPICS = [n for n, t in TOPICS.items() if n.startswith("opportunity.") and _carries(t, "opportunity")]
APPLICATION_TOPICS = [n for n, t in TOPICS.items() if n.startswith("opportunity.") and _carries(t, "application")]

_PAYLOAD_BY_FULL_NAME = {t.payload.DESCRIPTOR.full_name: t.payload for t in TOPICS.values() if t.payload}


def topic(name: str) -> Topic:
    try:
        return TOPICS[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in the topic registry (itm/runtime/topics.py)") from None


def payload_class(full_name: str) -> type[Message] | None:
    return _PAYLOAD_BY_FULL_NAME.get(full_name)


async def ensure_topics(bootstrap: str, prefix: str = "", names: list[str] | None = None, timeout_s: float = 30,
                        replication_factor: int = 1) -> list[str]:
    """Create the registry's topics (with their partition counts) if missing.

    Returns the full names created. Safe to call from every process at start-up.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    wanted = [TOPICS[n] for n in (names or TOPICS)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(name=f"{prefix}{t.name}", num_partitions=t.partitions, replication_factor=replication_factor)
            for t in wanted
            if f"{prefix}{t.name}" not in existing
        ]
        if new:
            try:
                await admin.create_topics(new)
            except Exception as exc:  # another process may have created them meanwhile
                if "TopicAlreadyExists" not in type(exc).__name__ and "already exists" not in str(exc).lower():
                    raise
            # wait until metadata shows them, so producers never auto-create with defaults
            deadline = asyncio.get_running_loop().time() + timeout_s
            while True:
                existing = set(await admin.list_topics())
                if all(t.name in existing for t in new):
                    break
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"topics not visible after {timeout_s}s: {[t.name for t in new]}")
                await asyncio.sleep(0.1)
            log.info("created topics", extra={"topics": [t.name for t in new]})
        return [t.name for t in new]
    finally:
        await admin.close()
