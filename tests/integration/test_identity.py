"""Identity on every call (OIDC/JWKS with key rotation), the audit stream,
per-identity rate limits and request size bounds, against real processes."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from itm.client import Clients
from itm.devstack import free_port
from itm.runtime.auth import bearer, mint_token
from itm.runtime.settings import Settings
from itm.v1 import common_pb2, learning_pb2, opportunity_pb2, opportunity_pb2_grpc, profile_pb2, profile_pb2_grpc

ISSUER = "https://idp.itm.test"


class FakeIdP:
    """A JWKS endpoint on loopback whose key set the test rotates."""

    def __init__(self):
        self.keys: dict[str, object] = {}
        self.fetches = 0
        self.port = free_port()
        self.runner = None

    def add_key(self, kid: str, private_key) -> None:
        self.keys[kid] = private_key

    def token(self, kid: str, sub="E1", role="employee", aud="itm", ttl=300, key=None, alg=None) -> str:
        private = key or self.keys[kid]
        alg = alg or ("ES256" if isinstance(private, ec.EllipticCurvePrivateKey) else "RS256")
        now = int(time.time())
        return jwt.encode({"sub": sub, "role": role, "iss": ISSUER, "aud": aud, "iat": now, "exp": now + ttl},
                          private, algorithm=alg, headers={"kid": kid})

    async def jwks(self, request):
        self.fetches += 1
        keys = []
        for kid, private in self.keys.items():
            algo = jwt.algorithms.ECAlgorithm if isinstance(private, ec.EllipticCurvePrivateKey) else jwt.algorithms.RSAAlgorithm
            jwk = json.loads(algo.to_jwk(private.public_key()))
            jwk.update(kid=kid, use="sig")
            keys.append(jwk)
        return web.json_response({"keys": keys})

    async def start(self):
        app = web.Application()
        app.router.add_get("/jwks", self.jwks)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks"


@pytest.fixture
async def idp():
    server = FakeIdP()
    await server.start()
    yield server
    await server.runner.cleanup()


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def get_course(target: str, token: str):
    async with grpc.aio.insecure_channel(target) as channel:
        stub = Clients({"learning": channel}, bearer(token)).learning
        return await stub.GetCourse(learning_pb2.GetCourseRequest(course_id="nope"), metadata=bearer(token))


async def status_of(target: str, token: str) -> grpc.StatusCode:
    try:
        await get_course(target, token)
        return grpc.StatusCode.OK
    except grpc.aio.AioRpcError as exc:
        return exc.code()


async def test_oidc_tokens_are_verified_against_jwks_and_rotated_keys_are_accepted(start_service, idp):
    idp.add_key("k1", rsa_key())
    svc = start_service("learning", auth_jwks_url=idp.url, token_issuer=ISSUER, auth_jwks_cache_s=300,
                        auth_jwks_refresh_cooldown_s=1)
    target = svc.grpc_target
    # authenticated: the call reaches the handler, which says the course does not exist
    assert await status_of(target, idp.token("k1")) == grpc.StatusCode.NOT_FOUND

    idp.keys.clear()
    idp.add_key("k2", rsa_key())  # the provider rotated: k1 is gone, k2 is new
    fetches = idp.fetches
    # within the refresh cooldown an unknown key id is refused without asking the provider
    assert await status_of(target, idp.token("k2")) == grpc.StatusCode.UNAUTHENTICATED
    assert idp.fetches == fetches
    await asyncio.sleep(1.1)
    assert await status_of(target, idp.token("k2")) == grpc.StatusCode.NOT_FOUND
    assert idp.fetches == fetches + 1, "an unknown key id refetches the key set once"
    await asyncio.sleep(1.1)

    idp.add_key("k3", ec.generate_private_key(ec.SECP256R1()))
    assert await status_of(target, idp.token("k3")) == grpc.StatusCode.NOT_FOUND  # ES256

    forged = idp.token("k2", key=rsa_key())  # right kid, wrong key
    expired = idp.token("k2", ttl=-60)
    wrong_audience = idp.token("k2", aud="someone-else")
    hs256 = jwt.encode({"sub": "E1", "role": "employee", "iss": ISSUER, "aud": "itm", "exp": int(time.time()) + 60},
                       "x" * 40, algorithm="HS256", headers={"kid": "k2"})
    for token, reason in [(forged, "Signature verification failed"), (expired, "expired"),
                          (wrong_audience, "audience"), (hs256, "")]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await get_course(target, token)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert reason.lower() in err.value.details().lower()


async def test_state_changes_are_audited_with_who_what_and_outcome(start_service, topic_prefix, redis_client):
    svc = start_service("learning")
    settings = Settings(topic_prefix=topic_prefix)
    admin = Clients.connect({"learning": svc.grpc_target}, settings, subject="hr-1", role="hr_admin")
    await admin.learning.PublishCourse(learning_pb2.PublishCourseRequest(
        course_id="sql-101", title="SQL 101", hours=4, teaches=[learning_pb2.CourseSkillInput(skill="sql", level=2)]),
        metadata=admin.metadata)
    await admin.learning.GetCourse(learning_pb2.GetCourseRequest(course_id="sql-101"), metadata=admin.metadata)
    employee = admin.as_(settings, "E1", "employee")
    with pytest.raises(grpc.aio.AioRpcError):
        await employee.learning.PublishCourse(learning_pb2.PublishCourseRequest(
            course_id="x", title="x", hours=1, teaches=[learning_pb2.CourseSkillInput(skill="sql", level=1)]),
            metadata=employee.metadata)
    records = [{k.decode(): v.decode() for k, v in fields.items()}
               for _, fields in await redis_client.xrange(f"{topic_prefix}audit")]
    assert [(r["method"], r["subject"], r["role"], r["code"]) for r in records] == [
        ("PublishCourse", "hr-1", "hr_admin", "OK"),
        ("PublishCourse", "E1", "employee", "PERMISSION_DENIED"),
    ]  # reads (GetCourse) are not audited
    assert records[0]["target"] == "course_id=sql-101" and float(records[0]["at"]) > 0
    await admin.close()


async def test_rate_limit_per_identity_and_request_size_bound(start_service, topic_prefix):
    svc = start_service("learning", rate_limit_per_s=0.5, rate_limit_burst=3, max_request_bytes=4096)
    settings = Settings(topic_prefix=topic_prefix)
    c = Clients.connect({"learning": svc.grpc_target}, settings, subject="E1", role="employee")
    codes = []
    for _ in range(5):
        try:
            await c.learning.GetCourse(learning_pb2.GetCourseRequest(course_id="nope"), metadata=c.metadata)
        except grpc.aio.AioRpcError as exc:
            codes.append(exc.code())
    assert codes[:3] == [grpc.StatusCode.NOT_FOUND] * 3
    assert codes[3:] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
    other = c.as_(settings, "E2", "employee")  # a different identity has its own bucket
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await other.learning.GetCourse(learning_pb2.GetCourseRequest(course_id="nope"), metadata=other.metadata)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    service = c.as_(settings, "profile", "service")  # services are not limited
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await service.learning.PublishCourse(learning_pb2.PublishCourseRequest(
            title="x" * 10_000, hours=1), metadata=service.metadata)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # larger than max_request_bytes
    await c.close()


async def test_in_production_people_use_the_idp_and_services_call_each_other_with_the_shared_secret(
        start_service, idp):
    """ITM_ENVIRONMENT=production: a person's token comes from the OIDC provider; a service's HS256 token
    (the opportunity service asking profile for an owner's manager) is still accepted; a person's
    HS256 token is not, even signed with the real shared secret."""
    idp.add_key("k1", rsa_key())
    prod = dict(environment="production", auth_jwks_url=idp.url, token_issuer=ISSUER,
                public_base_url="https://itm.example.com")
    profile = start_service("profile", **prod)
    opportunity = start_service("opportunity", **prod)
    settings = Settings(token_issuer=ISSUER)  # the deployment's shared secret (the dev default here)
    async with grpc.aio.insecure_channel(profile.grpc_target) as p, \
            grpc.aio.insecure_channel(opportunity.grpc_target) as o:
        hr, owner = bearer(idp.token("k1", sub="hr-1", role="hr_admin")), bearer(idp.token("k1", sub="E-own"))
        people = profile_pb2_grpc.ProfileServiceStub(p)
        for emp, manager in (("M-own", ""), ("E-own", "M-own")):
            await people.CreateEmployee(profile_pb2.CreateEmployeeRequest(employee_id=emp, name=emp,
                                                                          manager_id=manager), metadata=hr)
        posted = await opportunity_pb2_grpc.OpportunityServiceStub(o).PostOpportunity(
            opportunity_pb2.PostOpportunityRequest(
                title="Big gig", type=common_pb2.OPPORTUNITY_TYPE_GIG, hours_per_week=15, duration_weeks=2, seats=1,
                requirements=[opportunity_pb2.RequirementInput(skill="sql", min_level=2)]), metadata=owner)
        assert posted.approver_id == "M-own"  # looked up in profile with the opportunity service's own token
        for role in ("employee", "hr_admin"):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await people.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id="E-own"),
                                         metadata=bearer(mint_token(settings, "E-own", role)))
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "service role only" in err.value.details()
        service = await people.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id="E-own"),
                                           metadata=bearer(mint_token(settings, "web", "service", on_behalf_of="E-own")))
        assert service.manager_id == "M-own"
