"""The match score: the contract behind "You're 80% qualified".

Pure Python, no I/O; called by the streaming matcher for every affected
(employee, opportunity) pair, so it uses plain slotted dataclasses and float
arithmetic, with an exact fallback only where floats could flip a percent.

The formula (docs: design brief, "The match score")
---------------------------------------------------
For a requirement r = (skill s, minimum level L in 1..5, weight w > 0,
must_have) and the employee's best evidence for s with level l and status e:

- evidence factor f(e): verified 1.0, inferred 0.8, claimed 0.5,
  aspirational 0.0 (:class:`EvidenceFactors`, configurable);
- direct credit c_r = f(e) * min(1, l / L); 0 if the employee lacks s;
- related-skill credit (when a ``related`` callable is given): for a related
  skill t the employee has, strength(s, t) * f(e_t) * min(1, l_t / L), capped
  at ``related_cap`` (< 1, so always strictly below a full direct match). The
  best related credit replaces the direct one only if strictly larger, and the
  credit then records ``via_related_skill`` for the explanation;
- score = sum(w_r * c_r) / sum(w_r); percent = floor(score * 100), computed so
  that float error never costs a point (see "Exact percent" below);
- qualified at threshold T: percent >= T and no must-have requirement has
  direct credit 0 (a must-have skill needs evidence of that skill itself;
  related credit counts towards the score but never satisfies a must-have).

Decisions this module makes
---------------------------
- No requirements: score 1.0, percent 100, no gaps, qualified (nothing is
  asked, so nothing is missing). The matcher may still choose not to notify
  for such opportunities.
- Duplicate requirements for one skill are merged into one: the highest
  minimum level, the largest weight, must-have if any duplicate is. A skill
  listed twice must not count twice, and two credits for one skill would
  contradict each other in the explanation.
- A gap is every requirement with credit < 1: missing skill, level below L,
  or evidence weaker than verified (e.g. claimed at the right level: the gap
  carries current level and status so the explanation can say "verify it").
- Exact percent: scores are computed in floats; when score * 100 lands
  within 1e-6 of a whole number, the percent is recomputed with
  ``fractions.Fraction`` from the decimal values of the inputs (factor 0.8 is
  4/5, weight 0.1 is 1/10), so "exactly 80%" gives 80 even when the floats
  say 79.99999999999999. 100 (every credit 1) and 0 are recognised directly.
- Learning paths: minimum-hours set cover is NP-hard. We take greedy
  weighted set cover (cheapest hours per newly closed gap first, then
  pruning of redundant courses), the classic H(n) <= 1 + ln(n)
  approximation (n = number of gaps), and then improve it with a bounded
  branch-and-bound, which finds the true minimum for the handful of gaps an
  opportunity has and otherwise keeps the best cover found (never worse
  than greedy). See :func:`plan_learning_path`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Callable, Iterable, Mapping, Sequence

__all__ = [
    "ASPIRATIONAL",
    "CLAIMED",
    "DEFAULT_FACTORS",
    "DEFAULT_RELATED_CAP",
    "DEFAULT_THRESHOLD",
    "EXACT_NODE_BUDGET",
    "INFERRED",
    "SCORING_VERSION",
    "STATUSES",
    "VERIFIED",
    "CourseOffer",
    "EvidenceFactors",
    "Gap",
    "LearningPath",
    "MatchScore",
    "RelatedFn",
    "Requirement",
    "RequirementCredit",
    "Scorer",
    "SkillEvidence",
    "merge_requirements",
    "plan_learning_path",
    "projected_after",
    "score_match",
]

#: Bump when the formula changes: the matcher rebuilds scores via replay.
SCORING_VERSION = 1

VERIFIED = "verified"
INFERRED = "inferred"
CLAIMED = "claimed"
ASPIRATIONAL = "aspirational"
STATUSES = (VERIFIED, INFERRED, CLAIMED, ASPIRATIONAL)

MIN_LEVEL = 1
MAX_LEVEL = 5
DEFAULT_THRESHOLD = 80
DEFAULT_RELATED_CAP = 0.5

#: skill id -> {related skill id: strength in (0, 1]}, e.g. Taxonomy.related.
RelatedFn = Callable[[str], Mapping[str, float]]

_BOUNDARY_EPS = 1e-6  # how close to a whole percent triggers the exact path


def _check_level(level: object, what: str) -> None:
    if isinstance(level, bool) or not isinstance(level, int) or not MIN_LEVEL <= level <= MAX_LEVEL:
        raise ValueError(f"{what} must be an int in {MIN_LEVEL}..{MAX_LEVEL}, got {level!r}")


def _check_unit(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be a number in [0, 1], got {value!r}")


@lru_cache(maxsize=4096)
def _q(x: float) -> Fraction:
    """The exact decimal a float was written as (0.1 -> 1/10, not 0.1000...0555)."""
    return Fraction(float.__repr__(float(x)))


# ----------------------------------------------------------------- inputs
@dataclass(frozen=True, slots=True)
class EvidenceFactors:
    """f(e) per evidence status; each in [0, 1]."""

    verified: float = 1.0
    inferred: float = 0.8
    claimed: float = 0.5
    aspirational: float = 0.0

    def __post_init__(self) -> None:
        for status in STATUSES:
            _check_unit(getattr(self, status), f"evidence factor {status!r}")

    def factor(self, status: str) -> float:
        """f(status); ValueError for anything but the four status strings."""
        if status == VERIFIED:
            return self.verified
        if status == INFERRED:
            return self.inferred
        if status == CLAIMED:
            return self.claimed
        if status == ASPIRATIONAL:
            return self.aspirational
        raise ValueError(f"unknown evidence status {status!r}; expected one of {', '.join(STATUSES)}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, float]) -> "EvidenceFactors":
        """From e.g. settings: {'claimed': 0.4}; unknown keys are an error."""
        unknown = set(values) - set(STATUSES)
        if unknown:
            raise ValueError(f"unknown evidence statuses: {sorted(unknown)}")
        return cls(**{k: float(v) for k, v in values.items()})


DEFAULT_FACTORS = EvidenceFactors()


@dataclass(frozen=True, slots=True)
class Requirement:
    """One required skill of an opportunity."""

    skill_id: str
    min_level: int
    weight: float = 1.0
    must_have: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.skill_id, str) or not self.skill_id:
            raise ValueError(f"skill_id must be a non-empty str, got {self.skill_id!r}")
        _check_level(self.min_level, f"min_level of {self.skill_id!r}")
        w = self.weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not (0.0 < w < math.inf):
            raise ValueError(f"weight of {self.skill_id!r} must be a finite number > 0, got {w!r}")


@dataclass(frozen=True, slots=True)
class SkillEvidence:
    """An employee's best evidence for one skill: level 1..5 and a status."""

    level: int
    status: str

    def __post_init__(self) -> None:
        _check_level(self.level, "evidence level")
        if self.status not in STATUSES:
            raise ValueError(f"unknown evidence status {self.status!r}; expected one of {', '.join(STATUSES)}")


# ---------------------------------------------------------------- outputs
# Results are plain (non-frozen) slotted dataclasses: constructing a frozen
# one costs ~7x more, and the matcher builds one per requirement per rescore.
@dataclass(slots=True)
class RequirementCredit:
    """How one requirement was credited.

    ``employee_level``/``status`` describe the employee's own evidence for
    the required skill (None if they have none). When the credit came from a
    related skill, ``via_related_skill``, ``related_level``,
    ``related_status`` and ``related_strength`` describe it and
    ``direct_credit`` keeps what the skill itself would have earned.
    """

    skill_id: str
    min_level: int
    weight: float
    must_have: bool
    employee_level: int | None
    status: str | None
    credit: float
    via_related_skill: str | None = None
    related_level: int | None = None
    related_status: str | None = None
    related_strength: float | None = None
    direct_credit: float = 0.0

    @property
    def full(self) -> bool:
        return self.credit >= 1.0


@dataclass(slots=True)
class Gap:
    """A requirement with credit < 1.

    ``current_level`` is 0 and ``current_status`` None when the employee has
    no evidence for the skill. ``credit`` is the credit it did get (possibly
    via a related skill).
    """

    skill_id: str
    required_level: int
    current_level: int
    must_have: bool
    current_status: str | None
    credit: float = 0.0

    @property
    def kind(self) -> str:
        """'missing' (no evidence, or only aspirational), 'level' (level below
        the requirement) or 'evidence' (level is enough but the evidence is
        weaker than verified: "verify it")."""
        if self.current_status is None or self.current_status == ASPIRATIONAL:
            return "missing"
        if self.current_level < self.required_level:
            return "level"
        return "evidence"


@dataclass(slots=True)
class MatchScore:
    """The result of :func:`score_match`. ``percent`` is authoritative;
    ``score`` is the float ratio (may differ from percent/100 by float error
    and by the floor)."""

    percent: int
    score: float
    credits: list[RequirementCredit]
    gaps: list[Gap]
    missing_must_have: bool

    def qualified(self, threshold_percent: float = DEFAULT_THRESHOLD) -> bool:
        """percent >= threshold and no must-have requirement has credit 0."""
        return self.percent >= threshold_percent and not self.missing_must_have

    def credit_for(self, skill_id: str) -> RequirementCredit | None:
        for c in self.credits:
            if c.skill_id == skill_id:
                return c
        return None


# ---------------------------------------------------------------- scoring
def merge_requirements(requirements: Iterable[Requirement]) -> list[Requirement]:
    """One requirement per skill, in first-seen order; duplicates merge to the
    highest min_level, the largest weight and must_have if any is."""
    reqs = requirements if isinstance(requirements, list) else list(requirements)
    if len({r.skill_id for r in reqs}) == len(reqs):
        return reqs
    merged: dict[str, Requirement] = {}
    for r in reqs:
        prev = merged.get(r.skill_id)
        if prev is None:
            merged[r.skill_id] = r
        else:
            merged[r.skill_id] = Requirement(
                r.skill_id,
                max(prev.min_level, r.min_level),
                max(prev.weight, r.weight),
                prev.must_have or r.must_have,
            )
    return list(merged.values())


def _pick(
    a: SkillEvidence | None, b: SkillEvidence | None, level: int, fac: Callable[[str], float]
) -> SkillEvidence | None:
    """The better of two evidences for a requirement of ``level`` (higher
    credit; on a tie the stronger status factor, then ``a``)."""
    if b is None:
        return a
    if a is None:
        return b
    ca = fac(a.status) * (1.0 if a.level >= level else a.level / level)
    cb = fac(b.status) * (1.0 if b.level >= level else b.level / level)
    if cb > ca or (cb == ca and fac(b.status) > fac(a.status)):
        return b
    return a


def score_match(
    requirements: Iterable[Requirement],
    skills: Mapping[str, SkillEvidence],
    factors: EvidenceFactors = DEFAULT_FACTORS,
    related: RelatedFn | None = None,
    related_cap: float = DEFAULT_RELATED_CAP,
    *,
    extra_evidence: Mapping[str, SkillEvidence] | None = None,
) -> MatchScore:
    """Score one employee (``skills``: skill id -> best evidence) against one
    opportunity's requirements. See the module docstring for the formula.

    ``related``: optional skill id -> {related skill id: strength} (None or
    empty for none, so ``dict.get`` works); related credit is capped at
    ``related_cap``, which must be in [0, 1).
    ``extra_evidence``: additional evidence per skill (used for projections);
    for each requirement the better of ``skills[s]`` and
    ``extra_evidence[s]`` counts.
    """
    if isinstance(related_cap, bool) or not 0.0 <= related_cap < 1.0:
        raise ValueError(f"related_cap must be in [0, 1), got {related_cap!r}")
    reqs = merge_requirements(requirements)
    if not reqs:
        return MatchScore(100, 1.0, [], [], False)

    fac = factors.factor
    get = skills.get
    credits: list[RequirementCredit] = []
    gaps: list[Gap] = []
    num = 0.0
    den = 0.0
    all_full = True
    missing_must_have = False

    for r in reqs:
        s = r.skill_id
        need = r.min_level
        ev = get(s)
        if extra_evidence is not None:
            ev = _pick(ev, extra_evidence.get(s), need, fac)
        if ev is None:
            level = status = None
            direct = 0.0
        else:
            level = ev.level
            status = ev.status
            direct = fac(status) * (1.0 if level >= need else level / need)

        credit = direct
        via = via_level = via_status = via_strength = None
        rel = related(s) if related is not None and direct < related_cap else None
        if rel:
            for t, strength in rel.items():
                if t == s or strength <= 0.0:
                    continue
                et = get(t)
                if extra_evidence is not None:
                    et = _pick(et, extra_evidence.get(t), need, fac)
                if et is None:
                    continue
                if strength > 1.0:
                    strength = 1.0
                c = strength * fac(et.status) * (1.0 if et.level >= need else et.level / need)
                if c > related_cap:
                    c = related_cap
                if c > credit or (c == credit and via is not None and t < via):
                    credit = c
                    via, via_level, via_status, via_strength = t, et.level, et.status, strength

        credits.append(
            RequirementCredit(
                s, need, r.weight, r.must_have, level, status, credit,
                via, via_level, via_status, via_strength, direct,
            )
        )
        num += r.weight * credit
        den += r.weight
        if credit < 1.0:
            all_full = False
            gaps.append(Gap(s, need, level or 0, r.must_have, status, credit))
        if r.must_have and direct == 0.0:
            missing_must_have = True

    if all_full:
        return MatchScore(100, 1.0, credits, gaps, missing_must_have)
    score = num / den
    if num == 0.0:
        percent = 0
    else:
        x = num * 100.0 / den
        percent = math.floor(x)
        frac = x - percent
        if frac < _BOUNDARY_EPS or frac > 1.0 - _BOUNDARY_EPS:
            percent = _exact_percent(credits, factors, related_cap)
        percent = min(99, max(0, percent))  # 100 only when every credit is full
    return MatchScore(percent, score, credits, gaps, missing_must_have)


def _exact_percent(credits: Sequence[RequirementCredit], factors: EvidenceFactors, cap: float) -> int:
    """floor(100 * sum(w*c) / sum(w)) in exact rational arithmetic, with every
    float input read as the decimal it was written as. Uses unnormalised
    integer numerator/denominator pairs (Fraction's gcd per operation costs
    several times more)."""
    num_n, num_d = 0, 1  # sum(w * c)
    den_n, den_d = 0, 1  # sum(w)
    cap_q = _q(cap)
    for c in credits:
        w = _q(c.weight)
        wn, wd = w.numerator, w.denominator
        den_n, den_d = den_n * wd + wn * den_d, den_d * wd
        if c.via_related_skill is not None:
            f = _q(factors.factor(c.related_status))
            st = _q(c.related_strength)
            vn = st.numerator * f.numerator * min(c.related_level, c.min_level)
            vd = st.denominator * f.denominator * c.min_level
            if vn * cap_q.denominator > cap_q.numerator * vd:
                vn, vd = cap_q.numerator, cap_q.denominator
        elif c.status is not None:
            f = _q(factors.factor(c.status))
            vn = f.numerator * min(c.employee_level, c.min_level)
            vd = f.denominator * c.min_level
        else:
            continue
        num_n, num_d = num_n * wd * vd + wn * vn * num_d, num_d * wd * vd
    return (100 * num_n * den_d) // (num_d * den_n)


# ---------------------------------------------------------- learning path
@dataclass(frozen=True, slots=True)
class CourseOffer:
    """A catalog course: completing it yields VERIFIED evidence at the given
    level for each skill it teaches."""

    course_id: str
    title: str
    hours: float
    teaches: Mapping[str, int]

    def __post_init__(self) -> None:
        h = self.hours
        if isinstance(h, bool) or not isinstance(h, (int, float)) or not (0.0 <= h < math.inf):
            raise ValueError(f"hours of course {self.course_id!r} must be finite and >= 0, got {h!r}")
        for skill, level in self.teaches.items():
            _check_level(level, f"level course {self.course_id!r} teaches for {skill!r}")

    def closes(self, gap: Gap) -> bool:
        """True if the course teaches the gap's skill to at least its level."""
        level = self.teaches.get(gap.skill_id)
        return level is not None and level >= gap.required_level


@dataclass(slots=True)
class LearningPath:
    """Courses to take, in the order chosen; ``covered`` are the gap skills
    they close, ``uncovered`` the gap skills no course closes (in gap order),
    ``closes`` maps each chosen course id to the gap skills it closes."""

    steps: list[CourseOffer]
    hours: float
    covered: set[str]
    uncovered: list[str]
    closes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.uncovered


_Option = tuple[CourseOffer, frozenset[str], Fraction]  # course, gaps it closes, hours

#: Branch-and-bound node budget of :func:`plan_learning_path`; beyond it the
#: best cover found so far (never worse than greedy) is returned.
EXACT_NODE_BUDGET = 20_000


def _cover_key(cover: Sequence[_Option]) -> tuple[Fraction, int, tuple[str, ...]]:
    """Order of preference between covers: fewer hours, fewer courses, ids."""
    return (sum((o[2] for o in cover), Fraction(0)), len(cover), tuple(sorted(o[0].course_id for o in cover)))


def _greedy_cover(options: Sequence[_Option], coverable: set[str]) -> list[_Option]:
    remaining = set(coverable)
    chosen: list[_Option] = []
    while remaining:
        best: _Option | None = None
        best_key = None
        for opt in options:
            new = len(opt[1] & remaining)
            if new:
                key = (opt[2] / new, opt[2], opt[0].course_id)
                if best_key is None or key < best_key:
                    best, best_key = opt, key
        assert best is not None  # remaining is a subset of coverable
        chosen.append(best)
        remaining -= best[1]
    # drop courses whose gaps the other chosen courses close (dearest first)
    for opt in sorted(chosen, key=lambda o: (-o[2], o[0].course_id)):
        others = [o for o in chosen if o is not opt]
        if opt[1] <= set().union(*(o[1] for o in others)):
            chosen = others
    return chosen


def _exact_cover(
    options: Sequence[_Option], coverable: set[str], order: Sequence[str],
    incumbent: list[_Option], budget: int,
) -> list[_Option]:
    """Branch and bound for the minimum-hours cover, starting from (and never
    worse than) ``incumbent``; gives up after ``budget`` nodes."""
    by_gap = {
        g: sorted((o for o in options if g in o[1]), key=lambda o: (o[2], o[0].course_id))
        for g in order if g in coverable
    }
    best = list(incumbent)
    best_key = _cover_key(best)
    nodes = 0

    def search(uncovered: frozenset[str], chosen: list[_Option], cost: Fraction) -> None:
        nonlocal best, best_key, nodes
        if nodes >= budget:
            return
        nodes += 1
        if not uncovered:
            key = _cover_key(chosen)
            if key < best_key:
                best, best_key = list(chosen), key
            return
        if (cost, len(chosen) + 1) > best_key[:2]:
            return  # every completion costs at least this much
        # branch on the uncovered gap with the fewest courses that close it
        g = min((g for g in by_gap if g in uncovered), key=lambda g: len(by_gap[g]))
        for opt in by_gap[g]:
            if opt not in chosen:
                chosen.append(opt)
                search(uncovered - opt[1], chosen, cost + opt[2])
                chosen.pop()

    search(frozenset(coverable), [], Fraction(0))
    return best


def plan_learning_path(
    gaps: Iterable[Gap], courses: Iterable[CourseOffer], *, exact_node_budget: int = EXACT_NODE_BUDGET
) -> LearningPath:
    """Courses that close every gap some course can close, in least hours.

    A course closes gap g if it teaches g.skill_id to level >=
    g.required_level (completion yields verified evidence at that level).

    1. Greedy weighted set cover: repeatedly take the course with the fewest
       hours per newly closed gap (ties: fewer hours, then course_id) until
       all coverable gaps are closed, then drop chosen courses whose gaps the
       other chosen courses all close (dearest first). Greedy set cover is an
       H(n) <= 1 + ln(n) approximation of the minimum hours (n = gaps) and
       can be beaten even on tiny inputs (two singles of 3 h + 6 h are picked
       before an 8 h bundle that closes both).
    2. Because an opportunity has only a handful of gaps, a branch-and-bound
       search then looks for the exact minimum, starting from the greedy
       cover and bounded by ``exact_node_budget`` nodes (0 = greedy only); if
       the budget runs out the best cover found so far is used, which is
       never worse than greedy.

    Ties between covers of equal hours: fewer courses, then course ids.
    Steps are ordered by the first gap (in ``gaps`` order) each closes. A
    course id listed twice counts once (first wins).
    """
    need: dict[str, int] = {}
    for g in gaps:
        need[g.skill_id] = max(need.get(g.skill_id, 0), g.required_level)
    order = list(need)

    options: list[_Option] = []
    seen: set[str] = set()
    for c in courses:
        if c.course_id in seen:
            continue
        seen.add(c.course_id)
        closes = frozenset(s for s, lvl in need.items() if c.teaches.get(s, 0) >= lvl)
        if closes:
            options.append((c, closes, _q(c.hours)))
    # a course is dominated by another that closes a superset for no more hours
    options.sort(key=lambda o: (o[2], -len(o[1]), o[0].course_id))
    kept: list[_Option] = []
    for opt in options:
        if not any(opt[1] <= k[1] for k in kept):  # kept ones are no dearer
            kept.append(opt)

    coverable: set[str] = set().union(*(o[1] for o in kept)) if kept else set()
    chosen = _greedy_cover(kept, coverable)
    if exact_node_budget > 0 and chosen:
        chosen = _exact_cover(kept, coverable, order, chosen, exact_node_budget)

    rank = {s: i for i, s in enumerate(order)}
    chosen.sort(key=lambda o: (min(rank[s] for s in o[1]), o[2], o[0].course_id))
    return LearningPath(
        steps=[c for c, _, _ in chosen],
        hours=float(sum((h for _, _, h in chosen), Fraction(0))),
        covered=coverable,
        uncovered=[s for s in order if s not in coverable],
        closes={c.course_id: [s for s in order if s in cl] for c, cl, _ in chosen},
    )


def projected_after(
    requirements: Iterable[Requirement],
    skills: Mapping[str, SkillEvidence],
    path: LearningPath | Iterable[CourseOffer],
    factors: EvidenceFactors = DEFAULT_FACTORS,
    related: RelatedFn | None = None,
    related_cap: float = DEFAULT_RELATED_CAP,
) -> MatchScore:
    """The score the employee would have after completing every course in
    ``path``.

    Each course adds VERIFIED evidence at the level it teaches for each of
    its skills (several courses teaching a skill: the highest level). For
    each requirement the better of the current evidence and the course
    evidence counts, so current verified evidence at a higher level is kept
    (= verified at max(current, course level)), while a course never
    "verifies" a level above the one it teaches: claimed 4 plus a level-3
    course credits max(0.5 * min(1, 4/L), min(1, 3/L)).
    """
    steps = path.steps if isinstance(path, LearningPath) else list(path)
    gained: dict[str, int] = {}
    for course in steps:
        for s, lvl in course.teaches.items():
            if lvl > gained.get(s, 0):
                gained[s] = lvl
    extra = {s: SkillEvidence(lvl, VERIFIED) for s, lvl in gained.items()}
    return score_match(requirements, skills, factors, related, related_cap, extra_evidence=extra)


# ----------------------------------------------------------------- bundle
@dataclass(frozen=True, slots=True)
class Scorer:
    """The scoring configuration in one object (factors, related-skill
    function and cap), for the matcher to build once from settings."""

    factors: EvidenceFactors = DEFAULT_FACTORS
    related: RelatedFn | None = None
    related_cap: float = DEFAULT_RELATED_CAP

    def __post_init__(self) -> None:
        if isinstance(self.related_cap, bool) or not 0.0 <= self.related_cap < 1.0:
            raise ValueError(f"related_cap must be in [0, 1), got {self.related_cap!r}")

    def score(
        self,
        requirements: Iterable[Requirement],
        skills: Mapping[str, SkillEvidence],
        *,
        extra_evidence: Mapping[str, SkillEvidence] | None = None,
    ) -> MatchScore:
        return score_match(
            requirements, skills, self.factors, self.related, self.related_cap,
            extra_evidence=extra_evidence,
        )

    def learning_path(self, gaps: MatchScore | Iterable[Gap], courses: Iterable[CourseOffer]) -> LearningPath:
        return plan_learning_path(gaps.gaps if isinstance(gaps, MatchScore) else gaps, courses)

    def projected(
        self,
        requirements: Iterable[Requirement],
        skills: Mapping[str, SkillEvidence],
        path: LearningPath | Iterable[CourseOffer],
    ) -> MatchScore:
        return projected_after(requirements, skills, path, self.factors, self.related, self.related_cap)

    def evaluate(
        self,
        requirements: Iterable[Requirement],
        skills: Mapping[str, SkillEvidence],
        courses: Iterable[CourseOffer],
    ) -> tuple[MatchScore, LearningPath, MatchScore]:
        """Score, learning path for its gaps, and the projected score."""
        reqs = merge_requirements(requirements)
        now = self.score(reqs, skills)
        path = plan_learning_path(now.gaps, courses)
        after = self.projected(reqs, skills, path) if path.steps else now
        return now, path, after
