"""Every metric the dashboard and the alert rules use exists in a live scrape of
the running services, and the pipeline metrics move by the right amounts."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import aiohttp
import yaml
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from itm.client import Clients
from itm.demo import seed
from itm.runtime.settings import Settings
from itm.v1 import common_pb2, learning_pb2, notifier_pb2, opportunity_pb2

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["profile", "opportunity", "learning", "matcher", "notifier"]
GENERATED_BY_PROMETHEUS = {"up"}


def expressions() -> list[str]:
    exprs: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                exprs.append(node["expr"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads((ROOT / "deploy/grafana/dashboards/itm.json").read_text()))
    walk(yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text()))
    return exprs


def metric_names(expr: str) -> set[str]:
    return {m for m in re.findall(r"\b(itm_[a-z0-9_]+|up)\b", expr)} - GENERATED_BY_PROMETHEUS


async def scrape(url: str) -> dict[str, float]:
    """sample name with labels -> value"""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/metrics") as resp:
            text = await resp.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}"] = s.value
    return samples


async def note_about(call, opportunity_id: str):
    """The first note about ``opportunity_id`` on a Subscribe stream (left open)."""
    async for note in call:
        if note.opportunity_id == opportunity_id:
            return note
    raise AssertionError("the stream ended")


def total(samples: dict[str, float], name: str, **labels) -> float:
    want = [f"{k}={v}" for k, v in labels.items()]
    return sum(v for k, v in samples.items()
               if k.split("{")[0] == name and all(w in k for w in want))


async def fill(c: Clients, settings: Settings, opportunity_id: str, employee: str, owner: str) -> None:
    """Apply, accept, release the time (the seeded manager M1) and close as filled."""
    me, boss = c.as_(settings, employee, "employee"), c.as_(settings, "M1", "manager")
    app = await me.opportunity.Apply(opportunity_pb2.ApplyRequest(opportunity_id=opportunity_id), metadata=me.metadata)
    await c.opportunity.AcceptApplication(opportunity_pb2.AcceptApplicationRequest(
        application_id=app.application_id), metadata=c.metadata)
    await boss.opportunity.ApproveTimeRelease(opportunity_pb2.ApproveTimeReleaseRequest(
        application_id=app.application_id), metadata=boss.metadata)
    await c.opportunity.CloseOpportunity(opportunity_pb2.CloseOpportunityRequest(
        opportunity_id=opportunity_id, outcome="filled"), metadata=c.metadata)


async def test_dashboard_and_alert_metrics_exist_and_pipeline_metrics_move(start_service, topic_prefix, kafka_bootstrap):
    # the seeded people have 8 h a week: let the whole gig's hours be released
    procs = {name: start_service(name, wait=False, **({"gig_time_share_percent": 100} if name == "opportunity" else {}))
             for name in SERVICES}
    for proc in procs.values():
        await proc.wait_healthy_async(90)
    settings = Settings(topic_prefix=topic_prefix, kafka_bootstrap=kafka_bootstrap)
    c = Clients.connect({n: p.grpc_target for n, p in procs.items()}, settings)
    posted = await seed(c)
    gig = posted["Data Analyst (Marketing)"]
    # a live subscriber, open until the scrapes: the push is counted once its write returned, which
    # a stream cancelled the moment the note arrived could cut short; opened and past its catch-up
    # before the course completes, so the push is live (end-to-end latency observed)
    call = c.notifier.Subscribe(notifier_pb2.SubscribeRequest(employee_id="E100"), metadata=c.metadata)
    waiting = asyncio.create_task(note_about(call, gig))
    async with asyncio.timeout(30):
        while total(await scrape(procs["notifier"].http_url), "itm_notifier_connected_clients", transport="grpc") < 1:
            await asyncio.sleep(0.2)
    await asyncio.sleep(0.3)
    await c.learning.CompleteCourse(learning_pb2.CompleteCourseRequest(
        request_id="obs-1", employee_id="E100", course_id="sql-for-analysts"), metadata=c.metadata)
    await asyncio.wait_for(waiting, 60)
    await fill(c, settings, posted["Platform Migration Project"], "E102", "E104")  # a project: hours unlocked
    role = await c.opportunity.PostOpportunity(opportunity_pb2.PostOpportunityRequest(
        title="Analyst (permanent)", type=common_pb2.OPPORTUNITY_TYPE_ROLE, owner_id="E104",
        requirements=[opportunity_pb2.RequirementInput(skill="sql", min_level=2)]), metadata=c.metadata)
    await fill(c, settings, role.opportunity_id, "E101", "E104")  # a role: an internal move
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    await producer.send_and_wait(settings.topic("learning.course-completed"), b"not an envelope", key=b"E100")
    await producer.stop()
    await asyncio.sleep(2.5)  # the dependency monitor and consumers settle

    scrapes = {name: await scrape(p.http_url) for name, p in procs.items()}
    union: set[str] = {k.split("{")[0] for s in scrapes.values() for k in s}
    used = set().union(*(metric_names(e) for e in expressions()))
    assert used, "no expressions found in the dashboard and alert rules"
    # the webhooks service is not in this stack, and its series are per subscription (none exist until one is made);
    # tests/integration/test_webhooks.py checks them on a live scrape
    missing = sorted(n for n in used if n not in union and not n.startswith("itm_webhook_"))
    assert not missing, f"dashboard/alert metrics absent from every live scrape: {missing}"

    profile, learning = scrapes["profile"], scrapes["learning"]
    matcher, notifier = scrapes["matcher"], scrapes["notifier"]
    assert total(learning, "itm_events_produced_total", topic="learning.course-completed") == 1
    # four demo employees with verified skills + the course completion
    assert total(profile, "itm_events_produced_total", topic="profile.skill-verified") >= 12
    assert total(profile, "itm_events_consumed_total", topic="learning.course-completed") == 1
    assert total(profile, "itm_dead_letters_total", topic="learning.course-completed") == 1
    assert total(profile, "itm_outbox_backlog") == 0
    assert total(matcher, "itm_match_crossings_total") >= 2  # Farid on posting, Ana after the course
    assert total(notifier, "itm_notifications_delivered_total", transport="grpc") >= 1
    assert total(notifier, "itm_e2e_latency_seconds_count", transport="grpc") >= 1
    assert total(learning, "itm_grpc_requests_total", method="CompleteCourse", code="OK") == 1
    opportunity = scrapes["opportunity"]
    async with asyncio.timeout(30):  # the role's move comes back from the profile service (profile.employee-moved)
        while total(opportunity, "itm_kpi_internal_moves") < 1:
            await asyncio.sleep(0.2)
            opportunity = await scrape(procs["opportunity"].http_url)
    assert total(opportunity, "itm_kpi_opportunities_posted") == 4 and total(opportunity, "itm_kpi_opportunities_filled") == 2
    assert total(opportunity, "itm_kpi_internal_moves") == 1
    assert total(opportunity, "itm_kpi_gig_time_unlocked_seconds_per_week", type="project") == 6 * 3600
    assert total(profile, "itm_kpi_skills_validated", source="course") == 1
    for name, samples in scrapes.items():
        assert total(samples, "itm_dependency_up", dependency="redis") == 1, name
        assert total(samples, "itm_build_info") == 1, name
    call.cancel()
    await c.close()
