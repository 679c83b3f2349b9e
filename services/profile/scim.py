"""SCIM 2.0 (RFC 7643/7644) Users on the profile service's HTTP port: an identity
provider or HRIS provisions employees (``/scim/v2/Users``).

Requests are read and written with ``scim2-models`` (the User resource with the
enterprise extension, PATCH operations with path filters, filters, errors) under
a policy tolerant of what Entra ID and Okta send: ``op`` in any case, a PATCH
``value`` of ``"False"``, a bare string as the manager, a path filter that
matches nothing creating the entry, unknown attributes ignored.

**Who may call**: a bearer token of the ``service`` role (the IdP's connector).

**Ids**: a user's SCIM ``id`` is the employee id: the enterprise
``employeeNumber`` when sent, else ``externalId``, else ``userName``, whichever
comes first and is a valid employee id (letters, digits, ``.``, ``_``, ``@``,
``-``; at most 64), so an IdP and the HRIS file describe the same person with
the same id. A POST for an employee who exists but was not provisioned yet
links them (201); a second POST for a provisioned one is 409 ``uniqueness``,
and so is a ``userName`` another user has (userName compares case-insensitively).

**What becomes of the attributes**: ``displayName`` (else ``name.formatted``,
else given and family name, else ``userName``) is the employee's name; the
enterprise ``department`` and ``manager.value`` (an existing user's id, else 400
``invalidValue``) are the department and manager; the work (or primary)
address's ``locality`` the location; ``emails`` and ``userName`` (when an email)
feed ``FindEmployee`` (xAPI actors). Every other attribute is kept as sent and
answered back. ``active: false`` deactivates the employee: no matching and no
pushes (``profile.employee-deactivated``); ``active: true`` reactivates.
``DELETE`` deactivates too and the user reads as 404 afterwards; erasing the
person's data is ``EraseEmployee``, a human decision.

**Versions**: ``meta.version`` and the ``ETag`` header are ``W/"<employee
version>.<SCIM revision>"``; ``If-Match`` on PUT, PATCH and DELETE is checked
(412), ``If-None-Match`` on GET answers 304.

Keys: ``scim:user:<id>`` (JSON: the resource as provisioned, its revision,
created, deleted), ``scim:user-name:<userName, lowercased>`` -> id, ``scim:users``
(zset of ids), besides the email indexes of ``identities.py``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, ValidationError
from scim2_models import (
    URN,
    CaseExact,
    ComplexAttribute,
    Context,
    Error,
    Extension,
    ListResponse,
    Mutability,
    PatchOp,
    Reference,
    Required,
    SCIMException,
    ScimFilter,
    ScimPolicy,
    ServiceProviderConfig,
    User,
)

from itm.runtime.auth import AuthError, verify_token
from itm.runtime.calls import capped_details  # no oversized value repeated back
from itm.runtime.domain import ID_RE, now_ts
from itm.v1 import events_pb2, profile_pb2
from services.profile import identities

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CONTENT_TYPE = "application/scim+json"
MAX_BODY = 256 * 1024
MAX_COUNT = 500
POLICY = ScimPolicy(unknown=ScimPolicy.Unknown.ignore, remove_value_as_filter=ScimPolicy.RemoveValue.apply,
                    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create)
USER_NAME_EQ = re.compile(r'^\s*userName\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)


class Manager(ComplexAttribute):
    """The enterprise manager, with ``$ref`` optional: IdPs send only ``value``."""

    value: Annotated[str | None, Required.false, CaseExact.true] = None
    ref: Annotated[Reference["User"] | None, Required.false] = Field(  # type: ignore[type-arg]
        None, serialization_alias="$ref", validation_alias="$ref")
    display_name: Annotated[str | None, Mutability.read_only] = None


class EnterpriseUser(Extension):
    __schema__ = URN(ENTERPRISE)

    employee_number: str | None = None
    cost_center: str | None = None
    organization: str | None = None
    division: str | None = None
    department: str | None = None
    manager: Manager | None = None


ScimUser = User[EnterpriseUser]


class ScimError(Exception):
    def __init__(self, status: int, detail: str, scim_type: str | None = None):
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type


# ------------------------------------------------------------------ pure rules
def employee_id_for(user: ScimUser) -> str:
    """The employee id a new user gets: employeeNumber, externalId or userName, the first valid one."""
    ent = user[EnterpriseUser]
    for candidate in ((ent.employee_number if ent else None), user.external_id, user.user_name):
        if candidate and ID_RE.match(candidate.strip()):
            return candidate.strip()
    raise ScimError(400, "no employee id can be derived: send the enterprise employeeNumber (or an externalId or "
                         "userName of 1-64 letters, digits, '.', '_', '@' or '-')", "invalidValue")


def person_of(user: ScimUser) -> dict[str, Any]:
    """The employee fields a user's attributes give."""
    name = user.display_name or (user.name.formatted if user.name else None)
    if not name and user.name:
        name = " ".join(p for p in (user.name.given_name, user.name.family_name) if p)
    ent = user[EnterpriseUser]
    location = ""
    if user.addresses:
        chosen = next((a for a in user.addresses if a.primary), None) or \
            next((a for a in user.addresses if (a.type or "").lower() == "work"), None) or user.addresses[0]
        location = chosen.locality or ""
    return {"name": (name or user.user_name or "").strip()[:200],
            "department": ((ent.department if ent else None) or "").strip()[:200],
            "manager_id": ((ent.manager.value if ent and ent.manager else None) or "").strip(),
            "location": location.strip()[:200],
            "deactivated": user.active is False}


def emails_of(user: ScimUser) -> set[str]:
    found = {identities.normal_email(e.value) for e in (user.emails or []) if e.value and "@" in e.value}
    if user.user_name and "@" in user.user_name:
        found.add(identities.normal_email(user.user_name))
    return found


def _fix_manager(value: Any) -> Any:
    return {"value": value} if isinstance(value, str) else value


def tolerate(patch: dict) -> dict:
    """Entra ID's PATCH quirk: the manager as a bare string (path or no-path value)."""
    for op in patch.get("Operations") or []:
        if not isinstance(op, dict):
            continue
        path = str(op.get("path") or "")
        if path.lower().endswith(":manager") or path.lower() == "manager":
            op["value"] = _fix_manager(op.get("value"))
        value = op.get("value")
        if isinstance(value, dict):
            for key in list(value):
                if key.lower().endswith(":manager"):
                    value[key] = _fix_manager(value[key])
                elif key == ENTERPRISE and isinstance(value[key], dict) and "manager" in value[key]:
                    value[key]["manager"] = _fix_manager(value[key]["manager"])
    return patch


def _tolerate_resource(body: dict) -> dict:
    ent = body.get(ENTERPRISE)
    if isinstance(ent, dict) and "manager" in ent:
        ent["manager"] = _fix_manager(ent["manager"])
    return body


def validation_error(exc: ValidationError) -> ScimError:
    """A pydantic error from scim2-models as a SCIM error with its scimType."""
    first = exc.errors()[0] if exc.errors() else {}
    kind = str(first.get("type", ""))
    scim_type = kind.removeprefix("scim_") if kind.startswith("scim_") else "invalidValue"
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body",))
    return ScimError(400, f"{where}: {first.get('msg', str(exc))}" if where else str(first.get("msg", exc)), scim_type)


def etag(emp: profile_pb2.Employee, rev: int) -> str:
    return f'W/"{emp.version}.{rev}"'


# ------------------------------------------------------------------ the endpoint
class ScimUsers:
    def __init__(self, servicer):
        self.servicer = servicer
        self.svc = servicer.svc
        self.settings = servicer.svc.settings
        self.employees = servicer.employees

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/scim/v2/Users", self.list)
        r.add_post("/scim/v2/Users", self.create)
        r.add_get("/scim/v2/Users/{id}", self.get)
        r.add_put("/scim/v2/Users/{id}", self.replace)
        r.add_patch("/scim/v2/Users/{id}", self.patch)
        r.add_delete("/scim/v2/Users/{id}", self.delete)
        r.add_get("/scim/v2/ServiceProviderConfig", self.config)

    # keys
    def user_key(self, user_id: str) -> str:
        return self.settings.key(f"scim:user:{user_id}")

    def name_key(self, user_name: str) -> str:
        return self.settings.key(f"scim:user-name:{user_name.strip().lower()}")

    @property
    def index(self) -> str:
        return self.settings.key("scim:users")

    def base(self) -> str:
        return self.settings.public_base_url.rstrip("/") + "/scim/v2"

    # -- plumbing ---------------------------------------------------------------------------
    async def _guard(self, request: web.Request, handler) -> web.Response:
        try:
            header = request.headers.get("Authorization", "")
            if not header.lower().startswith("bearer "):
                raise ScimError(401, "Authorization: Bearer <token> is required (the provisioning service's token)")
            try:
                ident = verify_token(self.settings, header[7:].strip())
            except AuthError as exc:
                raise ScimError(401, str(exc)) from None
            if ident.role != "service":
                raise ScimError(403, "SCIM provisioning is for the identity provider's service identity")
            with POLICY:
                return await handler()
        except ScimError as exc:
            return self._error(exc.status, exc.detail, exc.scim_type)
        except SCIMException as exc:
            err = exc.to_error()
            return self._error(int(err.status or 400), err.detail or str(exc), err.scim_type)
        except ValidationError as exc:
            e = validation_error(exc)
            return self._error(e.status, e.detail, e.scim_type)

    def _error(self, status: int, detail: str, scim_type: str | None = None) -> web.Response:
        body = {"schemas": [str(Error.__schema__)], "status": str(status), "detail": capped_details(detail)}
        if scim_type:
            body["scimType"] = scim_type
        return web.json_response(body, status=status, content_type=CONTENT_TYPE)

    async def _json(self, request: web.Request) -> dict:
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise ScimError(413, f"the body is larger than {MAX_BODY} bytes", "tooLarge")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ScimError(400, f"the body is not JSON: {exc}", "invalidSyntax") from None
        if not isinstance(body, dict):
            raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
        return body

    def _answer(self, doc: dict, emp: profile_pb2.Employee, status: int = 200) -> web.Response:
        resource = self.render(doc, emp)
        return web.json_response(resource, status=status, content_type=CONTENT_TYPE,
                                 headers={"ETag": resource["meta"]["version"],
                                          **({"Location": resource["meta"]["location"]} if status == 201 else {})})

    def render(self, doc: dict, emp: profile_pb2.Employee) -> dict:
        """The resource as answered: what was provisioned, with the employee's current state over it."""
        user = ScimUser.model_validate(doc["resource"], scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
        user.id = emp.employee_id
        user.active = not emp.deactivated
        ent = user[EnterpriseUser] or EnterpriseUser()
        ent.department = emp.department or None
        ent.manager = Manager(value=emp.manager_id, ref=f"{self.base()}/Users/{emp.manager_id}") if emp.manager_id else None
        user[EnterpriseUser] = ent
        out = user.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        out["meta"] = {"resourceType": "User", "created": doc["created"],
                       "lastModified": emp.updated_at.ToJsonString() if emp.updated_at.seconds else doc["created"],
                       "location": f"{self.base()}/Users/{emp.employee_id}", "version": etag(emp, doc["rev"])}
        return out

    async def _load(self, reader, user_id: str) -> tuple[dict, profile_pb2.Employee]:
        raw = await reader.get(self.user_key(user_id))
        doc = json.loads(raw) if raw else None
        emp = await self.employees.load(reader, user_id) if doc and not doc.get("deleted") else None
        if doc is None or doc.get("deleted") or emp is None:
            raise ScimError(404, f"no user with id {user_id[:80]!r}")
        return doc, emp

    @staticmethod
    def _check_match(request: web.Request, emp: profile_pb2.Employee, doc: dict) -> None:
        wanted = request.headers.get("If-Match")
        if wanted and wanted.strip() != "*" and etag(emp, doc["rev"]) not in [w.strip() for w in wanted.split(",")]:
            raise ScimError(412, f"the user is at version {etag(emp, doc['rev'])}, the request's If-Match is {wanted}")

    # -- writing ------------------------------------------------------------------------------
    async def _store(self, pipe, user: ScimUser, emp: profile_pb2.Employee | None, doc: dict | None,
                     user_id: str, summary: str) -> tuple[dict, profile_pb2.Employee]:
        """Validate, then (MULTI) store the resource, its indexes, and the employee with its event."""
        from services.profile.server import match_profile

        person = person_of(user)
        if not person["name"]:
            raise ScimError(400, "userName is required", "invalidValue")
        if person["manager_id"]:
            if person["manager_id"] == user_id:
                raise ScimError(400, "manager.value is the user themselves", "invalidValue")
            if not ID_RE.match(person["manager_id"]) or not await pipe.exists(self.employees.key(person["manager_id"])):
                raise ScimError(400, f"manager.value {person['manager_id'][:80]!r} is not a user", "invalidValue")
        name_key = self.name_key(user.user_name)
        await pipe.watch(name_key)
        holder = await pipe.get(name_key)
        if holder is not None and holder.decode() != user_id:
            raise ScimError(409, f"userName {user.user_name!r} belongs to another user", "uniqueness")
        old_names = {doc["resource"].get("userName", "")} if doc else set()
        old_emails = set(doc.get("emails", [])) if doc else set()
        resource = user.model_dump(scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
        for key in ("id", "meta"):
            resource.pop(key, None)
        emails = emails_of(user)
        for email in emails - old_emails:  # an email another employee is found by is refused
            other = await pipe.get(identities.keys(self.settings, email)[0])
            if other is not None and other.decode() != user_id:
                raise ScimError(409, f"email {email} belongs to another user", "uniqueness")

        created = emp is None
        if created:
            emp = profile_pb2.Employee(employee_id=user_id, version=0)
            emp.created_at.CopyFrom(now_ts())
        before = profile_pb2.Employee()
        before.CopyFrom(emp)
        for field in ("name", "department", "manager_id", "location", "deactivated"):
            setattr(emp, field, person[field])
        changed = [f for f in ("name", "department", "manager_id", "location") if getattr(before, f) != getattr(emp, f)]
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        new_doc = {"resource": resource, "rev": (doc["rev"] + 1) if doc and not doc.get("deleted") else 1,
                   "created": doc["created"] if doc and not doc.get("deleted") else now, "emails": sorted(emails)}
        if doc and not doc.get("deleted") and doc["resource"] == resource and not changed \
                and before.deactivated == emp.deactivated and not created:
            return doc, emp  # nothing changes: no new version, no event
        pipe.multi()
        pipe.set(self.user_key(user_id), json.dumps(new_doc))
        pipe.zadd(self.index, {user_id: 0})
        for old in old_names - {user.user_name}:
            if old.strip().lower() != user.user_name.strip().lower():
                pipe.delete(self.name_key(old))
        pipe.set(name_key, user_id)
        identities.index(pipe, self.settings, user_id, old_emails, emails)
        servicer = self.servicer
        emp.version += 1
        if created:
            servicer._write(pipe, emp, "profile.employee-registered",
                            events_pb2.EmployeeRegistered(profile=match_profile(emp)), f"registered {emp.name} (SCIM)",
                            "scim")
            if emp.deactivated:
                emp.version += 1
                servicer._write(pipe, emp, "profile.employee-deactivated", events_pb2.EmployeeDeactivated(
                    profile=match_profile(emp), reason="provisioned inactive (SCIM)"), "deactivated (SCIM)", "scim")
        elif before.deactivated != emp.deactivated:
            kind = "deactivated" if emp.deactivated else "reactivated"
            payload = (events_pb2.EmployeeDeactivated(profile=match_profile(emp), reason=summary)
                       if emp.deactivated else events_pb2.EmployeeReactivated(profile=match_profile(emp)))
            servicer._write(pipe, emp, f"profile.employee-{kind}", payload, f"{kind} ({summary})", "scim")
        else:
            servicer._write(pipe, emp, "profile.employee-updated", events_pb2.EmployeeUpdated(profile=match_profile(emp)),
                            f"{summary}: " + (", ".join(changed) or "SCIM attributes"), "scim")
        return new_doc, emp

    # -- handlers -------------------------------------------------------------------------------
    async def create(self, request: web.Request) -> web.Response:
        async def handler():
            body = _tolerate_resource(await self._json(request))
            user = ScimUser.model_validate(body, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
            user_id = employee_id_for(user)

            async def tx(pipe):
                raw = await pipe.get(self.user_key(user_id))
                doc = json.loads(raw) if raw else None
                if doc and not doc.get("deleted"):
                    raise ScimError(409, f"user {user_id} is already provisioned (userName "
                                         f"{doc['resource'].get('userName')!r}); PUT or PATCH it", "uniqueness")
                emp = await self.employees.load(pipe, user_id)
                return await self._store(pipe, user, emp, None if doc is None or doc.get("deleted") else doc,
                                         user_id, "SCIM create")

            doc, emp = await self.svc.commit([self.user_key(user_id), self.employees.key(user_id)], tx)
            return self._answer(doc, emp, 201)

        return await self._guard(request, handler)

    async def get(self, request: web.Request) -> web.Response:
        async def handler():
            doc, emp = await self._load(self.svc.redis, request.match_info["id"])
            if request.headers.get("If-None-Match", "").strip() == etag(emp, doc["rev"]):
                return web.Response(status=304, headers={"ETag": etag(emp, doc["rev"])})
            return self._answer(doc, emp)

        return await self._guard(request, handler)

    async def replace(self, request: web.Request) -> web.Response:
        async def handler():
            user_id = request.match_info["id"]
            body = _tolerate_resource(await self._json(request))
            user = ScimUser.model_validate(body, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)

            async def tx(pipe):
                doc, emp = await self._load(pipe, user_id)
                self._check_match(request, emp, doc)
                return await self._store(pipe, user, emp, doc, user_id, "SCIM replace")

            doc, emp = await self.svc.commit([self.user_key(user_id), self.employees.key(user_id)], tx)
            return self._answer(doc, emp)

        return await self._guard(request, handler)

    async def patch(self, request: web.Request) -> web.Response:
        async def handler():
            user_id = request.match_info["id"]
            body = tolerate(await self._json(request))
            op = PatchOp[ScimUser].model_validate(body, scim_ctx=Context.RESOURCE_PATCH_REQUEST)

            async def tx(pipe):
                doc, emp = await self._load(pipe, user_id)
                self._check_match(request, emp, doc)
                current = self.render(doc, emp)
                current.pop("meta", None)
                user = ScimUser.model_validate(current, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
                op.patch(user)
                return await self._store(pipe, user, emp, doc, user_id, "SCIM patch")

            doc, emp = await self.svc.commit([self.user_key(user_id), self.employees.key(user_id)], tx)
            return self._answer(doc, emp)

        return await self._guard(request, handler)

    async def delete(self, request: web.Request) -> web.Response:
        async def handler():
            user_id = request.match_info["id"]

            async def tx(pipe):
                doc, emp = await self._load(pipe, user_id)
                self._check_match(request, emp, doc)
                user = ScimUser.model_validate(doc["resource"], scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
                user.active = False
                _, emp = await self._store(pipe, user, emp, doc, user_id, "SCIM delete")
                if not pipe.explicit_transaction:  # it was deactivated already
                    pipe.multi()
                gone = {**doc, "deleted": True, "rev": doc["rev"] + 1}
                pipe.set(self.user_key(user_id), json.dumps(gone))
                pipe.zrem(self.index, user_id)
                pipe.delete(self.name_key(doc["resource"].get("userName", "")))
                identities.index(pipe, self.settings, user_id, set(doc.get("emails", [])), set())

            await self.svc.commit([self.user_key(user_id), self.employees.key(user_id)], tx)
            return web.Response(status=204)

        return await self._guard(request, handler)

    async def list(self, request: web.Request) -> web.Response:
        async def handler():
            q = request.query
            try:
                start = max(1, int(q.get("startIndex", "1")))
                count = min(MAX_COUNT, max(0, int(q.get("count", "100"))))
            except ValueError:
                raise ScimError(400, "startIndex and count must be integers", "invalidValue") from None
            text = q.get("filter", "").strip()
            redis = self.svc.redis
            if text and (m := USER_NAME_EQ.match(text)):  # what IdPs ask before creating: an index lookup
                found = await redis.get(self.name_key(json.loads(f'"{m.group(1)}"')))
                ids = [found.decode()] if found else []
                matcher = None
            else:
                ids = [i.decode() for i in await redis.zrange(self.index, 0, -1)]
                matcher = ScimFilter[ScimUser](text) if text else None
            resources = []
            total = 0
            for i in range(0, len(ids), 500):
                for user_id in ids[i:i + 500]:
                    try:
                        doc, emp = await self._load(redis, user_id)
                    except ScimError:
                        continue
                    resource = self.render(doc, emp)
                    if matcher is not None:
                        user = ScimUser.model_validate({k: v for k, v in resource.items() if k != "meta"},
                                                       scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
                        user.id = user_id
                        if not matcher.match(user):
                            continue
                    total += 1
                    if start <= total < start + count:
                        resources.append(resource)
            body = ListResponse[ScimUser](total_results=total, start_index=start, items_per_page=len(resources))
            out = body.model_dump(scim_ctx=Context.SEARCH_RESPONSE)
            out["Resources"] = resources
            return web.json_response(out, content_type=CONTENT_TYPE)

        return await self._guard(request, handler)

    async def config(self, request: web.Request) -> web.Response:
        async def handler():
            cfg = ServiceProviderConfig.model_validate({
                "patch": {"supported": True}, "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
                "filter": {"supported": True, "maxResults": MAX_COUNT}, "changePassword": {"supported": False},
                "sort": {"supported": False}, "etag": {"supported": True},
                "authenticationSchemes": [{"type": "oauthbearertoken", "name": "OAuth Bearer Token",
                                           "description": "a bearer token of the service role", "primary": True}]})
            return web.json_response(cfg.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE), content_type=CONTENT_TYPE)

        return await self._guard(request, handler)

    # -- erasure ---------------------------------------------------------------------------------
    async def keys_of(self, reader, employee_id: str) -> list[str]:
        """Every SCIM key naming the employee (read before the erasure's MULTI)."""
        raw = await reader.get(self.user_key(employee_id))
        if not raw:
            return []
        doc = json.loads(raw)
        out = [self.user_key(employee_id), self.name_key(doc["resource"].get("userName", ""))]
        for email in doc.get("emails", []):
            out += identities.keys(self.settings, email)
        return out
