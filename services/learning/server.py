"""Learning service: course catalog, enrollments, completions and credentials."""

from __future__ import annotations

import re
import uuid

import grpc

from itm.runtime.auth import current_identity, require_self_or_privileged
from itm.runtime.domain import DomainService, EntityStore, canonical_skill, check_level, invalid, replay
from itm.runtime.envelope import new_envelope
from itm.v1 import common_pb2, events_pb2, learning_pb2, learning_pb2_grpc

SOURCE = "learning"
ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class LearningServicer(learning_pb2_grpc.LearningServiceServicer):
    def __init__(self, svc: DomainService):
        self.svc = svc
        self.courses = EntityStore(svc, "course", common_pb2.Course, "course_id")
        self.enrollments = EntityStore(svc, "enrollment", learning_pb2.Enrollment, "enrollment_id")

    def _skill_index(self, skill_id: str) -> str:
        return self.svc.settings.key(f"course:by-skill:{skill_id}")

    async def PublishCourse(self, request, context):
        ident = current_identity.get()
        if not ident.privileged:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "publishing courses is for HR admins")
        if not request.title or len(request.title) > 200:
            await invalid(context, "title is required (at most 200 characters)")
        if request.hours <= 0 or request.hours > 1000:
            await invalid(context, f"hours must be > 0 and <= 1000, got {request.hours}")
        if request.course_id and not ID_RE.match(request.course_id):
            await invalid(context, "course_id must be lowercase letters, digits, '.', '_' or '-' (max 64)")
        if not request.teaches:
            await invalid(context, "a course teaches at least one skill (teaches: skill, level)")
        teaches = []
        for i, t in enumerate(request.teaches):
            skill_id = await canonical_skill(context, t.skill)
            if problem := check_level(t.level, f"teaches[{i}].level"):
                await invalid(context, problem)
            teaches.append(common_pb2.CourseSkill(skill_id=skill_id, level=t.level))
        course = common_pb2.Course(
            course_id=request.course_id or f"course-{uuid.uuid4().hex[:10]}",
            title=request.title, hours=request.hours, format=request.format,
            provider=request.provider, teaches=teaches,
        )
        key = self.courses.key(course.course_id)
        vkey = self._version_key(course.course_id)

        async def body(pipe):
            prior = await self.courses.load(pipe, course.course_id)
            if prior is not None and prior == course:
                return prior  # idempotent republish
            version = int(await pipe.get(vkey) or 0) + 1
            pipe.multi()
            self.courses.store(pipe, course)
            if prior is not None:
                for old in prior.teaches:
                    pipe.zrem(self._skill_index(old.skill_id), course.course_id)
            for t in course.teaches:
                pipe.zadd(self._skill_index(t.skill_id), {course.course_id: t.level})
            pipe.set(vkey, version)
            self.svc.outbox.add(pipe, new_envelope("learning.course-published", SOURCE, course.course_id, version,
                                                   events_pb2.CoursePublished(course=course)))
            return course

        return await self.svc.commit([key, vkey], body)

    def _version_key(self, course_id: str) -> str:
        # catalog entries' versions live beside them (Course carries none)
        return self.svc.settings.key(f"course:version:{course_id}")

    async def GetCourse(self, request, context):
        return await self.courses.require(self.svc.redis, request.course_id, context)

    async def FindCourses(self, request, context):
        skill_id = await canonical_skill(context, request.skill)
        level = request.min_level or 1
        if problem := check_level(level, "min_level"):
            await invalid(context, problem)
        ids = await self.svc.redis.zrangebyscore(self._skill_index(skill_id), level, 5)
        courses = [c for c in [await self.courses.load(self.svc.redis, i.decode()) for i in ids] if c and not c.retired]
        courses.sort(key=lambda c: (c.hours, c.course_id))
        size = max(1, min(request.page_size or 20, 100))
        start = int(request.page_token or 0)
        page = courses[start:start + size]
        token = str(start + size) if start + size < len(courses) else ""
        return learning_pb2.FindCoursesResponse(courses=page, next_page_token=token)

    def _enrollment_id(self, employee_id: str, course_id: str) -> str:
        return f"{employee_id}:{course_id}"

    async def Enroll(self, request, context):
        await require_self_or_privileged(context, request.employee_id)
        if not request.employee_id:
            await invalid(context, "employee_id is required")
        course = await self.courses.require(self.svc.redis, request.course_id, context)
        eid = self._enrollment_id(request.employee_id, course.course_id)

        async def body(pipe):
            prior = await self.enrollments.load(pipe, eid)
            if prior is not None:
                return prior  # enrolling twice is the same enrollment
            enrollment = learning_pb2.Enrollment(enrollment_id=eid, employee_id=request.employee_id,
                                                 course_id=course.course_id, status="enrolled", version=1)
            pipe.multi()
            self.enrollments.store(pipe, enrollment)
            return enrollment

        return await self.svc.commit([self.enrollments.key(eid)], body)

    async def CompleteCourse(self, request, context):
        ident = current_identity.get()
        if not ident.privileged:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                "completions are recorded by the learning platform (service) or HR admins")
        if not request.employee_id:
            await invalid(context, "employee_id is required")
        course = await self.courses.require(self.svc.redis, request.course_id, context)
        eid = self._enrollment_id(request.employee_id, course.course_id)

        async def body(pipe):
            enrollment = await self.enrollments.load(pipe, eid) or learning_pb2.Enrollment(
                enrollment_id=eid, employee_id=request.employee_id, course_id=course.course_id, version=0)
            if enrollment.status == "completed":
                return enrollment  # idempotent: one completion, one event
            enrollment.status = "completed"
            enrollment.credential_id = f"cred-{uuid.uuid4().hex[:12]}"
            enrollment.version += 1
            pipe.multi()
            self.enrollments.store(pipe, enrollment)
            self.svc.outbox.add(pipe, new_envelope(
                "learning.course-completed", SOURCE, request.employee_id, enrollment.version,
                events_pb2.CourseCompleted(employee_id=request.employee_id, course_id=course.course_id,
                                           skills=list(course.teaches), credential_id=enrollment.credential_id)))
            return enrollment

        return await self.svc.commit([self.enrollments.key(eid)], body)

    async def Replay(self, request, context):
        if not current_identity.get().privileged:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "replay is for HR admins and services")
        versions = {}
        for cid in await self.courses.all_ids():
            versions[cid] = int(await self.svc.redis.get(self._version_key(cid)) or 1)
        count = await replay(self.svc, self.courses, lambda c: [new_envelope(
            "learning.course-published", SOURCE, c.course_id, versions.get(c.course_id, 1),
            events_pb2.CoursePublished(course=c))])
        return common_pb2.ReplayResponse(events_emitted=count)


def build() -> DomainService:
    svc = DomainService("learning")
    learning_pb2_grpc.add_LearningServiceServicer_to_server(LearningServicer(svc), svc.grpc)
    return svc
