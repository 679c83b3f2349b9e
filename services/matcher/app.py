"""The streaming matcher: a faust app inside the shared process skeleton.

Data flow (docs/architecture.md and services/matcher/README.md have the picture):

* ``broadcast`` agent (consumer group): every opportunity event is copied to
  every partition of ``matcher.opportunity-broadcast``, which is co-partitioned
  with the employee-keyed profile topics.
* ``match`` agent: consumes the profile topics and the broadcast topic. For a
  partition it owns the employees of that partition (faust table
  ``employees``: profile + the pairs' notification marks + scoring marker, one
  changelog record per change; the pairs' scores are derived and kept compact in
  memory, ``pair_store.py``, rebuilt after every rebalance) and sees every
  opportunity change, so it rescores exactly the pairs
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
import collections
import gc
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field

import faust
import numpy as np
from aiokafka import TopicPartition
from aiokafka.partitioner import murmur2

from itm.runtime import metrics
from itm.runtime.consumer import PartitionProgress, make_consumer
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
    crossing_event_id,
    employee_record,
    employees_to_rescore,
    needs_rescore,
    next_crossing,
    opportunities_to_rescore,
    record_crossed,
    record_marks,
    record_with_marks,
    scoring_fingerprint,
)
from services.matcher.pair_store import NO_MARK, OpportunityIds, PairScores, merge_pairs
from services.matcher.scoring import EvidenceFactors
from services.matcher.vector import SkillHolders, VectorScorer

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
REREAD = Counter("itm_match_partitions_reread_total",
                 "Partitions sought back because faust fetched records and never delivered them (a rebalance)")
STALE = Gauge("itm_match_stale_employees", "Employees of this worker still scored with an older scoring configuration")
OWNED = Gauge("itm_match_owned_partitions", "Employee partitions this matcher worker owns")
FETCH_WAIT = Gauge("itm_match_fetch_wait_seconds",
                   "How long the worker's fetches may wait on the broker: long while tables recover, short after")
# the KPI "share of employees with at least one match above their threshold": each worker
# reports its own partitions, so sum(qualified) / sum(matchable) over the workers is the share
MATCHABLE = Gauge("itm_kpi_matchable_employees",
                  "Employees of this worker's partitions who take part in matching (not opted out)")
QUALIFIED = Gauge("itm_kpi_employees_with_qualified_match",
                  "Employees of this worker's partitions with at least one open opportunity at or above their threshold")


#: How long a fetch may wait on the broker for records (faust hard-codes 1,500 ms; the services'
#: own consumers use 50). Tansu holds a fetch that found nothing for its whole wait even when
#: records arrive meanwhile: measured (bench/fetch_wait_bench.py, a loaded 2-core machine) one
#: produce -> consume hop took p50 383 ms / max 748 ms at 1,500 ms, 67 / 146 ms at 500 and
#: 28 / 65 ms at 20. Every faust hop of the matcher (a profile event; an opportunity event, then
#: its broadcast copy) paid it: the 0.6-0.75 s of issue 12 item 4.
FETCH_MAX_WAIT_MS = 20
#: ... except while a rebalance's table recovery reads the table's changelog, a compacted topic
#: that Tansu serves slowly: at 100,000 employees (25,000 records a partition) one changelog fetch
#: needs 50-100 ms of the broker, and every fetch allowed 20 ms came back empty, so a restarted
#: worker never finished recovering (the broker busy on one core, the worker idle). Measured with
#: a plain consumer on that changelog: 0 records in 30 s at 20 ms, 3,000 in 0.4 s at 100 ms.
RECOVERY_FETCH_MAX_WAIT_MS = 500
#: The cyclic garbage collector's thresholds (Python's default: 700, 10, 10). The matcher holds
#: millions of long-lived objects (the replica, the table's records) and allocates a few hundred
#: short-lived ones per pair it decides; with the defaults a full collection, scanning all of
#: them, ran every few seconds of a load (5 % of the time at 20,000 employees). The objects
#: alive after a table recovery are frozen out of the scans as well (``gc.freeze``).
GC_THRESHOLDS = (50_000, 20, 100)


def _own_fetch_wait() -> None:
    """Make faust's worker consumer start with ``RECOVERY_FETCH_MAX_WAIT_MS`` (a new worker
    recovers first; ``MatcherApp.fetch_wait`` sets ``FETCH_MAX_WAIT_MS`` once it is ready)."""
    from faust.transport.drivers import aiokafka as faust_aiokafka

    thread = faust_aiokafka.AIOKafkaConsumerThread
    if getattr(thread, "_itm_fetch_wait", False):
        return
    create = thread._create_worker_consumer

    def _create_worker_consumer(self, transport):
        consumer = create(self, transport)
        consumer._fetch_max_wait_ms = RECOVERY_FETCH_MAX_WAIT_MS  # read by the fetcher aiokafka builds at start()
        FETCH_WAIT.set(RECOVERY_FETCH_MAX_WAIT_MS / 1000)
        return consumer

    thread._create_worker_consumer = _create_worker_consumer
    thread._itm_fetch_wait = True


def partition_for(key: str, partitions: int = EMPLOYEE_PARTITIONS) -> int:
    """The Kafka default partitioner (murmur2), as producers place employee keys."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


#: Opportunity records whose broadcast copies may be on their way at once (a bound on memory;
#: the broadcast agent waits for the oldest beyond it).
BROADCAST_WINDOW = 500


class Unacked:
    """Input records handled whose output the broker has not acknowledged yet, per
    partition in offset order: the partition is committed up to the oldest of them,
    never past it (at-least-once: a crash re-reads it; its outputs are idempotent)."""

    def __init__(self) -> None:
        self._by_tp: dict[TopicPartition, collections.deque] = {}

    def add(self, tp: TopicPartition, offset: int, delivered: asyncio.Future) -> None:
        self.oldest(tp)  # drops the delivered ones ahead, so len() walks only what may still be pending
        self._by_tp.setdefault(tp, collections.deque()).append((offset, delivered))

    def oldest(self, tp: TopicPartition) -> int | None:
        """The offset of the partition's oldest record not delivered yet (None: none)."""
        queue = self._by_tp.get(tp)
        while queue and queue[0][1].done():
            queue.popleft()
        return queue[0][0] if queue else None

    def __len__(self) -> int:
        return sum(1 for queue in self._by_tp.values() for _, delivered in queue if not delivered.done())

    async def wait_oldest(self) -> None:
        """Wait until the oldest undelivered record of any partition is delivered."""
        pending = [queue[0][1] for tp, queue in self._by_tp.items() if self.oldest(tp) is not None]
        if pending:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)


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
        _own_fetch_wait()
        taxonomy = Taxonomy.configured()  # ITM_TAXONOMY_PATH; its version is published (itm/taxonomy_guard.py)
        self.related = taxonomy.related_view
        factors = EvidenceFactors(settings.factor_verified, settings.factor_inferred, settings.factor_claimed,
                                  settings.factor_aspirational)
        # every score of every path comes from the vectorised core (vector.py), whose columns the
        # replica keeps in step; the scalar scorer explains crossings and answers explain requests
        self.opportunity_ids = OpportunityIds()  # for the whole process: the pair stores' opportunity ints
        self.vector = VectorScorer(factors, taxonomy.related_view, settings.related_skill_cap,
                                   key_of=self.opportunity_ids.intern)
        self.replica = Replica(taxonomy.related_view, self.vector)
        self.mentors = MentorIndex()
        floor = getattr(settings, "matcher_pair_floor_percent", 0)
        self.engine = Matcher(
            factors, taxonomy.related_view, settings.related_skill_cap, settings.default_threshold_percent,
            settings.scoring_version,
            # the taxonomy is not in the fingerprint: a new taxonomy rescores only the employees holding a
            # skill it changed (needs_rescore with the taxonomy's change log)
            scoring_fingerprint(factors, settings.related_skill_cap, settings.default_threshold_percent, None, floor),
            getattr(settings, "matcher_mentors_per_gap", 3),
            floor,
            taxonomy,
        )
        self.rescore_batch = getattr(settings, "matcher_rescore_batch", 500)
        # per owned partition: skill -> employees, the pairs' scores (and opportunity -> holders),
        # the opportunities as that partition's pairs last saw them, and employees scored the old way
        self.skill_holders: dict[int, SkillHolders] = {}  # the employees as the vectorised core reads them
        self.pair_scores: dict[int, PairScores] = {}  # derived: rebuilt from the table after every rebalance
        self._rebuilds = 0  # on_recovered runs; a newer one makes an older, still running one give up
        self._touched: set[str] | None = None  # employees changed while a rebuild runs (a handler in flight)
        self._columns_cache = None  # (VectorScorer.changes, _columns()) of the last rebuild
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
        self.progress = PartitionProgress(settings, "matcher.match")  # stalled partitions -> itm.consumers
        # per assigned partition the next offset to process (for itm_consumer_lag)
        self.next_offsets: dict[TopicPartition, int] = {}
        # opportunity records whose broadcast copies are not all acknowledged (committed up to the oldest)
        self.unacked = Unacked()
        self.last_handled = 0.0  # monotonic time either agent last finished a record
        self.rewinding: dict[TopicPartition, int] = {}  # sought back to this offset after a gap
        self.rewound_at: dict[TopicPartition, float] = {}
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
        # the two agents' input topics: the broadcast agent reads the opportunity topics, the match
        # agent the profile topics and the broadcast (the consumer's other partitions are changelogs)
        self.broadcast_inputs = frozenset(settings.topic(t) for t in OPPORTUNITY_TOPICS)
        self.inputs = self.broadcast_inputs | {settings.topic(t) for t in PROFILE_TOPICS + [BROADCAST]}
        self.opportunity_topic = self.app.topic(*[settings.topic(t) for t in OPPORTUNITY_TOPICS], **raw)
        self.broadcast_topic = self.app.topic(self.broadcast_name, partitions=EMPLOYEE_PARTITIONS, **raw)
        self.match_topic = self.app.topic(*[settings.topic(t) for t in PROFILE_TOPICS + [BROADCAST]], **raw)
        self.crossed_topic = self.app.topic(settings.topic("match.threshold-crossed"), **raw)
        self.updated_topic = self.app.topic(settings.topic("match.updated"), **raw)  # legacy: one record per pair
        self.updates_topic = self.app.topic(settings.topic("match.updated.v2"), **raw)  # one per event and employee
        self.legacy_updates = getattr(settings, "matcher_legacy_match_updated", True)
        self.employees = self.app.Table("employees", default=None, key_type=str, partitions=EMPLOYEE_PARTITIONS)
        self.employees.on_recover(self.on_recovered)
        self.app.on_partitions_revoked.connect(self.on_revoked)
        self.app.agent(self.opportunity_topic, name="broadcast")(self.broadcast_agent)
        self.app.agent(self.match_topic, name="match")(self.match_agent)

    # -- ownership, recovery, registry --------------------------------------------------
    def fetch_wait(self, ms: int) -> None:
        """The worker consumer's fetch wait from now on (aiokafka's fetcher reads it for every request)."""
        thread = getattr(getattr(self.app, "_consumer", None), "_thread", None)
        consumer = getattr(thread, "_consumer", None)
        for reader in (consumer, getattr(consumer, "_fetcher", None)):
            if reader is not None:
                reader._fetch_max_wait_ms = ms
        FETCH_WAIT.set(ms / 1000)

    async def on_revoked(self, sender, revoked, **kwargs) -> None:
        self.fetch_wait(RECOVERY_FETCH_MAX_WAIT_MS)  # a rebalance starts: its recovery reads the changelog
        gc.unfreeze()  # what the revoked partitions held may be garbage now: scanned again (frozen after recovery)
        for tp in revoked:  # another worker takes over what this one held
            self.progress.done(TopicPartition(tp.topic, tp.partition))
        lost = {tp.partition for tp in revoked if tp.topic == self.broadcast_name}
        if lost & self.owned:
            self.owned -= lost
            OWNED.set(len(self.owned))
            await self.publish_ownership()

    async def on_recovered(self) -> None:
        """After every rebalance's table recovery, before the streams resume."""
        owned = {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == self.broadcast_name}
        self.generation = getattr(self.app, "consumer_generation_id", 0) or 0
        self.next_offsets.clear()  # faust resumes every partition from its committed offset
        self.rewinding.clear()
        # the pairs' scores are rebuilt against the replica: it must have been read once
        await self.replica_ready.wait()
        if not await self.rebuild_indexes(owned):
            return  # another rebalance's recovery runs meanwhile and does the rest
        self.owned = owned
        self.assigned_once = True
        OWNED.set(len(owned))
        await self.publish_ownership()
        for p in sorted(p for p, todo in self.stale.items() if todo):
            await self.send_control(p)
        self._rewind = asyncio.ensure_future(self.rewind_never_committed(self.generation))
        gc.freeze()  # what the recovery loaded lives as long as the assignment: out of the collector's scans
        self.fetch_wait(FETCH_MAX_WAIT_MS)  # recovered: the streams resume with the short wait

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
                    # (faust's read offsets, which made it drop the rewound records, are out of the
                    # way for input partitions: _own_input_offsets)
                    self.next_offsets[TopicPartition(tp.topic, tp.partition)] = 0  # in_sequence: from the start
                log.info("rewound never-committed partitions", extra={"partitions": len(never)})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - best effort; the next rebalance tries again
            log.warning("could not rewind never-committed partitions: %r", exc)

    async def rebuild_indexes(self, owned: set[int], chunk: int = 200) -> bool:
        self._rebuilds += 1
        seq = self._rebuilds
        self._touched = set()
        try:
            return await self._rebuild_indexes(owned, chunk, seq, self._touched)
        finally:
            if seq == self._rebuilds:
                self._touched = None

    async def _rebuild_indexes(self, owned: set[int], chunk: int, seq: int, touched: set[str]) -> bool:
        """Derive the in-memory state from the table, for the owned partitions only: the
        skill holders (skill -> employees) and, with one ``VectorScorer.score_row`` per employee against the
        current replica, the pairs' scores (at or above the employee's pair floor, plus the
        marked pairs with their current score) and the opportunity -> holders index.
        The partitions' opportunity views start empty (the first event per opportunity
        then rescores as for a posting, so a crossing whose event arrives after this
        rebuild is still evaluated against the marks).

        Yields to the event loop every ``chunk`` employees (queries go on meanwhile and read
        the state from before, swapped at the end). False if a newer rebalance's recovery
        started meanwhile (that one rebuilds). The in-memory store keeps the entries of
        revoked partitions; they are dropped here (the new owner recovers them from the
        changelog).

        A handler in flight (awaiting an ack when the rebalance began) may write meanwhile:
        the employees it changed (``touched``) are derived again from their records at the
        end, with no await from there to the swap."""
        started, cpu = time.perf_counter(), time.process_time()
        store = self.employees.data
        skill_holders = {p: SkillHolders() for p in owned}
        rows: dict[int, dict] = {p: {} for p in owned}
        stale: dict[int, set[str]] = {p: set() for p in owned}
        matchable: dict[int, set[str]] = {p: set() for p in owned}
        qualified: dict[int, set[str]] = {p: set() for p in owned}
        foreign = []
        newer = legacy = 0
        columns = self._columns()
        for n, (emp_id, record) in enumerate(list(store.items())):
            if n % chunk == chunk - 1:
                await asyncio.sleep(0)
                if seq != self._rebuilds:
                    log.info("index rebuild superseded by another rebalance", extra={"done": n})
                    return False
                columns = self._columns()  # the replica may have moved meanwhile
            p = partition_for(emp_id)
            if p not in owned:
                foreign.append(emp_id)
                continue
            if not record:
                continue
            newer += self._derive(p, emp_id, record, columns, skill_holders, rows, stale, matchable, qualified)
            legacy += "pairs" in record
            self._normalise(record)
        await asyncio.sleep(0)
        if seq != self._rebuilds:
            return False
        columns = self._columns()
        for emp_id in touched:  # changed by a handler meanwhile: from the record as it is now
            p = partition_for(emp_id)
            if p not in owned:
                continue
            skill_holders[p].remove(emp_id)
            rows[p].pop(emp_id, None)
            for ids in (stale[p], matchable[p], qualified[p]):
                ids.discard(emp_id)
            record = store.get(emp_id)
            if record:
                self._derive(p, emp_id, record, columns, skill_holders, rows, stale, matchable, qualified)
                self._normalise(record)
        pair_scores = {p: PairScores.from_packed(rows[p].items(), self.opportunity_ids) for p in owned}
        # swapped at once (no await from here on)
        for emp_id in foreign:
            store.pop(emp_id, None)
        self.skill_holders, self.pair_scores = skill_holders, pair_scores
        self.views = {p: {} for p in owned}
        self.stale, self.matchable, self.qualified = stale, matchable, qualified
        STALE.set(sum(len(s) for s in self.stale.values()))
        self._export_kpi()
        if newer:
            log.warning("employees were scored by a newer scoring version than this worker's; left as they are",
                        extra={"employees": newer, "scoring_version": self.engine.scoring_version})
        employees = sum(len(h) for h in self.skill_holders.values())
        log.info("indexes rebuilt", extra={
            "partitions": sorted(owned), "employees": employees, "stale": sum(len(s) for s in self.stale.values()),
            "released": len(foreign), "legacy_records": legacy, "changed_meanwhile": len(touched),
            "pairs": sum(s.pair_count for s in pair_scores.values()),
            "pair_bytes": sum(s.nbytes for s in pair_scores.values()),
            "seconds": round(time.perf_counter() - started, 3), "cpu_seconds": round(time.process_time() - cpu, 3)})
        return True

    def _derive(self, p: int, emp_id: str, record: dict, columns, skill_holders, rows, stale, matchable,
                qualified) -> int:
        """One employee's derived state from its record (``rebuild_indexes``); 1 if it was
        scored by a newer scoring version than this worker's."""
        marks = record_marks(record)
        if not record["out"]:
            matchable[p].add(emp_id)
            if any(m[0] for m in marks.values()):
                qualified[p].add(emp_id)
        emp = EmployeeState.from_json(record)
        skill_holders[p].put(emp_id, emp.skills, self._floor(emp.threshold))
        rows[p][emp_id] = self.rebuilt_row(emp, marks, columns)
        if needs_rescore(record, self.engine.scoring_version, self.engine.fingerprint, self.engine.taxonomy):
            stale[p].add(emp_id)
        elif (record.get("sv") or [1])[0] > self.engine.scoring_version:
            return 1
        return 0

    @staticmethod
    def _normalise(record: dict) -> None:
        """A record written before the compact state: its scores go, its marks stay (in memory
        only, the same value for every reader; the employee's next write rewrites it)."""
        if "pairs" in record:
            marks = record_marks(record)
            del record["pairs"]
            if marks:
                record["marks"] = marks

    def _columns(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """For ``rebuilt_row``, as the replica is now: per vectorised-core column its
        opportunity's int (``OpportunityIds``; -1: a free column), and per owner the columns
        of the opportunities they own."""
        vec, intern = self.vector, self.opportunity_ids.intern
        cached = self._columns_cache
        if cached is not None and cached[0] == vec.changes:
            return cached[1]
        col_opp = np.full(vec.size, -1, dtype=np.int32)
        owned: dict[str, list[int]] = {}
        for opp_id, c in vec.col_of.items():
            col_opp[c] = intern(opp_id)
            owner = self.replica.opportunities[opp_id].owner_id
            if owner:
                owned.setdefault(owner, []).append(c)
        got = col_opp, {o: np.array(cs, dtype=np.int64) for o, cs in owned.items()}
        self._columns_cache = (vec.changes, got)
        return got

    def rebuilt_row(self, emp: EmployeeState, marks: dict, columns) -> bytes:
        """An employee's pairs' scores from scratch, against the current replica, packed for
        ``PairScores.from_packed``: every open opportunity scoring at least the employee's
        pair floor (not the employee's own), and every marked pair with its current score
        (0 when it scores nothing or its opportunity is closed: the pair stays until an event
        rescores or releases it). ``columns``: ``_columns()``, with the replica unchanged since."""
        col_opp, owned = columns
        vec = self.vector
        cols = pct = None
        row = None
        if not emp.opted_out:
            row = vec.score_row(emp.skills)
            keep = row.percent >= self._floor(emp.threshold)
            cols, pct = row.index[keep], row.percent[keep]
            own = owned.get(emp.employee_id)
            if own is not None and len(cols):
                mine = np.isin(cols, own)
                cols, pct = cols[~mine], pct[~mine]
        opps = col_opp[cols] if cols is not None else np.zeros(0, dtype=np.int32)
        scores = pct if pct is not None else np.zeros(0, dtype=np.int64)
        if marks:
            extra_o, extra_s = [], []
            for opp_id in marks:
                c = vec.col_of.get(opp_id)
                if c is not None and cols is not None:
                    k = int(np.searchsorted(cols, c))
                    if k < len(cols) and cols[k] == c:
                        continue  # kept above
                extra_o.append(self.opportunity_ids.intern(opp_id))
                extra_s.append(row.get(c)[0] if row is not None and c is not None else 0)
            if extra_o:
                opps = np.concatenate([opps, np.array(extra_o, dtype=np.int32)])
                scores = np.concatenate([scores, np.array(extra_s, dtype=np.int64)])
        return PairScores.pack(opps, scores)

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
                        except Exception:  # noqa: BLE001 - the match agent dead-letters it; the reader goes on
                            log.exception(f"{what} skipped a record it could not apply",
                                          extra={"topic": record.topic, "offset": record.offset})
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

    # -- every record handled, in order, before its offset is committed ----------------------
    # faust 0.15 loses records around a rebalance. Measured (issue 15): a SIGKILLed worker's
    # partitions taken over with records waiting; on one of them the survivor's position was 16,
    # the committed offset 10 and the last record handled 9, and the crossings of offsets 10-15
    # were never sent, with nothing logged; on another the group committed past two records no
    # worker had handled. faust abandons a fetched batch when the
    # generation changes or the flow stops mid-batch, its streams skip (and ack) records
    # stamped with an older generation, and it counts a jump in offsets as a "gap" it may
    # commit past. Input topics here are neither compacted nor transactional, so their offsets
    # are contiguous: the agents handle each partition's records strictly in order
    # (``in_sequence``), faust commits a partition up to the next record an agent has to handle
    # and drops nothing by its own read offsets (``_own_input_offsets``), and a partition whose
    # position ran past that while the agents are idle is sought back (``reread_dropped_forever``).

    def _expected(self, key: TopicPartition) -> int | None:
        """The next offset an agent has to handle on ``key``: after the last one handled
        since the assignment, or the committed offset faust resumed from (None: never committed)."""
        expected = self.next_offsets.get(key)
        if expected is None:
            consumer = getattr(self.app, "_consumer", None)
            expected = consumer._committed_offset.get(key) if consumer is not None else None
        return expected if expected is not None and expected >= 0 else None

    async def in_sequence(self, msg) -> bool:
        """True if ``msg`` is the next record of its partition. A copy of a record already
        handled is passed over; after a gap (records faust dropped), the partition is sought
        back to the missing record once, and what arrives before it is passed over."""
        key = TopicPartition(msg.topic, msg.partition)
        expected = self._expected(key)
        if expected is None or msg.offset == expected:
            self.rewinding.pop(key, None)
            return True
        if msg.offset < expected:
            return False  # handled already (a re-read after a seek back)
        if self.rewinding.get(key) == expected:  # sought back already: wait for it
            if time.monotonic() - self.rewound_at.get(key, 0) < 30:
                return False
            # the records before msg never came back: not dropped, absent (e.g. a truncated log)
            log.warning("offsets missing from a partition; going on", extra={
                "partition": f"{key.topic}[{key.partition}]", "from": expected, "to": msg.offset})
            self.rewinding.pop(key, None)
            return True
        self.rewinding[key] = expected
        self.rewound_at[key] = time.monotonic()
        await self.seek_back({key: expected}, "a gap in the records of a partition")
        return False

    async def seek_back(self, offsets: dict[TopicPartition, int], why: str) -> None:
        consumer = self.app._consumer
        thread = consumer._thread
        aio = thread._ensure_consumer()
        for key, offset in offsets.items():
            # in the consumer's own thread (see rewind_never_committed)
            await thread.call_thread(aio.seek, key, offset)
            REREAD.inc()
        log.warning("re-reading records faust fetched and never delivered", extra={
            "why": why, "partitions": {f"{k.topic}[{k.partition}]": o for k, o in sorted(offsets.items())}})

    def _own_input_offsets(self) -> None:
        """Before faust starts: for the input partitions, faust neither drops a record by its
        read offset nor fills a "gap" (``_read_offset`` answers None for them: ``in_sequence``
        passes over copies), and commits the next record to handle, nothing beyond
        (``_new_offset``; faust's own bookkeeping of acks still runs, so it stays bounded)."""
        consumer = self.app.consumer
        if getattr(consumer, "_itm_owned_offsets", False):
            return
        inputs = self.inputs

        class ReadOffsets(type(consumer._read_offset)):
            def __getitem__(self, tp):
                return None if tp[0] in inputs else super().__getitem__(tp)

        read = ReadOffsets(consumer._read_offset.default_factory)
        read.update(consumer._read_offset)
        consumer._read_offset = read
        new_offset = consumer._new_offset

        def next_to_handle(tp):
            offset = new_offset(tp)
            if tp.topic not in inputs:
                return offset
            key = TopicPartition(tp.topic, tp.partition)
            oldest = self.unacked.oldest(key)
            return oldest if oldest is not None else self.next_offsets.get(key)

        consumer._new_offset = next_to_handle
        consumer._itm_owned_offsets = True

    # -- records faust fetched and never delivered ------------------------------------------
    async def reread_dropped_forever(self, every_s: float = 1.0, idle_s: float = 2.0) -> None:
        """Seek back an assigned input partition whose position ran past the next record to
        handle while both agents have been idle for ``idle_s`` (so nothing is on its way
        through a stream buffer) and no rebalance runs, seen so on two checks in a row:
        faust dropped the tail of what it fetched (see the section's comment)."""
        suspect: dict[TopicPartition, int] = {}
        warned = False
        while True:
            await asyncio.sleep(every_s)
            try:
                await self._reread_dropped(suspect, idle_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - next round (warned once, then at debug level)
                (log.debug if warned else log.warning)("dropped-record check skipped: %r", exc)
                warned = True

    async def _reread_dropped(self, suspect: dict, idle_s: float) -> None:
        consumer = getattr(self.app, "_consumer", None)
        if (consumer is None or self.app.rebalancing or not self.assigned_once
                or time.monotonic() - self.last_handled < idle_s):
            suspect.clear()
            return
        thread = consumer._thread
        aio = thread._ensure_consumer()
        generation = getattr(self.app, "consumer_generation_id", 0)
        behind = {}
        for tp in consumer.assignment():
            if tp.topic not in self.inputs:
                continue
            key = TopicPartition(tp.topic, tp.partition)
            expected = self._expected(key)
            if expected is None:  # never committed, never handled here: rewind_never_committed's case
                continue
            position = await asyncio.wait_for(thread.call_thread(aio.position, key), 5)
            if position is not None and position > expected:
                behind[key] = expected
        for key in list(suspect):
            if key not in behind:
                del suspect[key]
        again = {key: offset for key, offset in behind.items() if suspect.get(key) == offset}
        suspect.update(behind)
        if not again or self.app.rebalancing or getattr(self.app, "consumer_generation_id", 0) != generation \
                or time.monotonic() - self.last_handled < idle_s:
            return
        for key in again:
            suspect.pop(key, None)
        await self.seek_back(again, "a partition's position past its last record handled, the agents idle")

    # -- what every consumer reports (itm/runtime/metrics.py) ------------------------------
    def consumed(self, msg, consumer: str) -> None:
        """One record handled (whatever its outcome): itm_events_consumed_total, and the
        partition's next offset for the lag."""
        self.next_offsets[TopicPartition(msg.topic, msg.partition)] = msg.offset + 1
        self.last_handled = time.monotonic()
        metrics.EVENTS_CONSUMED.labels(metrics.bare_topic(msg.topic, self.settings.topic_prefix), consumer).inc()

    def produced(self, topic: str, n: int = 1) -> None:
        metrics.EVENTS_PRODUCED.labels(metrics.bare_topic(topic, self.settings.topic_prefix)).inc(n)

    def _count_when_acked(self, fut, topic: str, counter=None) -> None:
        """Count a record sent once the broker acked it (and in ``counter`` too)."""
        def done(f):
            if not f.cancelled() and f.exception() is None:
                self.produced(topic)
                if counter is not None:
                    counter.inc()
        fut.add_done_callback(done)

    def observe_lag(self) -> None:
        """itm_consumer_lag per assigned topic-partition of both agents: the high watermark
        (from fetch responses, right on Tansu too) minus the next offset to process (the
        group's committed offset until this worker handled a record of it)."""
        consumer = getattr(self.app, "_consumer", None)
        if consumer is None or self.app.rebalancing:
            return
        prefix = self.settings.topic_prefix
        assigned = set()
        for tp in consumer.assignment():
            if tp.topic not in self.inputs:  # table changelogs, faust's leader topic
                continue
            try:
                high = consumer.highwater(tp)
            except Exception:  # noqa: BLE001 - not fetched yet
                high = None
            if high is None:
                continue
            key = TopicPartition(tp.topic, tp.partition)
            assigned.add(key)
            position = self.next_offsets.get(key)
            if position is None:
                position = consumer._committed_offset.get(tp) or 0  # faust's view of the group's offset
            name = "matcher.broadcast" if tp.topic in self.broadcast_inputs else "matcher.match"
            metrics.CONSUMER_LAG.labels(metrics.bare_topic(tp.topic, prefix), str(tp.partition), name).set(
                max(0, high - position))
        for key in list(self.next_offsets):
            if key not in assigned:  # revoked: another worker reports it now
                del self.next_offsets[key]
                name = "matcher.broadcast" if key.topic in self.broadcast_inputs else "matcher.match"
                try:
                    metrics.CONSUMER_LAG.remove(metrics.bare_topic(key.topic, prefix), str(key.partition), name)
                except KeyError:
                    pass

    async def observe_lag_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.observe_lag()
            except Exception as exc:  # noqa: BLE001 - a metric, never a reason to stop
                log.debug("consumer lag not observed: %r", exc)

    # -- agents ---------------------------------------------------------------------------
    async def broadcast_agent(self, stream):
        """Copy each opportunity record to every partition of the broadcast topic. The copies
        are sent at once and the next record is read without waiting for their acks (one
        broker round trip a record made the postings of an enterprise load take 10 ms each);
        the record is committed once every copy is acknowledged (``Unacked``)."""
        async for event in stream.events():
            msg = event.message
            if not await self.in_sequence(msg):
                continue
            try:
                decode(event.value)
            except MalformedEvent as exc:  # dead-lettered once here, not once per copy
                await self.dead_letter(event, str(exc))
            else:
                while len(self.unacked) >= BROADCAST_WINDOW:
                    await self.unacked.wait_oldest()
                copies = {partition: await self.broadcast_topic.send(key=event.key, value=event.value,
                                                                     partition=partition)
                          for partition in range(EMPLOYEE_PARTITIONS)}
                self.unacked.add(TopicPartition(msg.topic, msg.partition), msg.offset,
                                 asyncio.ensure_future(self.deliver_copies(event.key, event.value, copies)))
            self.consumed(msg, "matcher.broadcast")

    async def deliver_copies(self, key: bytes | None, value: bytes, copies: dict) -> None:
        """Wait for a record's broadcast copies; send again the ones the broker refused, until it takes them."""
        attempt = 0
        while True:
            results = await asyncio.gather(*copies.values(), return_exceptions=True)
            failed = [p for p, r in zip(copies, results) if isinstance(r, BaseException)]
            self.produced(self.broadcast_name, len(copies) - len(failed))
            if not failed:
                return
            attempt += 1
            log.warning("broadcast copies not acknowledged; sending them again",
                        extra={"partitions": failed, "attempt": attempt})
            await asyncio.sleep(min(0.2 * 2 ** min(attempt, 6), self.settings.retry_max_backoff_s))
            copies = {}
            for p in failed:
                try:
                    copies[p] = await self.broadcast_topic.send(key=key, value=value, partition=p)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the producer itself refused: later
                    fut = asyncio.get_running_loop().create_future()
                    fut.set_exception(exc)
                    copies[p] = fut

    async def match_agent(self, stream):
        await self.ready()
        async for event in stream.events():
            msg = event.message
            if not await self.in_sequence(msg):
                continue
            tp = TopicPartition(msg.topic, msg.partition)
            self.progress.holding(tp, msg.offset)
            await self.handle_guarded(event)
            self.progress.done(tp)
            self.consumed(msg, "matcher.match")

    async def handle_guarded(self, event) -> None:
        """``handle`` that no record can crash (issue 15 item 1): a record that cannot be
        decoded or checked is dead-lettered at once (``handle``); one whose handling raises
        is tried ``ITM_CONSUMER_MAX_ATTEMPTS`` times, then dead-lettered with the reason.
        Broker errors are retried without limit (not the record's fault); meanwhile the
        partition shows as stalled (``self.progress``)."""
        from aiokafka.errors import KafkaError

        attempt = 0
        while True:
            attempt += 1
            try:
                await self.handle(event)
                return
            except asyncio.CancelledError:
                raise
            except KafkaError as exc:
                log.warning("broker unavailable; retrying record", extra={"error": repr(exc)})
                await asyncio.sleep(min(0.2 * min(attempt, 10), self.settings.retry_max_backoff_s))
            except Exception as exc:  # noqa: BLE001 - bad data or a bug: bounded retries, then a dead letter
                if attempt >= self.settings.consumer_max_attempts:
                    await self.dead_letter(event, f"failed {attempt} times in matcher: "
                                                  f"{type(exc).__name__}: {str(exc)[:500]}")
                    return
                log.exception("matcher could not handle a record; retrying",
                              extra={"topic": event.message.topic, "offset": event.message.offset})
                await asyncio.sleep(min(0.1 * 2 ** attempt, self.settings.retry_max_backoff_s))

    async def handle(self, event) -> None:
        partition = event.message.partition
        if event.headers.get(CONTROL_HEADER) == RESCORE:
            started = time.perf_counter()
            await self.on_control(partition)
            SCORING_LATENCY.labels("scoring-change").observe(time.perf_counter() - started)
            return
        try:
            decoded = decode(event.value)
        except MalformedEvent as exc:
            await self.dead_letter(event, str(exc))
            return
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
            return
        SCORING_LATENCY.labels(cause).observe(time.perf_counter() - started)

    async def dead_letter(self, event, reason: str) -> None:
        """Send the record to ``itm.dead-letter`` with the reason, through faust's producer
        (it lives as long as the app, so it outlives agent restarts); retried until the
        broker takes it: the record is never passed over without its letter."""
        from itm.runtime.consumer import MAX_LETTER_KEY, MAX_LETTER_VALUE

        msg = event.message
        key, value = (event.key or b"")[:MAX_LETTER_KEY], event.value or b""
        if len(value) > MAX_LETTER_VALUE:
            reason = f"{reason} (original value truncated from {len(value)} bytes)"
            value = value[:MAX_LETTER_VALUE]
        letter = envelope_pb2.DeadLetter(original_topic=msg.topic, original_partition=msg.partition,
                                         original_offset=msg.offset, original_key=key,
                                         original_value=value, consumer="matcher", reason=reason[:2000])
        letter.failed_at.GetCurrentTime()
        env = new_envelope("itm.dead-letter", "matcher", key.decode(errors="replace") or "unknown", 0, letter)
        dlq = self.app.topic(self.settings.topic("itm.dead-letter"), key_serializer="raw", value_serializer="raw")
        attempt = 0
        while True:
            try:
                await (await dlq.send(key=key or None, value=env.SerializeToString()))
                self.produced(dlq.get_topic_name())
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker away: later
                attempt += 1
                log.warning("dead letter not sent yet; retrying", extra={"error": repr(exc), "attempt": attempt})
                await asyncio.sleep(min(0.2 * 2 ** min(attempt, 6), self.settings.retry_max_backoff_s))
        metrics.DEAD_LETTERS.labels(metrics.bare_topic(msg.topic, self.settings.topic_prefix), "matcher").inc()
        log.warning("dead-lettered event", extra={"topic": msg.topic, "offset": msg.offset, "reason": reason[:500]})

    # -- state helpers ----------------------------------------------------------------------
    def _floor(self, threshold: int) -> int:
        return self.engine.floor_for(threshold or self.engine.default_threshold)

    def _index(self, partition: int) -> "_HolderIndex":
        """skill -> employees of the partition (with related skills), for ``employees_to_rescore``:
        answered from the partition's ``SkillHolders`` (an index of its own, ``SkillIndex``, with
        every employee under each related skill too, was 280 MiB at 100,000 employees)."""
        return _HolderIndex(self._skill_holders(partition), self.related)

    def _skill_holders(self, partition: int) -> SkillHolders:
        got = self.skill_holders.get(partition)
        if got is None:  # an event for a partition assigned before on_recovered ran (defensive)
            got = self.skill_holders[partition] = SkillHolders()
        return got

    def _row_scores(self, emp: EmployeeState, affected: set[str], pairs: dict, cause_label: str) -> dict:
        """An employee against every open opportunity in one product (``VectorScorer.score_row``):
        of the opportunities a change affects, the ones to evaluate (held, or scoring at least
        the pair floor) with their scores ``{opportunity: (state, percent, missing must-have)}``.
        The others could not be kept, cross or be reported (not held: no match.updated).
        (Every opportunity affected: ``rescore_all``.)"""
        if emp.opted_out or not affected:
            return {}
        vec, opportunities = self.vector, self.replica.opportunities
        row = vec.score_row(emp.skills)
        kept = row.at_least(self._floor(emp.threshold))
        id_of = self.opportunity_ids.ids
        out = {opp_id: (opportunities[opp_id], p, m)
               for k, p, m in zip(vec.keys[kept.index].tolist(), kept.percent.tolist(), kept.missing_must.tolist())
               if (opp_id := id_of[k]) in affected}
        below = pairs.keys() & affected - out.keys()
        for opp_id in below:
            c = vec.col_of.get(opp_id)
            if c is not None:  # held but below the floor now (or 0); closed ones are released by rescore
                out[opp_id] = (opportunities[opp_id], *row.get(c))
        ruled_out = len(affected) - len(out) - len(below - out.keys())
        if ruled_out > 0:
            RULED_OUT.labels(cause_label).inc(ruled_out)
        return out

    def _pair_store(self, partition: int) -> PairScores:
        got = self.pair_scores.get(partition)
        if got is None:  # as _index
            got = self.pair_scores[partition] = PairScores(self.opportunity_ids)
        return got

    def _pairs(self, partition: int, emp_id: str, record: dict | None, stale: bool = False) -> dict:
        """The employee's pairs as the crossing rule reads them (``{opportunity: [score,
        threshold mark, full mark]}``): the scores in memory with the record's marks.

        ``stale``: the record was scored with another scoring configuration. The scores in
        memory were rebuilt with this worker's, so they are not the scores before the change
        and the ones under the old configuration are not stored anywhere: the previous
        scores are unknown, the pairs are the marks alone (score 0), and the rescoring
        reports every kept pair as changed from 0 (``match.updated.v2`` then lists them all)."""
        if stale:
            return merge_pairs({}, record_marks(record))
        return merge_pairs(self._pair_store(partition).row(emp_id), record_marks(record))

    def pairs_of(self, employee_id: str) -> dict:
        """An owned employee's pairs (``_pairs``), for the query API; empty when none."""
        p = partition_for(employee_id)
        if p not in self.owned:
            return {}
        return self._pairs(p, employee_id, self.employees.data.get(employee_id))

    def _store(self, partition: int, record: dict, pairs: dict | None = None, quiet=None) -> None:
        """Write an employee's record (the one table write per change) and count it; with
        ``pairs`` (all of the employee's pairs, or with ``quiet`` the others: ``rescore_all``'s
        opportunity ints and scores), their scores go to the partition's store."""
        self.employees[record["id"]] = record
        if quiet is not None:
            keys, percents = quiet
            intern = self.opportunity_ids.intern
            self._pair_store(partition).put_interned(
                record["id"], np.concatenate([keys, np.fromiter(map(intern, pairs), dtype=np.int32, count=len(pairs))]),
                np.concatenate([percents, np.fromiter((pair[0] for pair in pairs.values()), dtype=np.int64,
                                                      count=len(pairs))]))
        elif pairs is not None:
            self._pair_store(partition).put(record["id"], {o: pair[0] for o, pair in pairs.items()})
        self._touch(record["id"])
        self._count(partition, record["id"], record)
        self._export_kpi()

    def _touch(self, emp_id: str) -> None:
        """Note a change to an employee's state while a rebuild runs (it re-derives them at its end)."""
        if self._touched is not None:
            self._touched.add(emp_id)

    def _count(self, partition: int, emp_id: str, record: dict | None) -> None:
        matchable = bool(record) and not record["out"]
        qualified = matchable and any(mark[0] for mark in record_marks(record).values())
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
        self._skill_holders(partition).remove(employee_id)
        self._pair_store(partition).remove(employee_id)
        self._touch(employee_id)
        self.stale.get(partition, set()).discard(employee_id)
        self.employees.pop(employee_id, None)

    # -- event handling ----------------------------------------------------------------------
    async def on_employee(self, event, partition: int) -> None:
        record = self.employees.get(event.subject)
        if record and record["v"] >= event.version:
            return  # duplicate or out of order: nothing changes
        old = EmployeeState.from_json(record) if record else None
        emp = EmployeeState.from_profile(event.payload.profile, event.version)
        full = needs_rescore(record, self.engine.scoring_version, self.engine.fingerprint, self.engine.taxonomy)
        pairs = self._pairs(partition, event.subject, record, full)
        crossed = record_crossed(record)
        if emp.opted_out or not (full or old is None or old.opted_out):
            affected = opportunities_to_rescore(old, emp, self.replica, pairs, full, self._floor)
            scores = self._row_scores(emp, affected, pairs, "profile")
            pairs, quiet = await self.rescore(emp, scores.keys() | (affected & pairs.keys()), pairs, event, "profile",
                                              partition, scores, crossed), None
        else:  # every candidate (opportunities_to_rescore): the product finds them
            pairs, quiet = await self.rescore_all(emp, pairs, event, "profile", partition, crossed)
        scored_with = self.engine.scored_with if (full or not record) else (record.get("sv") or self.engine.scored_with)
        # one write, after the crossings were acknowledged (see engine.employee_record); the derived
        # state with it, with no await in between (a rebuild running meanwhile sees both or neither)
        self._store(partition, employee_record(emp, pairs, scored_with, self._open_only(crossed)), pairs, quiet)
        self._skill_holders(partition).put(emp.employee_id, emp.skills, self._floor(emp.threshold))
        if full:
            self.stale.get(partition, set()).discard(emp.employee_id)

    async def on_opportunity(self, event, partition: int) -> None:
        self.apply_replicated(event)
        opp_id = event.subject
        new = self.replica.opportunities.get(opp_id)
        old = self.views.setdefault(partition, {}).get(opp_id)
        holders = set(self._pair_store(partition).holders(opp_id))
        # floor=True even at ITM_MATCHER_PAIR_FLOOR_PERCENT=0: scores are whole percents, so a pair
        # under 1 % is not kept either (floor_for is at least 1), and a shrinking total weight can
        # lift it to 1 % (found by tests/unit/test_matcher_state.py: 0 -> 2 % with no rescoring)
        affected = employees_to_rescore(old, new, self._index(partition), holders, True)
        scored: dict[str, tuple[int, bool]] = {}
        if new is not None and affected:
            # the opportunity against every employee of the partition in one product; of the
            # affected employees the ones held or at least at their pair floor are evaluated
            people = self._skill_holders(partition)
            column = self.vector.score_column(opp_id, people)
            kept = column.at_least(people.floors)
            ids = people.ids
            scored = {ids[i]: (p, m) for i, p, m in zip(kept.index.tolist(), kept.percent.tolist(),
                                                        kept.missing_must.tolist())}
            for emp_id in holders - scored.keys():
                i = people.index_of.get(emp_id)
                scored[emp_id] = column.get(i) if i is not None else (0, False)
            todo = sorted(affected & scored.keys())
            if len(todo) < len(affected):
                RULED_OUT.labels("opportunity").inc(len(affected) - len(todo))
        else:
            todo = sorted(affected)  # closed: the holders, to release them
        # every employee's crossings are sent, then all are awaited at once, then the marks and
        # scores stored: nothing is stored before its crossing is acknowledged, and a failure
        # retries the whole event (the view moves last, so the retry sees the same change)
        acks: list[asyncio.Future] = []
        moved = []
        for emp_id in todo:
            record = self.employees.get(emp_id)
            if not record:
                continue
            emp = EmployeeState.from_json(record)
            marks = record_marks(record)
            held, mark = self._pair_store(partition).score(emp_id, opp_id), marks.get(opp_id)
            pair = None if held is None and mark is None else [held or 0, *(mark or NO_MARK)]
            score = scored.get(emp_id)
            crossed = record_crossed(record)
            new_pairs = await self.rescore(emp, {opp_id}, {opp_id: pair} if pair else {}, event, "opportunity",
                                           partition, {opp_id: (new, *score)} if score is not None else None, crossed,
                                           acks)
            got = new_pairs.get(opp_id)
            if got != pair:
                moved.append((emp, record, marks, mark, got, crossed))
        if acks:
            await asyncio.gather(*acks)
        for emp, record, marks, mark, got, crossed in moved:
            new_mark = [got[1], got[2]] if got and (got[1] or got[2]) else None
            if new_mark != mark:  # the marks moved (a crossing always moves them): the one table write
                if new_mark is None:
                    marks.pop(opp_id, None)
                else:
                    marks[opp_id] = new_mark
                self._store(partition, record_with_marks(emp, marks, record.get("sv") or [1, ""],
                                                         self._open_only(crossed)))
            # only the score moved: nothing to write (scores are derived, rebuilt after a rebalance)
            self._pair_store(partition).set(emp.employee_id, opp_id, None if got is None else got[0])
            self._touch(emp.employee_id)
        view = self.views.setdefault(partition, {})  # a rebuild may have replaced the views meanwhile
        if new is None:
            view.pop(opp_id, None)
        else:
            view[opp_id] = new

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
            if not needs_rescore(record, self.engine.scoring_version, self.engine.fingerprint, self.engine.taxonomy):
                continue
            emp = EmployeeState.from_json(record)
            pairs = self._pairs(partition, emp_id, record, stale=True)
            crossed = record_crossed(record)
            if emp.opted_out:  # every pair is released
                pairs, quiet = await self.rescore(emp, set(pairs), pairs, cause, "scoring-change", partition), None
            else:  # every candidate (opportunities_to_rescore, full): the product finds them
                pairs, quiet = await self.rescore_all(emp, pairs, cause, "scoring-change", partition, crossed)
            self._store(partition, employee_record(emp, pairs, self.engine.scored_with, self._open_only(crossed)),
                        pairs, quiet)
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
        self.produced(self.broadcast_name)

    def _open_only(self, crossed: dict) -> dict:
        """Crossing counts of open opportunities only (a closed one never crosses again)."""
        return {opp_id: n for opp_id, n in crossed.items() if opp_id in self.replica.opportunities}

    async def _send_updates(self, emp: EmployeeState, cause, changed: list) -> None:
        """match.updated.v2: the event's changed pairs of this employee in one record
        (``changed``: ``(opportunity, PairScore)``, or ``(opportunity, score)`` for a pair new
        and quiet), and while it is on the deprecated match.updated, one record per pair."""
        payload = events_pb2.MatchesUpdated(employee_id=emp.employee_id, scoring_version=self.engine.scoring_version,
                                            cause_event_id=cause.event_id, cause_event_type=cause.type)
        add, append = payload.pairs.add, payload.pairs.append
        for opp_id, u in changed:
            if type(u) is int:
                add(opportunity_id=opp_id, score_percent=u, previous_score_percent=0, qualified=False)
            else:
                append(u)
        for u in payload.pairs if self.legacy_updates else ():
            legacy = events_pb2.MatchUpdated(
                employee_id=emp.employee_id, opportunity_id=u.opportunity_id, score_percent=u.score_percent,
                previous_score_percent=u.previous_score_percent, qualified=u.qualified,
                scoring_version=self.engine.scoring_version)
            env = new_envelope("match.updated", "matcher", emp.employee_id, emp.version, legacy,
                               cause.envelope.correlation_id, cause.event_id)
            fut = await self.updated_topic.send(key=emp.employee_id.encode(), value=env.SerializeToString())
            self._count_when_acked(fut, self.updated_topic.get_topic_name())
        env = new_envelope("match.updated.v2", "matcher", emp.employee_id, emp.version, payload,
                           cause.envelope.correlation_id, cause.event_id)
        fut = await self.updates_topic.send(key=emp.employee_id.encode(), value=env.SerializeToString())
        self._count_when_acked(fut, self.updates_topic.get_topic_name())

    async def rescore_all(self, emp: EmployeeState, pairs: dict, cause, cause_label: str, partition: int,
                          crossed: dict) -> tuple[dict, tuple[np.ndarray, np.ndarray]]:
        """Rescore an employee (not opted out) against every open opportunity: a new one, one
        opting back in, one scored with another configuration. ``pairs``: what they hold
        (here only marked pairs, or none). One product scores everything; the kept pairs that
        are neither held, qualified nor the employee's own are quiet (``Matcher.quiet`` for
        a pair with no previous one: kept at its score, reported as moved from 0), nearly
        all of them, and are decided here at once as arrays; the others go through
        ``rescore``. Returns (the pairs ``rescore`` decided, (the quiet pairs' opportunity
        ints, their scores)) for ``_store``."""
        vec, opportunities, ids = self.vector, self.replica.opportunities, self.opportunity_ids
        threshold = emp.threshold_or(self.engine.default_threshold)
        row = vec.score_row(emp.skills)
        kept = row.at_least(self._floor(emp.threshold))
        keys = vec.keys[kept.index]
        loud = (kept.percent >= threshold) & ~kept.missing_must  # may cross
        special = [ids.get(o) for o in pairs.keys() | self.replica.owned_by.get(emp.employee_id, ())]
        special = [k for k in special if k is not None]
        if special:  # held (with a previous score and marks) or their own (no pair at all)
            loud |= np.isin(keys, np.array(special, dtype=np.int32))
        quiet_keys, quiet_percents = keys[~loud], kept.percent[~loud]
        id_of = ids.ids
        scores = {id_of[k]: (opportunities[id_of[k]], p, m)
                  for k, p, m in zip(keys[loud].tolist(), kept.percent[loud].tolist(), kept.missing_must[loud].tolist())}
        for opp_id in pairs.keys() - scores.keys():
            c = vec.col_of.get(opp_id)
            if c is not None:  # held but below the floor now (or 0); closed ones are released by rescore
                scores[opp_id] = (opportunities[opp_id], *row.get(c))
        new_quiet = [(id_of[k], p) for k, p in zip(quiet_keys.tolist(), quiet_percents.tolist())]
        if new_quiet:
            RESCORINGS.labels(cause_label).inc(len(new_quiet))
        pairs = await self.rescore(emp, scores.keys() | pairs.keys(), pairs, cause, cause_label, partition, scores,
                                   crossed, new_quiet=new_quiet)
        return pairs, (quiet_keys, quiet_percents)

    async def rescore(self, emp: EmployeeState, opp_ids, pairs: dict, cause, cause_label: str, partition: int,
                      scores: dict | None = None, crossed: dict | None = None, acks: list | None = None,
                      new_quiet: list | None = None) -> dict:
        """Rescore ``emp`` against ``opp_ids``; send crossings and updates; return the new
        pairs and count the crossings in ``crossed`` (``employee_record``'s ``x``). The
        caller stores them (the marks in the table, the scores in the partition's
        ``PairScores``), and only once the crossings are acknowledged: they are sent
        together, and awaited here together, or, given ``acks``, their futures are added
        to it for the caller to await (all the crossings of a posting at once).
        ``scores``: the vectorised core's ``{opportunity: (the state it scored, percent,
        missing must-have)}``; a pair without one, or whose opportunity changed since
        (the replica moves while crossings are sent), is scored by the scalar scorer.
        ``new_quiet``: pairs ``rescore_all`` decided, ``(opportunity, score)`` each, reported
        with these as moved from 0 and not qualified."""
        crossed = {} if crossed is None else crossed
        sent: list[asyncio.Future] = []
        pairs = dict(pairs)
        scored = 0
        changed: list[tuple[str, events_pb2.PairScore | int]] = []  # (opportunity, its update or a new_quiet score)
        threshold = emp.threshold_or(self.engine.default_threshold)
        for opp_id in sorted(opp_ids):
            opp = self.replica.opportunities.get(opp_id)
            prev = pairs.get(opp_id)
            if opp is None:  # closed or filled: release the pair
                pairs.pop(opp_id, None)
                continue
            scored += 1
            got = scores.get(opp_id) if scores else None
            if got is not None and got[0] is opp:
                # most pairs are quiet (Matcher.quiet): decided without the crossing rule's call
                out = self.engine.quiet(emp, opp, prev, got[1], got[2], threshold) or self.engine.decide(
                    emp, opp, prev, got[1], got[2], self.replica, cause.event_id, cause.type, self.mentors)
            else:
                out = self.engine.evaluate(emp, opp, prev, self.replica, cause.event_id, cause.type, self.mentors)
            if out.pair != prev:
                if out.pair is None:
                    pairs.pop(opp_id, None)
                else:
                    pairs[opp_id] = out.pair
            if out.crossing is not None:
                env = new_envelope("match.threshold-crossed", "matcher", emp.employee_id, emp.version, out.crossing,
                                   cause.envelope.correlation_id, cause.event_id, cause.envelope.replayed)
                ordinal, crossed[opp_id] = next_crossing(crossed.get(opp_id), prev, out.crossing)
                env.event_id = crossing_event_id(out.crossing, ordinal)
                fut = await self.crossed_topic.send(key=emp.employee_id.encode(), value=env.SerializeToString())
                self._count_when_acked(fut, self.crossed_topic.get_topic_name(), CROSSINGS)
                sent.append(fut)
            if out.updated is not None:
                changed.append((opp_id, out.updated))
        if new_quiet:  # in opportunity order, as the loop's (the two never list the same opportunity)
            changed = sorted(changed + new_quiet)
        if changed:
            await self._send_updates(emp, cause, changed)
        if scored:
            RESCORINGS.labels(cause_label).inc(scored)
        if acks is not None:
            acks.extend(sent)
        elif sent:
            await asyncio.gather(*sent)
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
            if p not in self.owned or p not in self.pair_scores:
                continue
            pair_store = self.pair_scores[p]
            for emp_id in pair_store.holders(opp_id):
                record = self.employees.data.get(emp_id)
                score = pair_store.score(emp_id, opp_id)
                if not record or score is None:
                    continue
                if record["out"] or record.get("hidden") or (record["types"] and opp.type not in record["types"]):
                    continue  # the employee's choices: opted out, hidden from owners, not this kind of opportunity
                out.append((score, emp_id, record))
        return out

    # -- lifecycle ----------------------------------------------------------------------
    async def run(self) -> None:
        readers = [
            asyncio.create_task(self.group_less_reader(OPPORTUNITY_TOPICS + CATALOG_TOPICS, self.apply_replicated,
                                                       self.replica_ready, "replica"), name="replica-reader"),
            asyncio.create_task(self.group_less_reader(PROFILE_TOPICS, self.apply_mentor, self.mentors_ready,
                                                       "mentor index"), name="mentor-reader"),
            asyncio.create_task(self.observe_lag_forever(), name="consumer-lag"),
            asyncio.create_task(self.reread_dropped_forever(), name="reread-dropped"),
        ]
        self._own_input_offsets()
        gc.set_threshold(*GC_THRESHOLDS)
        await self.app.start()
        self.running = True
        try:
            await asyncio.Event().wait()
        finally:
            self.running = False
            for reader in readers:
                reader.cancel()
            await self.app.stop()


class _HolderIndex:
    """``SkillIndex.employees_for`` over a partition's ``SkillHolders``."""

    __slots__ = ("holders", "related")

    def __init__(self, holders: SkillHolders, related):
        self.holders, self.related = holders, related

    def employees_for(self, skill_ids) -> set[str]:
        return self.holders.employees_for(skill_ids, self.related)


def worker_id(address: str) -> str:
    return f"{address}/{os.getpid()}"
