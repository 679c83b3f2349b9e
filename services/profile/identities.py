"""Which employee an email or an xAPI mailbox names (``ProfileService.FindEmployee``).

Emails reach ITM with SCIM provisioning (``emails`` and a ``userName`` that is an
email, services/profile/scim.py), which keeps two indexes beside the employee,
written in the same transaction: ``employee:by-email:<email, lowercased>`` and
``employee:by-mbox:<sha1 of "mailto:<email>">`` (what xAPI statements send as
``mbox_sha1sum``), both -> employee id.
"""

from __future__ import annotations

import hashlib

import grpc

from itm.runtime.auth import current_identity
from itm.runtime.domain import invalid
from itm.v1 import profile_pb2


def normal_email(text: str) -> str:
    return text.strip().removeprefix("mailto:").strip().lower()


def mbox_sha1sum(email: str) -> str:
    return hashlib.sha1(f"mailto:{normal_email(email)}".encode()).hexdigest()


def keys(settings, email: str) -> list[str]:
    """The index keys of one email."""
    email = normal_email(email)
    return [settings.key(f"employee:by-email:{email}"), settings.key(f"employee:by-mbox:{mbox_sha1sum(email)}")]


def index(pipe, settings, employee_id: str, old: set[str], new: set[str]) -> None:
    """Queue (inside MULTI) the index changes from an employee's ``old`` emails to ``new``."""
    for email in old - new:
        pipe.delete(*keys(settings, email))
    for email in new - old:
        for key in keys(settings, email):
            pipe.set(key, employee_id)


async def find_employee(svc, request: profile_pb2.FindEmployeeRequest, context) -> profile_pb2.FindEmployeeResponse:
    if not current_identity.get().privileged:
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, "FindEmployee is for services and HR admins")
    if bool(request.email) == bool(request.mbox_sha1sum):
        await invalid(context, "give exactly one of email and mbox_sha1sum")
    if request.email:
        if len(request.email) > 320 or "@" not in request.email:
            await invalid(context, "email must be an address (at most 320 characters)")
        key, what = keys(svc.settings, request.email)[0], f"email {normal_email(request.email)}"
    else:
        sha = request.mbox_sha1sum.strip().lower()
        if len(sha) != 40 or any(c not in "0123456789abcdef" for c in sha):
            await invalid(context, "mbox_sha1sum must be 40 hex digits (SHA-1 of 'mailto:<email>')")
        key, what = svc.settings.key(f"employee:by-mbox:{sha}"), f"mbox_sha1sum {sha}"
    found = await svc.redis.get(key)
    if found is None:
        await context.abort(grpc.StatusCode.NOT_FOUND, f"no employee has the {what}")
    return profile_pb2.FindEmployeeResponse(employee_id=found.decode())
