"""Notifier: employee inboxes in Redis Streams, delivered live over gRPC and SSE.

* ``match.threshold-crossed`` is consumed idempotently (event id) and appended
  to the employee's inbox stream ``inbox:<employee>`` (bounded by MAXLEN) in
  the same transaction as a fan-out PUBLISH on ``inbox-events``.
* Every notifier instance subscribes to ``inbox-events`` once and wakes its own
  connections of that employee, so a client on any instance gets every event.
* A connection reads the inbox stream itself from its last id (resume =
  Last-Event-ID / after_id): a slow client only delays itself, holds at most
  one page in memory, and nothing is missed or doubled across reconnects. A
  client whose last id was trimmed away is told to resync from its inbox.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import grpc
from aiohttp import web
from aiohttp_sse import sse_response
from google.protobuf import json_format
from prometheus_client import Counter, Gauge, Histogram

from itm.runtime import metrics
from itm.runtime.auth import AuthError, current_identity, require_self_or_privileged, verify_token
from itm.runtime.consumer import IdempotentConsumer
from itm.runtime.envelope import Event
from itm.runtime.service import Service
from itm.v1 import notifier_pb2, notifier_pb2_grpc
from services.notifier.render import render_crossing

log = logging.getLogger(__name__)

CONNECTED = Gauge("itm_notifier_connected_clients", "Open live connections", ["transport"])
DELIVERED = Counter("itm_notifications_delivered_total", "Notifications written to a live connection", ["transport"])
STORED = Counter("itm_notifications_stored_total", "Notifications added to inboxes", ["kind"])
E2E = Histogram("itm_e2e_latency_seconds", "Crossing event time to delivery on a live connection",
                ["transport"], buckets=metrics.LATENCY_BUCKETS)
SUPPRESSED = Counter("itm_notifications_replay_suppressed_total",
                     "Replayed crossings dropped because the same push was already shown")
PAGE = 100


class Inbox:
    def __init__(self, svc: Service):
        self.svc = svc
        self.channel = svc.settings.key("inbox-events")
        self.listeners: dict[str, set[asyncio.Event]] = {}

    def stream(self, employee_id: str) -> str:
        return self.svc.settings.key(f"inbox:{employee_id}")

    def shown_key(self, employee_id: str) -> str:
        """opportunity id -> "threshold|full" of the latest crossing shown."""
        return self.svc.settings.key(f"inbox:{employee_id}:shown")

    def read_key(self, employee_id: str) -> str:
        return self.svc.settings.key(f"inbox:{employee_id}:read")

    # -- writing (consumer side) -------------------------------------------------------
    async def on_crossing(self, event: Event, pipe) -> None:
        from itm.taxonomy import Taxonomy

        crossing = event.payload
        shown_key = self.shown_key(crossing.employee_id)
        mark = f"{crossing.threshold_percent}|{int(crossing.fully_qualified)}".encode()
        await pipe.watch(shown_key)
        if event.envelope.replayed and await pipe.hget(shown_key, crossing.opportunity_id) == mark:
            SUPPRESSED.inc()
            return  # a rebuilt matcher re-deriving a push this person has already seen
        note = render_crossing(crossing, self.svc.settings.public_base_url, Taxonomy.load_default().name)
        note.source_event_id = event.event_id
        note.created_at.CopyFrom(event.envelope.occurred_at)
        pipe.multi()
        pipe.xadd(self.stream(crossing.employee_id), {b"n": note.SerializeToString()},
                  maxlen=self.svc.settings.inbox_max_len, approximate=False)
        pipe.hset(shown_key, crossing.opportunity_id, mark)
        pipe.publish(self.channel, crossing.employee_id)
        STORED.labels(note.kind).inc()

    # -- fan-out --------------------------------------------------------------------------
    async def listen(self) -> None:
        pubsub = self.svc.redis.pubsub()
        await pubsub.subscribe(self.channel)
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                for wake in self.listeners.get(message["data"].decode(), ()):
                    wake.set()
        finally:
            await pubsub.aclose()

    def register(self, employee_id: str) -> asyncio.Event:
        wake = asyncio.Event()
        self.listeners.setdefault(employee_id, set()).add(wake)
        return wake

    def unregister(self, employee_id: str, wake: asyncio.Event) -> None:
        group = self.listeners.get(employee_id)
        if group is not None:
            group.discard(wake)
            if not group:
                del self.listeners[employee_id]

    # -- reading ----------------------------------------------------------------------------
    async def after(self, employee_id: str, after_id: str, count: int = PAGE) -> list[notifier_pb2.Notification]:
        start = f"({after_id}" if after_id else "-"
        entries = await self.svc.redis.xrange(self.stream(employee_id), start, "+", count=count)
        return [self._note(employee_id, entry_id, fields) for entry_id, fields in entries]

    async def trimmed_past(self, employee_id: str, after_id: str) -> bool:
        """True when entries after ``after_id`` may have been trimmed away."""
        if not after_id:
            return False
        first = await self.svc.redis.xrange(self.stream(employee_id), "-", "+", count=1)
        return bool(first) and _id_tuple(first[0][0].decode()) > _id_tuple(after_id) and \
            await self.svc.redis.xlen(self.stream(employee_id)) >= self.svc.settings.inbox_max_len

    def _note(self, employee_id: str, entry_id: bytes, fields) -> notifier_pb2.Notification:
        note = notifier_pb2.Notification.FromString(fields[b"n"])
        note.notification_id = entry_id.decode()
        note.employee_id = employee_id
        return note

    async def live(self, employee_id: str, after_id: str, stop: asyncio.Event | None = None):
        """Everything after ``after_id``, then each new notification as it lands."""
        wake = self.register(employee_id)
        try:
            while stop is None or not stop.is_set():
                wake.clear()
                page = await self.after(employee_id, after_id)
                for note in page:
                    after_id = note.notification_id
                    yield note
                if len(page) < PAGE:
                    try:
                        await asyncio.wait_for(wake.wait(), 15)
                    except TimeoutError:
                        yield None  # heartbeat opportunity for the transport
        finally:
            self.unregister(employee_id, wake)


def _id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _valid_id(entry_id: str) -> bool:
    try:
        _id_tuple(entry_id)
        return True
    except ValueError:
        return False


def _observe_delivery(note: notifier_pb2.Notification, transport: str) -> None:
    DELIVERED.labels(transport).inc()
    if note.created_at.seconds:
        E2E.labels(transport).observe(max(0.0, time.time() - note.created_at.ToNanoseconds() / 1e9))


class NotifierServicer(notifier_pb2_grpc.NotifierServiceServicer):
    def __init__(self, inbox: Inbox):
        self.inbox = inbox

    async def Subscribe(self, request, context):
        await require_self_or_privileged(context, request.employee_id)
        if request.after_id and not _valid_id(request.after_id):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "after_id must be a notification id like 1700000000000-0")
        if await self.inbox.trimmed_past(request.employee_id, request.after_id):
            await context.abort(grpc.StatusCode.OUT_OF_RANGE,
                                "notifications after that id were trimmed; resync with ListInbox and resubscribe")
        CONNECTED.labels("grpc").inc()
        try:
            async for note in self.inbox.live(request.employee_id, request.after_id):
                if note is None:
                    continue
                yield note
                _observe_delivery(note, "grpc")
        finally:
            CONNECTED.labels("grpc").dec()

    async def ListInbox(self, request, context):
        await require_self_or_privileged(context, request.employee_id)
        size = max(1, min(request.page_size or 50, 500))
        notes = await self.inbox.after(request.employee_id, request.page_token, size + 1)
        more = len(notes) > size
        notes = notes[:size]
        read = {m.decode() for m in await self.inbox.svc.redis.smembers(self.inbox.read_key(request.employee_id))}
        for n in notes:
            n.read = n.notification_id in read
        if request.unread_only:
            notes = [n for n in notes if not n.read]
        total = await self.inbox.svc.redis.xlen(self.inbox.stream(request.employee_id))
        unread_ids = await self.inbox.svc.redis.xrange(self.inbox.stream(request.employee_id), "-", "+")
        unread = sum(1 for i, _ in unread_ids if i.decode() not in read) if total else 0
        return notifier_pb2.ListInboxResponse(notifications=notes, unread=unread,
                                              next_page_token=notes[-1].notification_id if more and notes else "")

    async def MarkRead(self, request, context):
        await require_self_or_privileged(context, request.employee_id)
        ids = [i for i in request.notification_ids if _valid_id(i)]
        if len(ids) != len(request.notification_ids):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "notification_ids must be ids like 1700000000000-0")
        if not ids:
            return notifier_pb2.MarkReadResponse(marked=0)
        added = await self.inbox.svc.redis.sadd(self.inbox.read_key(request.employee_id), *ids)
        return notifier_pb2.MarkReadResponse(marked=added)


class SSE:
    """GET /v1/employees/{employee_id}/notifications/stream (Server-Sent Events)."""

    def __init__(self, svc: Service, inbox: Inbox):
        self.svc = svc
        self.inbox = inbox

    def _identity(self, request: web.Request):
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else request.query.get("access_token", "")
        if not token:
            raise web.HTTPUnauthorized(text="missing bearer token (Authorization header or access_token query)")
        try:
            return verify_token(self.svc.settings, token)
        except AuthError as exc:
            raise web.HTTPUnauthorized(text=str(exc)) from None

    async def stream(self, request: web.Request) -> web.StreamResponse:
        employee_id = request.match_info["employee_id"]
        ident = self._identity(request) if self.svc.settings.auth_required else None
        if ident is not None and not ident.privileged and ident.subject != employee_id:
            raise web.HTTPForbidden(text=f"{ident.subject} may not read {employee_id}'s notifications")
        after_id = request.headers.get("Last-Event-ID") or request.query.get("after_id", "")
        if after_id and not _valid_id(after_id):
            raise web.HTTPBadRequest(text="Last-Event-ID must be a notification id like 1700000000000-0")
        if await self.inbox.trimmed_past(employee_id, after_id):
            raise web.HTTPGone(text="notifications after Last-Event-ID were trimmed; reload the inbox and reconnect")
        CONNECTED.labels("sse").inc()
        try:
            async with sse_response(request) as resp:
                resp.ping_interval = 15
                async for note in self.inbox.live(employee_id, after_id):
                    if note is None:
                        continue
                    data = json_format.MessageToDict(note, preserving_proto_field_name=True)
                    await asyncio.wait_for(resp.send(json.dumps(data), id=note.notification_id, event=note.kind), 30)
                    _observe_delivery(note, "sse")
                return resp
        except (ConnectionResetError, TimeoutError):
            return web.Response(status=499)
        finally:
            CONNECTED.labels("sse").dec()


def build() -> Service:
    svc = Service("notifier")
    inbox = Inbox(svc)
    notifier_pb2_grpc.add_NotifierServiceServicer_to_server(NotifierServicer(inbox), svc.grpc)
    svc.http.router.add_get("/v1/employees/{employee_id}/notifications/stream", SSE(svc, inbox).stream)
    svc.add_task(inbox.listen)
    svc.add_consumer(IdempotentConsumer(svc.settings, svc.redis, "notifier.crossings", ["match.threshold-crossed"],
                                        inbox.on_crossing))
    return svc
