"""The opportunity service's Redis layout: key names and what storing an
opportunity writes (no I/O of its own: it queues commands on a pipeline).

Shared by the servicer and by tools and tests that lay out many opportunities
at once exactly as the service does (``bench/search_bench.py``, the search test
at 10,000 postings).
"""

from __future__ import annotations

from itm.v1 import common_pb2

Status = common_pb2.OpportunityStatus
ENDED = (Status.OPPORTUNITY_STATUS_CLOSED, Status.OPPORTUNITY_STATUS_FILLED)


def status_name(enum, value) -> str:
    """OPPORTUNITY_STATUS_OPEN -> OPEN (any *_STATUS_* enum)."""
    return enum.Name(value).split("_STATUS_")[-1]


class OpportunityKeys:
    def __init__(self, settings):
        self.key_settings = settings

    def _k(self, name: str) -> str:
        return self.key_settings.key(name)

    def opportunity_key(self, opp_id: str) -> str:
        return self._k(f"opportunity:{opp_id}")  # = EntityStore("opportunity").key

    def status_index(self, status: int) -> str:
        return self._k(f"opportunity:status:{status_name(common_pb2.OpportunityStatus, status)}")

    def pending_index(self, approver_id: str) -> str:
        return self._k(f"opportunity:pending-approval:{approver_id}")

    def by_owner(self, owner_id: str) -> str:
        """An owner's opportunities in every state, newest first (lexical: ``owner_member``)."""
        return self._k(f"opportunity:by-owner:{owner_id}")

    def seats_key(self, opp_id: str) -> str:
        return self._k(f"opportunity:{opp_id}:seated")

    def by_opportunity(self, opp_id: str) -> str:
        return self._k(f"application:by-opportunity:{opp_id}")

    def by_employee(self, employee_id: str) -> str:
        return self._k(f"application:by-employee:{employee_id}")

    def release_index(self, approver_id: str) -> str:
        return self._k(f"application:pending-release:{approver_id}")

    @property
    def search_log(self) -> str:
        """Ids of changed opportunities, for every process's search index (search_store.py)."""
        return self._k("opportunity:search-log")

    def ledger_key(self, employee_id: str) -> str:
        return self._k(f"gig-hours:{employee_id}")

    @property
    def expiry_index(self) -> str:
        """Open or pending opportunities with a deadline, scored by ``apply_by`` (epoch seconds)."""
        return self._k("opportunity:expiry")

    def store(self, pipe, opp, old_status: int = 0) -> None:
        """Queue (inside MULTI) the opportunity, its status, approval, deadline and owner
        indexes and its search-log entry."""
        from services.opportunity.search_store import LiveSearch

        pipe.set(self.opportunity_key(opp.opportunity_id), opp.SerializeToString())
        pipe.zadd(self._k("opportunity:index"), {opp.opportunity_id: 0})  # = EntityStore.store
        if old_status and old_status != opp.status:
            pipe.zrem(self.status_index(old_status), opp.opportunity_id)
        pipe.zadd(self.status_index(opp.status), {opp.opportunity_id: 0})
        if opp.status == Status.OPPORTUNITY_STATUS_PENDING_APPROVAL:
            pipe.zadd(self.pending_index(opp.approver_id or "-"), {opp.opportunity_id: 0})
        elif old_status == Status.OPPORTUNITY_STATUS_PENDING_APPROVAL:
            pipe.zrem(self.pending_index(opp.approver_id or "-"), opp.opportunity_id)
        if opp.HasField("apply_by") and opp.status not in ENDED:
            pipe.zadd(self.expiry_index, {opp.opportunity_id: opp.apply_by.seconds})
        else:
            pipe.zrem(self.expiry_index, opp.opportunity_id)
        pipe.zadd(self.by_owner(opp.owner_id), {owner_member(opp): 0})
        LiveSearch.record(pipe, self.search_log, opp.opportunity_id)


NEWEST_FIRST = 10**10  # seconds: an inverted creation time sorts newest first until the year 2286


def owner_member(opp) -> str:
    """The opportunity's member in its owner's index: newest first, then by id."""
    at = opp.created_at
    return f"{NEWEST_FIRST - at.seconds:011d}.{999_999_999 - at.nanos:09d}:{opp.opportunity_id}"


def member_id(member: bytes | str) -> str:
    return (member.decode() if isinstance(member, bytes) else member).partition(":")[2]
