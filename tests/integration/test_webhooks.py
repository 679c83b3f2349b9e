"""Outbound webhooks (issue 14 item 5) over the real stack and real HTTP on loopback.

A receiver (aiohttp) checks every request with the Standard Webhooks reference library
(``standardwebhooks``, PyPI) and with ITM's own verifier, and records what it got.
The profile service writes the events (a new employee is ``profile.employee-registered``);
the webhooks service delivers them as CloudEvents. Backoff is short here
(``webhook_backoff_initial_s=0.2``, at most 2 s) so the receiver that is down for a
minute (``ITM_WEBHOOK_TEST_DOWN_S``, default 60) costs about that minute.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time

import aiohttp
import grpc
import pytest
from aiohttp import web
from google.protobuf import json_format
from standardwebhooks.webhooks import Webhook

from _stack import ModuleStack, all_topics, expect_error, uid
from itm.devstack import ServiceProcess, free_port
from itm.v1 import profile_pb2 as P, webhooks_pb2 as W
from services.webhooks import signing
from services.webhooks.subscriptions import generate_secret, secret_key

DOWN_S = float(os.environ.get("ITM_WEBHOOK_TEST_DOWN_S", "60"))
TOPIC = "profile.employee-registered"


class Receiver:
    """An HTTP endpoint on loopback that verifies and records webhook requests."""

    def __init__(self, secret: str, port: int | None = None):
        self.secret = secret
        self.port = port or free_port()
        self.requests: list[dict] = []      # every request that verified: headers and body
        self.refused: list[str] = []        # requests whose signature did not verify
        self.status = 200
        self.runner: web.AppRunner | None = None
        self.changed = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/itm"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        try:
            Webhook(self.secret).verify(body, headers)  # the reference implementation
            signing.verify(secret_key(self.secret), headers, body, time.time())  # and ITM's own
        except Exception as exc:  # noqa: BLE001
            self.refused.append(repr(exc))
            self.changed.set()
            return web.Response(status=401)
        self.requests.append({"headers": headers, "body": json.loads(body), "raw": body, "path": request.path,
                              "answered": self.status})
        self.changed.set()
        return web.Response(status=self.status)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hooks/itm", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def ids(self, answered: int | None = 200) -> list[str]:
        return [r["body"]["id"] for r in self.requests if answered is None or r["answered"] == answered]

    async def wait_for(self, check, timeout_s: float = 60, what: str = "") -> None:
        try:
            async with asyncio.timeout(timeout_s):
                while not check():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"after {timeout_s}s: {what}; got {len(self.requests)} requests "
                                 f"({[r['body']['id'] for r in self.requests]}), refused {self.refused}") from None


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("webhooks"))
    await s.start({"profile": {}, "webhooks": {"webhook_backoff_initial_s": 0.2, "webhook_backoff_max_s": 2,
                                               "webhook_max_attempts": 100}},
                  all_topics("profile."))
    yield s
    await s.close(failed=request.session.testsfailed > 0)


def hr(stack):
    return stack.as_("hr-1", "hr_admin")


async def subscribe(stack, url: str, secret: str = "", topics=(TOPIC,), **extra) -> W.CreateSubscriptionResponse:
    c = hr(stack)
    return await c.webhooks.CreateSubscription(W.CreateSubscriptionRequest(
        topics=list(topics), url=url, secret=secret, **extra), metadata=c.metadata)


async def register(stack, *employee_ids: str) -> None:
    c = stack.clients
    for emp in employee_ids:
        await c.profile.CreateEmployee(P.CreateEmployeeRequest(employee_id=emp, name=f"Name {emp}",
                                                               department="Data"), metadata=c.metadata)


async def metrics_text(stack) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{stack.procs['webhooks'].http_url}/metrics") as r:
        return await r.text()


def metric(text: str, name: str, sub_id: str) -> float:
    m = re.search(rf'^{name}{{subscription="{sub_id}"}} ([0-9.e+]+)$', text, re.M)
    return float(m[1]) if m else 0.0


async def test_a_subscriber_gets_each_event_as_a_signed_cloudevent(stack):
    receiver = await Receiver(generate_secret()).start()
    try:
        created = await subscribe(stack, receiver.url, receiver.secret, topics=[TOPIC, "profile.skill-added"],
                                  description="HRIS mirror")
        sub = created.subscription
        assert created.secret == receiver.secret and sub.secret_hint.startswith(receiver.secret[:8])
        assert sub.subscription_id.startswith("wh-") and sub.created_by == "hr-1" and not sub.paused
        emp = uid("W")
        await register(stack, emp)
        c = stack.clients
        await c.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=emp, skill="sql", level=3), metadata=c.metadata)
        [registered] = await stack.log.wait_for(TOPIC, emp)
        [added] = await stack.log.wait_for("profile.skill-added", emp)
        await receiver.wait_for(lambda: len(receiver.requests) >= 2, what="two deliveries")

        got = {r["body"]["type"]: r for r in receiver.requests}
        assert set(got) == {TOPIC, "profile.skill-added"} and not receiver.refused
        for seen in (registered, added):
            r = got[seen.topic]
            ce, h = r["body"], {k.lower(): v for k, v in r["headers"].items()}
            assert h["content-type"].startswith("application/cloudevents+json")
            assert h["webhook-id"] == ce["id"] == seen.env.event_id  # the dedupe key is the event id
            assert abs(int(h["webhook-timestamp"]) - time.time()) < 120
            assert ce["specversion"] == "1.0" and ce["source"] == "/itm/profile" and ce["subject"] == emp
            assert ce["time"] == seen.env.occurred_at.ToJsonString() and ce["datacontenttype"] == "application/json"
            assert ce["data"] == json_format.MessageToDict(seen.payload, preserving_proto_field_name=True)
            assert ce["itmentityversion"] == seen.env.entity_version
            assert ce["dataschema"] == f"urn:itm:proto:{seen.payload.DESCRIPTOR.full_name}"
        assert got[TOPIC]["body"]["data"]["profile"]["employee_id"] == emp

        # a topic nobody subscribed to is not delivered
        await c.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=emp, skill="sql", level=4), metadata=c.metadata)
        await stack.log.wait_for("profile.skill-added", emp, count=2)
        await receiver.wait_for(lambda: len(receiver.requests) >= 3, what="the second skill-added")
        await asyncio.sleep(1)
        assert sorted(r["body"]["type"] for r in receiver.requests) == [TOPIC, "profile.skill-added",
                                                                        "profile.skill-added"]
        listed = await hr(stack).webhooks.GetSubscription(W.GetSubscriptionRequest(
            subscription_id=sub.subscription_id), metadata=hr(stack).metadata)
        assert listed.backlog == 0 and listed.dead_letters == 0 and listed.last_delivered_at.seconds > 0
        text = await metrics_text(stack)
        assert metric(text, "itm_webhook_sent_total", sub.subscription_id) == 3
        assert metric(text, "itm_webhook_delivery_latency_seconds_count", sub.subscription_id) == 3
    finally:
        await receiver.stop()


async def test_list_pause_resume_and_delete(stack):
    receiver = await Receiver(generate_secret()).start()
    c = hr(stack)
    try:
        sub = (await subscribe(stack, receiver.url, receiver.secret)).subscription
        listed = await c.webhooks.ListSubscriptions(W.ListSubscriptionsRequest(), metadata=c.metadata)
        assert sub.subscription_id in [s.subscription_id for s in listed.subscriptions]
        assert all(not hasattr(s, "secret") for s in listed.subscriptions)
        paused = await c.webhooks.PauseSubscription(W.PauseSubscriptionRequest(subscription_id=sub.subscription_id),
                                                    metadata=c.metadata)
        assert paused.paused and paused.version == 2
        emp = uid("P")
        await register(stack, emp)
        await stack.log.wait_for(TOPIC, emp)
        await asyncio.sleep(2)
        assert receiver.requests == []  # paused: queued, not sent
        queued = await c.webhooks.GetSubscription(W.GetSubscriptionRequest(subscription_id=sub.subscription_id),
                                                  metadata=c.metadata)
        assert queued.backlog == 1
        await c.webhooks.ResumeSubscription(W.ResumeSubscriptionRequest(subscription_id=sub.subscription_id),
                                            metadata=c.metadata)
        await receiver.wait_for(lambda: len(receiver.requests) == 1, what="the event queued while paused")
        assert receiver.requests[0]["body"]["subject"] == emp
        gone = await c.webhooks.DeleteSubscription(W.DeleteSubscriptionRequest(subscription_id=sub.subscription_id),
                                                   metadata=c.metadata)
        assert gone.subscription_id == sub.subscription_id
        await expect_error(c.webhooks.GetSubscription(W.GetSubscriptionRequest(subscription_id=sub.subscription_id),
                                                      metadata=c.metadata), grpc.StatusCode.NOT_FOUND)
        await register(stack, later := uid("P"))
        await stack.log.wait_for(TOPIC, later)
        await asyncio.sleep(2)
        assert len(receiver.requests) == 1  # deleted: nothing more
    finally:
        await receiver.stop()


@pytest.mark.parametrize("request_, field", [
    (dict(topics=[], url="http://127.0.0.1:9/x"), "topics"),
    (dict(topics=["matcher.opportunity-broadcast"], url="http://127.0.0.1:9/x"), "topics[0]"),
    (dict(topics=[TOPIC, "no.such-topic"], url="http://127.0.0.1:9/x"), "topics[1]"),
    (dict(topics=["itm.dead-letter"], url="http://127.0.0.1:9/x"), "topics[0]"),
    (dict(topics=[TOPIC, TOPIC], url="http://127.0.0.1:9/x"), "topics[1]"),
    (dict(topics=[TOPIC], url=""), "url"),
    (dict(topics=[TOPIC], url="ftp://example.com/x"), "url"),
    (dict(topics=[TOPIC], url="https://user:pw@example.com/x"), "url"),
    (dict(topics=[TOPIC], url="http://127.0.0.1:9/x", secret="plain-text-secret"), "secret"),
    (dict(topics=[TOPIC], url="http://127.0.0.1:9/x", secret="whsec_c2hvcnQ="), "secret"),
    (dict(topics=[TOPIC], url="http://127.0.0.1:9/x", max_attempts=1000), "max_attempts"),
    (dict(topics=[TOPIC], url="http://127.0.0.1:9/x", description="d" * 501), "description"),
])
async def test_invalid_subscriptions_are_refused_naming_the_field(stack, request_, field):
    c = hr(stack)
    err = await expect_error(c.webhooks.CreateSubscription(W.CreateSubscriptionRequest(**request_),
                                                           metadata=c.metadata), grpc.StatusCode.INVALID_ARGUMENT)
    assert err.details().startswith(field), err.details()


async def test_page_tokens_that_are_no_list_offset_are_refused(stack):
    """Found by the full fuzz round: a 40-digit offset reached Redis and answered INTERNAL."""
    c = hr(stack)
    for token in ("0000000000000000000010000000000000000000", "1" * 10, "\u0661", "-1"):
        await expect_error(c.webhooks.ListSubscriptions(W.ListSubscriptionsRequest(page_token=token),
                                                        metadata=c.metadata),
                           grpc.StatusCode.INVALID_ARGUMENT, "page_token")
    assert (await c.webhooks.ListSubscriptions(W.ListSubscriptionsRequest(page_token="999999999"),
                                               metadata=c.metadata)).subscriptions == []


async def test_only_hr_admins_manage_subscriptions(stack):
    req = W.CreateSubscriptionRequest(topics=[TOPIC], url="http://127.0.0.1:9/x")
    for role in ("employee", "manager", "service"):
        c = stack.as_(f"who-{role}", role)
        await expect_error(c.webhooks.CreateSubscription(req, metadata=c.metadata), grpc.StatusCode.PERMISSION_DENIED,
                           "HR admins")
        await expect_error(c.webhooks.ListSubscriptions(W.ListSubscriptionsRequest(), metadata=c.metadata),
                           grpc.StatusCode.PERMISSION_DENIED)
        await expect_error(c.webhooks.ListDeadLetters(W.ListDeadLettersRequest(subscription_id="wh-x"),
                                                      metadata=c.metadata), grpc.StatusCode.PERMISSION_DENIED)
    await expect_error(stack.clients.webhooks.ListSubscriptions(W.ListSubscriptionsRequest()),
                       grpc.StatusCode.UNAUTHENTICATED)


async def test_an_event_that_keeps_failing_goes_to_the_dead_letter_and_replays(stack):
    receiver = await Receiver(generate_secret()).start()
    receiver.status = 500
    c = hr(stack)
    try:
        sub = (await subscribe(stack, receiver.url, receiver.secret, max_attempts=3)).subscription
        emp, after = uid("D"), uid("D")
        await register(stack, emp)
        [seen] = await stack.log.wait_for(TOPIC, emp)
        await receiver.wait_for(lambda: len(receiver.ids(500)) >= 3, what="three failed attempts")
        # the same event three times, with the same webhook-id, then nothing more of it
        assert receiver.ids(500) == [seen.env.event_id] * 3
        letters = await c.webhooks.ListDeadLetters(W.ListDeadLettersRequest(subscription_id=sub.subscription_id),
                                                   metadata=c.metadata)
        for _ in range(300):  # the letter is written right after the third answer; a loaded machine is slow
            if letters.total:
                break
            await asyncio.sleep(0.1)
            letters = await c.webhooks.ListDeadLetters(W.ListDeadLettersRequest(
                subscription_id=sub.subscription_id), metadata=c.metadata)
        [letter] = letters.letters
        assert (letter.event_id, letter.event_type, letter.subject) == (seen.env.event_id, TOPIC, emp)
        assert (letter.attempts, letter.last_status, letter.last_error) == (3, 500, "HTTP 500")
        # the next event is tried after the dead one (and succeeds once the receiver is fixed)
        receiver.status = 200
        await register(stack, after)
        await receiver.wait_for(lambda: any(r["body"]["subject"] == after for r in receiver.requests),
                                what="the event after the dead one")
        text = await metrics_text(stack)
        assert metric(text, "itm_webhook_dead_total", sub.subscription_id) == 1
        assert metric(text, "itm_webhook_failed_total", sub.subscription_id) == 3
        assert metric(text, "itm_webhook_retried_total", sub.subscription_id) == 2
        replayed = await c.webhooks.ReplayDeadLetters(W.ReplayDeadLettersRequest(
            subscription_id=sub.subscription_id, letter_ids=[letter.letter_id]), metadata=c.metadata)
        assert replayed.replayed == 1
        await receiver.wait_for(lambda: seen.env.event_id in receiver.ids(200), what="the replayed letter")
        assert (await c.webhooks.ListDeadLetters(W.ListDeadLettersRequest(subscription_id=sub.subscription_id),
                                                 metadata=c.metadata)).total == 0
        await expect_error(c.webhooks.ReplayDeadLetters(W.ReplayDeadLettersRequest(
            subscription_id=sub.subscription_id, letter_ids=["not-an-id"]), metadata=c.metadata),
            grpc.StatusCode.INVALID_ARGUMENT, "letter_ids[0]")
    finally:
        await receiver.stop()


@pytest.mark.timeout(DOWN_S + 240)
async def test_a_receiver_down_for_a_minute_gets_everything_once_and_delays_nobody_else(stack):
    secret = generate_secret()
    down = Receiver(secret)  # not started: connections are refused
    healthy = await Receiver(secret).start()
    try:
        slow = (await subscribe(stack, down.url, secret)).subscription
        fast = (await subscribe(stack, healthy.url, secret)).subscription
        started = time.monotonic()
        employees = [uid("M") for _ in range(12)]
        await register(stack, *employees[:6])
        # the other subscription gets its events while this receiver is down
        await healthy.wait_for(lambda: len(healthy.requests) >= 6, what="six deliveries to the healthy receiver")
        await register(stack, *employees[6:])
        await healthy.wait_for(lambda: len(healthy.requests) >= 12, what="twelve deliveries to the healthy receiver")
        expected = [(await stack.log.wait_for(TOPIC, e))[0].env.event_id for e in employees]
        assert sorted(healthy.ids()) == sorted(expected)  # every event, once (order is per employee here)
        await asyncio.sleep(max(0.0, DOWN_S - (time.monotonic() - started)))
        c = hr(stack)
        waiting = await c.webhooks.GetSubscription(W.GetSubscriptionRequest(subscription_id=slow.subscription_id),
                                                   metadata=c.metadata)
        assert waiting.backlog == 12 and waiting.dead_letters == 0 and "connect" in waiting.last_error
        await down.start()
        await down.wait_for(lambda: len(down.requests) >= 12, timeout_s=60, what="the backlog after coming back")
        await asyncio.sleep(2)  # anything sent twice would arrive now
        assert sorted(down.ids()) == sorted(expected) and len(down.ids()) == 12  # each exactly once, by id
        # one partition per employee: per entity the order is kept; here each employee has one event
        text = await metrics_text(stack)
        assert metric(text, "itm_webhook_failed_total", slow.subscription_id) > 0
        assert metric(text, "itm_webhook_retried_total", slow.subscription_id) > 0
        assert metric(text, "itm_webhook_dead_total", slow.subscription_id) == 0
        assert metric(text, "itm_webhook_sent_total", slow.subscription_id) == 12
        assert metric(text, "itm_webhook_failed_total", fast.subscription_id) == 0
        done = await c.webhooks.GetSubscription(W.GetSubscriptionRequest(subscription_id=slow.subscription_id),
                                                metadata=c.metadata)
        assert done.backlog == 0 and done.last_error == ""
    finally:
        await down.stop()
        await healthy.stop()


async def itm_cli(stack, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "itm.cli", "webhooks", *args, "--target", stack.procs["webhooks"].grpc_target,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "ITM_TOPIC_PREFIX": stack.prefix})
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode()


async def test_the_cli_adds_lists_and_removes_subscriptions(stack):
    code, out = await itm_cli(stack, "add", "http://127.0.0.1:9/x", "--topic", "matcher.opportunity-broadcast")
    assert code == 1 and "INVALID_ARGUMENT: topics[0]" in out and "internal" in out, out
    code, out = await itm_cli(stack, "add", "http://127.0.0.1:1/placeholder", "--topic", TOPIC,
                              "--description", "from the CLI")
    assert code == 0, out
    sub_id = re.search(r"^subscription (wh-[0-9a-f]+) ", out, re.M)[1]
    assert re.search(r"^secret\s+whsec_\S+", out, re.M), out
    code, out = await itm_cli(stack, "list", "--json")
    assert code == 0, out
    [listed] = [json.loads(line) for line in out.splitlines() if sub_id in line]
    assert listed["description"] == "from the CLI" and listed["topics"] == [TOPIC] and "secret" not in listed
    code, out = await itm_cli(stack, "pause", sub_id)
    assert (code, out.strip()) == (0, f"paused {sub_id}")
    code, out = await itm_cli(stack, "dead", sub_id)
    assert code == 0 and out.strip().endswith("0 dead letters"), out
    code, out = await itm_cli(stack, "rm", sub_id)
    assert code == 0 and out.startswith(f"deleted {sub_id}"), out
    code, out = await itm_cli(stack, "rm", sub_id)
    assert code == 1 and "NOT_FOUND" in out, out


@pytest.fixture(scope="module")
async def replicas(infra, tmp_path_factory, request):
    """Profile and two webhooks replicas sharing one prefix (the fan-out group, the leases)."""
    s = ModuleStack(infra, tmp_path_factory.mktemp("webhook-replicas"))
    fast = {"webhook_backoff_initial_s": 0.2, "webhook_backoff_max_s": 1, "webhook_timeout_s": 1,
            "webhook_lease_s": 2}
    await s.start({"profile": {}}, all_topics("profile."))
    extra = []
    for n in (1, 2):
        proc = ServiceProcess("webhooks", s.env("webhooks", **fast, data_dir=str(s.root / "data" / f"webhooks-{n}")),
                              s.root, instance=str(n))
        proc.start(wait=False)
        extra.append(proc)
    for proc in extra:
        await proc.wait_healthy_async(90)
    s.procs["webhooks"], s.procs["webhooks-2"] = extra
    s.clients.channels["webhooks"] = grpc.aio.insecure_channel(extra[0].grpc_target)
    yield s
    await s.close(failed=request.session.testsfailed > 0)


async def test_two_replicas_deliver_each_event_once_and_one_takes_over_when_the_other_stops(replicas):
    stack = replicas
    receiver = await Receiver(generate_secret()).start()
    try:
        sub = (await subscribe(stack, receiver.url, receiver.secret)).subscription
        first = [uid("R") for _ in range(10)]
        await register(stack, *first)
        expected = [(await stack.log.wait_for(TOPIC, e))[0].env.event_id for e in first]
        await receiver.wait_for(lambda: len(receiver.requests) >= 10, what="ten deliveries")
        sent = {}
        async with asyncio.timeout(10):  # a replica counts a delivery once the receiver's answer is in
            while sum(sent.values()) < 10:
                await asyncio.sleep(0.1)
                sent = {name: metric(await metrics_text_of(stack.procs[name]), "itm_webhook_sent_total",
                                     sub.subscription_id) for name in ("webhooks", "webhooks-2")}
        assert sorted(sent.values()) == [0, 10], sent  # one replica holds the subscription
        holder = max(sent, key=sent.get)
        stack.procs[holder].stop(timeout=20)  # graceful: its partitions and its lease go to the other
        later = [uid("R") for _ in range(5)]
        await register(stack, *later)
        expected += [(await stack.log.wait_for(TOPIC, e))[0].env.event_id for e in later]
        await receiver.wait_for(lambda: len(receiver.requests) >= 15, timeout_s=60, what="the five after the stop")
        await asyncio.sleep(2)
        assert sorted(receiver.ids()) == sorted(expected) and len(receiver.ids()) == 15  # once each
        other = "webhooks-2" if holder == "webhooks" else "webhooks"
        assert metric(await metrics_text_of(stack.procs[other]), "itm_webhook_sent_total", sub.subscription_id) == 5
    finally:
        await receiver.stop()


async def metrics_text_of(proc) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{proc.http_url}/metrics") as r:
        return await r.text()


def signatures(request: dict) -> list[str]:
    return {k.lower(): v for k, v in request["headers"].items()}["webhook-signature"].split(" ")


async def test_a_rotated_secret_signs_beside_the_new_one_until_it_expires(stack):
    old = generate_secret()
    receiver = await Receiver(old).start()
    c = hr(stack)
    try:
        sub = (await subscribe(stack, receiver.url, old)).subscription
        await register(stack, uid("S"))
        await receiver.wait_for(lambda: len(receiver.requests) == 1, what="a delivery signed with the first secret")
        rotated = await c.webhooks.RotateSecret(W.RotateSecretRequest(subscription_id=sub.subscription_id,
                                                                      previous_valid_s=3), metadata=c.metadata)
        new = rotated.secret
        assert new.startswith("whsec_") and new != old and rotated.subscription.secret_hint == new[:10] + "…"
        assert rotated.previous_expires_at.seconds >= int(time.time()) + 1
        await register(stack, uid("S"))
        await receiver.wait_for(lambda: len(receiver.requests) == 2, what="a delivery during the rotation")
        during = receiver.requests[-1]
        Webhook(new).verify(during["raw"], during["headers"])  # the receiver (old secret) took it; so would the new
        assert len(signatures(during)) == 2
        await asyncio.sleep(4)  # the old secret expires
        await register(stack, uid("S"))
        await receiver.wait_for(lambda: len(receiver.refused) >= 1, what="the old secret no longer verifies")
        receiver.secret = new  # the receiver switches; the retry of the same event verifies
        await receiver.wait_for(lambda: len(receiver.requests) == 3, what="the retried event with the new secret")
        assert len(signatures(receiver.requests[-1])) == 1
        await expect_error(c.webhooks.RotateSecret(W.RotateSecretRequest(
            subscription_id=sub.subscription_id, previous_valid_s=-5), metadata=c.metadata),
            grpc.StatusCode.INVALID_ARGUMENT, "previous_valid_s")
    finally:
        await receiver.stop()
