"""Opportunity service: gigs, projects, mentorships, shadowing, freelancing, roles."""

from __future__ import annotations

import uuid

import grpc

from itm.runtime.auth import current_identity
from itm.runtime.domain import DomainService, EntityStore, canonical_skill, check_level, check_version, invalid, replay
from itm.runtime.envelope import new_envelope
from itm.v1 import common_pb2, events_pb2, opportunity_pb2, opportunity_pb2_grpc

SOURCE = "opportunity"
Status = common_pb2.OpportunityStatus
OUTCOMES = {"filled": Status.OPPORTUNITY_STATUS_FILLED, "cancelled": Status.OPPORTUNITY_STATUS_CLOSED, "expired": Status.OPPORTUNITY_STATUS_CLOSED}
MAX_REQUIREMENTS = 50


def match_profile(opp: opportunity_pb2.Opportunity) -> common_pb2.OpportunityMatchProfile:
    return common_pb2.OpportunityMatchProfile(
        opportunity_id=opp.opportunity_id,
        title=opp.title,
        type=opp.type,
        status=opp.status,
        requirements=list(opp.requirements),
        department=opp.department,
        owner_id=opp.owner_id,
        hours_per_week=opp.hours_per_week,
    )


class OpportunityServicer(opportunity_pb2_grpc.OpportunityServiceServicer):
    def __init__(self, svc: DomainService):
        self.svc = svc
        self.opps = EntityStore(svc, "opportunity", opportunity_pb2.Opportunity, "opportunity_id")

    def _emit(self, pipe, event_type, opp, payload):
        self.svc.outbox.add(pipe, new_envelope(event_type, SOURCE, opp.opportunity_id, opp.version, payload))

    async def _requirements(self, context, inputs) -> list[common_pb2.Requirement]:
        if not inputs:
            await invalid(context, "an opportunity needs at least one requirement (skill, min_level)")
        if len(inputs) > MAX_REQUIREMENTS:
            await invalid(context, f"at most {MAX_REQUIREMENTS} requirements, got {len(inputs)}")
        out: dict[str, common_pb2.Requirement] = {}
        for i, r in enumerate(inputs):
            skill_id = await canonical_skill(context, r.skill)
            if problem := check_level(r.min_level, f"requirements[{i}].min_level"):
                await invalid(context, problem)
            if r.weight < 0:
                await invalid(context, f"requirements[{i}].weight must be > 0 (0 means the default 1.0), got {r.weight}")
            if skill_id in out:
                await invalid(context, f"requirements[{i}]: skill {skill_id!r} is listed twice")
            out[skill_id] = common_pb2.Requirement(
                skill_id=skill_id, min_level=r.min_level, weight=r.weight or 1.0, must_have=r.must_have
            )
        return list(out.values())

    async def _may_edit(self, context, opp) -> None:
        ident = current_identity.get()
        if not ident.privileged and ident.subject != opp.owner_id:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"only the owner of {opp.opportunity_id} may change it")

    async def PostOpportunity(self, request, context):
        if not request.title or len(request.title) > 200:
            await invalid(context, "title is required (at most 200 characters)")
        if request.type == common_pb2.OPPORTUNITY_TYPE_UNSPECIFIED:
            await invalid(context, "type is required (GIG, PROJECT, MENTORSHIP, JOB_SHADOWING, FREELANCE or ROLE)")
        if request.hours_per_week < 0 or request.hours_per_week > 60:
            await invalid(context, f"hours_per_week must be between 0 and 60, got {request.hours_per_week}")
        if request.seats < 0 or request.duration_weeks < 0:
            await invalid(context, "seats and duration_weeks must not be negative")
        requirements = await self._requirements(context, request.requirements)
        ident = current_identity.get()
        owner = request.owner_id or ident.subject
        if not ident.privileged and owner != ident.subject:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "you may only post opportunities you own")
        req_key = self.opps.request_key(request.request_id) if request.request_id else None

        async def body(pipe):
            if req_key and (prior := await pipe.get(req_key)):
                return await self.opps.load(pipe, prior.decode())
            opp = opportunity_pb2.Opportunity(
                opportunity_id=f"opp-{uuid.uuid4().hex[:12]}",
                title=request.title,
                type=request.type,
                status=Status.OPPORTUNITY_STATUS_OPEN,
                requirements=requirements,
                hours_per_week=request.hours_per_week,
                duration_weeks=request.duration_weeks,
                department=request.department,
                location=request.location,
                remote=request.remote,
                seats=request.seats or 1,
                owner_id=owner,
                description=request.description[:5000],
                version=1,
            )
            pipe.multi()
            self.opps.store(pipe, opp)
            if req_key:
                pipe.set(req_key, opp.opportunity_id, ex=7 * 24 * 3600)
            self._emit(pipe, "opportunity.gig-posted", opp, events_pb2.GigPosted(opportunity=match_profile(opp)))
            return opp

        return await self.svc.commit([req_key] if req_key else [], body)

    async def GetOpportunity(self, request, context):
        return await self.opps.require(self.svc.redis, request.opportunity_id, context)

    async def ChangeRequirements(self, request, context):
        requirements = await self._requirements(context, request.requirements)

        async def body(pipe):
            opp = await self.opps.require(pipe, request.opportunity_id, context)
            await self._may_edit(context, opp)
            await check_version(context, "opportunity", opp.opportunity_id, opp.version, request.expected_version)
            if opp.status not in (Status.OPPORTUNITY_STATUS_OPEN, Status.OPPORTUNITY_STATUS_PENDING_APPROVAL):
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{opp.opportunity_id} is closed; requirements are frozen")
            del opp.requirements[:]
            opp.requirements.extend(requirements)
            opp.version += 1
            pipe.multi()
            self.opps.store(pipe, opp)
            self._emit(pipe, "opportunity.requirements-changed", opp, events_pb2.RequirementsChanged(opportunity=match_profile(opp)))
            return opp

        return await self.svc.commit([self.opps.key(request.opportunity_id)], body)

    async def CloseOpportunity(self, request, context):
        outcome = request.outcome or "cancelled"
        if outcome not in OUTCOMES:
            await invalid(context, f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")

        async def body(pipe):
            opp = await self.opps.require(pipe, request.opportunity_id, context)
            await self._may_edit(context, opp)
            await check_version(context, "opportunity", opp.opportunity_id, opp.version, request.expected_version)
            if opp.status in (Status.OPPORTUNITY_STATUS_CLOSED, Status.OPPORTUNITY_STATUS_FILLED):
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{opp.opportunity_id} is already closed")
            opp.status = OUTCOMES[outcome]
            opp.outcome = outcome
            opp.version += 1
            pipe.multi()
            self.opps.store(pipe, opp)
            self._emit(pipe, "opportunity.gig-closed", opp, events_pb2.GigClosed(
                opportunity=match_profile(opp), outcome=outcome, assigned_employee_ids=list(request.assigned_employee_ids)))
            return opp

        return await self.svc.commit([self.opps.key(request.opportunity_id)], body)

    async def ListOpportunities(self, request, context):
        items, token = await self.opps.page(request.page_size, request.page_token)
        if request.open_only:
            items = [o for o in items if o.status == Status.OPPORTUNITY_STATUS_OPEN]
        return opportunity_pb2.ListOpportunitiesResponse(opportunities=items, next_page_token=token)

    async def Replay(self, request, context):
        if not current_identity.get().privileged:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "replay is for HR admins and services")
        count = await replay(self.svc, self.opps, lambda opp: [replay_envelope(opp)])
        return common_pb2.ReplayResponse(events_emitted=count)


def replay_envelope(opp: opportunity_pb2.Opportunity):
    if opp.status == Status.OPPORTUNITY_STATUS_OPEN:
        payload, event_type = events_pb2.GigPosted(opportunity=match_profile(opp)), "opportunity.gig-posted"
    else:
        payload, event_type = events_pb2.GigClosed(opportunity=match_profile(opp), outcome=opp.outcome), "opportunity.gig-closed"
    return new_envelope(event_type, SOURCE, opp.opportunity_id, opp.version, payload)


def build() -> DomainService:
    svc = DomainService("opportunity")
    opportunity_pb2_grpc.add_OpportunityServiceServicer_to_server(OpportunityServicer(svc), svc.grpc)
    return svc
