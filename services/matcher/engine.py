"""The matcher's pure core: state shapes, the replica, and the crossing rule.

No Kafka and no faust here, so every rule is unit-testable. The faust app
(``services/matcher/app.py``) feeds events in and ships the outcomes out.

Crossing rule (design brief): a ``match.threshold-crossed`` fires when a match
becomes qualified at the employee's threshold T (score >= T, no must-have at
zero credit) or reaches 100 %, and not again for the same opportunity and
threshold until it first dropped below. Pair state is kept only for pairs with
a non-zero score (sparse); a pair absent from state scored 0.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from services.matcher.scoring import (
    CourseOffer,
    EvidenceFactors,
    Requirement,
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
CROSSING_NS = uuid.UUID("6f1c1a52-2b7e-4c59-9d87-2f0c3f6b2a10")


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
        )

    def to_json(self) -> dict:
        return {
            "id": self.employee_id, "v": self.version, "skills": {k: list(v) for k, v in self.skills.items()},
            "t": self.threshold, "out": self.opted_out, "types": self.types, "mentor": self.mentoring,
            "dept": self.department, "loc": self.location,
        }

    @classmethod
    def from_json(cls, d: dict) -> EmployeeState:
        return cls(d["id"], d["v"], {k: (v[0], v[1]) for k, v in d["skills"].items()}, d["t"], d["out"],
                   d["types"], d["mentor"], d["dept"], d["loc"])

    def evidence(self) -> dict[str, SkillEvidence]:
        return {k: SkillEvidence(level=lv, status=st) for k, (lv, st) in self.skills.items()}

    def threshold_or(self, default: int) -> int:
        return self.threshold or default

    def wants(self, opp_type: int) -> bool:
        return not self.opted_out and (not self.types or opp_type in self.types)


@dataclass(slots=True)
class OpportunityState:
    opportunity_id: str
    version: int
    title: str
    type: int
    open: bool
    requirements: list[Requirement]
    owner_id: str = ""

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


class Replica:
    """Open opportunities and the catalog: small, replicated to every worker.

    Applying is idempotent and ordered by entity version, so the same change
    arriving from the global reader and from the broadcast topic is harmless.
    """

    def __init__(self, related=None):
        self.related = related or (lambda skill_id: {})
        self.opportunities: dict[str, OpportunityState] = {}
        self.versions: dict[str, int] = {}  # also remembers closed ones, so stale reopenings are ignored
        self.by_skill: dict[str, set[str]] = defaultdict(set)
        self.courses: dict[str, CourseOffer] = {}
        self.course_versions: dict[str, int] = {}

    def apply_opportunity(self, p: common_pb2.OpportunityMatchProfile, version: int) -> OpportunityState | None:
        """Apply a snapshot; returns the new state (closed ones too) or None if stale."""
        if version <= self.versions.get(p.opportunity_id, 0):
            return None
        self.versions[p.opportunity_id] = version
        old = self.opportunities.pop(p.opportunity_id, None)
        if old is not None:
            for s in old.skills():
                self.by_skill[s].discard(old.opportunity_id)
        new = OpportunityState.from_profile(p, version)
        if new.open:
            self.opportunities[new.opportunity_id] = new
            for s in new.skills():
                self.by_skill[s].add(new.opportunity_id)
        return new

    def apply_course(self, c: common_pb2.Course, version: int) -> bool:
        if version <= self.course_versions.get(c.course_id, 0):
            return False
        self.course_versions[c.course_id] = version
        if c.retired:
            self.courses.pop(c.course_id, None)
        else:
            self.courses[c.course_id] = CourseOffer(c.course_id, c.title, c.hours, {t.skill_id: t.level for t in c.teaches})
        return True

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


@dataclass(slots=True)
class Outcome:
    pair: list | None  # [score, notified_threshold, notified_full] or None to drop the pair
    crossing: events_pb2.ThresholdCrossed | None = None
    updated: events_pb2.MatchUpdated | None = None


class Matcher:
    def __init__(self, factors: EvidenceFactors, related, related_cap: float, default_threshold: int, scoring_version: int):
        self.factors = factors
        self.related = related
        self.related_cap = related_cap
        self.default_threshold = default_threshold
        self.scoring_version = scoring_version

    def score(self, emp: EmployeeState, opp: OpportunityState):
        return score_match(opp.requirements, emp.evidence(), self.factors, self.related, self.related_cap)

    def evaluate(self, emp: EmployeeState, opp: OpportunityState, prev: list | None, replica: Replica,
                 cause_id: str = "", cause_type: str = "") -> Outcome:
        """Rescore one pair and decide whether it crossed."""
        prev_score, notified_t, notified_full = prev if prev else (0, 0, False)
        if not opp.open or emp.opted_out:
            return Outcome(None)
        result = self.score(emp, opp)
        threshold = emp.threshold_or(self.default_threshold)
        qualified = result.qualified(threshold)
        full = result.percent >= 100 and not result.missing_must_have
        crossing = None
        fire = emp.wants(opp.type) and ((qualified and notified_t != threshold) or (full and not notified_full))
        if fire:
            crossing = self.crossing(emp, opp, result, prev_score, threshold, replica, cause_id, cause_type)
        new_t = threshold if qualified else 0
        new_full = full
        updated = None
        if result.percent != prev_score:
            updated = events_pb2.MatchUpdated(
                employee_id=emp.employee_id, opportunity_id=opp.opportunity_id, score_percent=result.percent,
                previous_score_percent=prev_score, qualified=qualified, scoring_version=self.scoring_version)
        if result.percent == 0 and not new_t and not new_full:
            return Outcome(None, crossing, updated)
        return Outcome([result.percent, new_t, new_full], crossing, updated)

    def explanation(self, emp: EmployeeState, opp: OpportunityState, result, replica: Replica) -> events_pb2.MatchExplanation:
        path = plan_learning_path(result.gaps, replica.courses.values())
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
        )

    def crossing(self, emp, opp, result, prev_score, threshold, replica, cause_id, cause_type) -> events_pb2.ThresholdCrossed:
        return events_pb2.ThresholdCrossed(
            employee_id=emp.employee_id,
            opportunity_id=opp.opportunity_id,
            opportunity_title=opp.title,
            opportunity_type=opp.type,
            score_percent=result.percent,
            previous_score_percent=prev_score,
            threshold_percent=threshold,
            fully_qualified=result.percent >= 100,
            explanation=self.explanation(emp, opp, result, replica),
            cause_event_id=cause_id,
            cause_event_type=cause_type,
            scoring_version=self.scoring_version,
        )


def crossing_event_id(c: events_pb2.ThresholdCrossed, employee_version: int, opportunity_version: int) -> str:
    """Deterministic id from the state that crossed: the same employee and
    opportunity versions at the same threshold and scoring version always give
    the same id, whether first processed, reprocessed after a rebalance or
    replayed into a rebuilt matcher; so consumers that dedupe by event id show
    it once. A real re-crossing needs a change, hence new versions, hence a new id."""
    return str(uuid.uuid5(CROSSING_NS, f"{c.employee_id}|{c.opportunity_id}|{c.threshold_percent}|"
                                       f"{c.fully_qualified}|{employee_version}|{opportunity_version}|"
                                       f"{c.scoring_version}"))
