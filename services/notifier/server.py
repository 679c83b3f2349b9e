"""Notifier: employee inboxes in Redis Streams, delivered live over gRPC and SSE.

* ``match.threshold-crossed`` is consumed idempotently (event id). Unless the
  employee muted that opportunity type, it is rendered and appended to the
  inbox stream ``inbox:<employee>`` (bounded by MAXLEN) in the same
  transaction as a fan-out PUBLISH on ``inbox-events``. Muted crossings are
  not stored; they are counted in ``itm_notifications_muted_total``.
* Every notifier instance subscribes to ``inbox-events`` (and
  ``inbox-prefs-events``) once and wakes its own connections of that
  employee, so a client on any instance gets every event.
* A connection pulls from the inbox stream after its own cursor
  (``stream.deliveries``): resume is exact, nothing is queued per connection,
  and a slow client only delays itself. Preferences (in-app channel, quiet
  hours, digest) decide when a connection pushes; see ``prefs``.
* A client too far behind, or whose writes stall for
  ``ITM_CLIENT_WRITE_TIMEOUT_S``, is told to resume from its last id
  (gRPC RESOURCE_EXHAUSTED "resume from <id>"; SSE event ``resync``), then
  the connection ends. A client whose last id was trimmed away is told to
  resync from its inbox (OUT_OF_RANGE / 410).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import resource
import socket
import time

import grpc
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp_sse import EventSourceResponse
from google.protobuf import json_format
from prometheus_client import Counter, Gauge, Histogram

from itm.runtime import metrics
from itm.runtime.auth import AuthError, RateLimiter, require_self_or_privileged, verify_token
from itm.runtime.consumer import IdempotentConsumer
from itm.runtime.envelope import Event
from itm.runtime.redisx import is_stream_id, transact
from itm.runtime.service import RATE_LIMITED, Service
from itm.v1 import common_pb2, notifier_pb2, notifier_pb2_grpc
from services.notifier import prefs as policy
from services.notifier import routing
from services.notifier.delivery import Delivery
from services.notifier.ledger import notification_key
from itm.runtime.topics import OPPORTUNITY_TOPICS
from services.notifier.render import render_crossing, render_workflow
from services.notifier.stream import Push, TooFarBehind, Waker, deliveries

log = logging.getLogger(__name__)

CONNECTED = Gauge("itm_notifier_connected_clients", "Open live connections", ["transport"])
DELIVERED = Counter("itm_notifications_delivered_total", "Notifications written to a live connection", ["transport"])
STORED = Counter("itm_notifications_stored_total", "Notifications added to inboxes", ["kind"])
MUTED = Counter("itm_notifications_muted_total", "Crossings not stored because the employee muted the type",
                ["opportunity_type"])
for _type in common_pb2.OpportunityType.keys():  # every series exists from the start, at zero (alerts read it)
    if _type != "OPPORTUNITY_TYPE_UNSPECIFIED":
        MUTED.labels(_type)
RESYNCS = Counter("itm_notifier_resyncs_total", "Live connections told to resume from their last id",
                  ["transport", "reason"])
E2E = Histogram("itm_e2e_latency_seconds", "Crossing event time to delivery on a live connection",
                ["transport"], buckets=metrics.LATENCY_BUCKETS)
SUPPRESSED = Counter("itm_notifications_replay_suppressed_total",
                     "Replayed crossings dropped because the same push was already shown")
PAGE = 100
SSE_SEND_BUFFER = 64 * 1024  # kernel send buffer per SSE socket: bounds what a stalled client can hold
READER_POOL = 64             # Redis connections for live reads, however many clients are connected


class Inbox:
    def __init__(self, svc: Service):
        self.svc = svc
        self.settings = svc.settings
        self.channel = svc.settings.key("inbox-events")
        self.prefs_channel = svc.settings.key("inbox-prefs-events")
        self.listeners: dict[str, set[Waker]] = {}
        pool = aioredis.BlockingConnectionPool.from_url(
            svc.settings.redis_url, max_connections=READER_POOL, timeout=20, socket_timeout=10,
            health_check_interval=10)
        self.reader = aioredis.Redis(connection_pool=pool)
        self.delivery = None  # the Delivery worker (email, Slack, Teams, digests), set by build()

    def stream(self, employee_id: str) -> str:
        return self.settings.key(f"inbox:{employee_id}")

    def shown_key(self, employee_id: str) -> str:
        """opportunity id -> "threshold|full" of the latest crossing shown."""
        return self.settings.key(f"inbox:{employee_id}:shown")

    def read_key(self, employee_id: str) -> str:
        return self.settings.key(f"inbox:{employee_id}:read")

    @property
    def deactivated_key(self) -> str:
        """Employees deactivated by the identity provider (SCIM): no pushes for them."""
        return self.settings.key("inbox:deactivated")

    @property
    def titles_key(self) -> str:
        """opportunity id -> title, from the opportunity snapshots, to name gigs in pushes."""
        return self.settings.key("opportunity-titles")

    def prefs_key(self, employee_id: str) -> str:
        return self.settings.key(f"inbox:{employee_id}:prefs")

    # -- writing (consumer side) -------------------------------------------------------
    async def on_crossing(self, event: Event, pipe) -> None:
        from itm.taxonomy import Taxonomy

        crossing = event.payload
        if await pipe.sismember(self.deactivated_key, crossing.employee_id):
            return  # deactivated: not stored, not pushed
        shown_key, prefs_key = self.shown_key(crossing.employee_id), self.prefs_key(crossing.employee_id)
        mark = f"{crossing.threshold_percent}|{int(crossing.fully_qualified)}".encode()
        # Preferences are read, not watched: a mute racing with a crossing is as if the
        # crossing came first. (One round trip less per event; the consumer is the hot path.)
        raw = await pipe.get(prefs_key)
        prefs = notifier_pb2.NotificationPreferences.FromString(raw) if raw else policy.defaults(crossing.employee_id)
        if crossing.opportunity_type in prefs.muted_opportunity_types:
            MUTED.labels(common_pb2.OpportunityType.Name(crossing.opportunity_type)).inc()
            return  # muted: not stored, not pushed (the consumer still records the event id)
        if event.envelope.replayed:
            await pipe.watch(shown_key)
            if await pipe.hget(shown_key, crossing.opportunity_id) == mark:
                SUPPRESSED.inc()
                return  # a rebuilt matcher re-deriving a push this person has already seen
        note = render_crossing(crossing, self.settings.public_base_url, Taxonomy.configured().name)
        note.source_event_id = event.event_id
        note.created_at.CopyFrom(event.envelope.occurred_at)
        pipe.multi()
        pipe.xadd(self.stream(crossing.employee_id), {b"n": note.SerializeToString()},
                  maxlen=self.settings.inbox_max_len, approximate=False)
        pipe.hset(shown_key, crossing.opportunity_id, mark)
        if self.delivery is not None:
            self.delivery.plan(pipe, prefs, note, notification_key(event.event_id, crossing.employee_id, note.kind),
                               time.time())
        pipe.publish(self.channel, crossing.employee_id)
        STORED.labels(note.kind).inc()

    async def on_workflow(self, event: Event, pipe) -> None:
        """Applications, approvals and outcomes: tell the people who must act or know."""
        opp = getattr(event.payload, "opportunity", None)
        if opp is not None and opp.title:
            await pipe.hset(self.titles_key, opp.opportunity_id, opp.title)  # before MULTI: immediate
        app = getattr(event.payload, "application", None)
        title = None
        if app is not None:
            raw = await pipe.hget(self.titles_key, app.opportunity_id)
            title = raw.decode() if raw else None
        notes = render_workflow(event.type, event.payload, lambda _id: title, self.settings.public_base_url)
        if notes:  # nobody deactivated is told anything
            gone = await pipe.smismember(self.deactivated_key, [recipient for recipient, _ in notes])
            notes = [n for n, out in zip(notes, gone) if not out]
        if not notes:
            return
        raws = await pipe.mget([self.prefs_key(recipient) for recipient, _ in notes])
        now = time.time()
        pipe.multi()
        for (recipient, note), raw in zip(notes, raws):
            note.source_event_id = event.event_id
            note.created_at.CopyFrom(event.envelope.occurred_at)
            pipe.xadd(self.stream(recipient), {b"n": note.SerializeToString()},
                      maxlen=self.settings.inbox_max_len, approximate=False)
            if self.delivery is not None:
                prefs = notifier_pb2.NotificationPreferences.FromString(raw) if raw else policy.defaults(recipient)
                self.delivery.plan(pipe, prefs, note, notification_key(event.event_id, recipient, note.kind), now)
            pipe.publish(self.channel, recipient)
            STORED.labels(note.kind).inc()

    async def on_activation(self, event: Event, pipe) -> None:
        """SCIM deactivation ends every push to the person until they are reactivated."""
        employee_id = event.payload.profile.employee_id
        pipe.multi()
        if event.type == "profile.employee-deactivated":
            pipe.sadd(self.deactivated_key, employee_id)
        else:
            pipe.srem(self.deactivated_key, employee_id)

    async def on_employee_erased(self, event: Event, pipe) -> None:
        """Right to erasure: the inbox, read marks, shown marks, preferences, and every queued or
        recorded delivery (ledger, dead letters, digest schedule) go."""
        employee_id = event.payload.employee_id
        pipe.multi()
        pipe.srem(self.deactivated_key, employee_id)
        pipe.delete(self.stream(employee_id), self.read_key(employee_id), self.shown_key(employee_id),
                    self.prefs_key(employee_id))
        if self.delivery is not None:
            await self.delivery.erase(pipe, employee_id)

    # -- preferences -------------------------------------------------------------------
    async def prefs(self, employee_id: str) -> notifier_pb2.NotificationPreferences:
        raw = await self.reader.get(self.prefs_key(employee_id))
        if not raw:
            return policy.defaults(employee_id)
        stored = notifier_pb2.NotificationPreferences.FromString(raw)
        stored.employee_id = employee_id
        return stored

    async def set_prefs(self, employee_id: str, wanted: notifier_pb2.NotificationPreferences,
                        expected_version: int) -> notifier_pb2.NotificationPreferences | int:
        """Store ``wanted``; returns the stored preferences, or the current version when stale."""
        key = self.prefs_key(employee_id)

        async def body(pipe):
            raw = await pipe.get(key)
            version = notifier_pb2.NotificationPreferences.FromString(raw).version if raw else 0
            if expected_version and expected_version != version:
                return version
            new = notifier_pb2.NotificationPreferences()
            new.CopyFrom(wanted)
            new.version = version + 1
            new.updated_at.GetCurrentTime()
            pipe.multi()
            pipe.set(key, new.SerializeToString())
            pipe.publish(self.prefs_channel, employee_id)
            return new

        return await transact(self.svc.redis, [key], body)

    # -- fan-out --------------------------------------------------------------------------
    async def listen(self) -> None:
        pubsub = self.svc.redis.pubsub()
        await pubsub.subscribe(self.channel, self.prefs_channel)
        prefs_channel = self.prefs_channel.encode()
        # anything published while we were not subscribed (start, reconnect): everyone re-reads
        for group in list(self.listeners.values()):
            for waker in group:
                waker.wake(prefs=True)
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                is_prefs = message["channel"] == prefs_channel
                if not is_prefs and self.delivery is not None:
                    self.delivery.wake()  # deliveries may have been queued with this inbox entry
                for waker in self.listeners.get(message["data"].decode(), ()):
                    waker.wake(prefs=is_prefs)
        finally:
            await pubsub.aclose()

    def register(self, employee_id: str) -> Waker:
        waker = Waker()
        self.listeners.setdefault(employee_id, set()).add(waker)
        return waker

    def unregister(self, employee_id: str, waker: Waker) -> None:
        group = self.listeners.get(employee_id)
        if group is not None:
            group.discard(waker)
            if not group:
                del self.listeners[employee_id]

    # -- reading ----------------------------------------------------------------------------
    async def after(self, employee_id: str, after_id: str, count: int = PAGE) -> list[notifier_pb2.Notification]:
        start = f"({after_id}" if after_id else "-"
        entries = await self.reader.xrange(self.stream(employee_id), start, "+", count=count)
        return [self._note(employee_id, entry_id, fields) for entry_id, fields in entries]

    async def trimmed_past(self, employee_id: str, after_id: str) -> bool:
        """True when entries after ``after_id`` may have been trimmed away."""
        if not after_id:
            return False
        async with self.reader.pipeline(transaction=False) as pipe:
            pipe.xrange(self.stream(employee_id), "-", "+", count=1)
            pipe.xlen(self.stream(employee_id))
            first, length = await pipe.execute()
        return bool(first) and _id_tuple(first[0][0].decode()) > _id_tuple(after_id) and \
            length >= self.settings.inbox_max_len

    def _note(self, employee_id: str, entry_id: bytes, fields) -> notifier_pb2.Notification:
        note = notifier_pb2.Notification.FromString(fields[b"n"])
        note.notification_id = entry_id.decode()
        note.employee_id = employee_id
        return note

    def live(self, employee_id: str, after_id: str, waker: Waker):
        """Everything after ``after_id``, then what lands, as the preferences allow."""
        return deliveries(employee_id, after_id, waker, self.after, self.prefs,
                          page_size=PAGE, lag_limit=self.settings.client_buffer,
                          heartbeat_s=self.settings.notifier_heartbeat_s)


def _id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _observe_delivery(push: Push, transport: str) -> None:
    note = push.note
    DELIVERED.labels(transport).inc(len(note.items) or 1)
    if push.live and note.created_at.seconds:
        E2E.labels(transport).observe(max(0.0, time.time() - note.created_at.ToNanoseconds() / 1e9))


class _Writing:
    """What a gRPC stream has handed to the transport, and since when it waits."""

    __slots__ = ("handed", "since")

    def __init__(self, handed: str):
        self.handed = handed
        self.since: float | None = None


class NotifierServicer(notifier_pb2_grpc.NotifierServiceServicer):
    def __init__(self, inbox: Inbox):
        self.inbox = inbox
        self.settings = inbox.settings
        self._aborts: set[asyncio.Task] = set()

    def _resign(self, context, last_id: str, reason: str) -> None:
        """End the stream with RESOURCE_EXHAUSTED "resume from <id>".

        The status is queued behind the messages already handed to gRPC (so the
        client sees them first) by a task of its own: for a client that does not
        read, sending it waits on flow control, and the handler must not.
        """
        RESYNCS.labels("grpc", reason).inc()
        detail = (f"too far behind: resume from {last_id}" if reason == "behind"
                  else f"stalled: no write completed in {self.settings.client_write_timeout_s:g}s; "
                       f"resume from {last_id}")

        async def abort():
            with contextlib.suppress(BaseException):
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, detail,
                                    trailing_metadata=(("resume-from", last_id),))

        task = asyncio.create_task(abort())
        self._aborts.add(task)
        task.add_done_callback(self._aborts.discard)

    async def _watchdog(self, writing: _Writing, context, handler: asyncio.Task) -> None:
        limit = self.settings.client_write_timeout_s
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            if writing.since is not None and time.monotonic() - writing.since > limit:
                self._resign(context, writing.handed, "stalled")
                await asyncio.sleep(0)  # let the abort queue the status
                handler.cancel()        # free the handler stuck in a write
                return

    async def Subscribe(self, request, context):
        if not request.employee_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "employee_id is required")
        await require_self_or_privileged(context, request.employee_id)
        if request.after_id and not is_stream_id(request.after_id):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "after_id must be a notification id like 1700000000000-0")
        if await self.inbox.trimmed_past(request.employee_id, request.after_id):
            await context.abort(grpc.StatusCode.OUT_OF_RANGE,
                                "notifications after that id were trimmed; resync with ListInbox and resubscribe")
        waker = self.inbox.register(request.employee_id)
        writing = _Writing(request.after_id)
        dog = asyncio.create_task(self._watchdog(writing, context, asyncio.current_task()))
        CONNECTED.labels("grpc").inc()
        try:
            async with contextlib.aclosing(self.inbox.live(request.employee_id, request.after_id, waker)) as pushes:
                async for push in pushes:
                    if push is None:
                        continue
                    writing.handed, writing.since = push.note.notification_id, time.monotonic()
                    yield push.note
                    writing.since = None
                    _observe_delivery(push, "grpc")
        except TooFarBehind as exc:
            self._resign(context, exc.last_id, "behind")
            await asyncio.sleep(0)
        finally:
            dog.cancel()
            self.inbox.unregister(request.employee_id, waker)
            CONNECTED.labels("grpc").dec()

    async def ListInbox(self, request, context):
        await require_self_or_privileged(context, request.employee_id)
        if request.page_token and not is_stream_id(request.page_token):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "page_token must be a next_page_token from ListInbox")
        size = max(1, min(request.page_size or 50, 500))
        notes = await self.inbox.after(request.employee_id, request.page_token, size + 1)
        more = len(notes) > size
        notes = notes[:size]
        redis = self.inbox.reader
        read = {m.decode() for m in await redis.smembers(self.inbox.read_key(request.employee_id))}
        for n in notes:
            n.read = n.notification_id in read
        next_token = notes[-1].notification_id if more and notes else ""
        if request.unread_only:
            notes = [n for n in notes if not n.read]
        ids = await redis.xrange(self.inbox.stream(request.employee_id), "-", "+")
        unread = sum(1 for i, _ in ids if i.decode() not in read)
        return notifier_pb2.ListInboxResponse(notifications=notes, unread=unread, next_page_token=next_token)

    async def MarkRead(self, request, context):
        await require_self_or_privileged(context, request.employee_id)
        ids = [i for i in request.notification_ids if is_stream_id(i)]
        if len(ids) != len(request.notification_ids):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "notification_ids must be ids like 1700000000000-0")
        if not ids:
            return notifier_pb2.MarkReadResponse(marked=0)
        redis = self.inbox.svc.redis
        stream, read_key = self.inbox.stream(request.employee_id), self.inbox.read_key(request.employee_id)
        async with redis.pipeline(transaction=False) as pipe:
            for i in ids:
                pipe.xrange(stream, i, i, count=1)
            pipe.xrange(stream, "-", "+", count=1)
            found = await pipe.execute()
        existing = [i for i, hit in zip(ids, found[:-1]) if hit]  # ids not in the inbox are not marked
        added = await redis.sadd(read_key, *existing) if existing else 0
        # The inbox is capped (ITM_INBOX_MAX_LEN): marks of notifications trimmed from it go
        # too, so the read set never outgrows the inbox by more than what was trimmed since.
        oldest = _id_tuple(found[-1][0][0].decode()) if found[-1] else None
        stale = [m for m in await redis.smembers(read_key) if oldest is None or _id_tuple(m.decode()) < oldest]
        if stale:
            await redis.srem(read_key, *stale)
        return notifier_pb2.MarkReadResponse(marked=added)

    async def GetPreferences(self, request, context):
        if not request.employee_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "employee_id is required")
        await require_self_or_privileged(context, request.employee_id)
        return await self.inbox.prefs(request.employee_id)

    async def SetPreferences(self, request, context):
        if not request.employee_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "employee_id is required")
        await require_self_or_privileged(context, request.employee_id)
        problem = policy.validate(request.preferences) or routing.validate_destinations(
            request.preferences, self.settings.chat_webhook_allowed_hosts, self.settings.chat_webhook_allow_http)
        if problem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        if request.expected_version < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "expected_version must be >= 0 (0 = unconditional)")
        wanted = policy.normalise(request.employee_id, request.preferences)
        stored = await self.inbox.set_prefs(request.employee_id, wanted, request.expected_version)
        if isinstance(stored, int):
            await context.abort(grpc.StatusCode.ABORTED,
                                f"preferences are at version {stored}, not {request.expected_version}; "
                                "read them again and retry")
        if self.inbox.delivery is not None:
            await self.inbox.delivery.on_prefs_changed(request.employee_id, stored)
        return stored


class SSE:
    """GET /v1/employees/{employee_id}/notifications/stream (Server-Sent Events).

    401 without a valid bearer token, 429 (Retry-After) beyond the caller's rate of
    new connections, 403 unless the caller is the employee, an HR admin or a service.
    """

    def __init__(self, svc: Service, inbox: Inbox):
        self.svc = svc
        self.inbox = inbox
        self.write_timeout = svc.settings.client_write_timeout_s
        self.handlers: set[asyncio.Task] = set()
        # new connections per identity (the gRPC calls have their own bucket in the CallGuard)
        self.limiter = RateLimiter(svc.settings.rate_limit_per_s, svc.settings.rate_limit_burst)

    async def close_all(self) -> None:
        """On shutdown: end every live stream now (clients reconnect with Last-Event-ID
        to another instance) instead of letting the HTTP server wait for them."""
        for task in list(self.handlers):
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)

    async def _identity(self, request: web.Request):
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else request.query.get("access_token", "")
        if not token:
            raise web.HTTPUnauthorized(text="missing bearer token (Authorization header or access_token query)")
        try:
            if self.svc.settings.auth_jwks_url:  # may fetch keys: keep the loop free (as the CallGuard does)
                return await asyncio.to_thread(verify_token, self.svc.settings, token)
            return verify_token(self.svc.settings, token)
        except AuthError as exc:
            raise web.HTTPUnauthorized(text=str(exc)) from None

    def _admit(self, request: web.Request, ident) -> None:
        """The per-identity limit on new connections (ITM_RATE_LIMIT_PER_S / _BURST, as for gRPC calls;
        services are exempt): 429 with Retry-After (whole seconds) beyond it."""
        if ident is not None and ident.role == "service":
            return
        key = ident.subject if ident is not None else f"ip:{request.remote}"
        if wait := self.limiter.allow(key):
            RATE_LIMITED.labels(self.svc.name).inc()
            raise web.HTTPTooManyRequests(
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
                text=f"too many new connections for {key}: a burst of {self.svc.settings.rate_limit_burst}, then "
                     f"{self.svc.settings.rate_limit_per_s:g}/s; retry in {wait:.1f}s")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        employee_id = request.match_info["employee_id"]
        ident = await self._identity(request) if self.svc.settings.auth_required else None
        self._admit(request, ident)
        if ident is not None and not ident.privileged and ident.subject != employee_id:
            raise web.HTTPForbidden(text=f"{ident.subject} may not read {employee_id}'s notifications")
        after_id = request.headers.get("Last-Event-ID") or request.query.get("after_id", "")
        if after_id and not is_stream_id(after_id):
            raise web.HTTPBadRequest(text="Last-Event-ID must be a notification id like 1700000000000-0")
        if await self.inbox.trimmed_past(employee_id, after_id):
            raise web.HTTPGone(text="notifications after Last-Event-ID were trimmed; reload the inbox and reconnect")
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SSE_SEND_BUFFER)
                # a peer that acknowledges nothing for 3 write timeouts is gone: the kernel drops it
                # (later than our own stall check, which still gets to send `resync`)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(self.write_timeout * 3000))
        # heartbeats are ours (with the write timeout); the library's ping is parked
        resp = EventSourceResponse(send_timeout=None, ping_interval=10**9)
        await resp.prepare(request)
        waker = self.inbox.register(employee_id)
        handed, reason = after_id, ""
        me = asyncio.current_task()
        self.handlers.add(me)
        CONNECTED.labels("sse").inc()
        try:
            async with contextlib.aclosing(self.inbox.live(employee_id, after_id, waker)) as pushes:
                async for push in pushes:
                    async with asyncio.timeout(self.write_timeout):
                        if push is None:
                            await resp.write(b": ping\r\n\r\n")
                            continue
                        data = json_format.MessageToDict(push.note, preserving_proto_field_name=True)
                        handed = push.note.notification_id
                        await resp.send(json.dumps(data), id=handed, event=push.note.kind)
                    _observe_delivery(push, "sse")
        except TooFarBehind as exc:
            handed, reason = exc.last_id, "behind"
        except TimeoutError:
            reason = "stalled"
        except (ConnectionError, RuntimeError):  # the client went away
            pass
        finally:
            self.handlers.discard(me)
            self.inbox.unregister(employee_id, waker)
            CONNECTED.labels("sse").dec()
            resp.stop_streaming()
        if reason:
            await self._resync(request, resp, handed, reason)
        return resp

    async def _resync(self, request: web.Request, resp: EventSourceResponse, last_id: str, reason: str) -> None:
        """Tell the client to reconnect with Last-Event-ID = ``last_id``, then close.

        Everything handed to the transport before it is still delivered first
        (the resync event follows it in the same byte stream). A client that
        does not read within the write timeout is cut off (abort), which frees
        the buffers it pins.
        """
        RESYNCS.labels("sse", reason).inc()
        resp.force_close()  # this connection is done: no keep-alive after the resync
        try:
            async with asyncio.timeout(self.write_timeout):
                await resp.send(json.dumps({"resume_from": last_id, "reason": reason}), event="resync")
                await resp.write_eof()
        except (TimeoutError, ConnectionError, RuntimeError):
            if request.transport is not None:
                request.transport.abort()


def _raise_fd_limit() -> None:
    """Each live client is a socket: allow as many as the hard limit does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))


# the opportunity snapshots (titles, approvals), the application facts people act on, and moves
WORKFLOW_TOPICS = sorted(set(OPPORTUNITY_TOPICS) | {
    "opportunity.application-submitted", "opportunity.application-accepted", "opportunity.application-declined",
    "opportunity.time-release-approved", "opportunity.time-release-refused", "profile.employee-moved",
})


def build() -> Service:
    _raise_fd_limit()
    svc = Service("notifier")
    inbox = Inbox(svc)
    notifier_pb2_grpc.add_NotifierServiceServicer_to_server(NotifierServicer(inbox), svc.grpc)
    sse = SSE(svc, inbox)
    svc.http.router.add_get("/v1/employees/{employee_id}/notifications/stream", sse.stream)
    svc.add_task(inbox.listen)
    delivery = inbox.delivery = Delivery(svc, inbox)
    delivery.routes(svc.http)
    svc.add_task(delivery.run)
    svc.add_task(delivery.digests)
    svc.add_consumer(IdempotentConsumer(svc.settings, svc.redis, "notifier.crossings", ["match.threshold-crossed"],
                                        inbox.on_crossing, key_concurrency=svc.settings.notifier_consumer_concurrency))
    svc.add_consumer(IdempotentConsumer(svc.settings, svc.redis, "notifier.workflow", WORKFLOW_TOPICS,
                                        inbox.on_workflow))
    svc.add_consumer(IdempotentConsumer(svc.settings, svc.redis, "notifier.erasure", ["profile.employee-erased"],
                                        inbox.on_employee_erased))
    svc.add_consumer(IdempotentConsumer(svc.settings, svc.redis, "notifier.activation", [
        "profile.employee-deactivated", "profile.employee-reactivated"], inbox.on_activation))
    svc.on_shutdown.append(sse.close_all)
    svc.on_shutdown.append(lambda: inbox.reader.aclose(close_connection_pool=True))
    return svc
