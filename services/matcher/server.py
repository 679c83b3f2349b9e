"""Matcher process: the faust app plus the gRPC query API over its live state.

Employees are partitioned across matcher workers, so:

* ``MyMatches`` and ``ScoreOpportunities`` are answered by the worker that owns
  the employee's partition.
  Any other worker forwards the call there (found in the Redis worker registry,
  ``registry.py``) with the caller's own token, and relays the answer or the
  error. ``MatchList.served_by`` names the worker that answered. While a
  partition has no owner (a rebalance, a failover) the answer is UNAVAILABLE
  with "retry" in the message; a worker never answers from state it no longer
  owns.
* ``BestCandidates`` fans out: the worker asked answers for its own partitions
  and asks each other owner for theirs, in parallel, then merges the top N.
  Partitions nobody could answer for are listed in
  ``MatchList.missing_partitions`` (empty = complete).

The internal hops carry ``x-itm-matcher-hop`` (MyMatches, ScoreOpportunities:
answer locally or fail, never forward again) and ``x-itm-matcher-partitions`` (BestCandidates:
answer for these partitions only).
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from itm import taxonomy_guard
from itm.taxonomy import Taxonomy
from itm.runtime.auth import current_identity, require_self_or_privileged
from itm.runtime.service import Service
from itm.runtime.topics import EMPLOYEE_PARTITIONS
from itm.v1 import matcher_pb2, matcher_pb2_grpc
from services.matcher.app import MatcherApp, partition_for, worker_id
from services.matcher.config import MatcherSettings, load_matcher_settings
from services.matcher.engine import EmployeeState
from services.matcher.registry import WorkerRegistry

log = logging.getLogger(__name__)

MAX_LIMIT = 100
MAX_SCORED = 1000  # ScoreOpportunities: listed ids per call
MAX_ID_CHARS = 128
HOP = "x-itm-matcher-hop"
PARTITIONS = "x-itm-matcher-partitions"


async def _check_employee_id(employee_id: str, context) -> None:
    if not employee_id:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "employee_id is required")
    if len(employee_id) > MAX_ID_CHARS:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"employee_id must be at most {MAX_ID_CHARS} characters")


def _metadata(context) -> dict[str, str]:
    return {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}


class MatcherServicer(matcher_pb2_grpc.MatcherServiceServicer):
    def __init__(self, m: MatcherApp, settings: MatcherSettings, registry: WorkerRegistry):
        self.m = m
        self.settings = settings
        self.registry = registry
        self.address = settings.advertise_address
        self.channels: dict[str, grpc.aio.Channel] = {}

    def _stub(self, address: str) -> matcher_pb2_grpc.MatcherServiceStub:
        channel = self.channels.get(address)
        if channel is None:
            channel = self.channels[address] = grpc.aio.insecure_channel(address)
        return matcher_pb2_grpc.MatcherServiceStub(channel)

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()

    def _forward_metadata(self, context, **extra: str) -> tuple:
        md = _metadata(context)
        out = [("authorization", md["authorization"])] if "authorization" in md else []
        out += list(extra.items())
        return tuple(out)

    def _timeout(self, context) -> float:
        remaining = context.time_remaining()
        limit = self.settings.matcher_forward_timeout_s
        return max(0.1, min(limit, remaining)) if remaining is not None else limit

    def _match(self, emp: EmployeeState, opp_id: str, explain: bool,
               row: dict[str, tuple[int, bool]] | None = None) -> matcher_pb2.Match | None:
        """The employee's current score for one open opportunity (None: not open, unknown,
        or the employee's own). ``row``: the vectorised core's scores of the employee
        (``VectorScorer.scores_for``), used when no explanation is asked."""
        opp = self.m.replica.opportunities.get(opp_id)
        if opp is None or opp.owner_id == emp.employee_id:
            return None
        threshold = emp.threshold_or(self.m.engine.default_threshold)
        if row is not None and not explain:
            percent, missing = row.get(opp_id, (0, False))
            return matcher_pb2.Match(employee_id=emp.employee_id, opportunity_id=opp_id, opportunity_title=opp.title,
                                     score_percent=percent, qualified=percent >= threshold and not missing)
        result = self.m.engine.score(emp, opp)
        match = matcher_pb2.Match(employee_id=emp.employee_id, opportunity_id=opp_id, opportunity_title=opp.title,
                                  score_percent=result.percent, qualified=result.qualified(threshold))
        if explain:
            match.explanation.CopyFrom(self.m.engine.explanation(emp, opp, result, self.m.replica, self.m.mentors))
        return match

    # -- MyMatches, ScoreOpportunities: answered by the owner of the employee's partition ----------
    async def _on_owner(self, method: str, request, context, answer_here):
        """Answer here when this worker owns the employee's partition, else forward the
        call to the owner (one hop, with the caller's own token) and relay its answer."""
        partition = partition_for(request.employee_id)
        if partition in self.m.owned:
            return await answer_here(request, context)
        if HOP in _metadata(context):
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                f"matcher worker {self.address} no longer owns partition {partition} of employee "
                                f"{request.employee_id!r} (a rebalance moved it); retry in a few seconds")
        owner = (await self.registry.owners()).get(partition)
        if owner is None or owner["address"] == self.address:
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                f"no matcher worker serves partition {partition} of employee {request.employee_id!r} "
                                "right now (starting, rebalancing or failing over); retry in a few seconds")
        try:
            return await getattr(self._stub(owner["address"]), method)(
                request, metadata=self._forward_metadata(context, **{HOP: self.address}), timeout=self._timeout(context))
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                await context.abort(grpc.StatusCode.UNAVAILABLE,
                                    f"matcher worker {owner['address']} owning partition {partition} did not answer "
                                    f"({code.name}: {exc.details()}); retry in a few seconds")
            await context.abort(code, exc.details() or code.name)

    async def _record_here(self, employee_id: str, context) -> dict:
        record = self.m.record(employee_id)
        if record is None:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"no match state for employee {employee_id!r}: not registered, or its events "
                                "have not reached the matcher yet")
        return record

    async def MyMatches(self, request, context):
        await require_self_or_privileged(context, request.employee_id)
        await _check_employee_id(request.employee_id, context)
        if request.limit < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"limit must be >= 0 (0 = 10), got {request.limit}")
        return await self._on_owner("MyMatches", request, context, self._my_matches_here)

    async def _my_matches_here(self, request, context) -> matcher_pb2.MatchList:
        record = await self._record_here(request.employee_id, context)
        emp = EmployeeState.from_json(record)
        limit = max(1, min(request.limit or 10, MAX_LIMIT))
        pairs = self.m.pairs_of(request.employee_id)  # the scores in memory, the marks in the record
        top = sorted(pairs.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
        matches = [m for m in (self._match(emp, opp_id, True) for opp_id, _ in top) if m]
        return matcher_pb2.MatchList(matches=matches, served_by=self.address)

    async def ScoreOpportunities(self, request, context):
        await require_self_or_privileged(context, request.employee_id)
        await _check_employee_id(request.employee_id, context)
        if len(request.opportunity_ids) > MAX_SCORED:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"opportunity_ids lists {len(request.opportunity_ids)} ids; at most {MAX_SCORED}")
        for i, opp_id in enumerate(request.opportunity_ids):
            if not opp_id or len(opp_id) > MAX_ID_CHARS:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"opportunity_ids[{i}] must be 1..{MAX_ID_CHARS} characters")
        if request.explain and not request.opportunity_ids:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"explain needs opportunity_ids (at most {MAX_SCORED}): an explanation for every "
                                "open opportunity is too large an answer")
        return await self._on_owner("ScoreOpportunities", request, context, self._score_here)

    async def _score_here(self, request, context) -> matcher_pb2.MatchList:
        """Listed ids in the order asked (each once), or every open opportunity by score
        (highest first, then id); unknown, closed and the employee's own opportunities left out."""
        record = await self._record_here(request.employee_id, context)
        emp = EmployeeState.from_json(record)
        if request.opportunity_ids:
            wanted = list(dict.fromkeys(request.opportunity_ids))
        else:
            wanted = sorted(self.m.replica.opportunities)
        row = None if request.explain else self.m.vector.scores_for(emp.skills)  # every open one in one product
        matches = [m for m in (self._match(emp, opp_id, request.explain, row) for opp_id in wanted) if m]
        if not request.opportunity_ids:
            matches.sort(key=lambda m: (-m.score_percent, m.opportunity_id))
        return matcher_pb2.MatchList(matches=matches, served_by=self.address)

    # -- BestCandidates ------------------------------------------------------------------------
    async def BestCandidates(self, request, context):
        ident = current_identity.get()
        if not request.opportunity_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "opportunity_id is required")
        if request.limit < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"limit must be >= 0 (0 = 10), got {request.limit}")
        opp = self.m.replica.opportunities.get(request.opportunity_id)
        if opp is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no open opportunity {request.opportunity_id!r}")
        if not ident.privileged and ident.subject != opp.owner_id:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"best candidates for {opp.opportunity_id} are for its owner and HR admins")
        limit = max(1, min(request.limit or 10, MAX_LIMIT))
        md = _metadata(context)
        if PARTITIONS in md:  # an internal hop: these partitions, from this worker only
            try:
                wanted = {int(p) for p in md[PARTITIONS].split(",") if p}
            except ValueError:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad {PARTITIONS} metadata {md[PARTITIONS]!r}")
            return self._candidates_here(request.opportunity_id, wanted, limit)

        mine = set(self.m.owned)
        owners = await self.registry.owners()
        plan: dict[str, set[int]] = {}
        missing: set[int] = set()
        for p in range(EMPLOYEE_PARTITIONS):
            if p in mine:
                continue
            owner = owners.get(p)
            if owner is None or owner["address"] == self.address:
                missing.add(p)
            else:
                plan.setdefault(owner["address"], set()).add(p)

        async def ask(address: str, partitions: set[int]) -> matcher_pb2.MatchList:
            try:
                return await self._stub(address).BestCandidates(
                    request, timeout=self._timeout(context),
                    metadata=self._forward_metadata(context, **{PARTITIONS: ",".join(map(str, sorted(partitions)))}))
            except grpc.aio.AioRpcError as exc:
                log.warning("best-candidates fan-out failed", extra={"worker": address, "error": exc.code().name})
                return matcher_pb2.MatchList(missing_partitions=sorted(partitions))

        answers = [self._candidates_here(request.opportunity_id, mine, limit)]
        answers += await asyncio.gather(*(ask(a, ps) for a, ps in sorted(plan.items())))
        merged: dict[str, matcher_pb2.Match] = {}
        for answer in answers:
            missing.update(answer.missing_partitions)
            for match in answer.matches:
                merged.setdefault(match.employee_id, match)
        top = sorted(merged.values(), key=lambda m: (-m.score_percent, m.employee_id))[:limit]
        return matcher_pb2.MatchList(matches=top, missing_partitions=sorted(missing), served_by=self.address)

    def _candidates_here(self, opp_id: str, partitions: set[int], limit: int) -> matcher_pb2.MatchList:
        scored = self.m.candidates(opp_id, partitions)
        scored.sort(key=lambda t: (-t[0], t[1]))
        matches = [self._match(EmployeeState.from_json(record), opp_id, False) for _, _, record in scored[:limit]]
        not_here = sorted(p for p in partitions if p not in self.m.owned)
        return matcher_pb2.MatchList(matches=[m for m in matches if m], missing_partitions=not_here,
                                     served_by=self.address)


def build() -> Service:
    settings = load_matcher_settings(service="matcher")
    svc = Service("matcher", settings)
    m = MatcherApp(settings)
    registry = WorkerRegistry(svc.redis, settings, worker_id(settings.advertise_address), settings.advertise_address,
                              settings.matcher_registry_ttl_s)
    m.registry = registry
    servicer = MatcherServicer(m, settings, registry)
    matcher_pb2_grpc.add_MatcherServiceServicer_to_server(servicer, svc.grpc)

    async def run_matcher():
        await svc.topics_ready.wait()
        await m.run()

    async def publish_taxonomy():  # every other service compares its taxonomy with this one at start
        await taxonomy_guard.publish_forever(svc.redis, settings, Taxonomy.configured())

    svc.add_task(publish_taxonomy)

    async def heartbeat():
        """Keep this worker's registry entry alive (it expires after the TTL)."""
        while True:
            if m.assigned_once:
                await m.publish_ownership()
            await asyncio.sleep(settings.matcher_registry_ttl_s / 3)

    async def matcher_ready() -> bool:
        return (m.running and m.replica_ready.is_set() and m.mentors_ready.is_set() and m.assigned_once
                and m.faust_alive())

    async def withdraw():
        try:
            await registry.withdraw()
        finally:
            await servicer.close()

    svc.add_task(run_matcher)
    svc.add_task(heartbeat)
    svc.on_shutdown.append(withdraw)
    svc.add_check("matcher", matcher_ready, required=True)
    svc.watch_progress(m.progress)  # itm.consumers: NOT_SERVING while a partition cannot get past a record
    svc.add_kafka_check()  # itm.kafka: the broker its agents read and write
    return svc
