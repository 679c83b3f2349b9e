"""The streaming matcher: a faust app inside the shared process skeleton.

Data flow (docs/architecture.md and services/matcher/README.md have the picture):

* ``broadcast`` agent (consumer group): every opportunity event is copied to
  every partition of ``matcher.opportunity-broadcast``, which is co-partitioned
  with the employee-keyed profile topics.
* ``match`` agent: consumes the profile topics and the broadcast topic. For a
  partition it owns the employees of that partition (faust table
  ``employees``: profile + pairs + scoring marker, one changelog record per
  change) and sees every opportunity change, so it rescores exactly the pairs
  a change can affect, in the task that owns those employees, and emits
  crossings.
* Replicated on every worker by group-less readers (the Kafka Streams
  GlobalKTable pattern; faust's GlobalTable did not replicate live updates
  between two workers here):
  - the open opportunities and the catalog (also fed by the broadcast events);
  - the mentor index: opted-in employees' verified skills, from the profile
    topics (every partition, whichever worker owns it).
* After a scoring change (``ITM_SCORING_VERSION`` or any scoring setting) a
  worker finds its employees scored the old way after table recovery and
  rescores them, in batches, through control records on its own broadcast
  partitions (so the writes happen in the owning partition's order).
* Each worker publishes the partitions it owns and its gRPC address in Redis
  (``registry.py``), so the query API can forward and fan out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field

import faust
from aiokafka import TopicPartition
from aiokafka.partitioner import murmur2

from itm.runtime import metrics
from itm.runtime.consumer import make_consumer
from itm.runtime.envelope import MalformedEvent, decode, new_envelope
from itm.runtime.settings import Settings
from itm.runtime.topics import EMPLOYEE_PARTITIONS, OPPORTUNITY_TOPICS, PROFILE_TOPICS, TOPICS
from itm.v1 import envelope_pb2, events_pb2
from services.matcher.engine import (
    EmployeeState,
    Matcher,
    MentorIndex,
    OpportunityState,
    Replica,
    SkillIndex,
    crossing_event_id,
    employee_record,
    employees_to_rescore,
    needs_rescore,
    opportunities_to_rescore,
    record_pairs,
    scoring_fingerprint,
)
from services.matcher.scoring import EvidenceFactors

log = logging.getLogger(__name__)

BROADCAST = "matcher.opportunity-broadcast"
CATALOG_TOPICS = ["learning.course-published"]
CONTROL_HEADER = "itm-matcher-control"
RESCORE = b"rescore"

from prometheus_client import Counter, Gauge, Histogram  # noqa: E402

RESCORINGS = Counter("itm_match_rescorings_total", "Pair scorings performed", ["cause"])
RULED_OUT = Counter("itm_match_pairs_ruled_out_total",
                    "Candidate pairs not scored because their score bound is below the pair floor", ["cause"])
CROSSINGS = Counter("itm_match_crossings_total", "match.threshold-crossed events emitted")
SCORING_LATENCY = Histogram("itm_match_event_duration_seconds", "Time to apply one event and rescore its pairs",
                            ["cause"], buckets=metrics.LATENCY_BUCKETS)
STALE = Gauge("itm_match_stale_employees", "Employees of this worker still scored with an older scoring configuration")
OWNED = Gauge("itm_match_owned_partitions", "Employee partitions this matcher worker owns")
# the KPI "share of employees with at least one match above their threshold": each worker
# reports its own partitions, so sum(qualified) / sum(matchable) over the workers is the share
MATCHABLE = Gauge("itm_kpi_matchable_employees",
                  "Employees of this worker's partitions who take part in matching (not opted out)")
QUALIFIED = Gauge("itm_kpi_employees_with_qualified_match",
                  "Employees of this worker's partitions with at least one open opportunity at or above their threshold")


def partition_for(key: str, partitions: int = EMPLOYEE_PARTITIONS) -> int:
    """The Kafka default partitioner (murmur2), as producers place employee keys."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


@dataclass(slots=True)
class Cause:
    """What a rescoring is attributed to when no domain event caused it."""

    event_id: str
    type: str
    envelope: envelope_pb2.EventEnvelope = field(default_factory=envelope_pb2.EventEnvelope)


class MatcherApp:
    def __init__(self, settings: Settings):
        from itm.taxonomy import Taxonomy

        self.settings = settings
        taxonomy = Taxonomy.load_default()
        self.related = taxonomy.related_view
        self.replica = Replica(taxonomy.related_view)
        self.mentors = MentorIndex()
        factors = EvidenceFactors(settings.factor_verified, settings.factor_inferred, settings.factor_claimed,
                                  settings.factor_aspirational)
        floor = getattr(settings, "matcher_pair_floor_percent", 0)
        self.engine = Matcher(
            factors, taxonomy.related_view, settings.related_skill_cap, settings.default_threshold_percent,
            settings.scoring_version,
            scoring_fingerprint(factors, settings.related_skill_cap, settings.default_threshold_percent,
                                taxonomy.to_records(), floor),
            getattr(settings, "matcher_mentors_per_gap", 3),
            floor,
        )
        self.rescore_batch = getattr(settings, "matcher_rescore_batch", 500)
        # per owned partition: skill -> employees, opportunity -> holders, the opportunities
        # as that partition's pairs last saw them, and employees scored the old way
        self.indexes: dict[int, SkillIndex] = {}
        self.holders: dict[int, dict[str, set[str]]] = {}
        self.views: dict[int, dict[str, OpportunityState]] = {}
        self.stale: dict[int, set[str]] = {}
        self.matchable: dict[int, set[str]] = {}  # the KPI's denominator and numerator, per partition
        self.qualified: dict[int, set[str]] = {}
        self.owned: set[int] = set()  # partitions whose state is recovered here and served here
        self.assigned_once = False
        self.generation = 0
        self.registry = None  # set by the server (needs Redis)
        self._rewind: asyncio.Future | None = None
        self.replica_ready = asyncio.Event()
        self.mentors_ready = asyncio.Event()
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
        self.broadcast_name = settings.topic(BROADCAST)
        self.opportunity_topic = self.app.topic(*[settings.topic(t) for t in OPPORTUNITY_TOPICS], **raw)
        self.broadcast_topic = self.app.topic(self.broadcast_name, partitions=EMPLOYEE_PARTITIONS, **raw)
        self.match_topic = self.app.topic(*[settings.topic(t) for t in PROFILE_TOPICS + [BROADCAST]], **raw)
        self.crossed_topic = self.app.topic(settings.topic("match.threshold-crossed"), **raw)
        self.updated_topic = self.app.topic(settings.topic("match.updated"), **raw)
        self.employees = self.app.Table("employees", default=None, key_type=str, partitions=EMPLOYEE_PARTITIONS)
        self.employees.on_recover(self.on_recovered)
        self.app.on_partitions_revoked.connect(self.on_revoked)
        self.app.agent(self.opportunity_topic, name="broadcast")(self.broadcast_agent)
        self.app.agent(self.match_topic, name="match")(self.match_agent)

    # -- ownership, recovery, registry --------------------------------------------------
    async def on_revoked(self, sender, revoked, **kwargs) -> None:
        lost = {tp.partition for tp in revoked if tp.topic == self.broadcast_name}
        if lost & self.owned:
            self.owned -= lost
            OWNED.set(len(self.owned))
            await self.publish_ownership()

    async def on_recovered(self) -> None:
        """After every rebalance's table recovery, before the streams resume."""
        owned = {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == self.broadcast_name}
        self.generation = getattr(self.app, "consumer_generation_id", 0) or 0
        self.rebuild_indexes(owned)
        self.owned = owned
        self.assigned_once = True
        OWNED.set(len(owned))
        await self.publish_ownership()
        for p in sorted(p for p, todo in self.stale.items() if todo):
            await self.send_control(p)
        self._rewind = asyncio.ensure_future(self.rewind_never_committed(self.generation))

    async def rewind_never_committed(self, generation: int) -> None:
        """Re-read, from the beginning, the assigned partitions the group never committed.

        Measured here (faust 0.15 on Tansu): a worker restarted while records were
        waiting in partitions its group had never committed sometimes came up with
        those partitions positioned at their end, the records silently skipped.
        faust's seek to the committed offsets after recovery cannot repair it: for
        partitions without a committed offset (or 0) aiokafka's seek_to_committed does
        nothing. So once faust has resumed the streams, such partitions are rewound to
        the beginning. Processing is idempotent, so a record read twice changes nothing.
        """
        from aiokafka.admin import AIOKafkaAdminClient

        try:
            while self.app.rebalancing:
                await asyncio.sleep(0.05)
            if getattr(self.app, "consumer_generation_id", 0) != generation:
                return
            changelogs = set(self.app.tables.changelog_topics)
            tps = [tp for tp in self.app.consumer.assignment() if tp.topic not in changelogs]
            if not tps:
                return
            admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)
            await admin.start()
            try:
                committed = await admin.list_consumer_group_offsets(self.app.conf.id,
                                                                    partitions=[TopicPartition(t.topic, t.partition)
                                                                                for t in tps])
            finally:
                await admin.close()
            never = [tp for tp in tps if (committed.get(TopicPartition(tp.topic, tp.partition)) is None
                                          or committed[TopicPartition(tp.topic, tp.partition)].offset <= 0)]
            if never and getattr(self.app, "consumer_generation_id", 0) == generation and not self.app.rebalancing:
                # in the consumer's own thread: faust's Consumer.seek calls aiokafka from this
                # thread and races the fetcher (measured: KeyError in fetched_records, fetcher dead)
                thread = self.app.consumer._thread
                consumer = thread._ensure_consumer()
                for tp in never:  # seek(0), not seek_to_beginning: a pending reset has no position, and
                    # faust's livelock check then asserts (measured); on Kafka an expired 0 resets to earliest
                    await thread.call_thread(consumer.seek, TopicPartition(tp.topic, tp.partition), 0)
                log.info("rewound never-committed partitions", extra={"partitions": len(never)})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - best effort; the next rebalance tries again
            log.warning("could not rewind never-committed partitions: %r", exc)

    def rebuild_indexes(self, owned: set[int]) -> None:
        """Derive the in-memory indexes from the table, for the owned partitions only.

        The in-memory store keeps the entries of revoked partitions; they are
        dropped here (the new owner recovers them from the changelog)."""
        store = self.employees.data
        self.indexes = {p: SkillIndex(self.related) for p in owned}
        self.holders = {p: {} for p in owned}
        self.views = {p: {} for p in owned}
        self.stale = {p: set() for p in owned}
        self.matchable = {p: set() for p in owned}
        self.qualified = {p: set() for p in owned}
        foreign = []
        newer = 0
        for emp_id, record in list(store.items()):
            p = partition_for(emp_id)
            if p not in owned:
                foreign.append(emp_id)
                continue
            if not record:
                continue
            self._count(p, emp_id, record)
            self.indexes[p].put(EmployeeState.from_json(record))
            for opp_id in record.get("pairs") or {}:
                self.holders[p].setdefault(opp_id, set()).add(emp_id)
            if needs_rescore(record, self.engine.scoring_version, self.engine.fingerprint):
                self.stale[p].add(emp_id)
            elif (record.get("sv") or [1])[0] > self.engine.scoring_version:
                newer += 1
        for emp_id in foreign:
            del store[emp_id]
        STALE.set(sum(len(s) for s in self.stale.values()))
        self._export_kpi()
        if newer:
            log.warning("employees were scored by a newer scoring version than this worker's; left as they are",
                        extra={"employees": newer, "scoring_version": self.engine.scoring_version})
        log.info("indexes rebuilt", extra={"partitions": sorted(owned), "employees": sum(
            len(i.skills_of) for i in self.indexes.values()), "stale": sum(len(s) for s in self.stale.values()),
            "released": len(foreign)})

    async def publish_ownership(self) -> None:
        if self.registry is not None:
            try:
                await self.registry.publish(self.owned, self.generation)
            except Exception as exc:  # noqa: BLE001 - the heartbeat retries; queries answer UNAVAILABLE meanwhile
                log.warning("cannot publish matcher ownership", extra={"error": repr(exc)})

    # -- replicated state -------------------------------------------------------------
    def apply_replicated(self, event) -> None:
        p = event.payload
        if hasattr(p, "opportunity"):  # posted, requirements changed, approval requested, closed: the snapshot
            self.replica.apply_opportunity(p.opportunity, event.version)
        elif isinstance(p, events_pb2.CoursePublished):
            self.replica.apply_course(p.course, event.version)

    def apply_mentor(self, event) -> None:
        p = event.payload
        if isinstance(p, events_pb2.EmployeeErased):
            self.mentors.erase(p.employee_id or event.subject, event.version)
        elif hasattr(p, "profile"):
            self.mentors.apply(p.profile, event.version)

    async def group_less_reader(self, topics: list[str], apply, ready: asyncio.Event, what: str) -> None:
        """Read every partition of ``topics``, group-less, from the start, for ever;
        ``ready`` is set once the high watermarks seen at start are reached."""
        names = [self.settings.topic(t) for t in topics]
        consumer = make_consumer(self.settings, None, [])
        await consumer.start()
        try:
            tps = [TopicPartition(n, p) for n in names for p in range(TOPICS[n[len(self.settings.topic_prefix):]].partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            from itm.runtime.kafka_compat import high_watermarks

            targets = await high_watermarks(consumer, tps)
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=2000)
                for records in batches.values():
                    for record in records:
                        try:
                            apply(decode(record.value))
                        except MalformedEvent:
                            pass  # the owning consumers dead-letter it; the replica skips it
                if not ready.is_set():
                    positions = {tp: await consumer.position(tp) for tp in tps}
                    if all(positions[tp] >= targets[tp] for tp in tps):
                        log.info(f"{what} loaded", extra={"opportunities": len(self.replica.opportunities),
                                                          "courses": len(self.replica.courses),
                                                          "mentors": len(self.mentors)})
                        ready.set()
        finally:
            await consumer.stop()

    def faust_alive(self) -> bool:
        """False once faust's consumer or fetcher crashed (they do not restart by themselves)."""
        for part in (getattr(self.app, "_consumer", None), getattr(self.app, "_fetcher", None)):
            if part is not None and getattr(part, "crashed", False):
                return False
        return True

    async def ready(self) -> None:
        await self.replica_ready.wait()
        await self.mentors_ready.wait()

    # -- agents ---------------------------------------------------------------------------
    async def broadcast_agent(self, stream):
        async for event in stream.events():
            for partition in range(EMPLOYEE_PARTITIONS):
                fut = await self.broadcast_topic.send(key=event.key, value=event.value, partition=partition)
                await fut

    async def match_agent(self, stream):
        await self.ready()
        async for event in stream.events():
            partition = event.message.partition
            if event.headers.get(CONTROL_HEADER) == RESCORE:
                started = time.perf_counter()
                await self.on_control(partition)
                SCORING_LATENCY.labels("scoring-change").observe(time.perf_counter() - started)
                continue
            try:
                decoded = decode(event.value)
            except MalformedEvent as exc:
                await self.dead_letter(event, str(exc))
                continue
            started = time.perf_counter()
            if isinstance(decoded.payload, events_pb2.EmployeeErased):
                self.erase(decoded.subject, partition)
                cause = "erasure"
            elif hasattr(decoded.payload, "profile"):
                await self.on_employee(decoded, partition)
                cause = "profile"
            elif hasattr(decoded.payload, "opportunity"):
                await self.on_opportunity(decoded, partition)
                cause = "opportunity"
            else:
                await self.dead_letter(event, f"matcher cannot use {decoded.type}")
                continue
            SCORING_LATENCY.labels(cause).observe(time.perf_counter() - started)

    async def dead_letter(self, event, reason: str) -> None:
        msg = event.message
        letter = envelope_pb2.DeadLetter(original_topic=msg.topic, original_partition=msg.partition,
                                         original_offset=msg.offset, original_key=event.key or b"",
                                         original_value=event.value or b"", consumer="matcher", reason=reason)
        letter.failed_at.GetCurrentTime()
        env = new_envelope("itm.dead-letter", "matcher", (event.key or b"unknown").decode(errors="replace"), 0, letter)
        dlq = self.app.topic(self.settings.topic("itm.dead-letter"), key_serializer="raw", value_serializer="raw")
        await (await dlq.send(key=event.key, value=env.SerializeToString()))
        metrics.DEAD_LETTERS.labels(metrics.bare_topic(msg.topic, self.settings.topic_prefix), "matcher").inc()

    # -- state helpers ----------------------------------------------------------------------
    def _floor(self, threshold: int) -> int:
        return self.engine.floor_for(threshold or self.engine.default_threshold)

    def _index(self, partition: int) -> SkillIndex:
        index = self.indexes.get(partition)
        if index is None:  # an event for a partition assigned before on_recovered ran (defensive)
            index = self.indexes[partition] = SkillIndex(self.related)
        return index

    def _set_holder(self, partition: int, opp_id: str, emp_id: str, holds: bool) -> None:
        by_opp = self.holders.setdefault(partition, {})
        if holds:
            by_opp.setdefault(opp_id, set()).add(emp_id)
        else:
            held = by_opp.get(opp_id)
            if held is not None:
                held.discard(emp_id)
                if not held:
                    del by_opp[opp_id]

    def _worth_scoring(self, emp: EmployeeState, affected: set[str], pairs: dict, cause_label: str) -> set[str]:
        worth, ruled_out = self.engine.worth_scoring(emp, affected, pairs, self.replica)
        if ruled_out:
            RULED_OUT.labels(cause_label).inc(ruled_out)
        return worth

    def _store(self, partition: int, record: dict) -> None:
        """Write an employee's record (the one table write per change) and count it."""
        self.employees[record["id"]] = record
        self._count(partition, record["id"], record)
        self._export_kpi()

    def _count(self, partition: int, emp_id: str, record: dict | None) -> None:
        matchable = bool(record) and not record["out"]
        qualified = matchable and any(pair[1] for pair in (record.get("pairs") or {}).values())
        for counted, member in ((self.matchable, matchable), (self.qualified, qualified)):
            ids = counted.setdefault(partition, set())
            if member:
                ids.add(emp_id)
            else:
                ids.discard(emp_id)

    def _export_kpi(self) -> None:
        MATCHABLE.set(sum(len(ids) for ids in self.matchable.values()))
        QUALIFIED.set(sum(len(ids) for ids in self.qualified.values()))

    def erase(self, employee_id: str, partition: int) -> None:
        self._count(partition, employee_id, None)
        self._export_kpi()
        self._index(partition).remove(employee_id)
        for opp_id in record_pairs(self.employees.get(employee_id)):
            self._set_holder(partition, opp_id, employee_id, False)
        self.stale.get(partition, set()).discard(employee_id)
        self.employees.pop(employee_id, None)

    # -- event handling ----------------------------------------------------------------------
    async def on_employee(self, event, partition: int) -> None:
        record = self.employees.get(event.subject)
        if record and record["v"] >= event.version:
            return  # duplicate or out of order: nothing changes
        old = EmployeeState.from_json(record) if record else None
        emp = EmployeeState.from_profile(event.payload.profile, event.version)
        pairs = record_pairs(record)
        full = needs_rescore(record, self.engine.scoring_version, self.engine.fingerprint)
        affected = self._worth_scoring(emp, opportunities_to_rescore(old, emp, self.replica, pairs, full, self._floor),
                                       pairs, "profile")
        self._index(partition).put(emp)
        pairs = await self.rescore(emp, affected, pairs, event, "profile", partition)
        scored_with = self.engine.scored_with if (full or not record) else (record.get("sv") or self.engine.scored_with)
        # one write, after the crossings were acknowledged (see engine.employee_record)
        self._store(partition, employee_record(emp, pairs, scored_with))
        if full:
            self.stale.get(partition, set()).discard(emp.employee_id)

    async def on_opportunity(self, event, partition: int) -> None:
        self.apply_replicated(event)
        opp_id = event.subject
        new = self.replica.opportunities.get(opp_id)
        view = self.views.setdefault(partition, {})
        old = view.get(opp_id)
        holders = self.holders.get(partition, {}).get(opp_id, set())
        affected = employees_to_rescore(old, new, self._index(partition), holders, self.engine.pair_floor > 0)
        if new is None:
            view.pop(opp_id, None)
        else:
            view[opp_id] = new
        ruled_out = 0
        for emp_id in sorted(affected):
            record = self.employees.get(emp_id)
            if not record:
                continue
            if not self.engine.worth_scoring_pair(record["skills"], record["t"], new, emp_id in holders):
                ruled_out += 1  # not held and cannot reach the floor (see Matcher.score_bound)
                continue
            emp = EmployeeState.from_json(record)
            pairs = record_pairs(record)
            new_pairs = await self.rescore(emp, {opp_id}, pairs, event, "opportunity", partition)
            if new_pairs != pairs:
                self._store(partition, employee_record(emp, new_pairs, record.get("sv") or [1, ""]))
        if ruled_out:
            RULED_OUT.labels("opportunity").inc(ruled_out)

    async def on_control(self, partition: int) -> None:
        """Rescore the next batch of this partition's employees scored the old way."""
        todo = self.stale.get(partition)
        if not todo:
            return
        batch = sorted(todo)[: self.rescore_batch]
        cause = Cause(str(uuid.uuid5(uuid.NAMESPACE_URL, f"itm-matcher-scoring:{self.engine.scored_with}")),
                      "matcher.scoring-changed")
        cause.envelope.correlation_id = cause.event_id
        for emp_id in batch:
            todo.discard(emp_id)
            record = self.employees.get(emp_id)
            if not needs_rescore(record, self.engine.scoring_version, self.engine.fingerprint):
                continue
            emp = EmployeeState.from_json(record)
            pairs = record_pairs(record)
            affected = self._worth_scoring(emp, opportunities_to_rescore(emp, emp, self.replica, pairs, full=True),
                                           pairs, "scoring-change")
            pairs = await self.rescore(emp, affected, pairs, cause, "scoring-change", partition)
            self._store(partition, employee_record(emp, pairs, self.engine.scored_with))
        STALE.set(sum(len(s) for s in self.stale.values()))
        if todo:
            await self.send_control(partition)
        else:
            log.info("partition rescored with the current scoring", extra={"partition": partition,
                                                                          "scoring": self.engine.scored_with})

    async def send_control(self, partition: int) -> None:
        await (await self.broadcast_topic.send(
            key=b"matcher-control", value=json.dumps({"rescore": self.engine.scored_with}).encode(),
            partition=partition, headers={CONTROL_HEADER: RESCORE}))

    async def rescore(self, emp: EmployeeState, opp_ids, pairs: dict, cause, cause_label: str, partition: int) -> dict:
        """Rescore ``emp`` against ``opp_ids``; send crossings (acknowledged) and
        updates; return the new pairs. The caller stores them."""
        pairs = dict(pairs)
        scored = 0
        for opp_id in sorted(opp_ids):
            opp = self.replica.opportunities.get(opp_id)
            prev = pairs.get(opp_id)
            if opp is None:  # closed or filled: release the pair
                if prev is not None:
                    del pairs[opp_id]
                    self._set_holder(partition, opp_id, emp.employee_id, False)
                continue
            scored += 1
            out = self.engine.evaluate(emp, opp, prev, self.replica, cause.event_id, cause.type, self.mentors)
            if out.pair != prev:
                if out.pair is None:
                    pairs.pop(opp_id, None)
                    self._set_holder(partition, opp_id, emp.employee_id, False)
                else:
                    pairs[opp_id] = out.pair
                    self._set_holder(partition, opp_id, emp.employee_id, True)
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
        if scored:
            RESCORINGS.labels(cause_label).inc(scored)
        return pairs

    # -- queries (local state only; server.py forwards and fans out) ------------------------------
    def record(self, employee_id: str) -> dict | None:
        return self.employees.data.get(employee_id) if partition_for(employee_id) in self.owned else None

    def candidates(self, opp_id: str, partitions) -> list[tuple[int, str, dict]]:
        """(stored score, employee id, record) of the visible holders of ``opp_id``
        in the given owned partitions."""
        opp = self.replica.opportunities.get(opp_id)
        out = []
        if opp is None:
            return out
        for p in partitions:
            if p not in self.owned:
                continue
            for emp_id in self.holders.get(p, {}).get(opp_id, ()):
                record = self.employees.data.get(emp_id)
                pair = (record or {}).get("pairs", {}).get(opp_id)
                if not record or not pair:
                    continue
                if record["out"] or record.get("hidden") or (record["types"] and opp.type not in record["types"]):
                    continue  # the employee's choices: opted out, hidden from owners, not this kind of opportunity
                out.append((pair[0], emp_id, record))
        return out

    # -- lifecycle ----------------------------------------------------------------------
    async def run(self) -> None:
        readers = [
            asyncio.create_task(self.group_less_reader(OPPORTUNITY_TOPICS + CATALOG_TOPICS, self.apply_replicated,
                                                       self.replica_ready, "replica"), name="replica-reader"),
            asyncio.create_task(self.group_less_reader(PROFILE_TOPICS, self.apply_mentor, self.mentors_ready,
                                                       "mentor index"), name="mentor-reader"),
        ]
        await self.app.start()
        self.running = True
        try:
            await asyncio.Event().wait()
        finally:
            self.running = False
            for reader in readers:
                reader.cancel()
            await self.app.stop()


def worker_id(address: str) -> str:
    return f"{address}/{os.getpid()}"
