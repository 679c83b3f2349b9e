"""The notifier for real: two notifier processes in one consumer group, the
broker and Redis, real SSE (aiohttp) and gRPC clients. Crossings are produced
straight to ``match.threshold-crossed`` (no matcher needed).

One stack serves the module (the machine is shared); each test uses its own
employee ids, and compares metric deltas, never absolute values.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import grpc
import pytest
from aiokafka import AIOKafkaProducer

from itm.devstack import ServiceProcess
from itm.runtime.auth import bearer, mint_token
from itm.runtime.envelope import new_envelope
from itm.runtime.settings import Settings
from itm.runtime.topics import ensure_topics
from itm.v1 import common_pb2, events_pb2, notifier_pb2, notifier_pb2_grpc
from services.notifier.server import _id_tuple
from _stack import eventually

TOPIC = "match.threshold-crossed"
WRITE_TIMEOUT_S = 8  # a stalled client is given up on after this; healthy ones must not wait for it
GIG, PROJECT = common_pb2.OPPORTUNITY_TYPE_GIG, common_pb2.OPPORTUNITY_TYPE_PROJECT


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    a: ServiceProcess
    b: ServiceProcess
    settings: Settings
    producer: AIOKafkaProducer

    def token(self, subject: str, role: str = "employee", ttl_s: int = 3600) -> str:
        return mint_token(self.settings, subject, role, ttl_s)

    def stub(self, proc: ServiceProcess, **options):
        channel = grpc.aio.insecure_channel(proc.grpc_target, options=list(options.items()))
        return channel, notifier_pb2_grpc.NotifierServiceStub(channel)

    async def produce(self, env, partition: int | None = None) -> None:
        await self.producer.send_and_wait(self.settings.topic(TOPIC), env.SerializeToString(),
                                          key=env.subject.encode(), partition=partition)


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request, service_class):
    prefix = f"n{uuid.uuid4().hex[:8]}."
    await ensure_topics(infra.kafka_bootstrap, prefix=prefix)
    root = tmp_path_factory.mktemp("notifier")
    env = {
        "ITM_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "ITM_REDIS_URL": infra.redis_url,
        "ITM_TOPIC_PREFIX": prefix,
        "ITM_LOG_FORMAT": "console",
        "ITM_CLIENT_WRITE_TIMEOUT_S": str(WRITE_TIMEOUT_S),
        "ITM_NOTIFIER_HEARTBEAT_S": "2",
    }
    a = service_class("notifier", env, root)  # a container under ITM_TEST_CONTAINERS=1
    b = service_class("notifier", env, root, instance="2")
    failed_before = request.session.testsfailed
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    try:
        a.start(wait=False)
        b.start(wait=False)
        await a.wait_healthy_async(90)
        await b.wait_healthy_async(90)
        await producer.start()
        yield Stack(a, b, Settings(topic_prefix=prefix, kafka_bootstrap=infra.kafka_bootstrap), producer)
    finally:
        await producer.stop()
        for proc in (a, b):
            proc.stop(timeout=10)
        if request.session.testsfailed > failed_before:
            for proc in (a, b):
                print(f"\n===== {proc.name} (exit {proc.returncode}) =====\n{proc.log_tail(120)}")
        for proc in (a, b):
            getattr(proc, "remove", lambda: None)()
        import redis.asyncio as aioredis

        r = aioredis.from_url(infra.redis_url)
        keys = [k async for k in r.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await r.unlink(*keys)
        await r.aclose()


def emp(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:6]}"


def crossing(employee: str, title: str, opp_type: int = GIG, score: int = 82):
    payload = events_pb2.ThresholdCrossed(
        employee_id=employee, opportunity_id=f"O-{uuid.uuid4().hex[:6]}", opportunity_title=title,
        opportunity_type=opp_type, score_percent=score, previous_score_percent=60, threshold_percent=80,
        explanation=events_pb2.MatchExplanation(
            gaps=[events_pb2.Gap(skill_id="sql", required_level=3, current_level=1)],
            learning_path=[events_pb2.LearningStep(course_id="sql-for-analysts", title="SQL for Analysts", hours=6)],
            projected_score_percent=100))
    return new_envelope(TOPIC, "matcher", employee, 1, payload)


async def metric(proc: ServiceProcess, name: str, **labels) -> float:
    """Sum of a metric's samples on one process whose labels include ``labels``."""
    async with aiohttp.ClientSession() as http, http.get(f"{proc.http_url}/metrics") as resp:
        text = await resp.text()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


# --------------------------------------------------------------------------- clients


class SSEClient:
    """An EventSource-like reader: events (id, event, data) into a queue; comments skipped."""

    def __init__(self, proc: ServiceProcess, employee: str, token: str | None, last_event_id: str = ""):
        self.url = f"{proc.http_url}/v1/employees/{employee}/notifications/stream"
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        if last_event_id:
            self.headers["Last-Event-ID"] = last_event_id
        self.events: asyncio.Queue = asyncio.Queue()
        self.status = 0
        self.body = ""

    async def __aenter__(self) -> SSEClient:
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
        self.resp = await self.http.get(self.url, headers=self.headers)
        self.status = self.resp.status
        if self.status == 200:
            self.task = asyncio.create_task(self._read())
        else:
            self.body = await self.resp.text()
        return self

    async def _read(self) -> None:
        event: dict = {}
        try:
            async for raw in self.resp.content:
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if "data" in event:
                        self.events.put_nowait(event)
                    event = {}
                elif not line.startswith(":"):
                    field, _, value = line.partition(":")
                    event[field] = value.removeprefix(" ")
        except (aiohttp.ClientError, asyncio.CancelledError):
            pass
        self.events.put_nowait(None)  # the stream ended

    async def next(self, timeout: float = 30) -> dict:
        event = await asyncio.wait_for(self.events.get(), timeout)
        assert event is not None, "the stream ended"
        return event

    async def take(self, n: int, timeout: float = 30) -> list[dict]:
        return [await self.next(timeout) for _ in range(n)]

    async def quiet_for(self, seconds: float) -> bool:
        try:
            event = await asyncio.wait_for(self.events.get(), seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"expected nothing, got {event}")

    async def __aexit__(self, *exc) -> None:
        if self.status == 200:
            self.task.cancel()
            self.resp.close()
        await self.http.close()


class GrpcSubscriber:
    def __init__(self, stack: Stack, proc: ServiceProcess, employee: str, token: str, after_id: str = "", **options):
        self.channel, stub = stack.stub(proc, **options)
        self.call = stub.Subscribe(notifier_pb2.SubscribeRequest(employee_id=employee, after_id=after_id),
                                   metadata=bearer(token))
        self.notes: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None
        self.error: grpc.aio.AioRpcError | None = None

    def start(self) -> GrpcSubscriber:
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for note in self.call:
                self.notes.put_nowait(note)
        except grpc.aio.AioRpcError as exc:
            self.error = exc
        except asyncio.CancelledError:
            pass
        self.notes.put_nowait(None)

    async def take(self, n: int, timeout: float = 30) -> list[notifier_pb2.Notification]:
        out = []
        for _ in range(n):
            note = await asyncio.wait_for(self.notes.get(), timeout)
            assert note is not None, f"the stream ended: {self.error}"
            out.append(note)
        return out

    async def quiet_for(self, seconds: float) -> bool:
        try:
            note = await asyncio.wait_for(self.notes.get(), seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"expected nothing, got {note}")

    async def close(self) -> None:
        self.call.cancel()
        if self.task:
            await asyncio.gather(self.task, return_exceptions=True)
        await self.channel.close()


async def inbox(stack: Stack, employee: str) -> list[notifier_pb2.Notification]:
    channel, stub = stack.stub(stack.b)
    try:
        resp = await stub.ListInbox(notifier_pb2.ListInboxRequest(employee_id=employee, page_size=500),
                                    metadata=bearer(stack.token("svc", "service")))
        return list(resp.notifications)
    finally:
        await channel.close()


async def set_prefs(stack: Stack, employee: str, proc: ServiceProcess | None = None, **prefs):
    channel, stub = stack.stub(proc or stack.b)
    try:
        return await stub.SetPreferences(notifier_pb2.SetNotificationPreferencesRequest(
            employee_id=employee, preferences=notifier_pb2.NotificationPreferences(**prefs)),
            metadata=bearer(stack.token(employee)))
    finally:
        await channel.close()


# --------------------------------------------------------------------------- delivery


async def test_a_crossing_reaches_a_connected_sse_client_and_a_grpc_subscriber(stack):
    e = emp("live")
    async with SSEClient(stack.a, e, stack.token(e)) as sse:
        assert sse.status == 200
        sub = GrpcSubscriber(stack, stack.b, e, stack.token(e)).start()
        try:
            env = crossing(e, "Data Analyst (Marketing)")
            await stack.produce(env)
            event = await sse.next(60)  # the first test also waits for the group to form
            [note] = await sub.take(1, 30)
        finally:
            await sub.close()
    assert event["event"] == "match.threshold-crossed" and event["id"] == note.notification_id
    data = json.loads(event["data"])
    assert data["title"] == "You're 82% qualified for Data Analyst (Marketing)"
    assert data["body"] == ("You're 82% qualified for Data Analyst (Marketing). Missing: SQL level 3. "
                            "Take 'SQL for Analysts' (6 h) to reach 100%.")
    assert data["source_event_id"] == env.event_id == note.source_event_id
    assert note.employee_id == e and note.match.score_percent == 82


async def test_a_client_that_missed_three_notifications_gets_exactly_those_three_on_resume(stack):
    e = emp("resume")
    token = stack.token(e)
    async with SSEClient(stack.a, e, token) as sse:
        sub = GrpcSubscriber(stack, stack.b, e, token).start()
        await stack.produce(crossing(e, "Before"))
        first = (await sse.next())["id"]
        [seen] = await sub.take(1)
        assert seen.notification_id == first
        await sub.close()
    # both clients are gone; three notifications land
    missed = [crossing(e, f"Missed {i}") for i in (1, 2, 3)]
    for env in missed:
        await stack.produce(env)
    await eventually(lambda: _inbox_len_is(stack, e, 4), 30, "the three to be stored")

    async with SSEClient(stack.b, e, token, last_event_id=first) as sse:
        got = await sse.take(3)
        assert [json.loads(ev["data"])["source_event_id"] for ev in got] == [m.event_id for m in missed]
        assert [json.loads(ev["data"])["title"] for ev in got] == [f"You're 82% qualified for Missed {i}" for i in (1, 2, 3)]
        assert await sse.quiet_for(1.5)  # and nothing twice
    sub = GrpcSubscriber(stack, stack.a, e, token, after_id=first).start()
    try:
        notes = await sub.take(3)
        assert [n.source_event_id for n in notes] == [m.event_id for m in missed]
        assert [n.notification_id for n in notes] == [ev["id"] for ev in got]
        assert await sub.quiet_for(1.5)
    finally:
        await sub.close()


async def live_connections(proc: ServiceProcess, transport: str, n: float) -> None:
    """Wait until ``proc`` holds ``n`` open connections of ``transport`` and they are past their
    catch-up (an empty inbox: one read, well within the pause)."""
    async def enough():
        return await metric(proc, "itm_notifier_connected_clients", transport=transport) >= n
    await eventually(enough, 10, f"{n:.0f} open {transport} connections")
    await asyncio.sleep(0.3)


async def _inbox_len_is(stack, employee, n):
    return len(await inbox(stack, employee)) == n


async def test_the_same_event_delivered_twice_by_kafka_shows_once(stack):
    e = emp("dup")
    async with SSEClient(stack.a, e, stack.token(e)) as sse:
        env, marker = crossing(e, "Twice"), crossing(e, "Marker")
        await stack.produce(env)
        await stack.produce(env)     # the broker redelivers / the matcher republished
        await stack.produce(marker)  # same key, same partition: after both copies
        got = await sse.take(2)
        assert [json.loads(ev["data"])["source_event_id"] for ev in got] == [env.event_id, marker.event_id]
        assert await sse.quiet_for(1.0)
    assert [n.source_event_id for n in await inbox(stack, e)] == [env.event_id, marker.event_id]


async def test_a_client_on_one_instance_gets_events_the_other_instance_consumed(stack):
    """Both instances share the consumer group; events go to all four partitions,
    so each instance consumes some. The client on A gets every one exactly once."""
    e = emp("fanout")
    token = stack.token(e)
    consumed = lambda proc: metric(proc, "itm_events_consumed_total", consumer="notifier.crossings")  # noqa: E731
    before = {p.name: await consumed(p) for p in (stack.a, stack.b)}
    produced: list[str] = []
    async with SSEClient(stack.a, e, token) as sse:
        sub = GrpcSubscriber(stack, stack.a, e, token).start()
        try:
            got_sse: list[str] = []
            got_grpc: list[str] = []
            for _ in range(20):  # bounded: rounds until both instances have consumed some
                for partition in range(4):
                    env = crossing(e, f"P{partition}")
                    await stack.produce(env, partition=partition)
                    produced.append(env.event_id)
                got_sse += [json.loads(ev["data"])["source_event_id"] for ev in await sse.take(4)]
                got_grpc += [n.source_event_id for n in await sub.take(4)]
                delta = {p.name: await consumed(p) - before[p.name] for p in (stack.a, stack.b)}
                if all(delta.values()):
                    break
                await asyncio.sleep(1)
            assert all(delta.values()), f"one instance consumed nothing: {delta}"
            assert sum(delta.values()) >= len(produced)
            assert await sse.quiet_for(1.0)
        finally:
            await sub.close()
    assert sorted(got_sse) == sorted(produced) and len(set(got_sse)) == len(produced)
    assert got_grpc == got_sse  # both transports: the inbox order


async def test_a_stalled_client_delays_nobody_and_is_told_where_to_resume(stack):
    """A client that stops reading its socket: an SSE one (tiny receive buffer,
    never reads) and a gRPC one (small HTTP/2 window, never reads). Healthy
    clients of the same employee on the same instance get every notification
    while the stalled ones are still connected; then the stalled ones are given
    up on with 'resume from <id>', which is exactly where their data stopped."""
    e = emp("stall")
    token = stack.token(e)
    resyncs = lambda transport: metric(stack.a, "itm_notifier_resyncs_total",  # noqa: E731
                                       transport=transport, reason="stalled")
    before = {t: await resyncs(t) for t in ("sse", "grpc")}

    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(raw, ("127.0.0.1", stack.a.http_port))
    await loop.sock_sendall(raw, (f"GET /v1/employees/{e}/notifications/stream HTTP/1.1\r\n"
                                  f"Host: x\r\nAuthorization: Bearer {token}\r\n\r\n").encode())
    stalled_grpc = GrpcSubscriber(stack, stack.a, e, token, **{"grpc.http2.bdp_probe": 0,
                                                               "grpc.http2.lookahead_bytes": 16384})
    n = 300  # ~400 KB of events: far more than a stalled socket's buffers hold
    try:
        async with SSEClient(stack.a, e, token) as healthy:
            healthy_grpc = GrpcSubscriber(stack, stack.a, e, token).start()
            try:
                envs = [crossing(e, f"Burst {i}") for i in range(n)]
                await asyncio.gather(*(stack.produce(env) for env in envs[:1]))
                await healthy.take(1)
                await asyncio.gather(*(stack.produce(env) for env in envs[1:]))
                got = [await healthy.next() for _ in range(n - 1)]
                notes = await healthy_grpc.take(n)
                # everyone healthy has everything, while the stalled clients are still hanging on
                assert {t: await resyncs(t) - before[t] for t in before} == {"sse": 0, "grpc": 0}
            finally:
                await healthy_grpc.close()
        ids = [notes[0].notification_id] + [ev["id"] for ev in got]
        assert [x.notification_id for x in notes] == ids

        await eventually(lambda: _all_resynced(resyncs, before), WRITE_TIMEOUT_S + 20, "the stalled clients' resync")

        # SSE: everything it finally reads is an in-order prefix, then `resync` with the last id it got
        events = _parse_sse(await _read_all(raw, 30))
        data_ids = [ev["id"] for ev in events if ev.get("event") != "resync"]
        assert events[-1]["event"] == "resync"
        resync = json.loads(events[-1]["data"])
        assert 0 < len(data_ids) < n and data_ids == ids[:len(data_ids)]
        assert resync == {"resume_from": data_ids[-1], "reason": "stalled"}

        # gRPC: the same, as RESOURCE_EXHAUSTED "resume from <id>"
        stalled_grpc.start()
        await stalled_grpc.task
        grpc_ids = []
        while (note := stalled_grpc.notes.get_nowait()) is not None:
            grpc_ids.append(note.notification_id)
        assert 0 < len(grpc_ids) < n and grpc_ids == ids[:len(grpc_ids)]
        err = stalled_grpc.error
        assert err is not None and err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert err.details().endswith(f"resume from {grpc_ids[-1]}")
        assert dict(err.trailing_metadata())["resume-from"] == grpc_ids[-1]

        # resuming from there gets the rest, exactly
        async with SSEClient(stack.b, e, token, last_event_id=resync["resume_from"]) as again:
            rest = await again.take(n - len(data_ids))
            assert [ev["id"] for ev in rest] == ids[len(data_ids):]
            assert await again.quiet_for(1.0)
    finally:
        raw.close()
        await stalled_grpc.close()


async def _all_resynced(resyncs, before) -> bool:
    return all([await resyncs(t) - before[t] >= 1 for t in before])


async def _read_all(sock: socket.socket, timeout: float) -> bytes:
    loop = asyncio.get_running_loop()
    chunks = []
    async with asyncio.timeout(timeout):
        while chunk := await loop.sock_recv(sock, 65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _parse_sse(raw: bytes) -> list[dict]:
    """Events from a raw HTTP/1.1 chunked text/event-stream response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    payload = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        payload += rest[:size]
        body = rest[size + 2:]
    events, event = [], {}
    for line in payload.decode().splitlines():
        if not line:
            if event:
                events.append(event)
            event = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            event[field] = value.removeprefix(" ")
    return events


# --------------------------------------------------------------------------- identity


async def test_someone_elses_stream_is_refused_and_a_missing_or_expired_token_is_unauthenticated(stack):
    e, other = emp("owner"), emp("other")
    for token, status, says in ((stack.token(other), 403, "may not read"),
                                (None, 401, "missing bearer token"),
                                (stack.token(e, ttl_s=-60), 401, "expired")):
        async with SSEClient(stack.a, e, token) as sse:
            assert sse.status == status and says in sse.body
    for token, code, says in ((stack.token(other), grpc.StatusCode.PERMISSION_DENIED, f"may not act for {e}"),
                              (None, grpc.StatusCode.UNAUTHENTICATED, "missing bearer token"),
                              (stack.token(e, ttl_s=-60), grpc.StatusCode.UNAUTHENTICATED, "expired")):
        channel, stub = stack.stub(stack.a)
        metadata = bearer(token) if token else ()
        try:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                async for _ in stub.Subscribe(notifier_pb2.SubscribeRequest(employee_id=e), metadata=metadata):
                    pass
            assert err.value.code() == code and says in err.value.details()
            for call, req in ((stub.ListInbox, notifier_pb2.ListInboxRequest(employee_id=e)),
                              (stub.GetPreferences, notifier_pb2.GetNotificationPreferencesRequest(employee_id=e))):
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await call(req, metadata=metadata)
                assert err.value.code() == code
        finally:
            await channel.close()


# --------------------------------------------------------------------------- preferences


async def test_preferences_are_validated_versioned_and_only_the_owner_or_hr_may_touch_them(stack):
    e = emp("prefs")
    channel, stub = stack.stub(stack.a)
    own = bearer(stack.token(e))
    try:
        got = await stub.GetPreferences(notifier_pb2.GetNotificationPreferencesRequest(employee_id=e), metadata=own)
        assert got.version == 0 and got.channels.in_app and got.delivery == notifier_pb2.DELIVERY_MODE_IMMEDIATE
        bad = notifier_pb2.NotificationPreferences(
            quiet_hours=notifier_pb2.QuietHours(enabled=True, start_hour=22, end_hour=7, timezone="Europe/Nowhere"))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.SetPreferences(notifier_pb2.SetNotificationPreferencesRequest(employee_id=e, preferences=bad),
                                      metadata=own)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "IANA time zone" in err.value.details()
        bad.quiet_hours.timezone = "Europe/Berlin"
        stored = await stub.SetPreferences(notifier_pb2.SetNotificationPreferencesRequest(
            employee_id=e, preferences=bad, expected_version=0), metadata=own)
        assert stored.version == 1 and stored.quiet_hours.end_hour == 7 and stored.channels.in_app
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.SetPreferences(notifier_pb2.SetNotificationPreferencesRequest(
                employee_id=e, preferences=bad, expected_version=5), metadata=own)
        assert err.value.code() == grpc.StatusCode.ABORTED and "version 1" in err.value.details()
        hr = await stub.GetPreferences(notifier_pb2.GetNotificationPreferencesRequest(employee_id=e),
                                       metadata=bearer(stack.token("hr1", "hr_admin")))
        assert hr == stored
    finally:
        await channel.close()


async def test_quiet_hours_store_but_hold_the_live_push_until_they_end(stack):
    e = emp("quiet")
    token = stack.token(e)
    tz = "Asia/Tokyo"
    h = datetime.now(ZoneInfo(tz)).hour
    await set_prefs(stack, e, quiet_hours=notifier_pb2.QuietHours(
        enabled=True, start_hour=h, end_hour=(h + 2) % 24, timezone=tz))
    sse_before = await metric(stack.a, "itm_notifier_connected_clients", transport="sse")
    grpc_before = await metric(stack.b, "itm_notifier_connected_clients", transport="grpc")
    async with SSEClient(stack.a, e, token) as sse:
        sub = GrpcSubscriber(stack, stack.b, e, token).start()
        try:
            # both connections live before the crossing lands: one still in its catch-up would get it
            # there, as a client connecting during quiet hours should (the race this test once lost)
            await live_connections(stack.a, "sse", sse_before + 1)
            await live_connections(stack.b, "grpc", grpc_before + 1)
            env = crossing(e, "At night")
            await stack.produce(env)
            await eventually(lambda: _inbox_len_is(stack, e, 1), 30, "the crossing to be stored")
            assert await sse.quiet_for(1.5) and await sub.quiet_for(0.1)  # stored, not pushed
            # a client that connects now gets it in its catch-up
            async with SSEClient(stack.b, e, token) as late:
                assert json.loads((await late.next(10))["data"])["source_event_id"] == env.event_id
            # quiet hours end (here: switched off, on the other instance): the open connections get it
            await set_prefs(stack, e, proc=stack.b)
            assert json.loads((await sse.next(10))["data"])["source_event_id"] == env.event_id
            assert (await sub.take(1, 10))[0].source_event_id == env.event_id
        finally:
            await sub.close()


async def test_a_muted_opportunity_type_is_neither_stored_nor_pushed(stack):
    e = emp("mute")
    await set_prefs(stack, e, muted_opportunity_types=[GIG])
    muted = lambda: _sum(metric(p, "itm_notifications_muted_total", opportunity_type="OPPORTUNITY_TYPE_GIG")  # noqa: E731
                         for p in (stack.a, stack.b))
    before = await muted()
    async with SSEClient(stack.a, e, stack.token(e)) as sse:
        gig, project = crossing(e, "A gig", GIG), crossing(e, "A project", PROJECT)
        await stack.produce(gig)
        await stack.produce(project)
        event = await sse.next()
        assert json.loads(event["data"])["source_event_id"] == project.event_id
        assert await sse.quiet_for(1.0)
    assert [n.source_event_id for n in await inbox(stack, e)] == [project.event_id]
    assert await muted() - before == 1


async def _sum(coros) -> float:
    return sum(await asyncio.gather(*coros))


async def test_digest_mode_pushes_one_message_per_period(stack):
    e = emp("digest")
    period = 10
    await set_prefs(stack, e, delivery=notifier_pb2.DELIVERY_MODE_DIGEST, digest_period_seconds=period)
    into = period - time.time() % period
    if into < 6:  # produce at the start of a period, so all three land in the same one
        await asyncio.sleep(into + 0.2)
    async with SSEClient(stack.a, e, stack.token(e)) as sse:
        envs = [crossing(e, f"Digest {i}") for i in (1, 2, 3)]
        for env in envs:
            await stack.produce(env)
        await eventually(lambda: _inbox_len_is(stack, e, 3), 10, "the three to be stored")
        event = await sse.next(period + 5)
        assert event["event"] == "digest"
        digest = json.loads(event["data"])
        assert digest["title"] == "3 new notifications"
        assert [i["source_event_id"] for i in digest["items"]] == [env.event_id for env in envs]
        assert event["id"] == digest["items"][-1]["notification_id"]
        assert await sse.quiet_for(1.0)


# --------------------------------------------------------------------------- read marks


async def test_read_marks_count_unread_and_do_not_outlive_the_capped_inbox(start_service, topic_prefix, kafka_bootstrap,
                                                                           redis_url):
    """Its own notifier with a 10-notification inbox: marking read lowers the unread
    count and filters unread_only; ids that are not in the inbox are not marked; the
    marks of notifications trimmed off the inbox are dropped at the next MarkRead."""
    proc = start_service("notifier", inbox_max_len=10)
    settings = Settings(topic_prefix=topic_prefix, kafka_bootstrap=kafka_bootstrap)
    employee = emp("R")
    me = bearer(mint_token(settings, employee, "employee"))
    channel = grpc.aio.insecure_channel(proc.grpc_target)
    stub = notifier_pb2_grpc.NotifierServiceStub(channel)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()

    async def produce(n: int) -> None:
        for i in range(n):
            env = crossing(employee, f"Gig {i}")
            await producer.send_and_wait(settings.topic(TOPIC), env.SerializeToString(), key=employee.encode())

    async def listing(**kw) -> notifier_pb2.ListInboxResponse:
        return await stub.ListInbox(notifier_pb2.ListInboxRequest(employee_id=employee, page_size=50, **kw),
                                    metadata=me)

    async def mark(ids) -> int:
        return (await stub.MarkRead(notifier_pb2.MarkReadRequest(employee_id=employee, notification_ids=ids),
                                    metadata=me)).marked

    try:
        await produce(4)
        (first,) = await eventually(lambda: _when(listing(), lambda r: len(r.notifications) == 4), 30,
                                    "4 notifications")
        ids = [n.notification_id for n in first.notifications]
        assert first.unread == 4 and not any(n.read for n in first.notifications)
        assert await mark(ids[:2] + ["1-0"]) == 2  # "1-0" is in nobody's inbox
        assert await mark(ids[:1]) == 0  # already read
        now = await listing()
        assert now.unread == 2 and [n.read for n in now.notifications] == [True, True, False, False]
        assert [n.notification_id for n in (await listing(unread_only=True)).notifications] == ids[2:]
        # ten more: the inbox keeps the last ten, so the four first are trimmed off
        await produce(10)
        def after_first_four(r) -> bool:
            return _id_tuple(r.notifications[0].notification_id) > _id_tuple(ids[-1])

        await eventually(lambda: _when(listing(), after_first_four), 30, "the first four trimmed")
        later = await listing()
        assert len(later.notifications) == 10 and later.unread == 10
        assert await mark([later.notifications[0].notification_id]) == 1
        import redis.asyncio as aioredis

        r = aioredis.from_url(redis_url)
        try:
            marks = {m.decode() for m in await r.smembers(settings.key(f"inbox:{employee}:read"))}
        finally:
            await r.aclose()
        assert marks == {later.notifications[0].notification_id}  # the two marks of trimmed ones are gone
    finally:
        await producer.stop()
        await channel.close()


async def _when(call, ok):
    """For ``eventually``: ``(result,)`` once ``ok(result)`` (a tuple, so a falsy result still counts)."""
    result = await call
    return (result,) if ok(result) else None


# --------------------------------------------------------------------------- dead peers

SUBSCRIBER = """
import sys
import grpc
from itm.v1 import notifier_pb2, notifier_pb2_grpc
target, token, employee = sys.argv[1:4]
stub = notifier_pb2_grpc.NotifierServiceStub(grpc.insecure_channel(target))
for _ in stub.Subscribe(notifier_pb2.SubscribeRequest(employee_id=employee), metadata=[("authorization", "Bearer " + token)]):
    pass
"""


async def test_a_subscriber_that_vanished_without_closing_is_dropped_by_keepalive(start_service, topic_prefix,
                                                                                  kafka_bootstrap):
    """A client process frozen with SIGSTOP keeps its TCP connection (the kernel still
    ACKs) but answers no HTTP/2 ping: the server's keepalive drops it and its stream."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    proc = start_service("notifier", grpc_keepalive_s=1, grpc_keepalive_timeout_s=1, notifier_heartbeat_s=3600)
    settings = Settings(topic_prefix=topic_prefix, kafka_bootstrap=kafka_bootstrap)
    employee = emp("K")
    root = Path(__file__).resolve().parents[2]
    client = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, proc.grpc_target,
                               mint_token(settings, employee, "employee"), employee],
                              cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async def connected() -> float:
            return await metric(proc, "itm_notifier_connected_clients", transport="grpc")

        await eventually(lambda: _when(connected(), lambda n: n == 1), 30, "the subscriber connected")
        client.send_signal(signal.SIGSTOP)
        await eventually(lambda: _when(connected(), lambda n: n == 0), 20, "the frozen subscriber dropped")
    finally:
        client.kill()
        client.wait(10)
