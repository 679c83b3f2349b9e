"""The streaming matcher: a faust app inside the shared process skeleton.

Data flow (docs/architecture.md has the picture):

* ``broadcast`` agent (consumer group): every opportunity event is copied to
  every partition of ``matcher.opportunity-broadcast``, which is co-partitioned
  with the employee-keyed profile topics.
* ``match`` agent: consumes the profile topics and the broadcast topic. For a
  partition it owns the employees of that partition (faust tables
  ``employees`` and ``matches``, changelog-backed) and sees every opportunity
  change, so it rescores exactly the pairs a change can affect, in the task
  that owns those employees, and emits crossings.
* The replica of open opportunities and the catalog is filled on every worker
  by a group-less reader of the source topics from the beginning (the Kafka
  Streams GlobalKTable pattern; faust's GlobalTable did not replicate live
  updates between two workers here) and by the broadcast events themselves.
"""

from __future__ import annotations

import asyncio
import logging
import time

import faust
from aiokafka import TopicPartition
from aiokafka.partitioner import murmur2

from itm.runtime import metrics
from itm.runtime.consumer import make_consumer
from itm.runtime.envelope import MalformedEvent, decode, new_envelope
from itm.runtime.settings import Settings
from itm.runtime.topics import EMPLOYEE_PARTITIONS, OPPORTUNITY_TOPICS, PROFILE_TOPICS, TOPICS
from itm.v1 import events_pb2
from services.matcher.engine import EmployeeState, Matcher, Replica, SkillIndex, crossing_event_id
from services.matcher.scoring import EvidenceFactors

log = logging.getLogger(__name__)

BROADCAST = "matcher.opportunity-broadcast"
CATALOG_TOPICS = ["learning.course-published"]

from prometheus_client import Counter, Histogram  # noqa: E402

RESCORINGS = Counter("itm_match_rescorings_total", "Pair scorings performed", ["cause"])
CROSSINGS = Counter("itm_match_crossings_total", "match.threshold-crossed events emitted")
SCORING_LATENCY = Histogram("itm_match_event_duration_seconds", "Time to apply one event and rescore its pairs",
                            ["cause"], buckets=metrics.LATENCY_BUCKETS)


def partition_for(key: str, partitions: int = EMPLOYEE_PARTITIONS) -> int:
    """The Kafka default partitioner (murmur2), as producers place employee keys."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class MatcherApp:
    def __init__(self, settings: Settings):
        from itm.taxonomy import Taxonomy

        self.settings = settings
        taxonomy = Taxonomy.load_default()
        self.replica = Replica(taxonomy.related_view)
        self.index = SkillIndex(taxonomy.related_view)
        self.pairs_by_opp: dict[str, set[str]] = {}
        self.engine = Matcher(
            EvidenceFactors(settings.factor_verified, settings.factor_inferred, settings.factor_claimed,
                            settings.factor_aspirational),
            taxonomy.related_view, settings.related_skill_cap, settings.default_threshold_percent, settings.scoring_version,
        )
        self.replica_ready = asyncio.Event()
        self.running = False
        self.app = faust.App(
            settings.group("itm-matcher"),
            broker=[f"kafka://{hp.strip()}" for hp in settings.kafka_bootstrap.split(",")],
            store="memory://",
            datadir=settings.data_dir,
            web_enabled=False,
            topic_partitions=EMPLOYEE_PARTITIONS,
            topic_replication_factor=max(1, settings.topic_replication_factor),
            topic_allow_declare=True,
            table_standby_replicas=0,
            broker_rebalance_timeout=settings.consumer_group_rebalance_timeout_ms / 1000,
            broker_session_timeout=settings.consumer_session_timeout_ms / 1000,
            broker_heartbeat_interval=1,
            broker_commit_every=100,
            broker_commit_interval=0.5,
            producer_acks=-1,
            consumer_auto_offset_reset="earliest",
            stream_wait_empty=False,
            autodiscover=False,
        )
        raw = dict(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
        self.opportunity_topic = self.app.topic(*[settings.topic(t) for t in OPPORTUNITY_TOPICS], **raw)
        self.broadcast_topic = self.app.topic(settings.topic(BROADCAST), partitions=EMPLOYEE_PARTITIONS, **raw)
        self.match_topic = self.app.topic(*[settings.topic(t) for t in PROFILE_TOPICS + [BROADCAST]], **raw)
        self.crossed_topic = self.app.topic(settings.topic("match.threshold-crossed"), **raw)
        self.updated_topic = self.app.topic(settings.topic("match.updated"), **raw)
        self.employees = self.app.Table("employees", default=None, key_type=str,
                                        partitions=EMPLOYEE_PARTITIONS)
        self.matches = self.app.Table("matches", default=None, key_type=str,
                                      partitions=EMPLOYEE_PARTITIONS)
        self.employees.on_recover(self.rebuild_indexes)
        self.app.agent(self.opportunity_topic, name="broadcast")(self.broadcast_agent)
        self.app.agent(self.match_topic, name="match")(self.match_agent)

    # -- replicated state -------------------------------------------------------------
    async def rebuild_indexes(self) -> None:
        """After table recovery: derive the in-memory indexes from the tables."""
        self.index = SkillIndex(self.index.related)
        for _, raw in self.employees.items():
            if raw:
                self.index.put(EmployeeState.from_json(raw))
        self.pairs_by_opp = {}
        for emp_id, pairs in self.matches.items():
            for opp_id in pairs or {}:
                self.pairs_by_opp.setdefault(opp_id, set()).add(emp_id)
        log.info("indexes rebuilt", extra={"employees": len(self.index.skills_of)})

    def apply_replicated(self, event) -> None:
        p = event.payload
        if isinstance(p, (events_pb2.GigPosted, events_pb2.RequirementsChanged, events_pb2.GigClosed)):
            self.replica.apply_opportunity(p.opportunity, event.version)
        elif isinstance(p, events_pb2.CoursePublished):
            self.replica.apply_course(p.course, event.version)

    async def global_reader(self) -> None:
        """Read all opportunity and catalog partitions, group-less, from the start."""
        names = [self.settings.topic(t) for t in OPPORTUNITY_TOPICS + CATALOG_TOPICS]
        consumer = make_consumer(self.settings, None, [])
        await consumer.start()
        try:
            tps = [TopicPartition(n, p) for n in names for p in range(TOPICS[n[len(self.settings.topic_prefix):]].partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            from itm.runtime.kafka_compat import high_watermarks

            targets = await high_watermarks(consumer, tps)
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=1000)
                for records in batches.values():
                    for record in records:
                        try:
                            self.apply_replicated(decode(record.value))
                        except MalformedEvent:
                            pass  # the owning consumers dead-letter it; the replica skips it
                if not self.replica_ready.is_set():
                    positions = {tp: await consumer.position(tp) for tp in tps}
                    if all(positions[tp] >= targets[tp] for tp in tps):
                        log.info("replica loaded", extra={"opportunities": len(self.replica.opportunities),
                                                          "courses": len(self.replica.courses)})
                        self.replica_ready.set()
        finally:
            await consumer.stop()

    # -- agents ---------------------------------------------------------------------------
    async def broadcast_agent(self, stream):
        async for event in stream.events():
            for partition in range(EMPLOYEE_PARTITIONS):
                fut = await self.broadcast_topic.send(key=event.key, value=event.value, partition=partition)
                await fut

    async def match_agent(self, stream):
        await self.replica_ready.wait()
        async for event in stream.events():
            try:
                decoded = decode(event.value)
            except MalformedEvent as exc:
                await self.dead_letter(event, str(exc))
                continue
            started = time.perf_counter()
            if isinstance(decoded.payload, events_pb2.EmployeeErased):
                self.erase(decoded.subject)
                cause = "erasure"
            elif hasattr(decoded.payload, "profile"):
                await self.on_employee(decoded)
                cause = "profile"
            elif hasattr(decoded.payload, "opportunity"):
                await self.on_opportunity(decoded, event.message.partition)
                cause = "opportunity"
            else:
                await self.dead_letter(event, f"matcher cannot use {decoded.type}")
                continue
            SCORING_LATENCY.labels(cause).observe(time.perf_counter() - started)

    async def dead_letter(self, event, reason: str) -> None:
        from itm.v1 import envelope_pb2

        msg = event.message
        letter = envelope_pb2.DeadLetter(original_topic=msg.topic, original_partition=msg.partition,
                                         original_offset=msg.offset, original_key=event.key or b"",
                                         original_value=event.value or b"", consumer="matcher", reason=reason)
        letter.failed_at.GetCurrentTime()
        env = new_envelope("itm.dead-letter", "matcher", (event.key or b"unknown").decode(errors="replace"), 0, letter)
        dlq = self.app.topic(self.settings.topic("itm.dead-letter"), key_serializer="raw", value_serializer="raw")
        await (await dlq.send(key=event.key, value=env.SerializeToString()))
        metrics.DEAD_LETTERS.labels(metrics.bare_topic(msg.topic, self.settings.topic_prefix), "matcher").inc()

    def erase(self, employee_id: str) -> None:
        self.index.remove(employee_id)
        for opp_id in self.matches.get(employee_id) or {}:
            self.pairs_by_opp.get(opp_id, set()).discard(employee_id)
        self.employees.pop(employee_id, None)
        self.matches.pop(employee_id, None)

    async def on_employee(self, event) -> None:
        stored = self.employees.get(event.subject)
        if stored and stored["v"] >= event.version:
            return  # duplicate or out of order: nothing changes
        emp = EmployeeState.from_profile(event.payload.profile, event.version)
        self.employees[emp.employee_id] = emp.to_json()
        self.index.put(emp)
        pairs = dict(self.matches.get(emp.employee_id) or {})
        affected = self.replica.candidates_for(emp.skills) | set(pairs)
        await self.rescore(emp, affected, pairs, event, "profile")

    async def on_opportunity(self, event, partition: int) -> None:
        self.apply_replicated(event)
        opp_id = event.subject
        opp = self.replica.opportunities.get(opp_id)
        skills = opp.skills() if opp else set()
        holders = self.pairs_by_opp.get(opp_id, set())
        affected = {e for e in self.index.employees_for(skills) | holders if partition_for(e) == partition}
        for emp_id in affected:
            raw = self.employees.get(emp_id)
            if not raw:
                continue
            emp = EmployeeState.from_json(raw)
            pairs = dict(self.matches.get(emp_id) or {})
            await self.rescore(emp, {opp_id}, pairs, event, "opportunity")

    async def rescore(self, emp: EmployeeState, opp_ids, pairs: dict, cause, cause_label: str) -> None:
        changed = False
        for opp_id in opp_ids:
            opp = self.replica.opportunities.get(opp_id)
            prev = pairs.get(opp_id)
            if opp is None:  # closed or filled: release the pair
                if prev is not None:
                    del pairs[opp_id]
                    self.pairs_by_opp.get(opp_id, set()).discard(emp.employee_id)
                    changed = True
                continue
            RESCORINGS.labels(cause_label).inc()
            out = self.engine.evaluate(emp, opp, prev, self.replica, cause.event_id, cause.type)
            if out.pair != prev:
                changed = True
                if out.pair is None:
                    pairs.pop(opp_id, None)
                    self.pairs_by_opp.get(opp_id, set()).discard(emp.employee_id)
                else:
                    pairs[opp_id] = out.pair
                    self.pairs_by_opp.setdefault(opp_id, set()).add(emp.employee_id)
            if out.crossing is not None:
                env = new_envelope("match.threshold-crossed", "matcher", emp.employee_id, emp.version, out.crossing,
                                   cause.envelope.correlation_id, cause.event_id, cause.envelope.replayed)
                env.event_id = crossing_event_id(out.crossing, emp.version, opp.version)
                await (await self.crossed_topic.send(key=emp.employee_id.encode(), value=env.SerializeToString()))
                CROSSINGS.inc()
            if out.updated is not None:
                env = new_envelope("match.updated", "matcher", emp.employee_id, emp.version, out.updated,
                                   cause.envelope.correlation_id, cause.event_id)
                await self.updated_topic.send(key=emp.employee_id.encode(), value=env.SerializeToString())
        if changed:
            self.matches[emp.employee_id] = pairs

    # -- lifecycle ----------------------------------------------------------------------
    async def run(self) -> None:
        reader = asyncio.create_task(self.global_reader(), name="global-reader")
        await self.app.start()
        self.running = True
        try:
            await asyncio.Event().wait()
        finally:
            self.running = False
            reader.cancel()
            await self.app.stop()
