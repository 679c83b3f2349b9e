"""Webhooks: ITM's public events POSTed to other systems' endpoints (docs/webhooks.md).

* One consumer group (``webhooks.fanout``) reads every public topic. Each event is
  appended, in one Redis transaction with its event id (``IdempotentConsumer``), to the
  queue of every subscription naming its topic, so an event redelivered by Kafka is
  queued once.
* Each subscription has its own queue and its own delivery task (on whichever replica
  holds its lease): it POSTs the queue's head as a CloudEvent, signed, and moves on only
  when the receiver answered 2xx or the event ran out of attempts (then it goes to the
  subscription's dead letter). Per subscription, events arrive in order; a slow or dead
  receiver only holds up its own queue.
* The gRPC API (``itm.v1.WebhookService``) is for HR admins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

import aiohttp
import grpc
from google.protobuf import timestamp_pb2
from prometheus_client import Counter, Gauge, Histogram

from itm.runtime import metrics
from itm.runtime.auth import current_identity
from itm.runtime.consumer import IdempotentConsumer
from itm.runtime.domain import check_id, invalid, offset_token, page_size_of
from itm.runtime.envelope import Event, decode_payload
from itm.runtime.redisx import is_stream_id, transact
from itm.runtime.service import Service
from itm.v1 import envelope_pb2, webhooks_pb2, webhooks_pb2_grpc
from services.webhooks import cloudevents, delivery, signing
from services.webhooks import subscriptions as rules
from services.webhooks.store import LEASE_SCRIPT, RELEASE_SCRIPT, Keys

log = logging.getLogger(__name__)

SENT = Counter("itm_webhook_sent_total", "Events a receiver acknowledged (2xx)", ["subscription"])
FAILED = Counter("itm_webhook_failed_total", "Attempts that failed (not 2xx, no answer in time, no connection)",
                 ["subscription"])
RETRIED = Counter("itm_webhook_retried_total", "Failed attempts followed by another attempt after a backoff",
                  ["subscription"])
DEAD = Counter("itm_webhook_dead_total", "Events moved to the subscription's dead letter after its max attempts",
               ["subscription"])
BACKLOG = Gauge("itm_webhook_backlog", "Events queued for delivery", ["subscription"])
DEAD_LETTERED = Gauge("itm_webhook_dead_letters", "Events in the subscription's dead letter", ["subscription"])
LATENCY = Histogram("itm_webhook_delivery_latency_seconds", "From the event's time to the receiver's 2xx",
                    ["subscription"], buckets=metrics.LATENCY_BUCKETS + (30, 60, 300, 1800, 3600))
ATTEMPT = Histogram("itm_webhook_attempt_duration_seconds", "One HTTP attempt, sent to answer or failure",
                    ["subscription"], buckets=metrics.LATENCY_BUCKETS)
PER_SUBSCRIPTION = (SENT, FAILED, RETRIED, DEAD, BACKLOG, DEAD_LETTERED, LATENCY, ATTEMPT)

USER_AGENT = "ITM-Webhooks/0.1"
MAX_LETTER_PAGE = 500


def _ts(ms: int) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromMilliseconds(ms)
    return ts


def _decode_map(raw: dict) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


class Webhooks:
    """Subscriptions, the fan-out and the delivery tasks of one process."""

    def __init__(self, svc: Service):
        self.svc = svc
        self.settings = svc.settings
        self.redis = svc.redis
        self.keys = Keys(svc.settings)
        self.owner = uuid.uuid4().hex  # this replica, for leases
        self.lease_ms = int(max(self.settings.webhook_lease_s, 2 * self.settings.webhook_timeout_s) * 1000)
        self.workers: dict[str, asyncio.Task] = {}
        self.wakers: dict[str, asyncio.Event] = {}
        self.changed = asyncio.Event()
        self.http: aiohttp.ClientSession | None = None
        self._lease = svc.redis.register_script(LEASE_SCRIPT)
        self._release = svc.redis.register_script(RELEASE_SCRIPT)

    # -- subscriptions ----------------------------------------------------------------------
    async def load(self, sub_id: str, reader=None) -> webhooks_pb2.WebhookSubscription | None:
        raw = await (reader or self.redis).get(self.keys.sub(sub_id))
        return webhooks_pb2.WebhookSubscription.FromString(raw) if raw else None

    async def with_figures(self, sub: webhooks_pb2.WebhookSubscription) -> webhooks_pb2.WebhookSubscription:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xlen(self.keys.queue(sub.subscription_id))
            pipe.xlen(self.keys.dead(sub.subscription_id))
            pipe.hgetall(self.keys.state(sub.subscription_id))
            backlog, dead, state = await pipe.execute()
        out = webhooks_pb2.WebhookSubscription()
        out.CopyFrom(sub)
        out.backlog, out.dead_letters = backlog, dead
        state = _decode_map(state)
        if state.get("last_ok_ms"):
            out.last_delivered_at.CopyFrom(_ts(int(state["last_ok_ms"])))
        out.last_error = state.get("last_error", "")
        return out

    async def create(self, request: webhooks_pb2.CreateSubscriptionRequest, creator: str):
        secret = request.secret or rules.generate_secret()
        sub = webhooks_pb2.WebhookSubscription(
            subscription_id=f"wh-{uuid.uuid4().hex[:12]}", topics=list(request.topics), url=request.url,
            description=request.description, created_by=creator, version=1, max_attempts=request.max_attempts,
            secret_hint=rules.secret_hint(secret))
        sub.created_at.GetCurrentTime()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.sub(sub.subscription_id), sub.SerializeToString())
            pipe.set(self.keys.secret(sub.subscription_id), secret)
            pipe.zadd(self.keys.subs, {sub.subscription_id: sub.created_at.ToMilliseconds()})
            for topic in sub.topics:
                pipe.sadd(self.keys.topic(topic), sub.subscription_id)
            pipe.publish(self.keys.changed, sub.subscription_id)
            await pipe.execute()
        return sub, secret

    async def rotate(self, sub_id: str, secret: str, previous_valid_s: int):
        """Store ``secret``; the current one signs beside it for ``previous_valid_s``.
        Returns (subscription, expiry ms of the previous secret) or None."""
        k = self.keys

        async def body(pipe):
            sub = await self.load(sub_id, pipe)
            old = await pipe.get(k.secret(sub_id))
            if sub is None or old is None:
                return None
            sub.secret_hint = rules.secret_hint(secret)
            sub.version += 1
            pipe.multi()
            pipe.set(k.sub(sub_id), sub.SerializeToString())
            pipe.set(k.secret(sub_id), secret)
            pipe.set(k.previous_secret(sub_id), old, ex=previous_valid_s)
            return sub, int(time.time() * 1000) + previous_valid_s * 1000

        return await transact(self.redis, [k.sub(sub_id), k.secret(sub_id)], body)

    async def delete(self, sub_id: str) -> int | None:
        k = self.keys

        async def body(pipe):
            sub = await self.load(sub_id, pipe)
            if sub is None:
                return None
            queued, dead = await pipe.xlen(k.queue(sub_id)), await pipe.xlen(k.dead(sub_id))
            pipe.multi()
            pipe.delete(k.sub(sub_id), k.secret(sub_id), k.previous_secret(sub_id), k.queue(sub_id), k.dead(sub_id),
                        k.state(sub_id))
            pipe.zrem(k.subs, sub_id)
            for topic in sub.topics:
                pipe.srem(k.topic(topic), sub_id)
            pipe.publish(k.changed, sub_id)
            return queued + dead

        discarded = await transact(self.redis, [k.sub(sub_id), k.queue(sub_id), k.dead(sub_id)], body)
        if discarded is not None:
            for family in PER_SUBSCRIPTION:
                with contextlib.suppress(KeyError):
                    family.remove(sub_id)
        return discarded

    async def set_paused(self, sub_id: str, paused: bool) -> webhooks_pb2.WebhookSubscription | None:
        key = self.keys.sub(sub_id)

        async def body(pipe):
            sub = await self.load(sub_id, pipe)
            if sub is None or sub.paused == paused:
                return sub
            sub.paused = paused
            sub.version += 1
            pipe.multi()
            pipe.set(key, sub.SerializeToString())
            pipe.publish(self.keys.changed, sub_id)
            return sub

        return await transact(self.redis, [key], body)

    async def page(self, offset: int, size: int) -> tuple[list[webhooks_pb2.WebhookSubscription], str]:
        ids = [i.decode() for i in await self.redis.zrange(self.keys.subs, offset, offset + size)]
        more = len(ids) > size
        subs = [s for s in [await self.load(i) for i in ids[:size]] if s is not None]
        return [await self.with_figures(s) for s in subs], str(offset + size) if more else ""

    # -- dead letters -----------------------------------------------------------------------
    def letter(self, sub_id: str, letter_id: bytes, fields: dict) -> webhooks_pb2.WebhookDeadLetter:
        env = envelope_pb2.EventEnvelope.FromString(fields[b"e"])
        out = webhooks_pb2.WebhookDeadLetter(
            letter_id=letter_id.decode(), subscription_id=sub_id, event_id=env.event_id, event_type=env.event_type,
            subject=env.subject, attempts=int(fields.get(b"n", b"0")), last_error=fields.get(b"err", b"").decode(),
            last_status=int(fields.get(b"st", b"0")))
        out.occurred_at.CopyFrom(env.occurred_at)
        out.failed_at.CopyFrom(_ts(int(letter_id.decode().partition("-")[0])))
        return out

    async def letters(self, sub_id: str, after: str, size: int) -> tuple[list[webhooks_pb2.WebhookDeadLetter], str, int]:
        start = f"({after}" if after else "-"
        async with self.redis.pipeline(transaction=True) as pipe:  # one snapshot: a page never disagrees with its total
            pipe.xrange(self.keys.dead(sub_id), start, "+", count=size + 1)
            pipe.xlen(self.keys.dead(sub_id))
            entries, total = await pipe.execute()
        more = len(entries) > size
        entries = entries[:size]
        letters = [self.letter(sub_id, i, f) for i, f in entries]
        return letters, letters[-1].letter_id if more and letters else "", total

    async def replay(self, sub_id: str, letter_ids: list[str]) -> int | None:
        k = self.keys

        async def body(pipe):
            if not await pipe.exists(k.sub(sub_id)):
                return None
            if letter_ids:
                found = []
                for i in letter_ids:
                    found += await pipe.xrange(k.dead(sub_id), i, i, count=1)
            else:
                found = await pipe.xrange(k.dead(sub_id), "-", "+")
            pipe.multi()
            for letter_id, fields in found:
                pipe.xadd(k.queue(sub_id), {b"e": fields[b"e"]})
                pipe.xdel(k.dead(sub_id), letter_id)
            if found:
                pipe.publish(k.wake, sub_id)
            return len(found)

        return await transact(self.redis, [k.sub(sub_id), k.dead(sub_id)], body)

    # -- fan-out (consumer side) -------------------------------------------------------------
    async def on_event(self, event: Event, pipe) -> None:
        index = self.keys.topic(event.type)
        await pipe.watch(index)  # a subscription created or deleted meanwhile: this runs again
        subs = sorted(s.decode() for s in await pipe.smembers(index))
        if not subs:
            return
        raw = event.envelope.SerializeToString()
        pipe.multi()
        for sub_id in subs:
            pipe.xadd(self.keys.queue(sub_id), {b"e": raw})
            pipe.publish(self.keys.wake, sub_id)

    # -- delivery -------------------------------------------------------------------------
    async def listen(self) -> None:
        """Wake-ups from every replica's fan-out, and subscription changes."""
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(self.keys.wake, self.keys.changed)
        changed = self.keys.changed.encode()
        self.changed.set()  # whatever happened while we were not listening
        for waker in self.wakers.values():
            waker.set()
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                if message["channel"] == changed:
                    self.changed.set()
                elif waker := self.wakers.get(message["data"].decode()):
                    waker.set()
        finally:
            await pubsub.aclose()

    async def supervise(self) -> None:
        """One delivery task per subscription that is not paused; figures for the others too."""
        self.http = aiohttp.ClientSession(
            headers={"User-Agent": USER_AGENT}, connector=aiohttp.TCPConnector(limit=256, limit_per_host=32))
        try:
            while True:
                self.changed.clear()
                ids = [i.decode() for i in await self.redis.zrange(self.keys.subs, 0, -1)]
                wanted = set()
                for sub_id in ids:
                    sub = await self.load(sub_id)
                    if sub is None:
                        continue
                    if not sub.paused:
                        wanted.add(sub_id)
                    async with self.redis.pipeline(transaction=False) as pipe:
                        pipe.xlen(self.keys.queue(sub_id))
                        pipe.xlen(self.keys.dead(sub_id))
                        backlog, dead = await pipe.execute()
                    BACKLOG.labels(sub_id).set(backlog)
                    DEAD_LETTERED.labels(sub_id).set(dead)
                for sub_id in list(self.workers):
                    task = self.workers[sub_id]
                    if sub_id not in wanted or task.done():
                        if not task.done():
                            task.cancel()
                            with contextlib.suppress(BaseException):
                                await task
                        del self.workers[sub_id]
                        self.wakers.pop(sub_id, None)
                for sub_id in wanted - set(self.workers):
                    self.wakers[sub_id] = asyncio.Event()
                    self.workers[sub_id] = asyncio.create_task(self.deliver_forever(sub_id), name=f"webhook:{sub_id}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), 1.0)
        finally:
            await self.stop_workers()

    async def stop_workers(self) -> None:
        for task in self.workers.values():
            task.cancel()
        await asyncio.gather(*self.workers.values(), return_exceptions=True)
        self.workers.clear()
        if self.http is not None:
            await self.http.close()
            self.http = None

    async def hold(self, sub_id: str) -> bool:
        return bool(await self._lease(keys=[self.keys.lease(sub_id)], args=[self.owner, self.lease_ms]))

    async def deliver_forever(self, sub_id: str) -> None:
        try:
            while True:
                try:
                    await self.deliver_next(sub_id)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - Redis away, a bug: this subscription waits, the others go on
                    log.warning("webhook delivery loop failed; retrying", extra={"subscription": sub_id,
                                                                                 "error": repr(exc)[:300]})
                    await asyncio.sleep(1)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._release(keys=[self.keys.lease(sub_id)], args=[self.owner]))

    async def _wait(self, sub_id: str, seconds: float) -> None:
        waker = self.wakers.setdefault(sub_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waker.wait(), seconds)
        waker.clear()

    async def _backoff(self, sub_id: str, seconds: float) -> None:
        """Sleep before a retry, keeping the lease."""
        deadline = time.monotonic() + seconds
        step = self.lease_ms / 3000
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, step))
            if not await self.hold(sub_id):
                return

    async def deliver_next(self, sub_id: str) -> None:
        k = self.keys
        if not await self.hold(sub_id):
            await self._wait(sub_id, self.lease_ms / 3000)  # another replica delivers it
            return
        head = await self.redis.xrange(k.queue(sub_id), "-", "+", count=1)
        if not head:
            await self._wait(sub_id, 1.0)
            return
        entry_id, fields = head[0]
        sub = await self.load(sub_id)
        secret, previous = await self.redis.mget(k.secret(sub_id), k.previous_secret(sub_id))
        if sub is None or secret is None or sub.paused:
            await self._wait(sub_id, 1.0)  # deleted or paused meanwhile: the supervisor ends this task
            return
        state = _decode_map(await self.redis.hgetall(k.state(sub_id)))
        attempt = (int(state.get("attempts", 0)) if state.get("head") == entry_id.decode() else 0) + 1
        env = envelope_pb2.EventEnvelope.FromString(fields[b"e"])
        body = cloudevents.body(env, decode_payload(env))
        keys = [rules.secret_key(secret.decode())] + ([rules.secret_key(previous.decode())] if previous else [])
        status, error = await self.post(sub, keys, env.event_id, body)
        max_attempts = sub.max_attempts or self.settings.webhook_max_attempts
        outcome = delivery.after_attempt(status, attempt, max_attempts, self.settings.webhook_backoff_initial_s,
                                         self.settings.webhook_backoff_max_s, jitter=0.1)
        now_ms = int(time.time() * 1000)

        async def record(pipe):
            if not await pipe.exists(k.sub(sub_id)):
                return False  # deleted while we sent: nothing to record
            pipe.multi()
            if outcome.delivered or outcome.dead:
                pipe.xdel(k.queue(sub_id), entry_id)
                pipe.hdel(k.state(sub_id), "head", "attempts")
            if outcome.delivered:
                pipe.hset(k.state(sub_id), mapping={"last_ok_ms": now_ms, "last_error": ""})
            else:
                pipe.hset(k.state(sub_id), "last_error", delivery.describe(status, error))
            if outcome.dead:
                pipe.xadd(k.dead(sub_id), {b"e": fields[b"e"], b"n": str(attempt), b"st": str(status),
                                           b"err": delivery.describe(status, error)})
            elif not outcome.delivered:
                pipe.hset(k.state(sub_id), mapping={"head": entry_id, "attempts": attempt})
            return True

        if not await transact(self.redis, [k.sub(sub_id)], record):
            return
        if outcome.delivered:
            SENT.labels(sub_id).inc()
            LATENCY.labels(sub_id).observe(max(0.0, time.time() - env.occurred_at.ToNanoseconds() / 1e9))
            return
        FAILED.labels(sub_id).inc()
        if outcome.dead:
            DEAD.labels(sub_id).inc()
            log.warning("webhook event dead-lettered", extra={
                "subscription": sub_id, "event_id": env.event_id, "attempts": attempt,
                "error": delivery.describe(status, error)})
            return
        RETRIED.labels(sub_id).inc()
        await self._backoff(sub_id, outcome.retry_in_s)

    async def post(self, sub: webhooks_pb2.WebhookSubscription, keys: list[bytes], event_id: str,
                   body: bytes) -> tuple[int, str]:
        """One attempt, signed with each key: (HTTP status, "") or (0, what went wrong)."""
        headers = {"Content-Type": cloudevents.CONTENT_TYPE,
                   **signing.headers(keys[0], event_id, int(time.time()), body, *keys[1:])}
        started = time.perf_counter()
        try:
            async with self.http.post(sub.url, data=body, headers=headers, allow_redirects=False,
                                      timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s)) as resp:
                await resp.content.read(64 * 1024)  # what it says is not ours to keep
                return resp.status, ""
        except TimeoutError:
            return 0, f"no answer within {self.settings.webhook_timeout_s:g}s"
        except aiohttp.ClientConnectorError as exc:
            return 0, f"cannot connect: {exc.os_error.strerror or exc.os_error}" if exc.os_error else "cannot connect"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return 0, f"request failed: {str(exc)[:200] or type(exc).__name__}"
        finally:
            ATTEMPT.labels(sub.subscription_id).observe(time.perf_counter() - started)


class WebhookServicer(webhooks_pb2_grpc.WebhookServiceServicer):
    def __init__(self, hooks: Webhooks):
        self.hooks = hooks
        self.production = hooks.settings.environment == "production"

    async def _hr(self, context) -> str:
        ident = current_identity.get()
        if ident.role != "hr_admin":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"webhook subscriptions are for HR admins, not the {ident.role} role")
        return ident.subject

    async def _existing(self, context, sub_id: str) -> webhooks_pb2.WebhookSubscription:
        await check_id(context, sub_id, "subscription_id")
        sub = await self.hooks.load(sub_id)
        if sub is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no webhook subscription {sub_id}")
        return sub

    async def CreateSubscription(self, request, context):
        creator = await self._hr(context)
        problem = rules.check_subscription(list(request.topics), request.url, request.secret, request.description,
                                           request.max_attempts, self.production)
        if problem:
            await invalid(context, problem)
        sub, secret = await self.hooks.create(request, creator)
        return webhooks_pb2.CreateSubscriptionResponse(subscription=await self.hooks.with_figures(sub), secret=secret)

    async def GetSubscription(self, request, context):
        await self._hr(context)
        return await self.hooks.with_figures(await self._existing(context, request.subscription_id))

    async def ListSubscriptions(self, request, context):
        await self._hr(context)
        size = await page_size_of(context, request.page_size)
        subs, token = await self.hooks.page(await offset_token(context, request.page_token), size)
        return webhooks_pb2.ListSubscriptionsResponse(subscriptions=subs, next_page_token=token)

    async def DeleteSubscription(self, request, context):
        await self._hr(context)
        await check_id(context, request.subscription_id, "subscription_id")
        discarded = await self.hooks.delete(request.subscription_id)
        if discarded is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no webhook subscription {request.subscription_id}")
        return webhooks_pb2.DeleteSubscriptionResponse(subscription_id=request.subscription_id, discarded=discarded)

    async def _set_paused(self, request, context, paused: bool):
        await self._hr(context)
        await check_id(context, request.subscription_id, "subscription_id")
        sub = await self.hooks.set_paused(request.subscription_id, paused)
        if sub is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no webhook subscription {request.subscription_id}")
        return await self.hooks.with_figures(sub)

    async def PauseSubscription(self, request, context):
        return await self._set_paused(request, context, True)

    async def ResumeSubscription(self, request, context):
        return await self._set_paused(request, context, False)

    async def ListDeadLetters(self, request, context):
        await self._hr(context)
        await self._existing(context, request.subscription_id)
        if request.page_token and not is_stream_id(request.page_token):
            await invalid(context, "page_token must be a next_page_token from ListDeadLetters")
        size = min(await page_size_of(context, request.page_size), MAX_LETTER_PAGE)
        letters, token, total = await self.hooks.letters(request.subscription_id, request.page_token, size)
        return webhooks_pb2.ListDeadLettersResponse(letters=letters, next_page_token=token, total=total)

    async def ReplayDeadLetters(self, request, context):
        await self._hr(context)
        await self._existing(context, request.subscription_id)
        for i, letter_id in enumerate(request.letter_ids):
            if not is_stream_id(letter_id):
                await invalid(context, f"letter_ids[{i}] must be a letter_id from ListDeadLetters, like 1700000000000-0")
        replayed = await self.hooks.replay(request.subscription_id, list(request.letter_ids))
        if replayed is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no webhook subscription {request.subscription_id}")
        return webhooks_pb2.ReplayDeadLettersResponse(replayed=replayed)


    async def RotateSecret(self, request, context):
        await self._hr(context)
        await self._existing(context, request.subscription_id)
        if problem := rules.check_rotation(request.secret, request.previous_valid_s):
            await invalid(context, problem)
        secret = request.secret or rules.generate_secret()
        done = await self.hooks.rotate(request.subscription_id, secret,
                                       request.previous_valid_s or rules.DEFAULT_PREVIOUS_VALID_S)
        if done is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no webhook subscription {request.subscription_id}")
        sub, expires_ms = done
        return webhooks_pb2.RotateSecretResponse(subscription=await self.hooks.with_figures(sub), secret=secret,
                                                 previous_expires_at=_ts(expires_ms))


def build() -> Service:
    svc = Service("webhooks")
    hooks = Webhooks(svc)
    webhooks_pb2_grpc.add_WebhookServiceServicer_to_server(WebhookServicer(hooks), svc.grpc)
    svc.add_consumer(IdempotentConsumer(svc.settings, svc.redis, "webhooks.fanout", list(rules.WEBHOOK_TOPICS),
                                        hooks.on_event))
    svc.add_task(hooks.listen)
    svc.add_task(hooks.supervise)
    return svc
