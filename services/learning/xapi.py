"""xAPI 1.0.3 statements from an LMS or a learning record store: completions of
catalog courses (``POST``/``PUT /xapi/statements`` on the learning service's HTTP port).

What is accepted (everything else is refused with 400 and the reason, and the
whole request is refused when one statement of it is):

* header ``X-Experience-API-Version`` 1.0.0 to 1.0.3;
* ``Authorization: Bearer <token>`` of a service (the LMS) or an HR admin;
* verb ``http://adlnet.gov/expapi/verbs/completed`` or ``.../passed`` (not with
  ``result.success: false``);
* ``actor``: an Agent identified by ``account`` (``name`` is the employee id;
  any ``homePage``), ``mbox`` (``mailto:`` an employee's email, as provisioned
  over SCIM) or ``mbox_sha1sum``;
* ``object``: an Activity whose ``id`` is a catalog course's IRI,
  ``<ITM_PUBLIC_BASE_URL>/courses/<course_id>``.

A statement counts as ``CompleteCourse`` for that employee and course: the
enrollment is completed and the credential issued with one
``learning.course-completed``, in one transaction with the statement's id, so a
statement sent again (the same ``id``) has no second effect and a statement id
reused for different content is 409. POST answers the statement ids (ids are
generated for statements without one), PUT (``?statementId=``) answers 204.
This service is not a learning record store: it keeps only each statement's id
and what it meant, not the statement.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import grpc
from aiohttp import web

from itm.runtime.auth import AuthError, mint_token, verify_token
from itm.runtime.calls import capped_details  # no oversized value repeated back
from itm.v1 import profile_pb2, profile_pb2_grpc

VERSION = "1.0.3"
ACCEPTED_VERSIONS = ("1.0.0", "1.0.1", "1.0.2", "1.0.3")
COMPLETION_VERBS = {"http://adlnet.gov/expapi/verbs/completed": "completed",
                    "http://adlnet.gov/expapi/verbs/passed": "passed"}
MAX_BODY = 1 << 20
MAX_STATEMENTS = 100


class Refused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True, slots=True)
class Completion:
    """What one statement means here."""

    statement_id: str
    actor: tuple[str, str]   # ("account", employee id) | ("mbox", email) | ("mbox_sha1sum", hex)
    verb: str                # completed | passed
    course_id: str

    def fingerprint(self) -> str:
        """Two statements with one id must mean the same completion."""
        return hashlib.sha256(json.dumps([self.actor, self.verb, self.course_id]).encode()).hexdigest()[:32]


def check_version(header: str | None) -> None:
    if not header:
        raise Refused(400, "X-Experience-API-Version header is required (1.0.3)")
    if header.strip() not in ACCEPTED_VERSIONS:
        raise Refused(400, f"X-Experience-API-Version {header[:20]!r} is not supported; send 1.0.3")


def _uuid(value, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise Refused(400, f"{what} {str(value)[:80]!r} is not a UUID") from None


def parse_statement(obj, base_url: str, statement_id: str = "", where: str = "statement") -> Completion:
    """One statement (a JSON object) -> the completion it reports, or Refused with the reason."""
    if not isinstance(obj, dict):
        raise Refused(400, f"{where} must be a JSON object")
    sid = obj.get("id")
    if sid is not None:
        sid = _uuid(sid, f"{where}.id")
        if statement_id and sid != statement_id:
            raise Refused(400, f"{where}.id {sid} differs from the statementId parameter {statement_id}")
    sid = sid or statement_id or str(uuid.uuid4())
    verb = obj.get("verb")
    verb_id = verb.get("id") if isinstance(verb, dict) else None
    if not isinstance(verb_id, str):
        raise Refused(400, f"{where}.verb.id is required")
    if verb_id not in COMPLETION_VERBS:
        raise Refused(400, f"{where}.verb.id {verb_id[:120]} is not a completion; this endpoint takes "
                           f"{' or '.join(COMPLETION_VERBS)}")
    result = obj.get("result")
    if isinstance(result, dict) and result.get("success") is False:
        raise Refused(400, f"{where}.result.success is false: not a completion")
    return Completion(sid, _actor(obj.get("actor"), f"{where}.actor"), COMPLETION_VERBS[verb_id],
                      _course(obj.get("object"), base_url, f"{where}.object"))


def _actor(actor, where: str) -> tuple[str, str]:
    if not isinstance(actor, dict):
        raise Refused(400, f"{where} is required (an Agent)")
    if actor.get("objectType", "Agent") != "Agent":
        raise Refused(400, f"{where}.objectType {str(actor.get('objectType'))[:40]!r}: only an Agent (one person) "
                           "completes a course")
    given = [k for k in ("mbox", "mbox_sha1sum", "openid", "account") if k in actor]
    if len(given) != 1:
        raise Refused(400, f"{where} needs exactly one of mbox, mbox_sha1sum, account (got {', '.join(given) or 'none'})")
    kind = given[0]
    value = actor[kind]
    if kind == "mbox":
        if not isinstance(value, str) or not value.startswith("mailto:") or "@" not in value:
            raise Refused(400, f"{where}.mbox must be 'mailto:<email>'")
        return "mbox", value.removeprefix("mailto:").strip().lower()
    if kind == "mbox_sha1sum":
        if not isinstance(value, str) or len(value) != 40 or any(c not in "0123456789abcdefABCDEF" for c in value):
            raise Refused(400, f"{where}.mbox_sha1sum must be 40 hex digits")
        return "mbox_sha1sum", value.lower()
    if kind == "account":
        name = value.get("name") if isinstance(value, dict) else None
        if not isinstance(name, str) or not name.strip() or not isinstance(value.get("homePage"), str):
            raise Refused(400, f"{where}.account needs homePage and name (the employee id)")
        return "account", name.strip()
    raise Refused(400, f"{where}.openid is not supported; identify the person by account, mbox or mbox_sha1sum")


def _course(obj, base_url: str, where: str) -> str:
    if not isinstance(obj, dict):
        raise Refused(400, f"{where} is required (an Activity)")
    if obj.get("objectType", "Activity") != "Activity":
        raise Refused(400, f"{where}.objectType {str(obj.get('objectType'))[:40]!r}: only an Activity (a catalog "
                           "course) is completed")
    iri = obj.get("id")
    if not isinstance(iri, str) or not iri:
        raise Refused(400, f"{where}.id is required (the course's IRI)")
    prefix = base_url.rstrip("/") + "/courses/"
    parts = urlsplit(iri)
    if not iri.startswith(prefix) or parts.query or parts.fragment or "/" in iri[len(prefix):].strip("/"):
        raise Refused(400, f"{where}.id {iri[:200]} is not a catalog course; course activities are {prefix}<course_id>")
    return iri[len(prefix):].strip("/")


def parse_body(raw: bytes, base_url: str, statement_id: str = "") -> list[Completion]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(400, f"the body is not JSON: {exc}") from None
    if statement_id:
        if not isinstance(body, dict):
            raise Refused(400, "PUT takes one statement (an object)")
        return [parse_statement(body, base_url, _uuid(statement_id, "statementId"))]
    statements = body if isinstance(body, list) else [body]
    if not statements or len(statements) > MAX_STATEMENTS:
        raise Refused(400, f"send 1 to {MAX_STATEMENTS} statements")
    completions = [parse_statement(s, base_url, where=f"statement[{i}]" if isinstance(body, list) else "statement")
                   for i, s in enumerate(statements)]
    ids = [c.statement_id for c in completions]
    if len(set(ids)) != len(ids):
        raise Refused(400, "the request lists one statement id twice")
    return completions


class StatementsEndpoint:
    """The HTTP side: authentication, employees looked up in the profile service, then
    ``LearningServicer.complete_from_statement`` per statement."""

    def __init__(self, servicer):
        self.servicer = servicer
        self.settings = servicer.svc.settings
        self._channel: grpc.aio.Channel | None = None

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/xapi/statements", self.post)
        app.router.add_put("/xapi/statements", self.put)

    async def post(self, request: web.Request) -> web.Response:
        return await self._handle(request, "")

    async def put(self, request: web.Request) -> web.Response:
        statement_id = request.query.get("statementId", "")
        if not statement_id:
            return self._error(400, "PUT needs the statementId parameter")
        return await self._handle(request, statement_id)

    async def _handle(self, request: web.Request, statement_id: str) -> web.Response:
        try:
            check_version(request.headers.get("X-Experience-API-Version"))
            await self._authenticate(request)
            if (request.content_length or 0) > MAX_BODY:
                raise Refused(413, f"the body is larger than {MAX_BODY} bytes")
            raw = await request.content.read(MAX_BODY + 1)
            if len(raw) > MAX_BODY:
                raise Refused(413, f"the body is larger than {MAX_BODY} bytes")
            completions = parse_body(raw, self.settings.public_base_url, statement_id)
            employees = [await self._employee(c.actor) for c in completions]
            for c in completions:
                if not await self.servicer.course_exists(c.course_id):
                    raise Refused(400, f"object.id names course {c.course_id!r}, which is not in the catalog")
            for c, employee_id in zip(completions, employees):
                await self.servicer.complete_from_statement(c, employee_id)
        except Refused as exc:
            return self._error(exc.status, exc.reason)
        headers = {"X-Experience-API-Version": VERSION}
        if statement_id:
            return web.Response(status=204, headers=headers)
        return web.json_response([c.statement_id for c in completions], headers=headers)

    async def _authenticate(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            raise Refused(401, "Authorization: Bearer <token> is required (the LMS's service token)")
        try:
            if self.settings.auth_jwks_url:
                ident = await asyncio.to_thread(verify_token, self.settings, header[7:].strip())
            else:
                ident = verify_token(self.settings, header[7:].strip())
        except AuthError as exc:
            raise Refused(401, str(exc)) from None
        if not ident.privileged:
            raise Refused(403, "statements are sent by the learning platform (a service) or HR admins")

    async def _employee(self, actor: tuple[str, str]) -> str:
        kind, value = actor
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.settings.profile_target)
        stub = profile_pb2_grpc.ProfileServiceStub(self._channel)
        metadata = (("authorization", f"Bearer {mint_token(self.settings, self.settings.service, 'service', 300)}"),)
        try:
            if kind == "account":
                return (await stub.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id=value), metadata=metadata,
                                               timeout=5)).employee_id
            request = profile_pb2.FindEmployeeRequest(**{"email" if kind == "mbox" else "mbox_sha1sum": value})
            return (await stub.FindEmployee(request, metadata=metadata, timeout=5)).employee_id
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                what = {"account": "actor.account.name", "mbox": "actor.mbox mailto:", "mbox_sha1sum":
                        "actor.mbox_sha1sum"}[kind]
                raise Refused(400, f"{what}{'' if kind == 'mbox' else ' '}{value} is not an employee of ITM") from None
            raise Refused(503, f"the profile service does not answer ({exc.code().name}); retry") from None

    def _error(self, status: int, reason: str) -> web.Response:
        return web.json_response({"error": capped_details(reason)}, status=status,
                                 headers={"X-Experience-API-Version": VERSION})

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
