"""Profile service: employees, skills with evidence, and match preferences."""

from __future__ import annotations

import grpc

from itm.runtime.auth import current_identity, require_self_or_privileged
from itm.runtime.consumer import IdempotentConsumer, PermanentError
from itm.runtime.domain import (
    DomainService,
    EntityStore,
    canonical_skill,
    check_level,
    check_version,
    invalid,
    replay,
)
from itm.runtime.envelope import Event, new_envelope
from itm.v1 import common_pb2, events_pb2, profile_pb2, profile_pb2_grpc

SOURCE = "profile"
Status = common_pb2.SkillStatus
Source = common_pb2.EvidenceSource
VERIFYING_SOURCES = {Source.EVIDENCE_SOURCE_MANAGER, Source.EVIDENCE_SOURCE_ASSESSMENT, Source.EVIDENCE_SOURCE_COURSE, Source.EVIDENCE_SOURCE_GIG}
MAX_TEXT = 200


def match_profile(emp: profile_pb2.Employee) -> common_pb2.EmployeeMatchProfile:
    """The blind view the matcher gets: ids, skills, preferences; no name."""
    prefs = emp.preferences
    return common_pb2.EmployeeMatchProfile(
        employee_id=emp.employee_id,
        skills=[rec.skill for rec in emp.skills],
        threshold_percent=prefs.threshold_percent,
        opted_out=prefs.opted_out,
        opportunity_types=list(prefs.opportunity_types),
        mentoring_opt_in=prefs.mentoring_opt_in,
        department=emp.department,
        location=emp.location,
    )


def _skill_record(emp: profile_pb2.Employee, skill_id: str) -> profile_pb2.SkillRecord | None:
    for rec in emp.skills:
        if rec.skill.skill_id == skill_id:
            return rec
    return None


class ProfileServicer(profile_pb2_grpc.ProfileServiceServicer):
    def __init__(self, svc: DomainService):
        self.svc = svc
        self.employees = EntityStore(svc, "employee", profile_pb2.Employee, "employee_id")

    # -- helpers -------------------------------------------------------------------
    def _emit(self, pipe, event_type: str, emp: profile_pb2.Employee, payload, correlation_id=None, causation_id=""):
        env = new_envelope(event_type, SOURCE, emp.employee_id, emp.version, payload, correlation_id, causation_id)
        self.svc.outbox.add(pipe, env)

    async def _validate_person(self, context, request) -> None:
        if request.hours_available_per_week < 0 or request.hours_available_per_week > 80:
            await invalid(context, f"hours_available_per_week must be between 0 and 80, got {request.hours_available_per_week}")
        for field in ("name", "department", "manager_id", "location"):
            if len(getattr(request, field)) > MAX_TEXT:
                await invalid(context, f"{field} is longer than {MAX_TEXT} characters")

    async def _update(self, request, context, mutate, event_type: str, payload_for):
        """Load, check version, mutate, bump version, store and emit, atomically."""
        await require_self_or_privileged(context, request.employee_id)
        key = self.employees.key(request.employee_id)

        async def body(pipe):
            emp = await self.employees.require(pipe, request.employee_id, context)
            await check_version(context, "employee", emp.employee_id, emp.version, request.expected_version)
            await mutate(emp)
            emp.version += 1
            pipe.multi()
            self.employees.store(pipe, emp)
            self._emit(pipe, event_type, emp, payload_for(emp))
            return emp

        return await self.svc.commit([key], body)

    # -- RPCs --------------------------------------------------------------------------
    async def CreateEmployee(self, request, context):
        if not request.employee_id:
            await invalid(context, "employee_id is required")
        if not request.name:
            await invalid(context, "name is required")
        await self._validate_person(context, request)
        ident = current_identity.get()
        if not ident.privileged and ident.subject != request.employee_id:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "only HR admins create other employees' profiles")
        key = self.employees.key(request.employee_id)
        req_key = self.employees.request_key(request.request_id) if request.request_id else None

        async def body(pipe):
            if req_key and (prior := await pipe.get(req_key)):
                return await self.employees.load(pipe, prior.decode())
            if await pipe.exists(key):
                await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"employee {request.employee_id} already exists")
            emp = profile_pb2.Employee(
                employee_id=request.employee_id,
                name=request.name,
                department=request.department,
                manager_id=request.manager_id,
                location=request.location,
                hours_available_per_week=request.hours_available_per_week,
                career_aspirations=list(request.career_aspirations),
                version=1,
            )
            pipe.multi()
            self.employees.store(pipe, emp)
            if req_key:
                pipe.set(req_key, emp.employee_id, ex=7 * 24 * 3600)
            self._emit(pipe, "profile.employee-registered", emp, events_pb2.EmployeeRegistered(profile=match_profile(emp)))
            return emp

        return await self.svc.commit([key] + ([req_key] if req_key else []), body)

    async def GetEmployee(self, request, context):
        await require_self_or_privileged(context, request.employee_id)
        return await self.employees.require(self.svc.redis, request.employee_id, context)

    async def UpdateEmployee(self, request, context):
        await self._validate_person(context, request)

        async def mutate(emp):
            for field in ("name", "department", "manager_id", "location"):
                if getattr(request, field):
                    setattr(emp, field, getattr(request, field))
            if request.hours_available_per_week:
                emp.hours_available_per_week = request.hours_available_per_week
            if request.career_aspirations:
                del emp.career_aspirations[:]
                emp.career_aspirations.extend(request.career_aspirations)

        return await self._update(
            request, context, mutate, "profile.employee-updated",
            lambda emp: events_pb2.EmployeeUpdated(profile=match_profile(emp)),
        )

    async def UpsertSkill(self, request, context):
        skill_id = await canonical_skill(context, request.skill)
        if problem := check_level(request.level):
            await invalid(context, problem)
        if request.status == Status.SKILL_STATUS_VERIFIED:
            await invalid(context, "status VERIFIED is set by VerifySkill (manager, assessment, course or gig), not UpsertSkill")
        status = request.status or Status.SKILL_STATUS_CLAIMED
        source = request.source or Source.EVIDENCE_SOURCE_SELF

        async def mutate(emp):
            rec = _skill_record(emp, skill_id)
            if rec is None:
                rec = emp.skills.add()
            elif rec.skill.status == Status.SKILL_STATUS_VERIFIED and rec.skill.level >= request.level:
                # a weaker claim never overrides verified evidence; keep it as history
                rec.evidence.add(source=source, reference=request.reference, level=request.level, status=status).at.GetCurrentTime()
                return
            rec.skill.CopyFrom(common_pb2.EmployeeSkill(skill_id=skill_id, level=request.level, status=status, source=source))
            rec.evidence.add(source=source, reference=request.reference, level=request.level, status=status).at.GetCurrentTime()

        return await self._update(
            request, context, mutate, "profile.skill-added",
            lambda emp: events_pb2.SkillAdded(skill=_skill_record(emp, skill_id).skill, profile=match_profile(emp)),
        )

    async def RemoveSkill(self, request, context):
        skill_id = await canonical_skill(context, request.skill)

        async def mutate(emp):
            rec = _skill_record(emp, skill_id)
            if rec is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"employee {emp.employee_id} has no skill {skill_id!r}")
            emp.skills.remove(rec)

        return await self._update(
            request, context, mutate, "profile.skill-removed",
            lambda emp: events_pb2.SkillRemoved(skill_id=skill_id, profile=match_profile(emp)),
        )

    async def VerifySkill(self, request, context):
        skill_id = await canonical_skill(context, request.skill)
        if problem := check_level(request.level):
            await invalid(context, problem)
        if request.source not in VERIFYING_SOURCES:
            await invalid(context, "source must be MANAGER, ASSESSMENT, COURSE or GIG to verify a skill")
        ident = current_identity.get()
        if not ident.privileged and ident.role != "manager":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "only a manager, an assessment or HR verifies skills")
        key = self.employees.key(request.employee_id)

        async def body(pipe):
            emp = await self.employees.require(pipe, request.employee_id, context)
            await check_version(context, "employee", emp.employee_id, emp.version, request.expected_version)
            if ident.role == "manager" and emp.manager_id != ident.subject:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{ident.subject} is not {emp.employee_id}'s manager")
            skill = apply_verified(emp, skill_id, request.level, request.source, request.reference or ident.subject)
            emp.version += 1
            pipe.multi()
            self.employees.store(pipe, emp)
            self._emit(pipe, "profile.skill-verified", emp, events_pb2.SkillVerified(
                skill=skill, verified_by=ident.subject, profile=match_profile(emp)))
            return emp

        return await self.svc.commit([key], body)

    async def SetPreferences(self, request, context):
        prefs = request.preferences
        if not 0 <= prefs.threshold_percent <= 100:
            await invalid(context, f"threshold_percent must be between 1 and 100 (0 keeps the default), got {prefs.threshold_percent}")

        async def mutate(emp):
            emp.preferences.CopyFrom(prefs)

        return await self._update(
            request, context, mutate, "profile.preferences-changed",
            lambda emp: events_pb2.PreferencesChanged(profile=match_profile(emp)),
        )

    async def ListEmployees(self, request, context):
        if not current_identity.get().privileged:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "listing employees is for HR admins")
        items, token = await self.employees.page(request.page_size, request.page_token)
        return profile_pb2.ListEmployeesResponse(employees=items, next_page_token=token)

    async def Replay(self, request, context):
        if not current_identity.get().privileged:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "replay is for HR admins and services")
        count = await replay(self.svc, self.employees, lambda emp: [
            new_envelope("profile.employee-updated", SOURCE, emp.employee_id, emp.version,
                         events_pb2.EmployeeUpdated(profile=match_profile(emp)))])
        return common_pb2.ReplayResponse(events_emitted=count)

    # -- events from other services ---------------------------------------------------
    async def on_course_completed(self, event: Event, pipe) -> None:
        """A completion becomes verified skill evidence and a profile.skill-verified event."""
        done: events_pb2.CourseCompleted = event.payload
        await pipe.watch(self.employees.key(done.employee_id))
        emp = await self.employees.load(pipe, done.employee_id)
        if emp is None:
            raise PermanentError(f"course completed by unknown employee {done.employee_id!r}")
        verified = [
            apply_verified(emp, cs.skill_id, cs.level, Source.EVIDENCE_SOURCE_COURSE, done.course_id)
            for cs in done.skills
        ]
        pipe.multi()
        for skill in verified:
            emp.version += 1
            self.employees.store(pipe, emp)
            self._emit(
                pipe, "profile.skill-verified", emp,
                events_pb2.SkillVerified(skill=skill, verified_by=done.course_id, course_id=done.course_id, profile=match_profile(emp)),
                correlation_id=event.envelope.correlation_id, causation_id=event.event_id,
            )


def apply_verified(emp: profile_pb2.Employee, skill_id: str, level: int, source, reference: str) -> common_pb2.EmployeeSkill:
    """Record verified evidence; the skill's level becomes the best verified level."""
    rec = _skill_record(emp, skill_id)
    if rec is None:
        rec = emp.skills.add()
        rec.skill.skill_id = skill_id
    if rec.skill.status != Status.SKILL_STATUS_VERIFIED or level > rec.skill.level:
        rec.skill.level = level
    rec.skill.status = Status.SKILL_STATUS_VERIFIED
    rec.skill.source = source
    ev = rec.evidence.add(source=source, reference=reference, level=level, status=Status.SKILL_STATUS_VERIFIED)
    ev.at.GetCurrentTime()
    return common_pb2.EmployeeSkill.FromString(rec.skill.SerializeToString())


def build() -> DomainService:
    svc = DomainService("profile")
    servicer = ProfileServicer(svc)
    profile_pb2_grpc.add_ProfileServiceServicer_to_server(servicer, svc.grpc)
    svc.add_consumer(
        IdempotentConsumer(
            svc.settings, svc.redis, "profile.course-completions", ["learning.course-completed"],
            servicer.on_course_completed, after_commit=svc.wake_relay,
        )
    )
    return svc
