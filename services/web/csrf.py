"""CSRF protection: every state-changing request carries the session's token.

Session-bound synchronizer token: forms render ``{{ csrf_field() }}`` (a hidden
``_csrf`` input), scripts send the ``X-CSRF-Token`` header (the token is in the
page's ``<meta name="csrf-token">``). A POST, PUT, PATCH or DELETE without the
session's token, or from another origin (``Origin`` header), is refused with the
403 page. Together with the SameSite=Lax cookie this stops cross-site forms.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from aiohttp import web

from services.web.keys import SETTINGS
from services.web.session import session_of

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
FIELD = "_csrf"
HEADER = "X-CSRF-Token"


class CsrfRefused(web.HTTPForbidden):
    """Rendered as the 403 page with the reason."""


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if not origin:
        return True  # not sent (older browsers, curl): the token alone decides
    if origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.netloc == request.host or parts.netloc == urlsplit(request.app[SETTINGS].public_base_url).netloc


@web.middleware
async def csrf_middleware(request: web.Request, handler):
    if request.method not in SAFE_METHODS:
        expected = session_of(request).csrf
        sent = request.headers.get(HEADER, "")
        if not sent and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sent = str((await request.post()).get(FIELD, ""))
        if not _same_origin(request):
            raise CsrfRefused(reason="request from another site refused")
        if not sent or not hmac.compare_digest(sent, expected):
            raise CsrfRefused(reason="the form's security token is missing or out of date; reload the page and "
                                     "try again")
    return await handler(request)
