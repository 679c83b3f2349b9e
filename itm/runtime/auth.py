"""Identity on every call: bearer JWTs, verified in one gRPC interceptor.

The embedded stack signs its own HS256 tokens (``itm token``); the verifier
checks signature, expiry, audience and issuer. Roles: employee, manager,
hr_admin, service. Authorisation rules live with each service; the helpers
here state the common ones.
"""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass

import grpc
import jwt

from itm.runtime.settings import Settings

ROLES = ("employee", "manager", "hr_admin", "service")
PUBLIC_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


@dataclass(frozen=True, slots=True)
class Identity:
    subject: str
    role: str

    @property
    def privileged(self) -> bool:
        return self.role in ("hr_admin", "service")


ANONYMOUS = Identity("anonymous", "none")
current_identity: contextvars.ContextVar[Identity] = contextvars.ContextVar("current_identity", default=ANONYMOUS)


class AuthError(Exception):
    pass


def mint_token(settings: Settings, subject: str, role: str, ttl_s: int = 3600) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    now = int(time.time())
    claims = {
        "sub": subject,
        "role": role,
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "iat": now,
        "exp": now + ttl_s,
    }
    return jwt.encode(claims, settings.token_secret, algorithm="HS256")


def verify_token(settings: Settings, token: str) -> Identity:
    try:
        claims = jwt.decode(
            token,
            settings.token_secret,
            algorithms=["HS256"],
            audience=settings.token_audience,
            issuer=settings.token_issuer,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired; get a new one") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    role = claims.get("role")
    if role not in ROLES:
        raise AuthError(f"token has no valid role claim (one of {', '.join(ROLES)})")
    return Identity(str(claims["sub"]), role)


def identity_from_metadata(settings: Settings, metadata) -> Identity:
    for key, value in metadata or ():
        if key == "authorization":
            scheme, _, token = value.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise AuthError("authorization metadata must be 'Bearer <token>'")
            return verify_token(settings, token)
    raise AuthError("missing bearer token: send 'authorization: Bearer <token>' metadata (see `itm token`)")


def bearer(token: str) -> tuple[tuple[str, str]]:
    """Call metadata for a token, for clients."""
    return (("authorization", f"Bearer {token}"),)


async def require_self_or_privileged(context: grpc.aio.ServicerContext, employee_id: str) -> Identity:
    ident = current_identity.get()
    if ident.privileged or ident.subject == employee_id:
        return ident
    await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{ident.role} {ident.subject} may not act for {employee_id}")
    raise AssertionError("unreachable")
