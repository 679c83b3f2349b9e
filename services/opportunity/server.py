"""Opportunity service: gigs, projects, mentorships, shadowing, freelancing and roles.

Postings, governance, applications, time release and feedback. Every change is
one Redis transaction: the entities it touches, their indexes and their events
(outbox) commit together or not at all.

* **Posting governance.** A posting above ``ITM_APPROVAL_HOURS_THRESHOLD`` hours
  per week is PENDING_APPROVAL (``opportunity.approval-requested``) until the
  owner's manager approves it (then ``opportunity.gig-posted``: it is on the
  marketplace) or rejects it (``opportunity.gig-closed``, outcome "rejected").
  The owner's manager is looked up in the profile service over gRPC with a
  service token (``ITM_PROFILE_TARGET``) when the posting is made, and stored
  on it as ``approver_id``; a request cannot name its own approver.
* **Applications** ("<opportunity_id>:<employee_id>", one per pair): apply,
  withdraw, shortlist, accept (a seat), decline. Accepting asks the applicant's
  manager (looked up in the profile service) to release the time.
* **Time release.** The manager approves within ``ITM_GIG_TIME_SHARE_PERCENT`` of
  the employee's hours available per week, counting every approved, unfinished
  assignment (``gig-hours:<employee>``, a hash application -> hours, watched by
  the approving transaction so two approvals cannot overshoot together). Roles
  (permanent moves) need the release but do not count towards the share.
* **Completion.** The owner completes an assignment with per-skill feedback
  (``opportunity.feedback-given``); the profile service turns it into
  gig-validated evidence.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import grpc

from itm import managers
from itm.runtime.auth import Identity, bearer, current_identity, mint_token
from itm.runtime.consumer import IdempotentConsumer
from itm.runtime.domain import (
    DomainService,
    EntityStore,
    canonical_skill,
    check_id,
    check_level,
    check_request_id,
    check_text,
    check_version,
    failed_precondition,
    fingerprint,
    invalid,
    now_ts,
    page_size_of,
    replay,
)
from itm.runtime.envelope import new_envelope
from itm.taxonomy import Taxonomy
from itm.v1 import common_pb2, events_pb2, opportunity_pb2, opportunity_pb2_grpc, profile_pb2, profile_pb2_grpc
from services.opportunity import applicants, kpi, release, search
from services.opportunity.matching import MAX_IDS, MatcherScores
from services.opportunity.search_store import LiveSearch
from services.opportunity.store import ENDED, OpportunityKeys, member_id, owner_member, status_name as _name

SOURCE = "opportunity"
Status = common_pb2.OpportunityStatus
App = common_pb2.ApplicationStatus
Release = common_pb2.TimeReleaseStatus
log = logging.getLogger(__name__)
EXPIRY_ACTOR = Identity("itm-expiry", "service")  # who closes opportunities whose deadline passed
MAX_APPLY_BY_S = 2 * 366 * 86400
OUTCOMES = {"filled": Status.OPPORTUNITY_STATUS_FILLED, "cancelled": Status.OPPORTUNITY_STATUS_CLOSED,
            "expired": Status.OPPORTUNITY_STATUS_CLOSED}
ENDING_REASONS = {"filled": "the opportunity was filled", "cancelled": "the opportunity was cancelled",
                  "expired": "applications closed at the deadline"}  # why open applications end with it
PENDING_APPS = (App.APPLICATION_STATUS_SUBMITTED, App.APPLICATION_STATUS_SHORTLISTED)
SEATED = (App.APPLICATION_STATUS_ACCEPTED, App.APPLICATION_STATUS_COMPLETED)
MAX_REQUIREMENTS = 50
MAX_FEEDBACK = 50
MAX_HOURS = 60
TYPES = "GIG, PROJECT, MENTORSHIP, JOB_SHADOWING, FREELANCE or ROLE"
MAX_SEARCH_SKILLS = 20
ASSESS_CONCURRENCY = 16  # profile and matcher calls in flight for one page of applications
SORTS = {opportunity_pb2.OPPORTUNITY_SORT_UNSPECIFIED: search.NEWEST, opportunity_pb2.OPPORTUNITY_SORT_NEWEST: search.NEWEST,
         opportunity_pb2.OPPORTUNITY_SORT_DEADLINE: search.DEADLINE, opportunity_pb2.OPPORTUNITY_SORT_MATCH: search.MATCH}


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
        posted_at=opp.created_at,
    )


class ProfileDirectory:
    """Looks employees up in the profile service (managers, hours available), as a service."""

    def __init__(self, settings):
        self.settings = settings
        self._channel: grpc.aio.Channel | None = None

    async def _get(self, employee_id: str) -> profile_pb2.Employee:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.settings.profile_target)
        stub = profile_pb2_grpc.ProfileServiceStub(self._channel)
        token = mint_token(self.settings, self.settings.service, "service", ttl_s=300)
        return await stub.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id=employee_id),
                                      metadata=bearer(token), timeout=5)

    async def lookup(self, employee_id: str) -> tuple[profile_pb2.Employee | None, str]:
        """The employee, or None and why not ("" when they have no profile), never aborting."""
        try:
            return await self._get(employee_id), ""
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None, ""
            return None, f"the profile service did not answer ({exc.code().name}); retry"

    async def employee(self, context, employee_id: str, who: str,
                       missing: grpc.StatusCode = grpc.StatusCode.FAILED_PRECONDITION) -> profile_pb2.Employee:
        """The employee's whole profile; ``missing`` when they have none, UNAVAILABLE when
        the profile service does not answer."""
        try:
            return await self._get(employee_id)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                await context.abort(missing, f"the {who} {employee_id} has no profile; create it first")
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                f"cannot look up {employee_id} in the profile service at {self.settings.profile_target}: "
                                f"{exc.code().name} {exc.details()}; retry")
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()


class OpportunityServicer(OpportunityKeys, opportunity_pb2_grpc.OpportunityServiceServicer):
    def __init__(self, svc: DomainService):
        OpportunityKeys.__init__(self, svc.settings)
        self.svc = svc
        self.opps = EntityStore(svc, "opportunity", opportunity_pb2.Opportunity, "opportunity_id")
        self.apps = EntityStore(svc, "application", common_pb2.Application, "application_id")
        self.directory = ProfileDirectory(svc.settings)
        self.matcher = MatcherScores(svc.settings)
        self.live = LiveSearch(svc.redis, self.search_log, self.opportunity_key,
                               self.status_index(Status.OPPORTUNITY_STATUS_OPEN))

    def _store_opp(self, pipe, opp, old_status: int = 0) -> None:
        """Queue (inside MULTI) the opportunity with its indexes (store.py)."""
        opp.updated_at.CopyFrom(now_ts())
        self.store(pipe, opp, old_status)

    def _emit_opp(self, pipe, event_type, opp, payload) -> None:
        self.svc.outbox.add(pipe, new_envelope(event_type, SOURCE, opp.opportunity_id, opp.version, payload))

    def _store_app(self, pipe, app) -> None:
        app.updated_at.CopyFrom(now_ts())
        self.apps.store(pipe, app)

    def _emit_app(self, pipe, event_type: str, payload) -> None:
        app = payload.application
        self.svc.outbox.add(pipe, new_envelope(event_type, SOURCE, app.application_id, app.version, payload))

    def _unseat(self, pipe, app) -> None:
        """The application no longer holds a seat, a pending release or released hours."""
        pipe.srem(self.seats_key(app.opportunity_id), app.application_id)
        pipe.zrem(self.release_index(app.release_approver_id or "-"), app.application_id)
        pipe.hdel(self.ledger_key(app.employee_id), app.application_id)

    # -- validation -----------------------------------------------------------------------------------
    async def _requirements(self, context, inputs) -> list[common_pb2.Requirement]:
        if not inputs:
            await invalid(context, "an opportunity needs at least one requirement (skill, min_level)")
        if len(inputs) > MAX_REQUIREMENTS:
            await invalid(context, f"at most {MAX_REQUIREMENTS} requirements, got {len(inputs)}")
        out: dict[str, common_pb2.Requirement] = {}
        for i, r in enumerate(inputs):
            skill_id = await canonical_skill(context, r.skill, f"requirements[{i}].skill")
            if problem := check_level(r.min_level, f"requirements[{i}].min_level"):
                await invalid(context, problem)
            if not r.weight >= 0 or r.weight > 100:
                await invalid(context, f"requirements[{i}].weight must be > 0 and <= 100 (0 means the default 1.0), got {r.weight}")
            if skill_id in out:
                await invalid(context, f"requirements[{i}]: skill {skill_id!r} is listed twice")
            out[skill_id] = common_pb2.Requirement(
                skill_id=skill_id, min_level=r.min_level, weight=r.weight or 1.0, must_have=r.must_have
            )
        return list(out.values())

    async def _owner_or_privileged(self, context, opp, action: str) -> None:
        ident = current_identity.get()
        if not ident.privileged and ident.subject != opp.owner_id:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"only the owner of {opp.opportunity_id} ({opp.owner_id}) or HR may {action}")

    async def _with_seats(self, opps):
        if not opps:
            return opps
        async with self.svc.redis.pipeline(transaction=False) as pipe:
            for opp in opps:
                pipe.scard(self.seats_key(opp.opportunity_id))
            counts = await pipe.execute()
        for opp, n in zip(opps, counts):
            opp.seats_taken = n
        return opps

    # -- postings ---------------------------------------------------------------------------------------
    async def PostOpportunity(self, request, context):
        await check_text(context, request.title, "title", 200, required=True)
        if request.type == common_pb2.OPPORTUNITY_TYPE_UNSPECIFIED or request.type not in common_pb2.OpportunityType.values():
            await invalid(context, f"type is required ({TYPES})")
        if not 0 <= request.hours_per_week <= MAX_HOURS:
            await invalid(context, f"hours_per_week must be between 0 and {MAX_HOURS}, got {request.hours_per_week}")
        if not 0 <= request.duration_weeks <= 520:
            await invalid(context, f"duration_weeks must be between 0 and 520 (0 = open-ended), got {request.duration_weeks}")
        if not 0 <= request.seats <= 1000:
            await invalid(context, f"seats must be between 1 and 1000 (0 = 1), got {request.seats}")
        for field in ("department", "location"):
            await check_text(context, getattr(request, field), field, 200)
        await check_text(context, request.description, "description", 5000)
        await check_request_id(context, request.request_id)
        if request.HasField("apply_by"):
            deadline, now = request.apply_by.seconds + request.apply_by.nanos / 1e9, time.time()
            if not now < deadline <= now + MAX_APPLY_BY_S:
                await invalid(context, f"apply_by must be in the future and within two years, got "
                                       f"{request.apply_by.ToJsonString()}; leave it unset for no deadline")
        requirements = await self._requirements(context, request.requirements)
        ident = current_identity.get()
        owner = request.owner_id or ident.subject
        await check_id(context, owner, "owner_id")
        if not ident.privileged and owner != ident.subject:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "you may only post opportunities you own")
        fp = fingerprint(request, ident.subject)
        if request.request_id and (prior := await self.opps.prior_request(self.svc.redis, context, request.request_id, fp)):
            return await self._with_seats_one(await self.opps.load(self.svc.redis, prior))
        threshold = self.svc.settings.approval_hours_threshold
        needs_approval = request.hours_per_week > threshold
        approver = ""
        if needs_approval:
            approver = (await self.directory.employee(context, owner, "owner")).manager_id
        req_key = self.opps.request_key(request.request_id) if request.request_id else None

        async def body(pipe):
            if prior := await self.opps.prior_request(pipe, context, request.request_id, fp):
                return await self.opps.load(pipe, prior)
            opp = opportunity_pb2.Opportunity(
                opportunity_id=f"opp-{uuid.uuid4().hex[:12]}",
                title=request.title,
                type=request.type,
                status=Status.OPPORTUNITY_STATUS_PENDING_APPROVAL if needs_approval else Status.OPPORTUNITY_STATUS_OPEN,
                requirements=requirements,
                hours_per_week=request.hours_per_week,
                duration_weeks=request.duration_weeks,
                department=request.department,
                location=request.location,
                remote=request.remote,
                seats=request.seats or 1,
                owner_id=owner,
                description=request.description,
                approver_id=approver,
                version=1,
            )
            if request.HasField("apply_by"):
                opp.apply_by.CopyFrom(request.apply_by)
            opp.created_at.CopyFrom(now_ts())
            pipe.multi()
            self._store_opp(pipe, opp)
            self.opps.remember_request(pipe, request.request_id, opp.opportunity_id, fp)
            if needs_approval:
                self._emit_opp(pipe, "opportunity.approval-requested", opp, events_pb2.ApprovalRequested(
                    opportunity=match_profile(opp), approver_id=approver, threshold_hours=threshold))
            else:
                self._emit_opp(pipe, "opportunity.gig-posted", opp, events_pb2.GigPosted(opportunity=match_profile(opp)))
            return opp

        return await self.svc.commit([req_key] if req_key else [], body)

    async def _with_seats_one(self, opp):
        return (await self._with_seats([opp]))[0]

    async def GetOpportunity(self, request, context):
        opp = await self.opps.require(self.svc.redis, request.opportunity_id, context)
        return await self._with_seats_one(opp)

    async def _change_opp(self, context, opportunity_id: str, expected_version: int, step):
        """Load, check, ``step(pipe, opp)`` -> (event_type, payload, writes) or None; store and emit atomically."""

        async def body(pipe):
            opp = await self.opps.require(pipe, opportunity_id, context)
            await check_version(context, "opportunity", opp.opportunity_id, opp.version, expected_version)
            old_status = opp.status
            event_type, payload_for, writes = await step(pipe, opp)
            opp.version += 1
            pipe.multi()
            self._store_opp(pipe, opp, old_status)
            for write in writes:
                write(pipe)
            self._emit_opp(pipe, event_type, opp, payload_for(opp))
            return opp

        opp = await self.svc.commit([self.opps.key(opportunity_id)], body)
        return await self._with_seats_one(opp)

    async def ChangeRequirements(self, request, context):
        requirements = await self._requirements(context, request.requirements)

        async def step(pipe, opp):
            await self._owner_or_privileged(context, opp, "change its requirements")
            if opp.status in ENDED:
                await failed_precondition(context, f"{opp.opportunity_id} is closed; requirements are frozen")
            del opp.requirements[:]
            opp.requirements.extend(requirements)
            return ("opportunity.requirements-changed",
                    lambda o: events_pb2.RequirementsChanged(opportunity=match_profile(o)), [])

        return await self._change_opp(context, request.opportunity_id, request.expected_version, step)

    async def _owners_manager(self, context, opportunity_id: str) -> str | None:
        """The owner's manager of record now (profile service), for a posting decision by
        someone not privileged; None for HR admins and services (they decide any)."""
        if current_identity.get().privileged:
            return None
        peek = await self.opps.require(self.svc.redis, opportunity_id, context)
        if peek.status != Status.OPPORTUNITY_STATUS_PENDING_APPROVAL:
            return ""  # the transaction answers FAILED_PRECONDITION (opportunities are public)
        return (await self.directory.employee(context, peek.owner_id, "owner")).manager_id

    async def _may_decide_posting(self, context, opp, manager: str | None) -> None:
        """The one manager rule (itm/managers.py) for the owner: their manager of record when
        the call arrives (``manager``, looked up before the transaction), with the manager role."""
        ident = current_identity.get()
        if opp.status != Status.OPPORTUNITY_STATUS_PENDING_APPROVAL:
            await failed_precondition(context, f"{opp.opportunity_id} is {_name(common_pb2.OpportunityStatus, opp.status)}, "
                                               "not waiting for approval")
        if manager is None:
            return
        if refusal := managers.may_act_as_manager(ident, manager, "approve or reject the postings of", opp.owner_id):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{opp.opportunity_id}: {refusal}")

    async def ApproveOpportunity(self, request, context):
        ident = current_identity.get()
        manager = await self._owners_manager(context, request.opportunity_id)

        async def step(pipe, opp):
            await self._may_decide_posting(context, opp, manager)
            opp.status = Status.OPPORTUNITY_STATUS_OPEN
            opp.decided_by = ident.subject
            return ("opportunity.gig-posted",
                    lambda o: events_pb2.GigPosted(opportunity=match_profile(o), approved_by=ident.subject), [])

        return await self._change_opp(context, request.opportunity_id, request.expected_version, step)

    async def RejectOpportunity(self, request, context):
        ident = current_identity.get()
        await check_text(context, request.reason, "reason", 1000)
        manager = await self._owners_manager(context, request.opportunity_id)

        async def step(pipe, opp):
            await self._may_decide_posting(context, opp, manager)
            opp.status = Status.OPPORTUNITY_STATUS_CLOSED
            opp.outcome = "rejected"
            opp.reason = request.reason
            opp.decided_by = ident.subject
            return ("opportunity.gig-closed",
                    lambda o: events_pb2.GigClosed(opportunity=match_profile(o), outcome="rejected"), [])

        return await self._change_opp(context, request.opportunity_id, request.expected_version, step)

    async def CloseOpportunity(self, request, context):
        outcome = request.outcome or "cancelled"
        if outcome not in OUTCOMES:
            await invalid(context, f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        await check_text(context, request.reason, "reason", 1000)
        ident = current_identity.get()

        async def step(pipe, opp):
            await self._owner_or_privileged(context, opp, "close it")
            if opp.status in ENDED:
                await failed_precondition(context, f"{opp.opportunity_id} is already closed ({opp.outcome})")
            if outcome == "filled" and opp.status != Status.OPPORTUNITY_STATUS_OPEN:
                await failed_precondition(context, f"{opp.opportunity_id} was never open; close it as cancelled")
            await pipe.watch(self.by_opportunity(opp.opportunity_id))  # an application arriving meanwhile retries
            app_ids = [i.decode() for i in await pipe.zrange(self.by_opportunity(opp.opportunity_id), 0, -1)]
            if app_ids:
                await pipe.watch(*[self.apps.key(i) for i in app_ids])
            apps = [a for a in [await self.apps.load(pipe, i) for i in app_ids] if a is not None]
            seated = [a for a in apps if a.status in SEATED]
            if outcome == "filled":
                if not seated:
                    await failed_precondition(context, f"nobody was accepted for {opp.opportunity_id}; accept an "
                                                       "application first, or close it as cancelled or expired")
                chosen = list(request.assigned_employee_ids) or [a.employee_id for a in seated]
                stray = sorted(set(chosen) - {a.employee_id for a in seated})
                if stray:
                    await failed_precondition(context, f"{', '.join(stray)} have no accepted application for "
                                                       f"{opp.opportunity_id}; assign accepted applicants only")
                opp.assigned_employee_ids[:] = chosen
            elif request.assigned_employee_ids:
                await invalid(context, "assigned_employee_ids only go with outcome filled")
            # applications still open end with the opportunity; a cancelled or expired one ends the assignments too
            ending = [a for a in apps if a.status in PENDING_APPS
                      or (outcome != "filled" and a.status == App.APPLICATION_STATUS_ACCEPTED)]
            for a in ending:
                a.status = App.APPLICATION_STATUS_DECLINED
                a.reason = ENDING_REASONS[outcome]
                a.decided_by = ident.subject
                a.version += 1
            opp.status = OUTCOMES[outcome]
            opp.outcome = outcome
            opp.reason = request.reason

            def write(pipe, ending=ending):
                for a in ending:
                    self._store_app(pipe, a)
                    self._unseat(pipe, a)
                    self._emit_app(pipe, "opportunity.application-declined", events_pb2.ApplicationDeclined(application=a))

            return ("opportunity.gig-closed", lambda o: events_pb2.GigClosed(
                opportunity=match_profile(o), outcome=outcome, assigned_employee_ids=list(o.assigned_employee_ids)),
                [write])

        return await self._change_opp(context, request.opportunity_id, request.expected_version, step)

    # -- deadlines ------------------------------------------------------------------------------------
    async def expire_due(self) -> None:
        """Forever: close the opportunities whose ``apply_by`` passed, with outcome
        expired, every ``ITM_EXPIRY_SWEEP_INTERVAL_S``. Several instances may sweep at
        once: closing is one versioned transaction, so the second finds it closed."""
        while True:
            await self.sweep_expired()
            await asyncio.sleep(self.svc.settings.expiry_sweep_interval_s)

    async def sweep_expired(self, batch: int = 100) -> int:
        """Close what is due now, as CloseOpportunity(outcome=expired) would for a
        service (open applications are declined, the gig-closed event goes out in the
        same transaction); returns how many were closed."""
        due = await self.svc.redis.zrangebyscore(self.expiry_index, "-inf", time.time(), start=0, num=batch)
        closed = 0
        token = current_identity.set(EXPIRY_ACTOR)
        try:
            for raw in due:
                opp_id = raw.decode()
                request = opportunity_pb2.CloseOpportunityRequest(
                    opportunity_id=opp_id, outcome="expired", reason="the application deadline passed")
                try:
                    await self.CloseOpportunity(request, _SweepContext())
                    closed += 1
                except _Refused as exc:  # closed meanwhile, or gone: nothing left to expire
                    log.info("nothing to expire", extra={"opportunity": opp_id, "why": exc.details})
                    await self.svc.redis.zrem(self.expiry_index, opp_id)
        finally:
            current_identity.reset(token)
        if closed:
            log.info("opportunities expired", extra={"count": closed})
        return closed

    async def ListOpportunities(self, request, context):
        size = await page_size_of(context, request.page_size)
        status = request.status
        if request.open_only:
            if status and status != Status.OPPORTUNITY_STATUS_OPEN:
                await invalid(context, "open_only contradicts the status filter; set one of them")
            status = Status.OPPORTUNITY_STATUS_OPEN
        if status and status not in common_pb2.OpportunityStatus.values():
            await invalid(context, f"unknown status {status}")
        if request.owner_id:
            await check_id(context, request.owner_id, "owner_id")
            if request.approver_id:
                await invalid(context, "set one of owner_id or approver_id")
            items, token = await self._owner_page(request.owner_id, status, size, request.page_token)
            return opportunity_pb2.ListOpportunitiesResponse(opportunities=await self._with_seats(items),
                                                             next_page_token=token)
        if request.approver_id:
            if status and status != Status.OPPORTUNITY_STATUS_PENDING_APPROVAL:
                await invalid(context, "approver_id lists postings waiting for approval; drop the status filter")
            index = self.pending_index(request.approver_id)
        else:
            index = self.status_index(status) if status else None
        items, token = await self.opps.page(size, request.page_token, index)
        return opportunity_pb2.ListOpportunitiesResponse(opportunities=await self._with_seats(items), next_page_token=token)

    async def _owner_page(self, owner_id: str, status: int, size: int, token: str):
        """An owner's opportunities newest first, of ``status`` (0: any); the token is the
        last index member of the previous page."""
        key, found, start = self.by_owner(owner_id), [], f"({token}" if token else "-"
        while len(found) <= size:
            members = await self.svc.redis.zrangebylex(key, start, "+", start=0, num=max(size + 1, 50))
            if not members:
                break
            opps = {o.opportunity_id: o for o in await self.opps.load_many([member_id(m) for m in members])}
            for m in members:
                opp = opps.get(member_id(m))
                if opp is not None and (not status or opp.status == status):
                    found.append((m.decode(), opp))
            start = f"({members[-1].decode()}"
        more = len(found) > size
        found = found[:size]
        return [o for _, o in found], (found[-1][0] if more else "")

    async def _search_query(self, context, request) -> search.Query:
        for i, t in enumerate(request.types):
            if t == common_pb2.OPPORTUNITY_TYPE_UNSPECIFIED or t not in common_pb2.OpportunityType.values():
                await invalid(context, f"types[{i}] is not an opportunity type ({TYPES})")
        if len(request.skills) > MAX_SEARCH_SKILLS:
            await invalid(context, f"at most {MAX_SEARCH_SKILLS} skills, got {len(request.skills)}")
        skills = [await canonical_skill(context, text, f"skills[{i}]") for i, text in enumerate(request.skills)]
        for field in ("department", "location", "text"):
            await check_text(context, getattr(request, field), field, 200)
        if request.owner_id:
            await check_id(context, request.owner_id, "owner_id")
        low, high = request.min_hours_per_week, request.max_hours_per_week
        for field, value in (("min_hours_per_week", low), ("max_hours_per_week", high)):
            if not 0 <= value <= MAX_HOURS:
                await invalid(context, f"{field} must be between 0 and {MAX_HOURS}, got {value}")
        if high and low > high:
            await invalid(context, f"min_hours_per_week ({low:g}) is above max_hours_per_week ({high:g})")
        if request.sort not in opportunity_pb2.OpportunitySort.values():
            await invalid(context, f"unknown sort {request.sort}")
        return search.Query(
            types=frozenset(request.types),
            skill_groups=search.skill_groups(skills, Taxonomy.load_default().related_view, request.include_related_skills),
            department=request.department, location=request.location, include_remote=request.include_remote,
            min_hours=low, max_hours=high, text=request.text, owner_id=request.owner_id,
            sort=SORTS.get(request.sort, search.NEWEST))

    async def SearchOpportunities(self, request, context):
        q = await self._search_query(context, request)
        size = await page_size_of(context, request.page_size)
        index = await self.live.current()
        caller = current_identity.get().subject
        matches = None
        if q.sort == search.MATCH:
            found = index.candidates(q)
            matches = await self.matcher.score(caller, None if found is None or len(found) > MAX_IDS else sorted(found))
            if matches is None:
                q.sort = search.NEWEST  # no scores to sort by: said in sorted_by
        try:
            page = index.search(q, size, request.page_token,
                                {i: m.score_percent for i, m in matches.items()} if matches is not None else None)
        except search.BadToken as exc:
            await invalid(context, str(exc))
        if matches is None and page.ids:
            matches = await self.matcher.score(caller, page.ids)
        opps = await self._with_seats(await self.opps.load_many(page.ids))
        answer = opportunity_pb2.SearchOpportunitiesResponse(
            next_page_token=page.next_token, total=page.total, match_available=matches is not None,
            sorted_by={v: k for k, v in SORTS.items()}[q.sort])
        for opp in opps:
            result = answer.results.add(opportunity=opp)
            if matches is not None and (m := matches.get(opp.opportunity_id)) is not None:
                result.match_percent, result.qualified = m.score_percent, m.qualified
        return answer

    # -- applications ---------------------------------------------------------------------------------------
    async def Apply(self, request, context):
        ident = current_identity.get()
        employee_id = request.employee_id or ident.subject
        await check_id(context, employee_id, "employee_id")
        if not ident.privileged and employee_id != ident.subject:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{ident.subject} may not apply for {employee_id}")
        if not request.opportunity_id:
            await invalid(context, "opportunity_id is required")
        await check_text(context, request.note, "note", 2000)
        await check_request_id(context, request.request_id)
        app_id = f"{request.opportunity_id}:{employee_id}"
        fp = fingerprint(request, ident.subject)
        watch = [self.opps.key(request.opportunity_id), self.apps.key(app_id)]
        if request.request_id:
            watch.append(self.apps.request_key(request.request_id))

        async def body(pipe):
            if prior := await self.apps.prior_request(pipe, context, request.request_id, fp):
                return await self.apps.load(pipe, prior)
            opp = await self.opps.require(pipe, request.opportunity_id, context)
            app = await self.apps.load(pipe, app_id)
            if app is not None and app.status in PENDING_APPS + SEATED:
                return app  # applying again is the same application
            if app is not None and app.status == App.APPLICATION_STATUS_DECLINED:
                await failed_precondition(context, f"{employee_id}'s application to {opp.opportunity_id} was declined "
                                                   f"({app.reason or 'by the owner'}); it cannot be reopened")
            if opp.status != Status.OPPORTUNITY_STATUS_OPEN:
                await failed_precondition(context, f"{opp.opportunity_id} is {_name(common_pb2.OpportunityStatus, opp.status)}; "
                                                   "only open opportunities take applications")
            if employee_id == opp.owner_id:
                await failed_precondition(context, "owners cannot apply to their own opportunity")
            if app is None:
                app = common_pb2.Application(application_id=app_id, opportunity_id=opp.opportunity_id,
                                             employee_id=employee_id, owner_id=opp.owner_id,
                                             opportunity_type=opp.type, hours_per_week=opp.hours_per_week)
            app.status = App.APPLICATION_STATUS_SUBMITTED  # new, or reopened after a withdrawal
            app.note = request.note
            app.reason = ""
            app.decided_by = ""
            app.time_release = Release.TIME_RELEASE_STATUS_UNSPECIFIED
            app.submitted_at.CopyFrom(now_ts())
            app.version += 1
            pipe.multi()
            self._store_app(pipe, app)
            pipe.zadd(self.by_opportunity(opp.opportunity_id), {app_id: 0})
            pipe.zadd(self.by_employee(employee_id), {app_id: 0})
            self.apps.remember_request(pipe, request.request_id, app_id, fp)
            self._emit_app(pipe, "opportunity.application-submitted", events_pb2.ApplicationSubmitted(application=app))
            return app

        return await self.svc.commit(watch, body)

    async def _application(self, reader, context, application_id: str, release: bool = False):
        """The application for the caller, and for ``release`` the applicant's profile: who may touch
        an application at all is decided here, before anything about it (its existence, version or
        state) is told.

        Its parties are the applicant, the opportunity's owner and the manager releasing the time
        (``release``: the applicant's manager on record now, looked up); with HR admins and services
        they get the application or NOT_FOUND. Anyone else gets PERMISSION_DENIED whether it exists
        or not: application ids are "<opportunity>:<employee>", so a NOT_FOUND would tell a stranger
        who did not apply where (and a PERMISSION_DENIED only for existing ones, who did).
        """
        if not application_id:
            await invalid(context, "application_id is required")
        app = await self.apps.load(reader, application_id)
        ident = current_identity.get()
        opp_id, _, employee_id = application_id.rpartition(":")
        applicant = None
        if release and (app is not None or not ident.privileged):
            applicant = await self._may_release(context, app.employee_id if app is not None else employee_id)
        elif not ident.privileged:
            if app is not None:  # the release approver is a party as a manager (itm/managers.py)
                parties = {app.employee_id, app.owner_id}
                if managers.is_acting_manager(ident, app.release_approver_id):
                    parties.add(app.release_approver_id)
            else:
                opp = await self.opps.load(reader, opp_id) if opp_id else None
                parties = {employee_id, opp.owner_id if opp is not None else ""}
            if ident.subject not in parties - {""}:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                    f"{ident.subject} is neither the applicant, the owner nor the approving manager "
                                    f"of {application_id}")
        if app is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no application with id {application_id!r}")
        return app, applicant

    async def GetApplication(self, request, context):
        app, _ = await self._application(self.svc.redis, context, request.application_id)
        return app

    async def _change_app(self, context, application_id: str, expected_version: int, step, event_type: str, payload_for,
                          watch_for=lambda app: [], checked: bool = False):
        """Load the application (for its parties: ``_application``; ``checked``: the caller decided
        already) and its opportunity, check, ``step(pipe, app, opp)`` -> list of extra writes (or
        False: nothing to do); bump, store and emit atomically."""
        if not application_id:
            await invalid(context, "application_id is required")

        async def body(pipe):
            if checked:
                app = await self.apps.require(pipe, application_id, context)
            else:
                app, _ = await self._application(pipe, context, application_id)
            await pipe.watch(self.opps.key(app.opportunity_id), *watch_for(app))
            opp = await self.opps.load(pipe, app.opportunity_id)
            await check_version(context, "application", app.application_id, app.version, expected_version)
            writes = await step(pipe, app, opp)
            if writes is False:
                return app
            app.version += 1
            app.decided_by = current_identity.get().subject
            pipe.multi()
            self._store_app(pipe, app)
            for write in writes:
                write(pipe)
            self._emit_app(pipe, event_type, payload_for(app))
            return app

        return await self.svc.commit([self.apps.key(application_id)], body)

    async def _status_is(self, context, app, allowed, action: str) -> None:
        if app.status not in allowed:
            await failed_precondition(
                context, f"cannot {action} {app.application_id}: it is {_name(common_pb2.ApplicationStatus, app.status)} "
                         f"(allowed from {', '.join(_name(common_pb2.ApplicationStatus, s) for s in allowed)})")

    async def WithdrawApplication(self, request, context):
        await check_text(context, request.reason, "reason", 1000)

        async def step(pipe, app, opp):
            ident = current_identity.get()
            if not ident.privileged and ident.subject != app.employee_id:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, "only the applicant withdraws an application")
            await self._status_is(context, app, PENDING_APPS + (App.APPLICATION_STATUS_ACCEPTED,), "withdraw")
            app.status = App.APPLICATION_STATUS_WITHDRAWN
            app.reason = request.reason
            return [lambda p: self._unseat(p, app)]

        return await self._change_app(context, request.application_id, request.expected_version, step,
                                      "opportunity.application-withdrawn",
                                      lambda a: events_pb2.ApplicationWithdrawn(application=a))

    async def ShortlistApplication(self, request, context):
        async def step(pipe, app, opp):
            await self._owner_or_privileged(context, opp, "shortlist applicants")
            if app.status == App.APPLICATION_STATUS_SHORTLISTED:
                return False
            await self._status_is(context, app, (App.APPLICATION_STATUS_SUBMITTED,), "shortlist")
            await self._open(context, opp)
            app.status = App.APPLICATION_STATUS_SHORTLISTED
            return []

        return await self._change_app(context, request.application_id, request.expected_version, step,
                                      "opportunity.application-shortlisted",
                                      lambda a: events_pb2.ApplicationShortlisted(application=a))

    async def _open(self, context, opp) -> None:
        if opp.status != Status.OPPORTUNITY_STATUS_OPEN:
            await failed_precondition(context, f"{opp.opportunity_id} is {_name(common_pb2.OpportunityStatus, opp.status)}, "
                                               "not open")

    async def AcceptApplication(self, request, context):
        peek, _ = await self._application(self.svc.redis, context, request.application_id)
        opp_peek = await self.opps.load(self.svc.redis, peek.opportunity_id)
        await self._owner_or_privileged(context, opp_peek, "accept applicants")
        # the applicant's manager will release the time: who that is comes from the profile service
        manager = (await self.directory.employee(context, peek.employee_id, "applicant")).manager_id

        async def step(pipe, app, opp):
            await self._status_is(context, app, PENDING_APPS, "accept")
            await self._open(context, opp)
            await pipe.watch(self.seats_key(opp.opportunity_id))
            taken = await pipe.scard(self.seats_key(opp.opportunity_id))
            if taken >= opp.seats:
                await failed_precondition(context, f"all {opp.seats} seats of {opp.opportunity_id} are taken")
            app.status = App.APPLICATION_STATUS_ACCEPTED
            app.time_release = Release.TIME_RELEASE_STATUS_PENDING
            app.release_approver_id = manager
            return [lambda p: p.sadd(self.seats_key(opp.opportunity_id), app.application_id),
                    lambda p: p.zadd(self.release_index(manager or "-"), {app.application_id: 0})]

        return await self._change_app(context, request.application_id, request.expected_version, step,
                                      "opportunity.application-accepted",
                                      lambda a: events_pb2.ApplicationAccepted(application=a))

    async def DeclineApplication(self, request, context):
        await check_text(context, request.reason, "reason", 1000)

        async def step(pipe, app, opp):
            await self._owner_or_privileged(context, opp, "decline applicants")
            if app.status == App.APPLICATION_STATUS_ACCEPTED and app.time_release == Release.TIME_RELEASE_STATUS_APPROVED:
                await failed_precondition(context, f"{app.application_id} is an assignment under way (time released); "
                                                   "complete it, or the applicant withdraws")
            await self._status_is(context, app, PENDING_APPS + (App.APPLICATION_STATUS_ACCEPTED,), "decline")
            app.status = App.APPLICATION_STATUS_DECLINED
            app.reason = request.reason
            return [lambda p: self._unseat(p, app)]

        return await self._change_app(context, request.application_id, request.expected_version, step,
                                      "opportunity.application-declined",
                                      lambda a: events_pb2.ApplicationDeclined(application=a))

    async def _may_release(self, context, employee_id: str) -> profile_pb2.Employee:
        """The applicant's current manager (or HR) decides; returns the applicant's profile."""
        applicant = await self.directory.employee(context, employee_id, "applicant")
        ident = current_identity.get()
        if refusal := managers.may_act_as_manager(ident, applicant.manager_id, "release or refuse the time of", employee_id):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, refusal)
        return applicant

    async def ApproveTimeRelease(self, request, context):
        _, applicant = await self._application(self.svc.redis, context, request.application_id, release=True)
        share = self.svc.settings.gig_time_share_percent
        figures = {}

        async def step(pipe, app, opp):
            await self._status_is(context, app, (App.APPLICATION_STATUS_ACCEPTED,), "release time for")
            if app.time_release != Release.TIME_RELEASE_STATUS_PENDING:
                await failed_precondition(context, f"the time release of {app.application_id} is "
                                                   f"{_name(common_pb2.TimeReleaseStatus, app.time_release)}, not PENDING")
            if opp.status not in (Status.OPPORTUNITY_STATUS_OPEN, Status.OPPORTUNITY_STATUS_FILLED):
                await failed_precondition(context, f"{opp.opportunity_id} was {opp.outcome or 'closed'}")
            decision = release.decide(app, await self._ledger(pipe, app.employee_id),
                                      applicant.hours_available_per_week, share)
            if decision.refusal:
                await failed_precondition(context, decision.refusal)
            figures.update(committed=decision.total, limit=decision.limit)
            waiting_with = app.release_approver_id or "-"
            app.time_release = Release.TIME_RELEASE_STATUS_APPROVED
            app.release_approver_id = applicant.manager_id
            writes = [lambda p: p.zrem(self.release_index(waiting_with), app.application_id)]
            if release.counts(app.opportunity_type):
                writes.append(lambda p: p.hset(self.ledger_key(app.employee_id), app.application_id, app.hours_per_week))
            return writes

        return await self._change_app(
            context, request.application_id, request.expected_version, step, "opportunity.time-release-approved",
            lambda a: events_pb2.TimeReleaseApproved(application=a, committed_hours=figures["committed"],
                                                     limit_hours=figures["limit"]),
            watch_for=lambda app: [self.ledger_key(app.employee_id)], checked=True)

    async def _ledger(self, reader, employee_id: str) -> dict[str, float]:
        """Application -> hours per week released for the employee (approved, unfinished)."""
        return {k.decode(): float(v) for k, v in (await reader.hgetall(self.ledger_key(employee_id))).items()}

    async def _budget(self, employee: profile_pb2.Employee) -> opportunity_pb2.TimeReleaseBudget:
        return release.budget(employee.employee_id, employee.manager_id,
                              await self._ledger(self.svc.redis, employee.employee_id),
                              employee.hours_available_per_week, self.svc.settings.gig_time_share_percent)

    async def GetTimeReleaseBudget(self, request, context):
        await check_id(context, request.employee_id, "employee_id")
        ident = current_identity.get()
        if ident.privileged or ident.subject == request.employee_id:
            employee = await self.directory.employee(context, request.employee_id, "employee", missing=grpc.StatusCode.NOT_FOUND)
        else:
            employee, _ = await self.directory.lookup(request.employee_id)
            if employee is None or (refusal := managers.may_act_as_manager(ident, employee.manager_id, "release time of",
                                                                           request.employee_id)):
                await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                    f"{ident.subject} may not see {request.employee_id}'s released time: the employee, "
                                    "their manager and HR admins may")
        return await self._budget(employee)

    async def _release_budgets(self, apps) -> list[opportunity_pb2.TimeReleaseBudget]:
        """For the release approver's queue: each applicant's budget, when the caller releases
        their time (the manager of record now, or HR); else who does."""
        ident = current_identity.get()
        gate = asyncio.Semaphore(ASSESS_CONCURRENCY)
        found: dict[str, asyncio.Task] = {}

        async def one(employee_id):
            async with gate:
                employee, problem = await self.directory.lookup(employee_id)
                if employee is None:
                    return opportunity_pb2.TimeReleaseBudget(
                        employee_id=employee_id, unavailable_reason=problem or f"{employee_id} has no profile any more")
                if refusal := managers.may_act_as_manager(ident, employee.manager_id, "release time of", employee_id):
                    return opportunity_pb2.TimeReleaseBudget(employee_id=employee_id, manager_id=employee.manager_id,
                                                             unavailable_reason=refusal)
                return await self._budget(employee)

        for app in apps:
            if app.employee_id not in found:
                found[app.employee_id] = asyncio.ensure_future(one(app.employee_id))
        budgets = dict(zip(found, await asyncio.gather(*found.values())))
        return [budgets[app.employee_id] for app in apps]

    async def RefuseTimeRelease(self, request, context):
        await check_text(context, request.reason, "reason", 1000)
        _, applicant = await self._application(self.svc.redis, context, request.application_id, release=True)

        async def step(pipe, app, opp):
            await self._status_is(context, app, (App.APPLICATION_STATUS_ACCEPTED,), "refuse the time for")
            if app.time_release != Release.TIME_RELEASE_STATUS_PENDING:
                await failed_precondition(context, f"the time release of {app.application_id} is "
                                                   f"{_name(common_pb2.TimeReleaseStatus, app.time_release)}, not PENDING")
            waiting_with = app.release_approver_id or "-"
            app.time_release = Release.TIME_RELEASE_STATUS_REFUSED
            app.reason = request.reason
            app.release_approver_id = applicant.manager_id
            return [lambda p: p.zrem(self.release_index(waiting_with), app.application_id)]

        return await self._change_app(context, request.application_id, request.expected_version, step,
                                      "opportunity.time-release-refused",
                                      lambda a: events_pb2.TimeReleaseRefused(application=a), checked=True)

    async def CompleteAssignment(self, request, context):
        if not request.feedback:
            await invalid(context, "feedback needs at least one skill (skill, level): it becomes evidence on the profile")
        if len(request.feedback) > MAX_FEEDBACK:
            await invalid(context, f"at most {MAX_FEEDBACK} feedback entries")
        feedback: dict[str, common_pb2.SkillFeedback] = {}
        for i, f in enumerate(request.feedback):
            skill_id = await canonical_skill(context, f.skill, f"feedback[{i}].skill")
            if problem := check_level(f.level, f"feedback[{i}].level"):
                await invalid(context, problem)
            await check_text(context, f.comment, f"feedback[{i}].comment", 1000)
            if skill_id in feedback:
                await invalid(context, f"feedback[{i}]: skill {skill_id!r} is listed twice")
            feedback[skill_id] = common_pb2.SkillFeedback(skill_id=skill_id, level=f.level, comment=f.comment)
        title = {}

        async def step(pipe, app, opp):
            await self._owner_or_privileged(context, opp, "complete assignments")
            await self._status_is(context, app, (App.APPLICATION_STATUS_ACCEPTED,), "complete")
            if app.time_release != Release.TIME_RELEASE_STATUS_APPROVED:
                await failed_precondition(context, f"{app.employee_id}'s manager has not released the time for "
                                                   f"{app.application_id} yet; the assignment has not started")
            title["t"] = opp.title
            app.status = App.APPLICATION_STATUS_COMPLETED
            app.feedback.extend(feedback.values())
            # the seat stays taken (it was filled); the hours are free again
            return [lambda p: p.hdel(self.ledger_key(app.employee_id), app.application_id)]

        return await self._change_app(
            context, request.application_id, request.expected_version, step, "opportunity.feedback-given",
            lambda a: events_pb2.FeedbackGiven(application=a, feedback=list(feedback.values()), opportunity_title=title["t"]))

    async def ListApplications(self, request, context):
        selectors = [s for s in ("opportunity_id", "employee_id", "release_approver_id") if getattr(request, s)]
        if len(selectors) != 1:
            await invalid(context, "set exactly one of opportunity_id, employee_id or release_approver_id")
        size = await page_size_of(context, request.page_size)
        ident = current_identity.get()
        if request.opportunity_id:
            opp = await self.opps.require(self.svc.redis, request.opportunity_id, context)
            await self._owner_or_privileged(context, opp, "list its applications")
            index = self.by_opportunity(opp.opportunity_id)
        elif request.employee_id:
            if not ident.privileged and ident.subject != request.employee_id:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, "you may list only your own applications")
            index = self.by_employee(request.employee_id)
        else:
            if not ident.privileged and ident.subject != request.release_approver_id:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, "you may list only the releases waiting for you")
            if not ident.privileged and ident.role != managers.MANAGER_ROLE:  # the one manager rule
                await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                    f"{ident.subject} has the {ident.role} role, not manager: releasing time is a manager's "
                                    "action; HR grants the manager role (docs/authorization.md)")
            index = self.release_index(request.release_approver_id)
        items, token = await self.apps.page(size, request.page_token, index)
        answer = opportunity_pb2.ListApplicationsResponse(applications=items, next_page_token=token)
        if request.opportunity_id:  # the owner (or HR) judging: each applicant's score and skills
            answer.assessments.extend(await self._assessments(opp, items))
        elif request.release_approver_id:  # the approval queue: what is released already, and the cap
            answer.release_budgets.extend(await self._release_budgets(items))
        return answer

    async def GetApplicantAssessment(self, request, context):
        app, _ = await self._application(self.svc.redis, context, request.application_id)
        opp = await self.opps.require(self.svc.redis, app.opportunity_id, context)
        await self._owner_or_privileged(context, opp, "see its applicants' scores and skills")
        return (await self._assessments(opp, [app]))[0]

    async def _assessments(self, opp, apps) -> list[opportunity_pb2.ApplicantAssessment]:
        """The owner's view of each application (services/opportunity/applicants.py): the
        applicant's profile from the profile service and, unless their choices or the
        opportunity's state say no score, their current score with credits from the matcher;
        a few at a time, each degrading on its own."""
        gate = asyncio.Semaphore(ASSESS_CONCURRENCY)

        async def one(app):
            async with gate:
                employee, problem = await self.directory.lookup(app.employee_id)
                scores = None
                if not problem and not applicants.may_score(opp, employee):
                    scores = await self.matcher.score(app.employee_id, [opp.opportunity_id], explain=True)
                return applicants.assessment(app, opp, employee, scores, problem)

        return list(await asyncio.gather(*(one(a) for a in apps)))

    # -- replay ------------------------------------------------------------------------------------------------
    async def on_employee_erased(self, event, pipe) -> None:
        """Right to erasure: drop the employee's applications, seats and gig-hour ledger."""
        employee_id = event.payload.employee_id
        await pipe.watch(self.by_employee(employee_id))
        app_ids = [i.decode() for i in await pipe.zrange(self.by_employee(employee_id), 0, -1)]
        apps = [a for a in [await self.apps.load(pipe, i) for i in app_ids] if a is not None]
        await self.apps.erase(pipe, *[a.application_id for a in apps])  # starts the MULTI
        for app in apps:
            self._unseat(pipe, app)
            pipe.zrem(self.by_opportunity(app.opportunity_id), app.application_id)
        pipe.delete(self.by_employee(employee_id), self.ledger_key(employee_id))

    async def on_employee_moved(self, event, pipe) -> None:
        """A role this service filled moved the employee: the mobility KPIs count it."""
        pipe.multi()
        kpi.record_move(self.svc.kpi, pipe, event.envelope)

    async def Replay(self, request, context):
        if not current_identity.get().privileged:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "replay is for HR admins and services")
        count = await replay(self.svc, self.opps, lambda opp: [replay_envelope(opp)])
        return common_pb2.ReplayResponse(events_emitted=count)

    async def reindex(self) -> None:
        """Status and owner indexes for opportunities stored before they existed (idempotent,
        at start-up)."""
        for opp_id in await self.opps.all_ids():
            key = self.opps.key(opp_id)

            async def body(pipe, opp_id=opp_id):
                opp = await self.opps.load(pipe, opp_id)
                if opp is None:
                    return
                owned = await pipe.zscore(self.by_owner(opp.owner_id), owner_member(opp)) is not None
                indexed = await pipe.zscore(self.status_index(opp.status), opp_id) is not None
                if owned and indexed:
                    return
                pipe.multi()
                pipe.zadd(self.by_owner(opp.owner_id), {owner_member(opp): 0})
                if not indexed:
                    for status in common_pb2.OpportunityStatus.values():
                        if status and status != opp.status:
                            pipe.zrem(self.status_index(status), opp_id)
                    pipe.zadd(self.status_index(opp.status), {opp_id: 0})

            await self.svc.commit([key], body)


class _Refused(Exception):
    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self.code, self.details = code, details


class _SweepContext:
    """What a handler needs of a gRPC context when the service calls it itself."""

    async def abort(self, code: grpc.StatusCode, details: str = "", *args) -> None:
        raise _Refused(code, details)


def replay_envelope(opp: opportunity_pb2.Opportunity):
    """The current state as the event that leads to it (open, waiting for approval, or closed)."""
    if opp.status == Status.OPPORTUNITY_STATUS_OPEN:
        payload, event_type = events_pb2.GigPosted(opportunity=match_profile(opp), approved_by=opp.decided_by), \
            "opportunity.gig-posted"
    elif opp.status == Status.OPPORTUNITY_STATUS_PENDING_APPROVAL:
        payload, event_type = events_pb2.ApprovalRequested(opportunity=match_profile(opp), approver_id=opp.approver_id), \
            "opportunity.approval-requested"
    else:
        payload, event_type = events_pb2.GigClosed(opportunity=match_profile(opp), outcome=opp.outcome,
                                                   assigned_employee_ids=list(opp.assigned_employee_ids)), \
            "opportunity.gig-closed"
    return new_envelope(event_type, SOURCE, opp.opportunity_id, opp.version, payload)


def build() -> DomainService:
    svc = DomainService("opportunity")
    svc.outbox.on_fact(lambda pipe, env: kpi.record(svc.kpi, pipe, env))
    svc.kpi_export.configure(histograms=kpi.HISTOGRAMS, tallies=kpi.TALLIES, ratios=kpi.RATIOS, zeros=kpi.ZEROS)
    servicer = OpportunityServicer(svc)
    opportunity_pb2_grpc.add_OpportunityServiceServicer_to_server(servicer, svc.grpc)
    svc.add_task(servicer.reindex)
    svc.add_task(servicer.expire_due)
    svc.add_consumer(IdempotentConsumer(svc.settings, svc.redis, "opportunity.erasure", ["profile.employee-erased"],
                                        servicer.on_employee_erased))
    svc.add_consumer(IdempotentConsumer(svc.settings, svc.redis, "opportunity.moves", ["profile.employee-moved"],
                                        servicer.on_employee_moved))
    svc.add_service_check("profile", svc.settings.profile_target)  # itm.profile: owners' managers, hours
    svc.add_service_check("matcher", svc.settings.matcher_target)  # itm.matcher: scores in search, applicants
    svc.on_shutdown.append(servicer.directory.close)
    svc.on_shutdown.append(servicer.matcher.close)
    return svc
