"""xAPI 1.0.3 statements on the learning service over real HTTP: a completion arrives
as learning.course-completed exactly as CompleteCourse would (and becomes verified
skill evidence), a repeated statement id has one effect, refusals say why."""

from __future__ import annotations

import uuid

import aiohttp
import pytest

from _stack import ModuleStack, all_topics, uid
from itm.runtime.auth import mint_token
from itm.v1 import learning_pb2 as L, profile_pb2 as P

COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
PASSED = "http://adlnet.gov/expapi/verbs/passed"


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("xapi"))
    await s.start({"profile": {}, "learning": {}}, all_topics("learning.", "profile."))
    yield s
    await s.close(failed=request.session.testsfailed > 0)


@pytest.fixture(scope="module")
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def setup(stack, *employees):
    c = stack.clients
    cid = f"c-{uid('x').lower()}"
    await c.learning.PublishCourse(L.PublishCourseRequest(
        course_id=cid, title="SQL Basics", hours=4, provider="LMS", teaches=[L.CourseSkillInput(skill="sql", level=3)]),
        metadata=c.metadata)
    for emp in employees:
        await c.profile.CreateEmployee(P.CreateEmployeeRequest(employee_id=emp, name=f"Name {emp}"), metadata=c.metadata)
    return cid


def statement(stack, emp, cid, verb=COMPLETED, sid=None, **extra):
    s = {"actor": {"objectType": "Agent", "account": {"homePage": "https://lms.example.com", "name": emp}},
         "verb": {"id": verb, "display": {"en-US": "completed"}},
         "object": {"objectType": "Activity", "id": f"{stack.settings.public_base_url}/courses/{cid}"},
         "result": {"completion": True, "success": True}, **extra}
    if sid:
        s["id"] = sid
    return s


def headers(stack, role="service", version="1.0.3"):
    h = {"Authorization": f"Bearer {mint_token(stack.settings, 'lms', role)}"}
    if version:
        h["X-Experience-API-Version"] = version
    return h


def url(stack):
    return f"{stack.procs['learning'].http_url}/xapi/statements"


async def test_a_statement_completes_the_course_once_like_complete_course(stack, http):
    via_xapi, via_grpc = uid("X"), uid("X")
    cid = await setup(stack, via_xapi, via_grpc)
    sid = str(uuid.uuid4())
    async with http.post(url(stack), json=statement(stack, via_xapi, cid, sid=sid), headers=headers(stack)) as r:
        assert r.status == 200, await r.text()
        assert await r.json() == [sid] and r.headers["X-Experience-API-Version"] == "1.0.3"
    c = stack.clients
    await c.learning.CompleteCourse(L.CompleteCourseRequest(employee_id=via_grpc, course_id=cid), metadata=c.metadata)
    [x] = await stack.log.wait_for("learning.course-completed", via_xapi)
    [g] = await stack.log.wait_for("learning.course-completed", via_grpc)
    assert (x.payload.course_id, list(x.payload.skills), x.event.version) == (g.payload.course_id, list(g.payload.skills),
                                                                             g.event.version)
    assert x.payload.credential_id.startswith("cred-") and x.env.source == "learning"
    verified = await stack.log.wait_for("profile.skill-verified", via_xapi)  # the same loop as CompleteCourse
    assert (verified[0].payload.skill.skill_id, verified[0].payload.course_id) == ("sql", cid)

    # the same statement again, by POST and by PUT: one effect
    async with http.post(url(stack), json=[statement(stack, via_xapi, cid, sid=sid)], headers=headers(stack)) as r:
        assert r.status == 200 and await r.json() == [sid]
    async with http.put(url(stack), params={"statementId": sid}, json=statement(stack, via_xapi, cid),
                        headers=headers(stack)) as r:
        assert r.status == 204, await r.text()
    # the same id for something else: 409
    async with http.put(url(stack), params={"statementId": sid}, json=statement(stack, via_xapi, cid, verb=PASSED),
                        headers=headers(stack)) as r:
        assert r.status == 409 and "already sent with other content" in (await r.json())["error"]
    # another statement id for the same completion ("passed" counts too): still one completion
    async with http.put(url(stack), params={"statementId": str(uuid.uuid4())},
                        json=statement(stack, via_xapi, cid, verb=PASSED), headers=headers(stack)) as r:
        assert r.status == 204
    await stack.log.quiet(1.0)
    assert len(stack.log.of("learning.course-completed", via_xapi)) == 1
    done = await c.learning.GetEnrollment(L.GetEnrollmentRequest(employee_id=via_xapi, course_id=cid), metadata=c.metadata)
    assert done.status == "completed" and done.credential_id == x.payload.credential_id


async def test_refusals_say_why_and_change_nothing(stack, http):
    emp = uid("X")
    cid = await setup(stack, emp)
    base = stack.settings.public_base_url
    good = statement(stack, emp, cid)
    cases = [
        (good, headers(stack, version=""), 400, "X-Experience-API-Version header is required"),
        (good, headers(stack, version="0.95"), 400, "not supported"),
        (good, {"X-Experience-API-Version": "1.0.3"}, 401, "Bearer"),
        (good, headers(stack, role="employee"), 403, "learning platform"),
        (statement(stack, uid("nobody"), cid), headers(stack), 400, "is not an employee of ITM"),
        ({**good, "actor": {"mbox": "mailto:nobody@example.com"}}, headers(stack), 400,
         "actor.mbox mailto:nobody@example.com is not an employee"),
        ({**good, "object": {"id": f"{base}/courses/no-such-course"}}, headers(stack), 400,
         "no-such-course', which is not in the catalog"),
        ({**good, "object": {"id": "https://lms.example.com/activities/42"}}, headers(stack), 400,
         "is not a catalog course"),
        (statement(stack, emp, cid, verb="http://adlnet.gov/expapi/verbs/attempted"), headers(stack), 400,
         "is not a completion"),
        ({**good, "result": {"success": False}}, headers(stack), 400, "result.success is false"),
        ({**good, "actor": {"objectType": "Group", "member": []}}, headers(stack), 400, "only an Agent"),
        ({**good, "id": "not-a-uuid"}, headers(stack), 400, "is not a UUID"),
        ([good, statement(stack, uid("nobody"), cid)], headers(stack), 400, "is not an employee"),
    ]
    for body, hdrs, status, fragment in cases:
        async with http.post(url(stack), json=body, headers=hdrs) as r:
            text = await r.text()
            assert r.status == status and fragment in text, (status, fragment, r.status, text)
    big = "Zq" * 10_000  # oversized values are refused without being repeated back (issue 16 item 5)
    for body in [statement(stack, big, cid), {**good, "object": {"id": f"{base}/courses/{big}"}},
                 {**good, "verb": {"id": big}}, {**good, "actor": {"mbox": f"mailto:{big}@example.com"}}]:
        async with http.post(url(stack), json=body, headers=headers(stack)) as r:
            text = await r.text()
            assert r.status in (400, 413) and "Zq" * 16 not in text, (r.status, text[:300])
    await stack.log.quiet(1.0)
    assert not stack.log.of("learning.course-completed", emp)  # the batch with one bad statement applied none


async def test_an_actor_by_mbox_or_its_sha1_is_the_employee_scim_provisioned(stack, http):
    import hashlib

    emp = uid("X")
    cid = await setup(stack)
    scim = {"Authorization": f"Bearer {mint_token(stack.settings, 'okta', 'service')}"}
    async with http.post(f"{stack.procs['profile'].http_url}/scim/v2/Users", headers=scim, json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"{emp}@Example.com",
            "externalId": emp, "emails": [{"value": f"{emp}.work@example.com", "type": "work"}]}) as r:
        assert r.status == 201, await r.text()
    by_mbox = {**statement(stack, emp, cid), "actor": {"mbox": f"mailto:{emp}.WORK@example.com"}}
    async with http.post(url(stack), json=by_mbox, headers=headers(stack)) as r:
        assert r.status == 200, await r.text()
    [done] = await stack.log.wait_for("learning.course-completed", emp)
    assert done.payload.course_id == cid
    sha = hashlib.sha1(f"mailto:{emp.lower()}@example.com".encode()).hexdigest()
    by_sha = {**statement(stack, emp, cid), "actor": {"mbox_sha1sum": sha}}
    async with http.post(url(stack), json=by_sha, headers=headers(stack)) as r:
        assert r.status == 200, await r.text()
    await stack.log.quiet(0.5)
    assert len(stack.log.of("learning.course-completed", emp)) == 1
