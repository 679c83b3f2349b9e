"""Matcher process: the faust app plus the gRPC query API over its live state."""

from __future__ import annotations

import grpc

from itm.runtime.auth import current_identity, require_self_or_privileged
from itm.runtime.service import Service
from itm.v1 import matcher_pb2, matcher_pb2_grpc
from services.matcher.app import MatcherApp
from services.matcher.engine import EmployeeState

MAX_LIMIT = 100


class MatcherServicer(matcher_pb2_grpc.MatcherServiceServicer):
    def __init__(self, m: MatcherApp):
        self.m = m

    def _match(self, emp: EmployeeState, opp_id: str, explain: bool) -> matcher_pb2.Match | None:
        opp = self.m.replica.opportunities.get(opp_id)
        if opp is None:
            return None
        result = self.m.engine.score(emp, opp)
        threshold = emp.threshold_or(self.m.engine.default_threshold)
        match = matcher_pb2.Match(employee_id=emp.employee_id, opportunity_id=opp_id, opportunity_title=opp.title,
                                  score_percent=result.percent, qualified=result.qualified(threshold))
        if explain:
            match.explanation.CopyFrom(self.m.engine.explanation(emp, opp, result, self.m.replica))
        return match

    async def MyMatches(self, request, context):
        await require_self_or_privileged(context, request.employee_id)
        raw = self.m.employees.get(request.employee_id)
        if raw is None:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"no match state for employee {request.employee_id!r} on this matcher worker")
        emp = EmployeeState.from_json(raw)
        limit = max(1, min(request.limit or 10, MAX_LIMIT))
        pairs = self.m.matches.get(request.employee_id) or {}
        top = sorted(pairs.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
        matches = [m for m in (self._match(emp, opp_id, True) for opp_id, _ in top) if m]
        return matcher_pb2.MatchList(matches=matches)

    async def BestCandidates(self, request, context):
        ident = current_identity.get()
        opp = self.m.replica.opportunities.get(request.opportunity_id)
        if opp is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no open opportunity {request.opportunity_id!r}")
        if not ident.privileged and ident.subject != opp.owner_id:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"best candidates for {opp.opportunity_id} are for its owner and HR admins")
        limit = max(1, min(request.limit or 10, MAX_LIMIT))
        scored = []
        for emp_id in self.m.pairs_by_opp.get(request.opportunity_id, set()):
            raw = self.m.employees.get(emp_id)
            pair = (self.m.matches.get(emp_id) or {}).get(request.opportunity_id)
            if raw and pair:
                scored.append((pair[0], emp_id, raw))
        scored.sort(key=lambda t: (-t[0], t[1]))
        matches = [self._match(EmployeeState.from_json(raw), request.opportunity_id, False) for _, _, raw in scored[:limit]]
        return matcher_pb2.MatchList(matches=[m for m in matches if m])


def build() -> Service:
    svc = Service("matcher")
    m = MatcherApp(svc.settings)
    matcher_pb2_grpc.add_MatcherServiceServicer_to_server(MatcherServicer(m), svc.grpc)

    async def run_matcher():
        await svc.topics_ready.wait()
        await m.run()

    async def matcher_ready() -> bool:
        return m.running and m.replica_ready.is_set()

    svc.add_task(run_matcher)
    svc.add_check("matcher", matcher_ready, required=True)
    return svc
