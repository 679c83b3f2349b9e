"""Scores from the matcher (``MatcherService.ScoreOpportunities``), asked as a service.

Used for the caller's match percent in search and for the applicant's score an
owner sees on applications. The matcher is not needed for the opportunity
service to work: when it does not answer (UNAVAILABLE, UNIMPLEMENTED, a
deadline, or NOT_FOUND: no state for the employee yet) the answer is None and
the caller shows no score.
"""

from __future__ import annotations

import logging

import grpc

from itm.runtime.auth import bearer, mint_token
from itm.v1 import matcher_pb2, matcher_pb2_grpc

log = logging.getLogger(__name__)

MAX_IDS = 1000  # ScoreOpportunities takes at most this many ids
TIMEOUT_S = 3.0
DEGRADE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.DEADLINE_EXCEEDED,
           grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED)


class MatcherScores:
    def __init__(self, settings):
        self.settings = settings
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> matcher_pb2_grpc.MatcherServiceStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.settings.matcher_target)
        return matcher_pb2_grpc.MatcherServiceStub(self._channel)

    async def score(self, employee_id: str, opportunity_ids: list[str] | None,
                    explain: bool = False) -> dict[str, matcher_pb2.Match] | None:
        """opportunity id -> the employee's Match, for the listed ids (None or more than
        MAX_IDS: every open opportunity); None when the matcher could not answer. The
        employee's own opportunities are never in the answer."""
        ids = list(opportunity_ids or [])
        if len(ids) > MAX_IDS:
            ids = []
        if explain and not ids:
            raise ValueError("explanations need listed opportunity ids")
        token = mint_token(self.settings, self.settings.service, "service", ttl_s=300)
        try:
            answer = await self._stub().ScoreOpportunities(
                matcher_pb2.ScoreOpportunitiesRequest(employee_id=employee_id, opportunity_ids=ids, explain=explain),
                metadata=bearer(token), timeout=TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in DEGRADE:
                log.warning("matcher refused ScoreOpportunities", extra={"code": exc.code().name,
                                                                          "details": exc.details()})
            return None
        return {m.opportunity_id: m for m in answer.matches}

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
