"""The matcher's pure core: state shapes, the replica, and the crossing rule.

No Kafka and no faust here, so every rule is unit-testable. The faust app
(``services/matcher/app.py``) feeds events in and ships the outcomes out.

Crossing rule (design brief): a ``match.threshold-crossed`` fires when a match
becomes qualified at the employee's threshold T (score >= T, no must-have at
zero credit) or reaches 100 %, and not again for the same opportunity until it
first dropped below the threshold: an employee who lowers (or raises) T is not
shown a match again that was shown and stayed qualified since. An employee is
never matched with an opportunity they own (``OpportunityMatchProfile.owner_id``). Pair state is kept only for pairs with
a non-zero score (sparse); a pair absent from state scored 0.

Incremental rescoring (what a change can affect):

* :func:`opportunities_to_rescore`: an employee change rescores only the open
  opportunities that require a skill whose evidence changed, or a skill
  related to it; all of the employee's pairs when the threshold changed; every
  candidate when the employee is new, opts back in, or was scored with another
  scoring configuration.
* :func:`employees_to_rescore`: a requirement change rescores the employees
  who have (or have a skill related to) a requirement skill whose level,
  weight or must-have flag changed; plus every holder of a pair when the
  weights or must-haves changed (the denominator or the qualification of
  everybody moved); a posting the employees with a required (or related)
  skill; a closing the holders only (to release them).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from services.matcher.scoring import (
    CourseOffer,
    EvidenceFactors,
    Requirement,
    merge_requirements,
    SkillEvidence,
    plan_learning_path,
    projected_after,
    score_match,
)
from itm.v1 import common_pb2, events_pb2

STATUS_NAMES = {
    common_pb2.SKILL_STATUS_VERIFIED: "verified",
    common_pb2.SKILL_STATUS_INFERRED: "inferred",
    common_pb2.SKILL_STATUS_CLAIMED: "claimed",
    common_pb2.SKILL_STATUS_ASPIRATIONAL: "aspirational",
}
STATUS_ENUMS = {v: k for k, v in STATUS_NAMES.items()}
log = logging.getLogger(__name__)
CROSSING_NS = uuid.UUID("6f1c1a52-2b7e-4c59-9d87-2f0c3f6b2a10")


@lru_cache(maxsize=None)
def _evidence(level: int, status: str) -> SkillEvidence:
    """SkillEvidence is immutable and there are only 5 x 4 of them: share them
    (building and validating one per skill per scoring cost a third of the time)."""
    return SkillEvidence(level=level, status=status)


@dataclass(slots=True)
class EmployeeState:
    """What the matcher keeps per employee (blind: no name or protected data)."""

    employee_id: str
    version: int
    skills: dict[str, tuple[int, str]]  # skill id -> (level, status name)
    threshold: int = 0
    opted_out: bool = False
    types: list[int] = field(default_factory=list)
    mentoring: bool = False
    department: str = ""
    location: str = ""
    hidden: bool = False  # not listed for opportunity owners (BestCandidates); their own matches are unaffected

    @classmethod
    def from_profile(cls, p: common_pb2.EmployeeMatchProfile, version: int) -> EmployeeState:
        return cls(
            employee_id=p.employee_id,
            version=version,
            skills={s.skill_id: (s.level, STATUS_NAMES.get(s.status, "claimed")) for s in p.skills},
            threshold=p.threshold_percent,
            opted_out=p.opted_out,
            types=list(p.opportunity_types),
            mentoring=p.mentoring_opt_in,
            department=p.department,
            location=p.location,
            hidden=p.hidden_from_opportunity_owners,
        )

    def to_json(self) -> dict:
        return {
            "id": self.employee_id, "v": self.version, "skills": {k: list(v) for k, v in self.skills.items()},
            "t": self.threshold, "out": self.opted_out, "types": self.types, "mentor": self.mentoring,
            "dept": self.department, "loc": self.location, "hidden": self.hidden,
        }

    @classmethod
    def from_json(cls, d: dict) -> EmployeeState:
        return cls(d["id"], d["v"], {k: (v[0], v[1]) for k, v in d["skills"].items()}, d["t"], d["out"],
                   d["types"], d["mentor"], d["dept"], d["loc"], d.get("hidden", False))

    def evidence(self) -> dict[str, SkillEvidence]:
        return {k: _evidence(lv, st) for k, (lv, st) in self.skills.items()}

    def threshold_or(self, default: int) -> int:
        return self.threshold or default

    def wants(self, opp_type: int) -> bool:
        return not self.opted_out and (not self.types or opp_type in self.types)


def employee_record(emp: EmployeeState, pairs: dict, scored_with: list, crossed: dict | None = None) -> dict:
    """The matcher's one table value per employee: the profile it holds, the
    notification marks of its pairs that carry one ``{opportunity id: [threshold
    while qualified since shown (0: not), notified 100 %]}`` (``marks``; taken from
    ``pairs``, ``{opportunity id: [score, notified threshold, notified full]}``; the
    scores are derived and live in memory only, ``pair_store.PairScores``), the
    scoring ``[version, fingerprint]`` the pairs were computed with, and the
    crossings pushed per open opportunity ``{opportunity id: [qualified, full]}``
    (``x``; kept when a pair drops out: a later crossing's id needs the count).

    One value, hence one changelog record per change: a worker killed between
    writes can never recover an employee version without the marks it produced
    (which would make the redelivered event look stale and lose its crossing).
    A recovered record has no scores: they are rebuilt from the profile and the
    replica after the rebalance, so nothing a crash could lose is in them."""
    return record_with_marks(emp, {o: [p[1], p[2]] for o, p in pairs.items() if p[1] or p[2]}, scored_with, crossed)


def record_with_marks(emp: EmployeeState, marks: dict, scored_with: list, crossed: dict | None = None) -> dict:
    """``employee_record`` from the marks themselves (``{opportunity id: [threshold mark,
    full mark]}``, only pairs carrying one)."""
    d = emp.to_json()
    if marks:
        d["marks"] = marks
    d["sv"] = scored_with
    if crossed:
        d["x"] = crossed
    return d


def record_marks(record: dict | None) -> dict:
    """The record's notification marks ``{opportunity id: [threshold mark, full mark]}``
    (only pairs carrying one), a copy. A record written before the compact state holds
    ``pairs`` (``{opportunity id: [score, threshold mark, full mark]}``) instead: its
    marks are taken and its scores ignored (they are rebuilt)."""
    if not record:
        return {}
    marks = record.get("marks")
    if marks is None:
        return {o: [p[1], p[2]] for o, p in (record.get("pairs") or {}).items() if p[1] or p[2]}
    return {o: list(m) for o, m in marks.items()}


def record_crossed(record: dict | None) -> dict:
    """The record's crossing counts per opportunity (see ``employee_record``), a copy."""
    return {k: list(v) for k, v in (record.get("x") or {}).items()} if record else {}


def needs_rescore(record: dict | None, version: int, fingerprint: str, taxonomy=None) -> bool:
    """True when the record's pairs were computed with an older scoring version,
    or the same version with another configuration. A record scored by a
    *newer* version is left alone (a rolled-back worker must not undo it).

    ``taxonomy`` (an ``itm.taxonomy.Taxonomy``): a record scored with another
    taxonomy version needs rescoring only if the employee holds a skill that
    changed since that version (``Taxonomy.changed_since``: added, renamed,
    merged or re-related skills, both ends of a relation); when the file does not
    know that version (a new ESCO import), every record scored with it does."""
    if not record:
        return False
    sv = record.get("sv") or [1, ""]
    stored_version, stored_fp = sv[:2]
    if stored_version != version:
        return stored_version < version
    if stored_fp != fingerprint:
        return True
    if taxonomy is None:
        return False
    stored_taxonomy = sv[2] if len(sv) > 2 else ""
    if stored_taxonomy == taxonomy.version:
        return False
    changed = taxonomy.changed_since(stored_taxonomy)
    return changed is None or not changed.isdisjoint(record.get("skills") or ())


@dataclass(slots=True)
class OpportunityState:
    opportunity_id: str
    version: int
    title: str
    type: int
    open: bool
    requirements: list[Requirement]
    owner_id: str = ""
    bound_terms: tuple | None = None  # Matcher.score_bound's compiled requirements, built on first use

    @classmethod
    def from_profile(cls, p: common_pb2.OpportunityMatchProfile, version: int) -> OpportunityState:
        return cls(
            opportunity_id=p.opportunity_id,
            version=version,
            title=p.title,
            type=p.type,
            open=p.status == common_pb2.OPPORTUNITY_STATUS_OPEN,
            requirements=[Requirement(r.skill_id, r.min_level, r.weight or 1.0, r.must_have) for r in p.requirements],
            owner_id=p.owner_id,
        )

    def skills(self) -> set[str]:
        return {r.skill_id for r in self.requirements}

    def requirement_map(self) -> dict[str, Requirement]:
        return {r.skill_id: r for r in merge_requirements(self.requirements)}


def related_to(related, skill_id: str) -> frozenset[str]:
    """The skills that can earn related credit towards a requirement for ``skill_id``
    (``score_match``'s rule: another skill, with a strength above 0)."""
    return frozenset(t for t, strength in (related(skill_id) or {}).items() if t != skill_id and strength > 0)


class Replica:
    """Open opportunities and the catalog: small, replicated to every worker.

    Applying is idempotent and ordered by entity version, so the same change
    arriving from the global reader and from the broadcast topic is harmless.
    """

    def __init__(self, related=None, vector=None):
        self.related = related or (lambda skill_id: {})
        # the open opportunities as the vectorised core's columns (services/matcher/vector.py), kept in
        # step by put/drop; None: not kept (the scalar scorer only)
        self.vector = vector
        self.opportunities: dict[str, OpportunityState] = {}
        self.owned_by: dict[str, set[str]] = defaultdict(set)  # owner -> their open opportunities
        self.versions: dict[str, int] = {}  # also remembers closed ones, so stale reopenings are ignored
        self.by_skill: dict[str, set[str]] = defaultdict(set)
        # for Matcher.bounds_for: skill -> {open opportunity: (min level, weight)} of the merged
        # requirements, each open opportunity's total weight, and skill t -> the requirement
        # skills that t is related to (t earns related credit towards them)
        self.postings: dict[str, dict[str, tuple[int, float]]] = defaultdict(dict)
        self.total_weight: dict[str, float] = {}
        self.related_requirements: dict[str, set[str]] = defaultdict(set)
        self._related_known: set[str] = set()
        self.courses: dict[str, CourseOffer] = {}
        self.course_versions: dict[str, int] = {}
        # skill -> {course id: offer} of the courses teaching it: a learning path only ever uses
        # courses teaching one of the gaps' skills, and the catalog may hold thousands
        self.courses_by_skill: dict[str, dict[str, CourseOffer]] = defaultdict(dict)

    def apply_opportunity(self, p: common_pb2.OpportunityMatchProfile, version: int) -> OpportunityState | None:
        """Apply a snapshot; returns the new state (closed ones too) or None if stale."""
        if version <= self.versions.get(p.opportunity_id, 0):
            return None
        self.versions[p.opportunity_id] = version
        self.drop(p.opportunity_id)
        new = OpportunityState.from_profile(p, version)
        if new.open:
            self.put(new)
        return new

    def put(self, opp: OpportunityState) -> None:
        """Index an open opportunity (no version check: ``apply_opportunity`` does that)."""
        self.drop(opp.opportunity_id)
        self.opportunities[opp.opportunity_id] = opp
        if opp.owner_id:
            self.owned_by[opp.owner_id].add(opp.opportunity_id)
        if self.vector is not None:
            self.vector.put(opp.opportunity_id, opp.requirements)
        reqs = merge_requirements(opp.requirements)
        self.total_weight[opp.opportunity_id] = sum(r.weight for r in reqs)
        for r in reqs:
            self.by_skill[r.skill_id].add(opp.opportunity_id)
            self.postings[r.skill_id][opp.opportunity_id] = (r.min_level, r.weight)
            if r.skill_id not in self._related_known:
                self._related_known.add(r.skill_id)
                for t in related_to(self.related, r.skill_id):
                    self.related_requirements[t].add(r.skill_id)

    def drop(self, opp_id: str) -> None:
        old = self.opportunities.pop(opp_id, None)
        if old is None:
            return
        if old.owner_id:
            mine = self.owned_by[old.owner_id]
            mine.discard(opp_id)
            if not mine:
                del self.owned_by[old.owner_id]
        if self.vector is not None:
            self.vector.drop(opp_id)
        self.total_weight.pop(opp_id, None)
        for s in old.skills():
            self.by_skill[s].discard(opp_id)
            self.postings[s].pop(opp_id, None)

    def apply_course(self, c: common_pb2.Course, version: int) -> bool:
        if version <= self.course_versions.get(c.course_id, 0):
            return False
        self.course_versions[c.course_id] = version
        old = self.courses.pop(c.course_id, None)
        for skill_id in old.teaches if old else ():
            self.courses_by_skill[skill_id].pop(c.course_id, None)
        if not c.retired:
            offer = CourseOffer(c.course_id, c.title, c.hours, {t.skill_id: t.level for t in c.teaches})
            self.courses[c.course_id] = offer
            for skill_id in offer.teaches:
                self.courses_by_skill[skill_id][c.course_id] = offer
        return True

    def courses_teaching(self, skill_ids) -> list[CourseOffer]:
        """The catalog's courses teaching at least one of these skills, each once."""
        found: dict[str, CourseOffer] = {}
        for skill_id in skill_ids:
            found.update(self.courses_by_skill.get(skill_id, {}))
        return list(found.values())

    def candidates_for(self, skill_ids) -> set[str]:
        """Open opportunities that require one of these skills or a related one."""
        found: set[str] = set()
        for s in skill_ids:
            found |= self.by_skill.get(s, set())
            for r in self.related(s):
                found |= self.by_skill.get(r, set())
        return found


class SkillIndex:
    """skill -> employees that have it (or a related skill), for this worker."""

    def __init__(self, related=None):
        self.related = related or (lambda skill_id: {})
        self.by_skill: dict[str, set[str]] = defaultdict(set)
        self.skills_of: dict[str, set[str]] = {}

    def put(self, emp: EmployeeState) -> None:
        self.remove(emp.employee_id)
        keys = set(emp.skills)
        for s in emp.skills:
            keys |= set(self.related(s))
        self.skills_of[emp.employee_id] = keys
        for s in keys:
            self.by_skill[s].add(emp.employee_id)

    def remove(self, employee_id: str) -> None:
        for s in self.skills_of.pop(employee_id, ()):
            self.by_skill[s].discard(employee_id)

    def employees_for(self, skill_ids) -> set[str]:
        found: set[str] = set()
        for s in skill_ids:
            found |= self.by_skill.get(s, set())
        return found


class MentorIndex:
    """Who can mentor what, replicated on every worker.

    Employees are partitioned, but a learner's gap can be closed by a mentor in
    any partition, so every worker keeps this small index of *opted-in*
    employees' verified skills, fed by a group-less reader of the profile
    topics. Version-guarded per employee (duplicates and stale events change
    nothing); versions are remembered for everyone, so a stale event cannot
    re-add somebody who has since opted out. Employees who opted out of
    matching are not offered as mentors either.
    """

    def __init__(self):
        self.versions: dict[str, int] = {}
        self.skills_of: dict[str, dict[str, int]] = {}  # mentor -> {skill: verified level}
        self.by_skill: dict[str, dict[str, int]] = defaultdict(dict)  # skill -> {mentor: level}

    def __len__(self) -> int:
        return len(self.skills_of)

    def apply(self, p: common_pb2.EmployeeMatchProfile, version: int) -> bool:
        """Apply an employee snapshot; False if stale or a duplicate."""
        if version <= self.versions.get(p.employee_id, 0):
            return False
        self.versions[p.employee_id] = version
        self._drop(p.employee_id)
        if p.mentoring_opt_in and not p.opted_out:
            verified = {s.skill_id: s.level for s in p.skills if s.status == common_pb2.SKILL_STATUS_VERIFIED}
            if verified:
                self.skills_of[p.employee_id] = verified
                for skill, level in verified.items():
                    self.by_skill[skill][p.employee_id] = level
        return True

    def erase(self, employee_id: str, version: int) -> None:
        self.versions[employee_id] = max(version, self.versions.get(employee_id, 0))
        self._drop(employee_id)

    def _drop(self, employee_id: str) -> None:
        for skill in self.skills_of.pop(employee_id, {}):
            holders = self.by_skill.get(skill)
            if holders is not None:
                holders.pop(employee_id, None)
                if not holders:
                    del self.by_skill[skill]

    def find(self, skill_id: str, level: int, exclude: str = "", limit: int = 3) -> list[tuple[str, int]]:
        """Up to ``limit`` (mentor, level) with ``skill_id`` verified at >= ``level``:
        the highest level first, then by id (deterministic)."""
        if limit <= 0:
            return []
        found = ((e, lv) for e, lv in self.by_skill.get(skill_id, {}).items() if lv >= level and e != exclude)
        return heapq.nsmallest(limit, found, key=lambda t: (-t[1], t[0]))


def skill_changes(old: EmployeeState | None, new: EmployeeState) -> set[str]:
    """Skills whose evidence (level or status) was added, removed or changed."""
    if old is None:
        return set(new.skills)
    return {s for s in old.skills.keys() | new.skills.keys() if old.skills.get(s) != new.skills.get(s)}


def opportunities_to_rescore(old: EmployeeState | None, new: EmployeeState, replica: Replica, pairs,
                             full: bool = False, floor=None) -> set[str]:
    """The open opportunities whose pair with this employee a change can affect.

    ``floor``: the matcher's ``floor_for(threshold)`` when pairs below a score
    floor are not kept (None: every non-zero pair is kept)."""
    held = set(pairs)
    if new.opted_out:
        return held  # every pair is released
    if full or old is None or old.opted_out:
        return replica.candidates_for(new.skills) | held
    affected = replica.candidates_for(skill_changes(old, new))
    if old.threshold != new.threshold:
        affected |= held  # same scores, but qualification at the new threshold
        if floor is not None and floor(new.threshold) < floor(old.threshold):
            affected |= replica.candidates_for(new.skills)  # pairs below the old floor are kept now
    return affected


def employees_to_rescore(old: OpportunityState | None, new: OpportunityState | None, index: SkillIndex,
                         holders, floor: bool = False) -> set[str]:
    """The employees (of ``index``) whose pair with this opportunity a change can affect.

    ``old`` is the opportunity as the caller's pairs last saw it (None: unknown,
    so assume anything changed), ``new`` the current state (None or not open:
    closed, so only the holders, to release them). ``floor``: pairs below a
    score floor are not kept, so the holders are not every employee with a
    non-zero score: when the total weight shrinks, everybody's score grows by
    the same factor and one below the floor may reach it."""
    held = set(holders)
    if new is None or not new.open:
        return held
    if old is None or not old.open:
        return index.employees_for(new.skills()) | held
    before, after = old.requirement_map(), new.requirement_map()
    changed = {s for s in before.keys() | after.keys() if before.get(s) != after.get(s)}
    if not changed:
        return set()  # title, type, department: no score moves
    affected = index.employees_for(changed)
    weights = lambda reqs: {s: (r.weight, r.must_have) for s, r in reqs.items()}  # noqa: E731
    if weights(before) != weights(after):
        affected |= held  # the denominator or the must-haves moved: every score or qualification may
        if floor and sum(r.weight for r in after.values()) < sum(r.weight for r in before.values()):
            affected |= index.employees_for(new.skills())  # every non-zero score grew
    return affected


def scoring_fingerprint(factors: EvidenceFactors, related_cap: float, default_threshold: int,
                        taxonomy_records=None, pair_floor: int = 0) -> str:
    """A short hash of everything besides the formula that decides scores and
    qualification, so that changing a factor without bumping the scoring
    version still rescores (see ``needs_rescore``)."""
    blob = json.dumps({"f": [factors.verified, factors.inferred, factors.claimed, factors.aspirational],
                       "cap": related_cap, "t": default_threshold, "floor": pair_floor,
                       "tax": hashlib.sha1(json.dumps(taxonomy_records, sort_keys=True).encode()).hexdigest()
                       if taxonomy_records is not None else ""}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


@dataclass(slots=True)
class Outcome:
    pair: list | None  # [score, notified_threshold, notified_full] or None to drop the pair
    crossing: events_pb2.ThresholdCrossed | None = None
    updated: events_pb2.PairScore | None = None  # the score moved: one pair of match.updated.v2


class Matcher:
    def __init__(self, factors: EvidenceFactors, related, related_cap: float, default_threshold: int, scoring_version: int,
                 fingerprint: str = "", mentors_per_gap: int = 3, pair_floor: int = 0, taxonomy=None):
        self.factors = factors
        self.taxonomy = taxonomy  # what needs_rescore compares records with (None: not part of the scoring)
        self.related = related
        self.related_cap = related_cap
        self.default_threshold = default_threshold
        self.scoring_version = scoring_version
        self.fingerprint = fingerprint or scoring_fingerprint(factors, related_cap, default_threshold)
        self.mentors_per_gap = mentors_per_gap
        self.pair_floor = pair_floor
        self._factor = {name: factors.factor(name) for name in STATUS_NAMES.values()}

    @property
    def scored_with(self) -> list:
        if self.taxonomy is None:
            return [self.scoring_version, self.fingerprint]
        return [self.scoring_version, self.fingerprint, self.taxonomy.version]

    def score(self, emp: EmployeeState, opp: OpportunityState):
        return score_match(opp.requirements, emp.evidence(), self.factors, self.related, self.related_cap)

    # -- the score bound ------------------------------------------------------------------
    # Per requirement (merged as ``score_match`` merges them): the direct credit
    # exactly, or ``related_cap`` when the employee holds any skill related to it
    # and the direct credit is lower (related credit never exceeds the cap). The
    # candidates of a registration or a posting (typically a fifth of the other
    # side shares a skill or a related one) mostly score far below the floor; a
    # pair not held whose bound is below the floor could not be kept, cross (the
    # floor is never above the threshold) or be reported (not held: no
    # match.updated), so the matcher does not score it (``worth_scoring``,
    # ``worth_scoring_pair``).

    def score_bound(self, skills: dict, opp: OpportunityState) -> float:
        """The bound for one pair, in percent. ``skills``: skill -> (level, status
        name), an ``EmployeeState.skills`` or a stored record's ``skills``."""
        terms = opp.bound_terms
        if terms is None:
            reqs = merge_requirements(opp.requirements)
            terms = opp.bound_terms = (
                sum(r.weight for r in reqs),
                tuple((r.skill_id, r.min_level, r.weight, related_to(self.related, r.skill_id)) for r in reqs))
        total, reqs = terms
        if not reqs:
            return 100.0
        factor, cap = self._factor, self.related_cap
        num = 0.0
        for skill, need, weight, related in reqs:
            held = skills.get(skill)
            credit = 0.0 if held is None else factor[held[1]] * (1.0 if held[0] >= need else held[0] / need)
            if credit < cap and related and not related.isdisjoint(skills):
                credit = cap
            num += weight * credit
        return num * 100.0 / total

    def bounds_for(self, skills: dict, replica: Replica) -> dict[str, float]:
        """The bound for every open opportunity of ``replica`` that requires one of
        these skills or one they are related to, in one pass over the requirement
        postings (about a quarter of :meth:`score_bound`'s cost per candidate);
        the others score 0. Equal to :meth:`score_bound` up to float rounding."""
        reach: set[str] = set()
        related_requirements = replica.related_requirements
        for t in skills:
            got = related_requirements.get(t)
            if got:
                reach |= got
        factor, cap, postings = self._factor, self.related_cap, replica.postings
        num: dict[str, float] = {}
        get = num.get
        for k in skills.keys() | reach:
            posted = postings.get(k)
            if not posted:
                continue
            held = skills.get(k)
            if held is None:  # related credit only (k is in reach)
                for o, (_, weight) in posted.items():
                    num[o] = get(o, 0.0) + weight * cap
                continue
            level, f = held[0], factor[held[1]]
            related = k in reach
            for o, (need, weight) in posted.items():
                credit = f if level >= need else f * level / need
                if related and credit < cap:
                    credit = cap
                num[o] = get(o, 0.0) + weight * credit
        total = replica.total_weight
        return {o: n * 100.0 / total[o] for o, n in num.items()}

    def worth_scoring(self, emp: EmployeeState, affected: set[str], pairs, replica: Replica) -> tuple[set[str], int]:
        """Of the opportunities an employee change affects, the ones to score: those
        the employee holds a pair with, and the others whose bound reaches the floor.
        Returns them and how many were ruled out."""
        fresh = affected - pairs.keys()
        if not fresh or emp.opted_out:
            return affected, 0
        bounds = self.bounds_for(emp.skills, replica)
        floor = self.bound_floor(emp.threshold)
        worth = {o for o in fresh if bounds.get(o, 0.0) >= floor}
        return (affected - fresh) | worth, len(fresh) - len(worth)

    def worth_scoring_pair(self, skills: dict, threshold: int, opp: OpportunityState | None, held: bool) -> bool:
        """For an opportunity change: whether to score one employee (``skills`` and
        ``threshold`` as stored) against it."""
        return held or opp is None or self.score_bound(skills, opp) >= self.bound_floor(threshold)

    def bound_floor(self, threshold: int) -> float:
        """The least bound of a pair worth scoring for an employee with this
        threshold (0: the default). Floats: an exact 12 % may bound as 11.999...,
        hence the 1e-6."""
        return self.floor_for(threshold or self.default_threshold) - 1e-6

    def evaluate(self, emp: EmployeeState, opp: OpportunityState, prev: list | None, replica: Replica,
                 cause_id: str = "", cause_type: str = "", mentors: MentorIndex | None = None) -> Outcome:
        """Rescore one pair (with the scalar scorer) and decide whether it crossed."""
        if not opp.open or emp.opted_out or opp.owner_id == emp.employee_id:
            return Outcome(None)  # closed, opted out, or the employee's own opportunity: no pair
        result = self.score(emp, opp)
        return self.decide(emp, opp, prev, result.percent, result.missing_must_have, replica, cause_id, cause_type,
                           mentors, result)

    def quiet(self, emp: EmployeeState, opp: OpportunityState, prev: list | None, percent: int, missing_must: bool,
              threshold: int) -> Outcome | None:
        """:meth:`decide`'s outcome for a quiet pair, the cheap way; None when the pair is not
        quiet (call ``decide``). Quiet: scored below the employee's ``threshold`` (theirs or the
        default) or missing a must-have (so not fully qualified either), not marked as shown, and
        a pair at all (the employee in, not the owner): it cannot cross and keeps no mark. Nearly every
        pair of a registration or a rescoring is quiet (tests/unit/test_matcher_engine.py
        checks it against ``decide``)."""
        if (percent >= threshold and not missing_must) or (prev and (prev[1] or prev[2])) \
                or emp.opted_out or opp.owner_id == emp.employee_id or not opp.open:
            return None
        prev_score = prev[0] if prev else 0
        keep = percent >= self.floor_for(threshold)
        updated = None
        if percent != prev_score and (keep or prev is not None):
            updated = events_pb2.PairScore(opportunity_id=opp.opportunity_id, score_percent=percent,
                                           previous_score_percent=prev_score, qualified=False)
        return Outcome([percent, 0, False] if keep else None, None, updated)

    def decide(self, emp: EmployeeState, opp: OpportunityState, prev: list | None, percent: int, missing_must: bool,
               replica: Replica, cause_id: str = "", cause_type: str = "", mentors: MentorIndex | None = None,
               result=None) -> Outcome:
        """The crossing rule for a pair already scored (``percent`` and whether a must-have
        is missing: the vectorised core's answer, or ``result``, the scalar scorer's). Only
        a crossing needs the full result (its explanation); without ``result`` the scalar
        scorer computes it then, and if it disagrees (it never should: the vectorised core is
        exact) the scalar answer decides and the disagreement is logged."""
        prev_score, notified_t, notified_full = prev if prev else (0, 0, False)
        if not opp.open or emp.opted_out or opp.owner_id == emp.employee_id:
            return Outcome(None)  # closed, opted out, or the employee's own opportunity: no pair
        threshold = emp.threshold_or(self.default_threshold)
        qualified = percent >= threshold and not missing_must
        full = percent >= 100 and not missing_must
        crossing = None
        # notified_t is set while the pair stays qualified (at whatever threshold it was shown):
        # a threshold change alone never shows it again; dropping below clears it
        fire = emp.wants(opp.type) and ((qualified and not notified_t) or (full and not notified_full))
        if fire:
            if result is None:
                result = self.score(emp, opp)
                if (result.percent, result.missing_must_have) != (percent, missing_must):
                    log.error("vectorised score differs from the scalar scorer; the scalar one counts",
                              extra={"employee_id": emp.employee_id, "opportunity_id": opp.opportunity_id,
                                     "vector": [percent, missing_must],
                                     "scalar": [result.percent, result.missing_must_have]})
                    return self.decide(emp, opp, prev, result.percent, result.missing_must_have, replica, cause_id,
                                       cause_type, mentors, result)
            crossing = self.crossing(emp, opp, result, prev_score, threshold, replica, cause_id, cause_type, mentors)
        new_t = threshold if qualified else 0
        new_full = full
        keep = percent >= self.floor_for(threshold) or new_t or new_full
        updated = None
        if percent != prev_score and (keep or prev is not None):
            updated = events_pb2.PairScore(opportunity_id=opp.opportunity_id, score_percent=percent,
                                           previous_score_percent=prev_score, qualified=qualified)
        if not keep:
            return Outcome(None, crossing, updated)
        return Outcome([percent, new_t, new_full], crossing, updated)

    def floor_for(self, threshold: int) -> int:
        """The lowest score kept for an employee with this threshold: the pair floor,
        but never above the threshold (a qualified pair is always kept) and at least 1."""
        return max(1, min(self.pair_floor, threshold))

    def mentors_for(self, emp: EmployeeState, gaps, mentors: MentorIndex | None) -> list[events_pb2.Mentor]:
        """Mentors for the gaps where a skill is missing or below the level (not
        for "verify it" gaps): opted-in employees with it verified at the level."""
        if mentors is None:
            return []
        out = []
        for g in gaps:
            if g.kind == "evidence":
                continue
            for mentor_id, level in mentors.find(g.skill_id, g.required_level, emp.employee_id, self.mentors_per_gap):
                out.append(events_pb2.Mentor(employee_id=mentor_id, skill_id=g.skill_id, level=level))
        return out

    def explanation(self, emp: EmployeeState, opp: OpportunityState, result, replica: Replica,
                    mentors: MentorIndex | None = None) -> events_pb2.MatchExplanation:
        path = plan_learning_path(result.gaps, replica.courses_teaching({g.skill_id for g in result.gaps}))
        projected = projected_after(opp.requirements, emp.evidence(), path, self.factors, self.related, self.related_cap)
        return events_pb2.MatchExplanation(
            credits=[
                events_pb2.RequirementCredit(
                    skill_id=c.skill_id, min_level=c.min_level, weight=c.weight, must_have=c.must_have,
                    employee_level=c.employee_level, status=STATUS_ENUMS.get(c.status or "", 0),
                    credit=c.credit, via_related_skill=c.via_related_skill or "")
                for c in result.credits
            ],
            gaps=[
                events_pb2.Gap(skill_id=g.skill_id, required_level=g.required_level, current_level=g.current_level,
                               must_have=g.must_have, current_status=STATUS_ENUMS.get(g.current_status or "", 0))
                for g in result.gaps
            ],
            learning_path=[
                events_pb2.LearningStep(course_id=c.course_id, title=c.title, hours=c.hours,
                                        closes_skill_ids=path.closes.get(c.course_id, []))
                for c in path.steps
            ],
            learning_path_hours=path.hours,
            projected_score_percent=projected.percent,
            uncovered_skill_ids=list(path.uncovered),
            mentors=self.mentors_for(emp, result.gaps, mentors),
        )

    def crossing(self, emp, opp, result, prev_score, threshold, replica, cause_id, cause_type,
                 mentors: MentorIndex | None = None) -> events_pb2.ThresholdCrossed:
        return events_pb2.ThresholdCrossed(
            employee_id=emp.employee_id,
            opportunity_id=opp.opportunity_id,
            opportunity_title=opp.title,
            opportunity_type=opp.type,
            score_percent=result.percent,
            previous_score_percent=prev_score,
            threshold_percent=threshold,
            fully_qualified=result.percent >= 100,
            explanation=self.explanation(emp, opp, result, replica, mentors),
            cause_event_id=cause_id,
            cause_event_type=cause_type,
            scoring_version=self.scoring_version,
        )


def crossing_event_id(c: events_pb2.ThresholdCrossed, ordinal: int) -> str:
    """The crossing's id from the pair, the threshold, its kind (qualified, or 100 %) and
    its ordinal (how many crossings of that kind the pair had before, ``next_crossing``),
    and from nothing else (issue 15 item 2).

    Not from the versions it was computed from: the matcher reads the profile topics
    and the opportunity broadcast together, and two workers (a zombie that was frozen
    past its session and the one that took its partitions over), a restarted worker or
    a rebuilt one may meet the same changes in another order, so cross at other
    versions. They still count the same crossings of the pair, so they give the same
    ids and consumers that dedupe by event id (the notifier) show it once. A real
    re-crossing (after a drop below) has the next ordinal, hence a new id."""
    return str(uuid.uuid5(CROSSING_NS, f"{c.employee_id}|{c.opportunity_id}|{c.threshold_percent}|"
                                       f"{int(c.fully_qualified)}|#{ordinal}"))


def next_crossing(counts: list | None, prev: list | None, c: events_pb2.ThresholdCrossed) -> tuple[int, list]:
    """(the crossing's ordinal, the pair's crossing counts after it). ``counts``:
    ``[qualifications, full matches]`` pushed so far for the pair; ``prev``: the pair
    before it (``[score, notified threshold, notified full]``). A crossing that is a new
    qualification counts one, one that reaches 100 % counts one of the other kind (one
    event can be both: straight from below the threshold to 100 %)."""
    qualified, full = counts or (0, 0)
    ordinal = full if c.fully_qualified else qualified
    if not (prev and prev[1]):
        qualified += 1
    if c.fully_qualified and not (prev and prev[2]):
        full += 1
    return ordinal, [qualified, full]
