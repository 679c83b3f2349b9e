"""The delivery worker: email, Slack and Teams messages, digests, one-click unsubscribe.

It runs in every notifier process (a background task of the service) and owns
the ledger (``ledger``). The consumers queue deliveries with ``plan`` in the same
MULTI that writes the inbox; this worker claims what is due, asks the person's
current preferences (``routing.decide``: send, hold for quiet hours, or mute),
sends with the delivery's idempotency key, and records the outcome:

* sent -- the channel's server accepted it (SMTP 250, webhook 2xx);
* retried -- a transient failure; due again after exponential backoff with jitter;
* failed -- dead-lettered with its reason: a permanent refusal, or
  ITM_DELIVERY_MAX_ATTEMPTS failures;
* muted -- the person turned the channel off, was deactivated or erased meanwhile;
* held -- quiet hours: due again when they end (or when the preferences change).

Concurrency is per destination (the SMTP relay, each webhook URL):
ITM_DELIVERY_PER_DESTINATION sends at a time, so a slow or dead webhook holds only
its own slots while every other destination keeps going.

Digests: ``digest:due`` is a sorted set of people by their next local digest time;
when one is due the worker bundles the inbox entries of the period into one
notification and queues it like any other (nothing for an empty period).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import time

import aiohttp
from aiohttp import web
from prometheus_client import Counter, Gauge, Histogram

from itm.v1 import notifier_pb2
from services.notifier import chat, digest, mail, routing
from services.notifier.ledger import FINISHED, HELD, MUTED, SENDING, SENT, Ledger, backoff_s

log = logging.getLogger(__name__)

DELIVERIES = Counter("itm_notification_deliveries_total",
                     "External deliveries (email, slack, teams) by outcome: sent, retried (a failed attempt that "
                     "will be retried), failed (dead-lettered), muted (channel off or person gone), held (quiet "
                     "hours)", ["channel", "outcome"])
LATENCY = Histogram("itm_notification_delivery_latency_seconds",
                    "Queued to accepted by the channel's server, for deliveries never held by quiet hours",
                    ["channel"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600))
OVERDUE = Gauge("itm_notification_delivery_overdue_seconds",
                "How long the most overdue external delivery has waited past its due time (0: none overdue)")
IN_FLIGHT = Gauge("itm_notification_deliveries_in_flight", "External sends in progress in this process")
RESENDS = Counter("itm_notification_resends_total",
                  "Sends started again because an earlier send was never recorded (its notifier died mid-send); "
                  "the receiver gets the same idempotency key", ["channel"])
DIGESTS = Counter("itm_notification_digests_total", "Digest periods by outcome: queued (a message), empty (none)",
                  ["outcome"])
UNSUBSCRIBES = Counter("itm_notification_unsubscribes_total", "One-click unsubscribes (List-Unsubscribe-Post)",
                       ["channel"])

for _ch in ("email", "slack", "teams"):  # every series exists from the start, at 0
    for _outcome in ("sent", "retried", "failed", "muted", "held"):
        DELIVERIES.labels(_ch, _outcome)
for _outcome in ("queued", "empty"):
    DIGESTS.labels(_outcome)

_CLAIM_DIGESTS = """
-- KEYS[1] digest:due. ARGV: now_ms, lease_ms, max. Returns person, scheduled ms pairs; leases them
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #due, 2 do redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), due[i]) end
return due
"""

DIGEST_ITEMS = 50  # lines in one digest; the rest are "in your inbox"


class Delivery:
    def __init__(self, svc, inbox):
        self.svc = svc
        self.inbox = inbox
        self.settings = s = svc.settings
        self.ledger = Ledger(svc.redis, s)
        self.email_ready = bool(s.smtp_host)
        self.public_url = (s.notifier_public_url or f"http://{s.http_host}:{s.http_port}").rstrip("/")
        self.base_url = s.public_base_url.rstrip("/")
        self.digest_due_key = s.key("digest:due")
        self.digest_from_key = s.key("digest:from")
        self._claim_digests = svc.redis.register_script(_CLAIM_DIGESTS)
        self._wake = asyncio.Event()
        self.in_flight: dict[str, int] = {}
        self.tasks: set[asyncio.Task] = set()
        self.session: aiohttp.ClientSession | None = None

    def wake(self) -> None:
        self._wake.set()

    # -- queueing (inside the consumers' MULTI) -----------------------------------------------
    def plan(self, pipe, prefs: notifier_pb2.NotificationPreferences, note: notifier_pb2.Notification,
             nkey: str, now: float, channels: list[int] | None = None) -> int:
        """Queue ``note`` for each external channel it goes to; returns how many."""
        category = routing.category_of(note.kind)
        if channels is None:
            channels = routing.external_channels(prefs, category, self.email_ready)
        quiet = routing.policy.quiet_until(prefs, now)
        for ch in channels:
            name = routing.CHANNEL_NAMES[ch]
            self.ledger.enqueue(pipe, note, nkey, name, category, routing.destination(ch, prefs),
                                quiet if quiet is not None else now, quiet is not None, now)
            if quiet is not None:
                DELIVERIES.labels(name, "held").inc()
        return len(channels)

    async def erase(self, pipe, employee_id: str) -> None:
        """Right to erasure (inside MULTI): every queued and recorded delivery, dead letters, the digest."""
        await self.ledger.erase(pipe, employee_id)
        pipe.zrem(self.digest_due_key, employee_id)
        pipe.hdel(self.digest_from_key, employee_id)

    async def on_prefs_changed(self, employee_id: str, prefs: notifier_pb2.NotificationPreferences) -> None:
        """A new schedule takes effect now, and held deliveries are looked at again."""
        now = time.time()
        at = digest.next_at(prefs, now)
        async with self.svc.redis.pipeline(transaction=True) as pipe:
            if at is None:
                pipe.zrem(self.digest_due_key, employee_id)
                pipe.hdel(self.digest_from_key, employee_id)
            else:
                pipe.zadd(self.digest_due_key, {employee_id: int(at * 1000)})
                pipe.hsetnx(self.digest_from_key, employee_id, int(now * 1000))  # the first period starts now
            await pipe.execute()
        if await self.ledger.release_held(employee_id, now):
            self.wake()

    # -- the worker -------------------------------------------------------------------------------
    async def run(self) -> None:
        s = self.settings
        self.session = aiohttp.ClientSession()
        try:
            while True:
                self._wake.clear()
                claimed = []
                try:
                    room = s.delivery_max_in_flight - len(self.tasks)
                    if room > 0:
                        free = {d: s.delivery_per_destination - n for d, n in self.in_flight.items() if n > 0}
                        claimed = await self.ledger.claim(time.time(), s.delivery_lease_s, room,
                                                          s.delivery_per_destination, free)
                        for dest, delivery in claimed:
                            self._start(dest, delivery)
                    now = time.time()
                    OVERDUE.set(await self.ledger.oldest_due_s(now))
                    next_due = await self.ledger.next_due_s()
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - Redis away: try again shortly
                    log.exception("delivery worker could not claim; retrying")
                    await asyncio.sleep(1)
                    continue
                if claimed:
                    await asyncio.sleep(0)
                    continue
                timeout = s.delivery_poll_s
                if next_due is not None and next_due > now:
                    timeout = min(timeout, next_due - now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.01, timeout))
        finally:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await self.session.close()

    def _start(self, dest: str, delivery: str) -> None:
        self.in_flight[dest] = self.in_flight.get(dest, 0) + 1
        IN_FLIGHT.inc()
        task = asyncio.create_task(self._deliver(dest, delivery))
        self.tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self.tasks.discard(t)
            IN_FLIGHT.dec()
            left = self.in_flight.get(dest, 1) - 1
            if left > 0:
                self.in_flight[dest] = left
            else:
                self.in_flight.pop(dest, None)
            self.wake()  # a slot is free

        task.add_done_callback(done)

    async def _deliver(self, dest: str, delivery: str) -> None:
        try:
            await self._deliver_one(dest, delivery)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the lease runs out and another claim tries again
            log.exception("delivery failed unexpectedly; it is retried when its lease ends",
                          extra={"delivery": delivery})

    async def _deliver_one(self, dest: str, delivery: str) -> None:
        s = self.settings
        entry = await self.ledger.load(delivery)
        if entry is None or entry.get("state", b"").decode() in FINISHED or "n" not in entry:
            await self.svc.redis.zrem(self.ledger.due_key(dest), delivery)  # erased, or finished already
            return
        channel = entry["ch"].decode()
        employee_id = entry["emp"].decode()
        state = entry["state"].decode()
        note = notifier_pb2.Notification.FromString(entry["n"])
        prefs = await self.inbox.prefs(employee_id)
        deactivated = bool(await self.svc.redis.sismember(self.inbox.deactivated_key, employee_id))
        now = time.time()
        decision = routing.decide(prefs, routing.BY_NAME[channel], int(entry.get("cat", b"0")), now,
                                  deactivated=deactivated, digest=note.kind == "digest", email_ready=self.email_ready)
        if decision.action == routing.MUTE:
            if await self.ledger.finish(delivery, dest, MUTED, decision.reason):
                DELIVERIES.labels(channel, "muted").inc()
            return
        if decision.action == routing.HOLD:
            if state != HELD:
                DELIVERIES.labels(channel, "held").inc()
            await self.ledger.reschedule(delivery, dest, decision.until, HELD, decision.reason)
            return
        sends = await self.ledger.mark_sending(delivery)
        if sends < 0:
            return  # erased meanwhile
        if state == SENDING:
            RESENDS.labels(channel).inc()  # the last send was never recorded: same key, the receiver dedupes
        key = entry["key"].decode()
        try:
            await self._send(channel, note, prefs, key, employee_id)
        except mail.Permanent as exc:
            await self._dead(delivery, dest, channel, f"refused: {exc}")
            return
        except mail.Transient as exc:
            attempts = int(entry.get("attempts", b"0")) + 1
            if attempts >= s.delivery_max_attempts:
                await self._dead(delivery, dest, channel, f"failed {attempts} times; last: {exc}")
                return
            wait = backoff_s(attempts, s.delivery_backoff_base_s, s.delivery_backoff_max_s)
            if isinstance(exc, chat.RetryAfter):
                wait = max(wait, exc.seconds)
            await self.ledger.reschedule(delivery, dest, time.time() + wait, "retrying", str(exc), failed=True)
            DELIVERIES.labels(channel, "retried").inc()
            self.wake()
            return
        if await self.ledger.finish(delivery, dest, SENT):
            DELIVERIES.labels(channel, "sent").inc()
            if entry.get("held") != b"1":
                LATENCY.labels(channel).observe(max(0.0, time.time() - int(entry.get("at", b"0")) / 1000))

    async def _dead(self, delivery: str, dest: str, channel: str, reason: str) -> None:
        log.warning("delivery dead-lettered", extra={"delivery": delivery, "channel": channel, "reason": reason})
        if await self.ledger.dead_letter(delivery, dest, channel, reason):
            DELIVERIES.labels(channel, "failed").inc()

    def unsubscribe_url(self, employee_id: str, channel: str) -> str:
        token = mail.unsubscribe_token(self.settings.token_secret, employee_id, channel)
        return f"{self.public_url}/v1/unsubscribe/{token}"

    async def _send(self, channel: str, note: notifier_pb2.Notification,
                    prefs: notifier_pb2.NotificationPreferences, key: str, employee_id: str) -> None:
        s = self.settings
        if channel == "email":
            msg = mail.build(note, to=prefs.email_address, from_address=s.smtp_from, base_url=self.base_url,
                             unsubscribe_url=self.unsubscribe_url(employee_id, "email"), delivery_key=key,
                             now=time.time())
            await mail.send(msg, s)
            return
        problem = routing.validate_destinations(prefs, s.chat_webhook_allowed_hosts, s.chat_webhook_allow_http)
        if problem:  # the allow-list changed since the person set the URL
            raise mail.Permanent(problem)
        if channel == "slack":
            await chat.post(self.session, prefs.slack_webhook_url, chat.slack_payload(note, self.base_url), key,
                            s.chat_webhook_timeout_s)
        elif channel == "teams":
            await chat.post(self.session, prefs.teams_webhook_url, chat.teams_payload(note, self.base_url), key,
                            s.chat_webhook_timeout_s)
        else:
            raise mail.Permanent(f"unknown channel {channel!r}")

    # -- digests ------------------------------------------------------------------------------------
    async def digests(self) -> None:
        while True:
            try:
                now = time.time()
                flat = await self._claim_digests(keys=[self.digest_due_key],
                                                 args=[int(now * 1000), int(self.settings.delivery_lease_s * 1000), 100])
                for i in range(0, len(flat), 2):
                    await self._digest(flat[i].decode(), int(flat[i + 1]) / 1000)
                if len(flat) >= 200:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the lease runs out and the digest is tried again
                log.exception("digest round failed; retrying")
            await asyncio.sleep(min(1.0, self.settings.delivery_poll_s))

    async def _digest(self, employee_id: str, scheduled: float) -> None:
        redis = self.svc.redis
        prefs = await self.inbox.prefs(employee_id)
        now = time.time()
        nxt = digest.next_at(prefs, max(scheduled, now))
        if nxt is None:
            await redis.zrem(self.digest_due_key, employee_id)
            return
        end_ms = int(scheduled * 1000)
        raw = await redis.hget(self.digest_from_key, employee_id)
        start_ms = int(raw) if raw else int(digest.period_start(prefs, scheduled) * 1000)
        notes = []
        if start_ms < end_ms and not await redis.sismember(self.inbox.deactivated_key, employee_id):
            entries = await redis.xrange(self.inbox.stream(employee_id), f"{start_ms + 1}", f"{end_ms}")
            notes = [self.inbox._note(employee_id, entry_id, fields) for entry_id, fields in entries]
        channels = routing.digest_channels(prefs, self.email_ready) if notes else []
        async with redis.pipeline(transaction=True) as pipe:
            if channels:
                shown = notes[:DIGEST_ITEMS]
                note = digest.render(employee_id, shown, scheduled, self.base_url)
                if len(notes) > len(shown):
                    note.body += f"\n... and {len(notes) - len(shown)} more in your inbox: {self.base_url}/notifications"
                self.plan(pipe, prefs, note, f"digest:{employee_id}:{end_ms}", now, channels)
            pipe.hset(self.digest_from_key, employee_id, end_ms)
            pipe.zadd(self.digest_due_key, {employee_id: int(nxt * 1000)})
            await pipe.execute()
        DIGESTS.labels("queued" if channels else "empty").inc()
        if channels:
            self.wake()

    # -- one-click unsubscribe (RFC 8058) -------------------------------------------------------------
    def _token(self, request: web.Request) -> tuple[str, str]:
        found = mail.read_unsubscribe_token(self.settings.token_secret, request.match_info["token"])
        if found is None or found[1] not in ("email", "slack", "teams"):
            raise web.HTTPNotFound(text="This unsubscribe link is not valid.")
        return found

    async def unsubscribe(self, request: web.Request) -> web.Response:
        """POST (the mail client's one-click, body List-Unsubscribe=One-Click, or the page's button):
        the channel is turned off in the person's preferences."""
        employee_id, channel = self._token(request)
        while True:
            current = await self.inbox.prefs(employee_id)
            if not current.version or not getattr(current.channels, channel):
                break  # never set (every external channel is off by default), erased, or off already
            wanted = notifier_pb2.NotificationPreferences()
            wanted.CopyFrom(current)
            setattr(wanted.channels, channel, False)
            stored = await self.inbox.set_prefs(employee_id, wanted, current.version)
            if not isinstance(stored, int):
                UNSUBSCRIBES.labels(channel).inc()
                await self.on_prefs_changed(employee_id, stored)
                break
        return web.Response(text=f"Done: you will get no more ITM notifications by {channel}. "
                                 f"Turn them back on in your settings: {self.base_url}/notifications\n")

    async def unsubscribe_page(self, request: web.Request) -> web.Response:
        """GET: a page with a button (link scanners and prefetchers must not unsubscribe anyone)."""
        _, channel = self._token(request)
        action = html.escape(str(request.rel_url.path))
        body = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Unsubscribe</title></head><body>"
                f"<p>Stop ITM notifications by {html.escape(channel)}?</p>"
                f"<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"List-Unsubscribe\" "
                f"value=\"One-Click\"><button type=\"submit\">Unsubscribe</button></form></body></html>\n")
        return web.Response(text=body, content_type="text/html")

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/unsubscribe/{token}", self.unsubscribe)
        app.router.add_get("/v1/unsubscribe/{token}", self.unsubscribe_page)

