"""The notifier's external channels for real (issue 13): a notifier process, the broker,
Redis, an SMTP server (aiosmtpd) and a webhook receiver (aiohttp) on loopback.

Crossings and workflow facts are produced straight to their topics; each test uses
its own employees and compares metric deltas.
"""

from __future__ import annotations

import asyncio
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
from itm.v1 import common_pb2, events_pb2, notifier_pb2 as N, notifier_pb2_grpc
from _stack import eventually
from receivers import SmtpReceiver, WebhookReceiver

TOPIC = "match.threshold-crossed"
BASE = "https://itm.example.com"
EMAIL, SLACK, TEAMS, IN_APP = N.CHANNEL_EMAIL, N.CHANNEL_SLACK, N.CHANNEL_TEAMS, N.CHANNEL_IN_APP


@dataclass
class Stack:
    proc: ServiceProcess
    settings: Settings
    producer: AIOKafkaProducer
    smtp: SmtpReceiver
    hooks: WebhookReceiver
    redis: object

    def stub(self):
        channel = grpc.aio.insecure_channel(self.proc.grpc_target)
        return channel, notifier_pb2_grpc.NotifierServiceStub(channel)

    @property
    def md(self):
        return bearer(mint_token(self.settings, "svc-test", "service", 3600))

    async def set_prefs(self, employee: str, **fields) -> N.NotificationPreferences:
        channel, stub = self.stub()
        try:
            return await stub.SetPreferences(N.SetNotificationPreferencesRequest(
                employee_id=employee, preferences=N.NotificationPreferences(**fields)), metadata=self.md)
        finally:
            await channel.close()

    async def get_prefs(self, employee: str) -> N.NotificationPreferences:
        channel, stub = self.stub()
        try:
            return await stub.GetPreferences(N.GetNotificationPreferencesRequest(employee_id=employee), metadata=self.md)
        finally:
            await channel.close()

    async def produce(self, env, topic: str = TOPIC) -> None:
        await self.producer.send_and_wait(self.settings.topic(topic), env.SerializeToString(), key=env.subject.encode())

    async def metric(self, name: str, **labels) -> float:
        async with aiohttp.ClientSession() as http, http.get(f"{self.proc.http_url}/metrics") as resp:
            text = await resp.text()
        total = 0.0
        for line in text.splitlines():
            if line.startswith((name + "{", name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    async def ledger(self, pattern: str) -> list[dict]:
        out = []
        async for key in self.redis.scan_iter(match=f"{self.settings.topic_prefix}dlv:{pattern}", count=1000):
            if b"dlv:due:" in key or b"dlv:emp:" in key or key.endswith((b"dlv:dests", b"dlv:dead")):
                continue
            out.append({k.decode(): v.decode(errors="replace") for k, v in (await self.redis.hgetall(key)).items()})
        return out


def notifier_env(infra, prefix: str, smtp: SmtpReceiver, **extra) -> dict[str, str]:
    env = {
        "ITM_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "ITM_REDIS_URL": infra.redis_url,
        "ITM_TOPIC_PREFIX": prefix,
        "ITM_LOG_FORMAT": "console",
        "ITM_PUBLIC_BASE_URL": BASE,
        "ITM_SMTP_HOST": "127.0.0.1",
        "ITM_SMTP_PORT": str(smtp.port),
        "ITM_SMTP_SECURITY": "none",
        "ITM_SMTP_FROM": "ITM <itm@itm.example.com>",
        "ITM_CHAT_WEBHOOK_ALLOWED_HOSTS": '["127.0.0.1"]',
        "ITM_CHAT_WEBHOOK_ALLOW_HTTP": "true",
        "ITM_DELIVERY_BACKOFF_BASE_S": "0.2",
        "ITM_DELIVERY_BACKOFF_MAX_S": "1",
        "ITM_DELIVERY_MAX_ATTEMPTS": "4",
        "ITM_DELIVERY_LEASE_S": "5",
        "ITM_DELIVERY_POLL_S": "0.2",
        "ITM_CHAT_WEBHOOK_TIMEOUT_S": "3",
    }
    env.update({f"ITM_{k.upper()}": str(v) for k, v in extra.items()})
    return env


async def cleanup_prefix(redis, prefix: str) -> None:
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=1000)]
    for i in range(0, len(keys), 500):
        await redis.unlink(*keys[i:i + 500])


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    import redis.asyncio as aioredis

    prefix = f"c{uuid.uuid4().hex[:8]}."
    await ensure_topics(infra.kafka_bootstrap, prefix=prefix)
    root = tmp_path_factory.mktemp("channels")
    failed_before = request.session.testsfailed
    r = aioredis.from_url(infra.redis_url)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    with SmtpReceiver() as smtp:
        async with WebhookReceiver() as hooks:
            proc = ServiceProcess("notifier", notifier_env(infra, prefix, smtp), root)
            try:
                proc.start(wait=False)
                await proc.wait_healthy_async(90)
                await producer.start()
                yield Stack(proc, Settings(topic_prefix=prefix, kafka_bootstrap=infra.kafka_bootstrap), producer,
                            smtp, hooks, r)
            finally:
                await producer.stop()
                proc.stop(timeout=10)
                if request.session.testsfailed > failed_before:
                    print(f"\n===== notifier (exit {proc.returncode}) =====\n{proc.log_tail(150)}")
                await cleanup_prefix(r, prefix)
                await r.aclose()


def emp(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:6]}"


def crossing(employee: str, title: str = "Data Analyst (Marketing)", score: int = 82, opp: str | None = None):
    full = score >= 100
    payload = events_pb2.ThresholdCrossed(
        employee_id=employee, opportunity_id=opp or f"O-{uuid.uuid4().hex[:6]}", opportunity_title=title,
        opportunity_type=common_pb2.OPPORTUNITY_TYPE_GIG, score_percent=score, previous_score_percent=60,
        threshold_percent=80, fully_qualified=full,
        explanation=events_pb2.MatchExplanation(
            gaps=[] if full else [events_pb2.Gap(skill_id="sql", required_level=3, current_level=1)],
            learning_path=[] if full else [events_pb2.LearningStep(course_id="sql-for-analysts", title="SQL for Analysts",
                                                                   hours=6)],
            projected_score_percent=100))
    return new_envelope(TOPIC, "matcher", employee, 1, payload)


def channels(**on) -> N.Channels:
    return N.Channels(in_app=True, **on)


# --------------------------------------------------------------------------- email


async def test_a_crossing_arrives_by_email_with_both_parts_and_one_click_unsubscribe_turns_email_off(stack):
    ana = emp("ana")
    address = f"{ana}@example.com"
    await stack.set_prefs(ana, channels=channels(email=True), email_address=address)
    opp = f"O-{uuid.uuid4().hex[:6]}"
    await stack.produce(crossing(ana, opp=opp))
    [mail] = await stack.smtp.wait_for(address)
    msg = mail.message

    assert msg["Subject"] == "You're 82% qualified for Data Analyst (Marketing)"
    assert msg["From"] == "ITM <itm@itm.example.com>" and msg["To"] == address
    text = mail.part("plain")
    words = ("You're 82% qualified for Data Analyst (Marketing). Missing: SQL level 3. "
             "Take 'SQL for Analysts' (6 h) to reach 100%.")
    assert text.startswith(words + "\n")
    assert f"See the opportunity: {BASE}/opportunities/{opp}" in text
    assert f"All your matches: {BASE}/matches" in text and f"{BASE}/notifications" in text
    page = mail.part("html")
    assert "You&#x27;re 82% qualified for Data Analyst (Marketing)." in page
    assert f'href="{BASE}/opportunities/{opp}"' in page
    # a stable Message-ID: opaque, in the sender's domain
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@itm.example.com>")
    assert ana not in msg["Message-ID"]
    # RFC 8058 one-click unsubscribe
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = msg["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith(f"{stack.proc.http_url}/v1/unsubscribe/") and unsubscribe in text
    async with aiohttp.ClientSession() as http:
        async with http.get(unsubscribe) as resp:  # a link scanner's GET changes nothing
            assert resp.status == 200 and "<form method=\"post\"" in await resp.text()
        assert (await stack.get_prefs(ana)).channels.email
        async with http.post(unsubscribe[:-3] + "xyz", data={"List-Unsubscribe": "One-Click"}) as resp:
            assert resp.status == 404  # a forged token
        async with http.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}) as resp:
            assert resp.status == 200, await resp.text()
    prefs = await stack.get_prefs(ana)
    assert not prefs.channels.email and prefs.channels.in_app and prefs.email_address == address

    # the next crossing reaches the inbox, and no email is sent
    before = await stack.metric("itm_notifications_stored_total")
    await stack.produce(crossing(ana, "Product Analyst"))
    await eventually(lambda: _more(stack, "itm_notifications_stored_total", before), 20, "the second crossing stored")
    await asyncio.sleep(1.5)
    assert len(stack.smtp.to(address)) == 1
    [entry] = [e for e in await stack.ledger(f"*{ana}*") if e.get("state")]
    assert entry["state"] == "sent" and entry["sends"] == "1" and "n" not in entry


async def _more(stack, name, before):
    return await stack.metric(name) > before


# --------------------------------------------------------------------------- Slack and Teams

WORDS = ("You're 82% qualified for Data Analyst (Marketing). Missing: SQL level 3. "
         "Take 'SQL for Analysts' (6 h) to reach 100%.")


async def test_a_crossing_arrives_in_slack_and_teams_with_the_exact_text(stack):
    bo = emp("bo")
    opp = f"O-{uuid.uuid4().hex[:6]}"
    await stack.set_prefs(bo, channels=channels(slack=True, teams=True), slack_webhook_url=stack.hooks.url(f"slack-{bo}"),
                          teams_webhook_url=stack.hooks.url(f"teams-{bo}"))
    await stack.produce(crossing(bo, opp=opp))
    [slack] = await stack.hooks.wait_for(f"slack-{bo}")
    [teams] = await stack.hooks.wait_for(f"teams-{bo}")
    link = f"{BASE}/opportunities/{opp}"
    assert slack.body["text"] == f"{WORDS}\n<{link}|Open in ITM>"
    assert slack.body["blocks"][0]["text"] == {"type": "mrkdwn", "text": WORDS}
    assert slack.body["blocks"][1]["elements"][0]["url"] == link
    assert teams.body["type"] == "message"
    [attachment] = teams.body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert [b["text"] for b in card["body"]] == ["You're 82% qualified for Data Analyst (Marketing)", WORDS]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open in ITM", "url": link}]
    # one idempotency key per (notification, channel)
    assert slack.key and teams.key and slack.key != teams.key and slack.headers["X-ITM-Delivery-Id"] == slack.key


async def test_a_webhook_failing_three_times_then_recovering_gets_exactly_one_message(stack):
    cy = emp("cy")
    hook = f"flaky-{cy}"
    stack.hooks.plan(hook, [500, 503, 429])
    before = {o: await stack.metric("itm_notification_deliveries_total", channel="slack", outcome=o) for o in ("retried", "sent")}
    await stack.set_prefs(cy, channels=channels(slack=True), slack_webhook_url=stack.hooks.url(hook))
    await stack.produce(crossing(cy))
    await stack.hooks.wait_for(hook)
    await asyncio.sleep(1.5)  # room for a wrong extra delivery
    attempts = stack.hooks.to(hook, accepted_only=False)
    assert [h.status for h in attempts] == [500, 503, 429, 200]
    assert len({h.key for h in attempts}) == 1  # every attempt carried the same key
    assert len(stack.hooks.to(hook)) == 1
    assert await stack.metric("itm_notification_deliveries_total", channel="slack", outcome="retried") - before["retried"] == 3
    assert await stack.metric("itm_notification_deliveries_total", channel="slack", outcome="sent") - before["sent"] == 1
    [entry] = await stack.ledger(f"*{cy}*|slack")
    assert entry["state"] == "sent" and entry["attempts"] == "3" and entry["sends"] == "4"


async def test_a_dead_webhook_is_dead_lettered_with_its_reason_and_delays_nobody_else(stack):
    """ITM_DELIVERY_MAX_ATTEMPTS=4 here; a 404 (the webhook was deleted) is final at once; a hanging
    webhook holds only its own slots: another person's message goes through while it hangs."""
    dee, eve, fay = emp("dee"), emp("eve"), emp("fay")
    stack.hooks.plan(f"dead-{dee}", [500] * 10)
    stack.hooks.plan(f"gone-{fay}", [404])
    stack.hooks.hold(f"slow-{eve}")
    failed = await stack.metric("itm_notification_deliveries_total", channel="slack", outcome="failed")
    for who, hook in ((dee, f"dead-{dee}"), (fay, f"gone-{fay}"), (eve, f"slow-{eve}")):
        await stack.set_prefs(who, channels=channels(slack=True), slack_webhook_url=stack.hooks.url(hook))
    for _ in range(6):  # more than the destination's concurrency (4)
        await stack.produce(crossing(eve))
    await asyncio.sleep(0.5)
    await stack.produce(crossing(dee))
    await stack.produce(crossing(fay))
    ok = emp("gus")
    await stack.set_prefs(ok, channels=channels(slack=True), slack_webhook_url=stack.hooks.url(f"ok-{ok}"))
    await stack.produce(crossing(ok))
    await stack.hooks.wait_for(f"ok-{ok}")
    assert stack.hooks.to(f"slow-{eve}", accepted_only=False) == []  # still hanging when gus got his
    await eventually(lambda: _count(stack, "failed", failed + 2), 30, "two dead letters")
    [dead] = await stack.ledger(f"*{dee}*|slack")
    assert dead["state"] == "failed" and dead["attempts"] == "3" and dead["sends"] == "4"
    assert dead["err"].startswith("failed 4 times; last: HTTP 500")
    [gone] = await stack.ledger(f"*{fay}*|slack")
    assert gone["state"] == "failed" and gone["sends"] == "1" and gone["err"].startswith("refused: HTTP 404")
    letters = await stack.redis.xrange(f"{stack.settings.topic_prefix}dlv:dead")
    reasons = {f[b"delivery"].decode().split(":")[1]: f[b"reason"].decode() for _, f in letters}
    assert reasons[dee].startswith("failed 4 times") and reasons[fay].startswith("refused: HTTP 404")
    stack.hooks.release(f"slow-{eve}")
    await stack.hooks.wait_for(f"slow-{eve}", 6, timeout_s=40)


async def _count(stack, outcome, want):
    return await stack.metric("itm_notification_deliveries_total", channel="slack", outcome=outcome) >= want


# --------------------------------------------------------------------------- quiet hours, digests, erasure


def quiet_now(tz: str = "UTC") -> N.QuietHours:
    """Quiet hours that hold right now: from this local hour to two hours later."""
    hour = datetime.now(ZoneInfo(tz)).hour
    return N.QuietHours(enabled=True, start_hour=hour, end_hour=(hour + 2) % 24, timezone=tz)


async def test_quiet_hours_hold_email_until_they_end_and_a_change_releases_it(stack):
    hal = emp("hal")
    address = f"{hal}@example.com"
    quiet = quiet_now("Asia/Kathmandu")  # UTC+05:45: the hold ends at hh:15 UTC
    held = await stack.metric("itm_notification_deliveries_total", channel="email", outcome="held")
    await stack.set_prefs(hal, channels=channels(email=True), email_address=address, quiet_hours=quiet)
    await stack.produce(crossing(hal))
    [entry] = await eventually(lambda: stack.ledger(f"*{hal}*|email"), 20, "the delivery queued")
    assert entry["state"] == "held" and entry["held"] == "1"
    local = datetime.now(ZoneInfo("Asia/Kathmandu"))
    end = local.replace(minute=0, second=0, microsecond=0).timestamp() + 2 * 3600
    [delivery] = await stack.redis.smembers(f"{stack.settings.topic_prefix}dlv:emp:{hal}")
    due = await stack.redis.zscore(f"{stack.settings.topic_prefix}dlv:due:email", delivery)
    assert due == end * 1000, "held until the local end hour"
    assert await stack.metric("itm_notification_deliveries_total", channel="email", outcome="held") == held + 1
    await asyncio.sleep(1.5)
    assert stack.smtp.to(address) == []
    # quiet hours turned off: what they held goes now
    await stack.set_prefs(hal, channels=channels(email=True), email_address=address)
    [mail] = await stack.smtp.wait_for(address)
    assert mail.message["Subject"] == "You're 82% qualified for Data Analyst (Marketing)"


async def test_a_digest_is_sent_at_local_time_and_nothing_for_an_empty_period(stack):
    """Daily at the next local minute in Asia/Kathmandu (UTC+05:45); crossings go to the inbox and
    in-app only (routes), so the digest is the one email."""
    ida, jon = emp("ida"), emp("jon")
    tz = ZoneInfo("Asia/Kathmandu")
    now = datetime.now(tz)
    at = (now.replace(second=0, microsecond=0).timestamp() + 60) + (60 if now.second > 40 else 0)
    local = datetime.fromtimestamp(at, tz)
    schedule = N.DigestSchedule(frequency=N.DIGEST_FREQUENCY_DAILY, hour=local.hour, minute=local.minute,
                                timezone="Asia/Kathmandu", channels=[EMAIL])
    empty = await stack.metric("itm_notification_digests_total", outcome="empty")
    for who in (ida, jon):
        await stack.set_prefs(who, channels=channels(email=True), email_address=f"{who}@example.com",
                              routes=[N.Route(category=N.NOTIFICATION_CATEGORY_CROSSINGS, channels=[IN_APP])],
                              digest=schedule)
    await stack.produce(crossing(ida, "Data Analyst (Marketing)"))
    await stack.produce(crossing(ida, "BI Developer", score=100))
    [mail] = await stack.smtp.wait_for(f"{ida}@example.com", timeout_s=at - time.time() + 30)
    received = time.time()
    assert received >= at
    msg = mail.message
    assert msg["Subject"] == "Your ITM digest: 2 new notifications"
    text = mail.part("plain")
    assert text.startswith("Best next step: Apply for BI Developer.\n"
                           "- You're 82% qualified for Data Analyst (Marketing) -- Take 'SQL for Analysts' (6 h) to "
                           "reach 100% for Data Analyst (Marketing)\n"
                           "- You're fully qualified for BI Developer -- Apply for BI Developer\n")
    [entry] = [e for e in await stack.ledger(f"digest:{ida}:*") if e]
    assert entry["state"] == "sent"
    keys = [k async for k in stack.redis.scan_iter(match=f"{stack.settings.topic_prefix}dlv:digest:{ida}:*")]
    period_end = int(keys[0].decode().rsplit(":", 1)[1].split("|")[0]) / 1000
    assert datetime.fromtimestamp(period_end, tz).strftime("%H:%M") == local.strftime("%H:%M")
    await eventually(lambda: _at_least(stack, "itm_notification_digests_total", empty + 1, outcome="empty"), 10,
                     "jon's empty period counted")
    assert stack.smtp.to(f"{jon}@example.com") == []
    # the next digest is tomorrow at the same local time
    nxt = await stack.redis.zscore(f"{stack.settings.topic_prefix}digest:due", ida)
    assert nxt == (period_end + 86400) * 1000


async def _at_least(stack, name, want, **labels):
    return await stack.metric(name, **labels) >= want


async def test_erasure_reaches_the_ledger_and_queued_messages_and_deactivated_people_get_nothing(stack):
    kim, lou = emp("kim"), emp("lou")
    p = stack.settings.topic_prefix
    for who in (kim, lou):
        await stack.set_prefs(who, channels=channels(email=True), email_address=f"{who}@example.com",
                              quiet_hours=quiet_now())
        await stack.produce(crossing(who))
    for who in (kim, lou):
        await eventually(lambda: stack.ledger(f"*{who}*|email"), 20, f"{who}'s delivery queued")
    # kim is erased: ledger, queue and schedule go
    await stack.produce(new_envelope("profile.employee-erased", "profile", kim, 2, events_pb2.EmployeeErased(employee_id=kim)),
                        "profile.employee-erased")

    async def erased():
        return not await stack.ledger(f"*{kim}*") and not await stack.redis.exists(f"{p}dlv:emp:{kim}")
    await eventually(erased, 20, "kim's deliveries erased")
    assert all(kim not in m.decode() for m in await stack.redis.zrange(f"{p}dlv:due:email", 0, -1))
    # lou is deactivated, then his quiet hours end (preferences change): muted, not sent
    muted = await stack.metric("itm_notification_deliveries_total", channel="email", outcome="muted")
    await stack.produce(new_envelope("profile.employee-deactivated", "profile", lou, 2, events_pb2.EmployeeDeactivated(
        profile=common_pb2.EmployeeMatchProfile(employee_id=lou))), "profile.employee-deactivated")
    await eventually(lambda: stack.redis.sismember(f"{p}inbox:deactivated", lou), 20, "lou deactivated")
    await stack.set_prefs(lou, channels=channels(email=True), email_address=f"{lou}@example.com")
    [entry] = await eventually(lambda: _finished(stack, lou), 20, "lou's delivery decided")
    assert entry["state"] == "muted" and entry["err"] == "deactivated"
    assert await stack.metric("itm_notification_deliveries_total", channel="email", outcome="muted") == muted + 1
    assert stack.smtp.to(f"{lou}@example.com") == [] and stack.smtp.to(f"{kim}@example.com") == []


async def _finished(stack, who):
    return [e for e in await stack.ledger(f"*{who}*|email") if e.get("state") in ("muted", "sent")]


# --------------------------------------------------------------------------- a notifier killed mid-delivery


@pytest.mark.timeout(1200)  # 2,000 deliveries: minutes on a contended 2-core machine
async def test_a_notifier_sigkilled_mid_delivery_loses_none_and_the_receivers_see_each_once(stack, infra, tmp_path):
    """1,000 crossings for 10 people, each to email and Slack, through two notifiers in one group;
    one is SIGKILLed while the (slowed) receivers are a fifth through. Every message arrives; a
    resend (a send the killed notifier never recorded) carries the same key, so by key each
    receiver has exactly one of each, and duplicates are no more than the resends counted."""
    import redis.asyncio as aioredis

    prefix = f"k{uuid.uuid4().hex[:8]}."
    await ensure_topics(infra.kafka_bootstrap, prefix=prefix)
    env = notifier_env(infra, prefix, stack.smtp, delivery_lease_s=4)
    a = ServiceProcess("notifier", env, tmp_path)
    b = ServiceProcess("notifier", env, tmp_path, instance="2")
    r = aioredis.from_url(infra.redis_url)
    settings = Settings(topic_prefix=prefix, kafka_bootstrap=infra.kafka_bootstrap)
    people = [emp(f"k{i}") for i in range(10)]
    tag = people[0][-6:]
    try:
        for proc in (a, b):
            proc.start(wait=False)
        for proc in (a, b):
            await proc.wait_healthy_async(90)
        killed = Stack(a, settings, stack.producer, stack.smtp, stack.hooks, r)
        for who in people:
            await killed.set_prefs(who, channels=channels(email=True, slack=True), email_address=f"{who}@example.com",
                                   slack_webhook_url=stack.hooks.url(f"kill-{tag}-{who}"))
        stack.hooks.delay_s, stack.smtp.delay_s = 0.15, 0.02
        sends = [await stack.producer.send(settings.topic(TOPIC), crossing(who, f"Gig {n}").SerializeToString(),
                                           key=who.encode())
                 for n in range(100) for who in people]
        await asyncio.gather(*sends)

        addresses = {f"{who}@example.com" for who in people}

        def emails():
            return [m for m in list(stack.smtp.mails) if m.envelope_to[0] in addresses]


        async def a_fifth_through():
            return len(stack.hooks.accepted_by_key(f"kill-{tag}")) >= 200
        await eventually(a_fifth_through, 600, "200 Slack messages")
        a.kill()
        resends_before = await Stack(b, settings, None, None, None, r).metric("itm_notification_resends_total")

        async def all_there():
            return len(stack.hooks.accepted_by_key(f"kill-{tag}")) >= 1000 and len({m.message_id for m in emails()}) >= 1000
        await eventually(all_there, 900, "1,000 Slack messages and 1,000 emails")
        await asyncio.sleep(2)  # late duplicates would land now
        slack_keys = stack.hooks.accepted_by_key(f"kill-{tag}")
        mail_keys = {}
        for m in emails():
            mail_keys[m.message_id] = mail_keys.get(m.message_id, 0) + 1
        assert len(slack_keys) == 1000 and len(mail_keys) == 1000, "none lost"
        resends = await Stack(b, settings, None, None, None, r).metric("itm_notification_resends_total") - resends_before
        duplicates = sum(n - 1 for n in slack_keys.values()) + sum(n - 1 for n in mail_keys.values())
        assert max([*slack_keys.values(), *mail_keys.values()]) <= 2, "a resend happens at most once"
        assert duplicates <= resends, f"{duplicates} duplicates but only {resends} resends"
        # the ledger agrees: 2,000 deliveries, all sent, none sent more than twice
        states, sends_seen = {}, []
        async for key in r.scan_iter(match=f"{prefix}dlv:*|*", count=1000):
            state, sent = await r.hmget(key, "state", "sends")
            states[state] = states.get(state, 0) + 1
            sends_seen.append(int(sent))
        assert states == {b"sent": 2000} and max(sends_seen) <= 2
        print(f"\nSIGKILL mid-delivery: 2000 delivered, {duplicates} duplicates by key at the receivers, "
              f"{resends} resends recorded")
    finally:
        stack.hooks.delay_s = stack.smtp.delay_s = 0.0
        for proc in (a, b):
            proc.stop(timeout=10)
        await cleanup_prefix(r, prefix)
        await r.aclose()
