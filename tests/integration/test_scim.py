"""SCIM 2.0 Users on the profile service over real HTTP, with requests shaped as the
RFC's examples, Entra ID and Okta send them: create, get, list with a filter and
paging, replace, PATCH (op in any case, path filters, "False", a bare manager
string), deactivation that ends matching (the snapshot) with its event, ETags,
and SCIM error bodies with scimType."""

from __future__ import annotations

import json

import aiohttp
import pytest

from _stack import ModuleStack, uid
from itm.runtime.auth import mint_token
from itm.v1 import profile_pb2 as P

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("scim"))
    await s.start({"profile": {}}, ["profile.employee-registered", "profile.employee-updated",
                                    "profile.employee-deactivated", "profile.employee-reactivated"])
    yield s
    await s.close(failed=request.session.testsfailed > 0)


@pytest.fixture(scope="module")
async def scim(stack):
    base = f"{stack.procs['profile'].http_url}/scim/v2"
    token = mint_token(stack.settings, "entra-connector", "service")
    async with aiohttp.ClientSession(base_url=base + "/", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}) as session:
        yield session


def user_body(number: str, user_name: str, manager: str | None = None, **extra) -> dict:
    ent = {"employeeNumber": number, "department": "Data"}
    if manager:
        ent["manager"] = {"value": manager}
    return {"schemas": [CORE, ENT], "userName": user_name, "externalId": f"ext-{number}", "active": True,
            "name": {"givenName": "Ana", "familyName": "Silva"}, "displayName": "Ana Silva",
            "emails": [{"value": user_name, "type": "work", "primary": True}], ENT: ent, **extra}


async def call(session, method, path, body=None, **kw):
    async with session.request(method, path, json=body, **kw) as r:
        text = await r.text()
        return r.status, (await r.json(content_type=None) if text else None), r.headers


async def test_create_get_list_and_filter(stack, scim):
    boss, emp = uid("B"), uid("U")
    status, made_boss, _ = await call(scim, "POST", "Users", user_body(boss, f"{boss}@example.com".lower()))
    assert status == 201, made_boss
    status, made, headers = await call(scim, "POST", "Users", user_body(emp, f"{emp}@Example.com", manager=boss))
    assert status == 201, made
    assert made["id"] == emp and made["active"] is True and made[ENT]["manager"]["value"] == boss
    assert headers["ETag"] == made["meta"]["version"] and headers["Location"].endswith(f"/Users/{emp}")
    hr = stack.as_("hr-1", "hr_admin")
    employee = await hr.profile.GetEmployee(P.GetEmployeeRequest(employee_id=emp), metadata=hr.metadata)
    assert (employee.name, employee.department, employee.manager_id) == ("Ana Silva", "Data", boss)
    [registered] = await stack.log.wait_for("profile.employee-registered", emp)
    assert registered.env.source == "profile" and not registered.payload.profile.opted_out

    status, got, headers = await call(scim, "GET", f"Users/{emp}")
    assert status == 200 and got["userName"] == f"{emp}@Example.com"
    status, _, _ = await call(scim, "GET", f"Users/{emp}", headers={"If-None-Match": got["meta"]["version"]})
    assert status == 304
    # Entra / Okta ask by userName (case-insensitive) before creating
    status, listed, _ = await call(scim, "GET", "Users", params={"filter": f'userName eq "{emp.lower()}@example.com"'})
    assert status == 200 and listed["totalResults"] == 1 and listed["Resources"][0]["id"] == emp
    assert listed["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    status, none, _ = await call(scim, "GET", "Users", params={"filter": 'userName eq "nobody@example.com"'})
    assert (status, none["totalResults"], none.get("Resources", [])) == (200, 0, [])
    status, by_mail, _ = await call(scim, "GET", "Users", params={
        "filter": f'emails[type eq "work" and value co "{emp.lower()}"] and {ENT}:department eq "Data"'})
    assert [r["id"] for r in by_mail["Resources"]] == [emp]
    status, page, _ = await call(scim, "GET", "Users", params={"startIndex": "2", "count": "1"})
    assert status == 200 and page["startIndex"] == 2 and page["itemsPerPage"] == 1 and page["totalResults"] >= 2
    # FindEmployee (xAPI mbox actors) finds them by email
    found = await hr.profile.FindEmployee(P.FindEmployeeRequest(email=f"mailto:{emp}@EXAMPLE.com"), metadata=hr.metadata)
    assert found.employee_id == emp


async def test_patch_as_entra_and_okta_send_it_and_deactivation(stack, scim):
    boss, other_boss, emp = uid("B"), uid("B"), uid("U")
    for b in (boss, other_boss):
        assert (await call(scim, "POST", "Users", user_body(b, f"{b}@example.com")))[0] == 201
    status, made, _ = await call(scim, "POST", "Users", user_body(emp, f"{emp}@example.com", manager=boss))
    entra = {"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": f"{emp}.new@example.com"},
        {"op": "Add", "path": f"{ENT}:manager", "value": other_boss},           # Entra: a bare string
        {"op": "Replace", "path": "name.givenName", "value": "Anna"},
        {"op": "replace", "value": {"displayName": "Anna Silva", f"{ENT}:department": "Sales"}}]}
    status, patched, _ = await call(scim, "PATCH", f"Users/{emp}", entra, headers={"If-Match": made["meta"]["version"]})
    assert status == 200, patched
    assert patched["emails"][0]["value"] == f"{emp}.new@example.com" and patched[ENT]["manager"]["value"] == other_boss
    assert patched["name"]["givenName"] == "Anna" and patched[ENT]["department"] == "Sales"
    [update] = await stack.log.wait_for("profile.employee-updated", emp)
    assert update.payload.profile.department == "Sales"
    # a stale ETag is refused
    status, err, _ = await call(scim, "PATCH", f"Users/{emp}", entra, headers={"If-Match": made["meta"]["version"]})
    assert status == 412 and err["schemas"] == [ERROR]

    # deactivation as Entra sends it ("False" as a string), then Okta's reactivation
    status, off, _ = await call(scim, "PATCH", f"Users/{emp}", {"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"}]})
    assert status == 200 and off["active"] is False
    [gone] = await stack.log.wait_for("profile.employee-deactivated", emp)
    assert gone.payload.profile.opted_out  # the matcher releases every pair and pushes nothing
    hr = stack.as_("hr-1", "hr_admin")
    employee = await hr.profile.GetEmployee(P.GetEmployeeRequest(employee_id=emp), metadata=hr.metadata)
    assert employee.deactivated and not employee.preferences.opted_out  # their own choice is kept
    status, on, _ = await call(scim, "PATCH", f"Users/{emp}", {"schemas": [PATCH], "Operations": [
        {"op": "replace", "value": {"active": True}}]})
    assert status == 200 and on["active"] is True
    [back] = await stack.log.wait_for("profile.employee-reactivated", emp)
    assert not back.payload.profile.opted_out

    # replace (PUT) keeps the id; DELETE deactivates and the user reads as 404
    body = user_body(emp, f"{emp}@example.com", manager=boss)
    body["displayName"] = "Ana S."
    status, replaced, _ = await call(scim, "PUT", f"Users/{emp}", body)
    assert status == 200 and replaced["displayName"] == "Ana S." and replaced[ENT]["manager"]["value"] == boss
    status, _, _ = await call(scim, "DELETE", f"Users/{emp}")
    assert status == 204
    assert (await call(scim, "GET", f"Users/{emp}"))[0] == 404
    await stack.log.wait_for("profile.employee-deactivated", emp, count=2)


async def test_errors_are_scim_errors_with_scim_type(stack, scim):
    emp = uid("U")
    assert (await call(scim, "POST", "Users", user_body(emp, f"{emp}@example.com")))[0] == 201
    cases = [
        ("POST", "Users", user_body(emp, f"{emp}@example.com"), 409, "uniqueness", "already provisioned"),
        ("POST", "Users", user_body(uid("U"), f"{emp}@example.com"), 409, "uniqueness", "belongs to another user"),
        ("POST", "Users", user_body(uid("U"), f"{uid('x')}@example.com", manager="nobody-here"), 400, "invalidValue",
         "is not a user"),
        ("GET", "Users?filter=userName%20eq", None, 400, "invalidFilter", ""),
        ("PATCH", f"Users/{emp}", {"schemas": [PATCH], "Operations": [{"op": "frob", "path": "active", "value": True}]},
         400, "invalidValue", "not a PATCH operation"),
        ("PATCH", f"Users/{emp}", {"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": 'emails[type eq "home" and primary eq true and display sw "x"].value',
             "value": "x@example.com"}]}, 400, "noTarget", ""),
        ("GET", "Users/nobody", None, 404, None, "no user with id"),
        ("POST", "Users", {"schemas": [CORE], "displayName": "No userName"}, 400, None, "userName"),
    ]
    for method, path, body, status, scim_type, fragment in cases:
        got_status, err, _ = await call(scim, method, path, body)
        assert got_status == status, (method, path, got_status, err)
        assert err["schemas"] == [ERROR] and err["status"] == str(status), err
        assert err.get("scimType") == scim_type or scim_type is None, err
        assert fragment.lower() in err["detail"].lower(), err
    # oversized values are refused without being repeated back (issue 16 item 5)
    big = "Zq" * 1000
    for method, path, body in [("GET", f"Users/{big}", None),
                               ("POST", "Users", user_body(uid("U"), f"{uid('x')}@example.com", manager=big * 10))]:
        got_status, err, _ = await call(scim, method, path, body)
        assert got_status in (400, 404, 413) and "Zq" * 16 not in json.dumps(err), (method, got_status, err)
    async with aiohttp.ClientSession() as anonymous:
        url = f"{stack.procs['profile'].http_url}/scim/v2/Users"
        async with anonymous.get(url) as r:
            assert r.status == 401 and (await r.json(content_type=None))["schemas"] == [ERROR]
        token = mint_token(stack.settings, "hr-1", "hr_admin")
        async with anonymous.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 403
