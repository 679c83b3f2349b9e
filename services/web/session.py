"""The console's session: a signed, HttpOnly, SameSite=Lax cookie holding who is signed in.

The cookie is ``base64url(json) "." base64url(HMAC-SHA256)`` under ``ITM_WEB_SESSION_SECRET``;
nothing is stored server-side, so every replica with the same secret accepts it. It
carries the person (subject, role, name), the bearer token to call the services with
(the OIDC provider's token in production; empty in dev, where ``clients.py`` mints
one per request), the session's CSRF token, its expiry and ``extra`` (small values a
sign-in flow needs to keep, e.g. the OIDC state before the callback).

Every visitor gets a session, signed in or not, so that forms shown before sign-in
carry a CSRF token too. Handlers read ``session_of(request)`` and change it only
through ``sign_in``/``sign_out`` (or ``mark_dirty`` after editing ``extra``); the
middleware writes the cookie back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from services.web.keys import SETTINGS

MAX_COOKIE_BYTES = 4000  # browsers drop cookies above ~4 KiB


@dataclass
class Session:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    subject: str = ""
    role: str = ""
    name: str = ""
    token: str = ""  # bearer token for the services; "" = minted per request (dev only)
    expires_at: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def signed_in(self) -> bool:
        return bool(self.subject) and self.expires_at > time.time()


SESSION_KEY = web.RequestKey("itm.session", Session)
DIRTY_KEY = web.RequestKey("itm.session.dirty", bool)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def encode(session: Session, secret: str) -> str:
    payload = _b64(json.dumps(asdict(session), separators=(",", ":")).encode())
    return f"{payload}.{_mac(secret, payload)}"


def decode(value: str, secret: str) -> Session | None:
    """The session in a cookie value, or None if it is not one this secret signed."""
    payload, _, mac = value.partition(".")
    if not payload or not mac or not hmac.compare_digest(mac, _mac(secret, payload)):
        return None
    try:
        data = json.loads(_unb64(payload))
        return Session(**{k: data[k] for k in Session.__dataclass_fields__ if k in data})
    except (ValueError, TypeError):
        return None


class NotSignedIn(Exception):
    """The page needs a signed-in person (the error middleware sends the browser to sign-in)."""


def session_of(request: web.Request) -> Session:
    return request[SESSION_KEY]


def require(request: web.Request, *roles: str) -> Session:
    """The signed-in person, if their role is one of ``roles`` (any role when none given);
    NotSignedIn if nobody is signed in, 403 if the role may not open the page."""
    session = session_of(request)
    if not session.signed_in:
        raise NotSignedIn()
    if roles and session.role not in roles:
        raise web.HTTPForbidden(reason=f"this page is for {' or '.join(r.replace('_', ' ') for r in roles)} "
                                       f"accounts; you are signed in as {session.role.replace('_', ' ')}")
    return session


def mark_dirty(request: web.Request) -> None:
    request[DIRTY_KEY] = True


def sign_in(request: web.Request, subject: str, role: str, name: str = "", token: str = "",
            ttl_s: int | None = None, **extra: Any) -> Session:
    """Start a signed-in session (a fresh CSRF token: one fixed before sign-in is not kept)."""
    settings = request.app[SETTINGS]
    ttl = settings.web_session_ttl_s if ttl_s is None else min(ttl_s, settings.web_session_ttl_s)
    session = Session(subject=subject, role=role, name=name or subject, token=token,
                      expires_at=int(time.time()) + ttl, extra=dict(extra))
    request[SESSION_KEY] = session
    mark_dirty(request)
    return session


def sign_out(request: web.Request) -> Session:
    request[SESSION_KEY] = Session()
    mark_dirty(request)
    return request[SESSION_KEY]


@web.middleware
async def session_middleware(request: web.Request, handler):
    settings = request.app[SETTINGS]
    raw = request.cookies.get(settings.web_cookie_name, "")
    session = decode(raw, settings.web_session_secret) if raw else None
    if session is not None and session.subject and not session.signed_in:
        session = None  # expired: start over as a visitor
    request[SESSION_KEY] = session or Session()
    request[DIRTY_KEY] = session is None
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects and error pages keep the session too
        _write(request, exc, settings)
        raise
    _write(request, response, settings)
    return response


def _write(request: web.Request, response: web.StreamResponse, settings) -> None:
    if not request.get(DIRTY_KEY) or response.prepared:
        return
    session = request[SESSION_KEY]
    value = encode(session, settings.web_session_secret)
    if len(value) > MAX_COOKIE_BYTES:
        raise RuntimeError(f"session cookie of {len(value)} bytes is too large")
    max_age = max(1, session.expires_at - int(time.time())) if session.subject else None
    response.set_cookie(settings.web_cookie_name, value, max_age=max_age, path="/", httponly=True,
                        samesite="Lax", secure=settings.secure_cookie)
