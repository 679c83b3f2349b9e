"""Live notifications through the console's own origin: ``GET /notifications/stream`` (Server-Sent Events).

The console subscribes to the notifier (NotifierService.Subscribe, gRPC) as the
signed-in person and relays each notification as an SSE event::

    id: <notification id>
    event: notification
    data: {"id", "kind", "title", "body", "link", "course_links", "read", "opportunity_id"}

The browser's EventSource reconnects by itself and sends ``Last-Event-ID``; the
console passes it on as ``after_id``, so nothing is missed or repeated across a
reconnect (``?after_id=`` works too, for the first connection). When the
notifier cannot resume from there (the inbox was trimmed past it) the console
sends ``event: resync`` and ends: the page reloads the inbox.

A first connection without a position starts at the beginning of the inbox
(the notifier's rule): what was in it before the page was rendered (``?since=``,
epoch milliseconds, the page's ``data-now``; default: now) is sent as a bare
``id:`` line, which moves the browser's position without showing anything, so
only what arrives after the page was drawn becomes a toast. A comment line
every ``HEARTBEAT_S`` keeps proxies from closing an idle stream. The notifier
ending the stream (shutdown, a slow reader) ends this one; the browser
reconnects from its last id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time

import grpc
from aiohttp import web

from itm.v1 import notifier_pb2
from services.web.clients import api
from services.web.keys import SETTINGS
from services.web.session import require

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
SKEW_MS = 1000  # clocks of the console and the notifier's Redis may differ a little
RETRY_MS = 2000
_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


def event(name: str, data: dict, event_id: str = "") -> bytes:
    lines = [f"id: {event_id}"] if event_id else []
    lines += [f"event: {name}", f"data: {json.dumps(data, separators=(',', ':'))}"]
    return ("\n".join(lines) + "\n\n").encode()


async def stream(request: web.Request) -> web.StreamResponse:
    from services.web.app import WEB_LIVE_STREAMS
    from services.web.views.employee import note_json

    session = require(request)
    base = request.app[SETTINGS].public_base_url
    after_id = request.headers.get("Last-Event-ID") or request.query.get("after_id", "")
    if after_id and not _ID.match(after_id):
        raise web.HTTPBadRequest(reason="Last-Event-ID must be a notification id like 1700000000000-0")
    since = request.query.get("since", "")
    if since and not since.isdigit():
        raise web.HTTPBadRequest(reason="since must be epoch milliseconds")
    quiet_before = 0 if after_id else (int(since) if since else int(time.time() * 1000)) - SKEW_MS
    call = api(request).notifier.Subscribe(
        notifier_pb2.SubscribeRequest(employee_id=session.subject, after_id=after_id), timeout=None)
    request["itm.live"] = True
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                       "X-Accel-Buffering": "no"})
    lock = asyncio.Lock()

    async def write(data: bytes) -> None:
        async with lock:
            await resp.write(data)

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            await write(b": keep-alive\n\n")

    beat = None
    WEB_LIVE_STREAMS.inc()
    try:
        await resp.prepare(request)
        await write(f"retry: {RETRY_MS}\n: connected\n\n".encode())
        beat = asyncio.create_task(heartbeat())
        try:
            async for note in call:
                if quiet_before and int(note.notification_id.partition("-")[0]) < quiet_before:
                    await write(f"id: {note.notification_id}\n\n".encode())  # already on the page: move on
                    continue
                await write(event("notification", note_json(note, base), note.notification_id))
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.FAILED_PRECONDITION,
                              grpc.StatusCode.INVALID_ARGUMENT):
                await write(event("resync", {"reason": err.details() or ""}))
            elif err.code() not in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE):
                await write(event("error", {"reason": err.details() or err.code().name}))
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the browser went away
    finally:
        WEB_LIVE_STREAMS.dec()
        if beat is not None:
            beat.cancel()
            with contextlib.suppress(BaseException):
                await beat
        call.cancel()
    return resp
