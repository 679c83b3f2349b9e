"""The vectorised scoring core: the scalar formula of ``scoring.py`` as sparse products.

``scoring.score_match`` stays the reference (and the source of every
explanation); this module computes the same whole percent and the same
must-have qualification for many pairs at once, in exact integer arithmetic.

The product (design brief, "Matching at scale")
------------------------------------------------
- A *feature* is a (required skill s, required level L) pair, L in 1..5.
- An employee is a sparse row over features: at (s, L) the credit the
  employee earns towards a requirement of s at level L, i.e. the larger of the
  direct credit f(e_s) * min(1, l_s / L) and the best related credit
  min(cap, strength(s, t) * f(e_t) * min(1, l_t / L)) over the related skills t
  they hold (exactly ``score_match``'s rule: related credit never exceeds the
  cap, so "only when direct < cap" changes nothing).
- An opportunity is a sparse column: its (merged) requirement weights at their
  features.
- score numerator = row . column; must-haves are a second product: the number
  of the opportunity's must-have skills the employee holds with a non-zero
  factor, against how many it has.

Exact whole percent, no boundary cases
--------------------------------------
Every credit value is a rational with a small denominator (the factors, the
strengths and the cap are read as the decimals they were written as, like
``scoring._q``; L is in 1..5), so all credits are integers over one common
denominator D (6,000 with the default factors, cap and the taxonomy's
strengths), and an opportunity's weights are integers over its own scale.
The numerator of a pair is then an integer sum of integer products and the
percent is ``(100 * num) // (D * sum(W))``: the floor of the exact fraction,
so an exact 80 % is 80, never 79, with no float anywhere near a decision.
The sums run in float64 (numpy's fast paths), which holds integers exactly
below 2**53; an opportunity whose ``100 * D * sum(W)`` would not fit (weights
with very long decimals) is marked inexact and its non-zero pairs are scored
by ``score_match`` instead (correct, only slower). No requirements: 100 for
everybody, as ``score_match`` says.

Two ways to multiply, one answer
--------------------------------
- :meth:`VectorScorer.score_row`: one employee against every indexed
  opportunity (an employee change, a registration, rescoring everyone one
  employee at a time): the row's features gather their cached column arrays,
  one ``bincount``.
- :meth:`VectorScorer.score_column`: one opportunity against every employee of
  a :class:`SkillHolders` (a posting, a requirement change): per requirement
  the holders of the skill and of its related skills, as arrays.

``tests/unit/test_matcher_vector.py`` checks both against ``score_match`` over
random pairs from the real taxonomy, boundary cases included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from services.matcher.scoring import (
    DEFAULT_FACTORS,
    DEFAULT_RELATED_CAP,
    STATUSES,
    EvidenceFactors,
    RelatedFn,
    Requirement,
    SkillEvidence,
    _q,
    merge_requirements,
    score_match,
)

__all__ = ["LEVELS", "Scores", "SkillHolders", "VectorScorer"]

LEVELS = 5
STATUS_CODE = {name: i for i, name in enumerate(STATUSES)}
_EXACT_LIMIT = 2**53  # float64 holds every integer below this exactly
_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=np.float64)


def _lcm(a: int, b: int) -> int:
    return a * b // math.gcd(a, b)


@dataclass(slots=True)
class Scores:
    """Scored pairs of one product: ``index`` (opportunity columns for
    :meth:`VectorScorer.score_row`, employee indexes of the holders for
    :meth:`VectorScorer.score_column`), each with its exact ``percent`` and
    whether a must-have skill is missing. Pairs scoring 0 are not listed."""

    index: np.ndarray  # int64
    percent: np.ndarray  # int64
    missing_must: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.index)

    def get(self, i: int) -> tuple[int, bool]:
        """(percent, missing must-have) at index ``i``; (0, False) when not listed."""
        k = int(np.searchsorted(self.index, i))
        if k < len(self.index) and self.index[k] == i:
            return int(self.percent[k]), bool(self.missing_must[k])
        return 0, False

    def at_least(self, floors) -> "Scores":
        """The pairs whose percent reaches ``floors`` (a number, or an array over the indexes)."""
        keep = self.percent >= (floors if np.isscalar(floors) else floors[self.index])
        return Scores(self.index[keep], self.percent[keep], self.missing_must[keep])


class SkillHolders:
    """Who holds which skill at which level and status, for one set of
    employees (a worker's partitions): per skill the arrays that
    :meth:`VectorScorer.score_column` reads. Employees get a stable integer
    index (``index_of``); the arrays of a skill are rebuilt on first use after
    one of its holders changed."""

    def __init__(self) -> None:
        self.ids: list[str | None] = []
        self.floors = np.zeros(0, dtype=np.int64)  # per index: a number the caller keeps (the matcher: the pair floor)
        self.index_of: dict[str, int] = {}
        self._free: list[int] = []
        self._skills_of: dict[int, dict[str, tuple[int, int]]] = {}
        self._by_skill: dict[str, dict[int, tuple[int, int]]] = {}
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self._skills_of)

    @property
    def size(self) -> int:
        """Length of a dense per-employee array (the largest index + 1)."""
        return len(self.ids)

    def put(self, employee_id: str, skills: Mapping[str, tuple[int, str]], floor: int = 0) -> int:
        """Set an employee's skills (skill -> (level, status name)) and ``floor``; returns its index."""
        i = self.index_of.get(employee_id)
        if i is None:
            i = self._free.pop() if self._free else len(self.ids)
            if i == len(self.ids):
                self.ids.append(employee_id)
            else:
                self.ids[i] = employee_id
            self.index_of[employee_id] = i
        if i >= len(self.floors):
            self.floors = np.concatenate([self.floors, np.zeros(max(64, len(self.floors)), dtype=np.int64)])
        self.floors[i] = floor
        new = {s: (lv, STATUS_CODE[st]) for s, (lv, st) in skills.items()}
        old = self._skills_of.get(i, {})
        for s in old.keys() | new.keys():
            if old.get(s) != new.get(s):
                holders = self._by_skill.setdefault(s, {})
                if s in new:
                    holders[i] = new[s]
                else:
                    holders.pop(i, None)
                self._arrays.pop(s, None)
        self._skills_of[i] = new
        return i

    def remove(self, employee_id: str) -> None:
        i = self.index_of.pop(employee_id, None)
        if i is None:
            return
        for s in self._skills_of.pop(i, {}):
            self._by_skill[s].pop(i, None)
            self._arrays.pop(s, None)
        self.ids[i] = None
        self._free.append(i)

    def employees_for(self, skill_ids: Iterable[str], related: RelatedFn | None = None) -> set[str]:
        """The employees holding one of ``skill_ids`` or (``related``: the taxonomy's
        ``related_view``) a skill related to one: ``engine.SkillIndex.employees_for``
        without an index of its own (the related skills are looked up per requirement
        skill, as ``score_column`` credits them)."""
        found: set[int] = set()
        by_skill = self._by_skill
        for s in skill_ids:
            held = by_skill.get(s)
            if held:
                found.update(held)
            if related is not None:
                for t in related(s) or ():
                    if t != s:
                        held = by_skill.get(t)
                        if held:
                            found.update(held)
        ids = self.ids
        return {ids[i] for i in found}

    def arrays(self, skill_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(employee indexes, levels, status codes) of the holders of a skill."""
        got = self._arrays.get(skill_id)
        if got is None:
            holders = self._by_skill.get(skill_id)
            if not holders:
                return None
            idx = np.fromiter(holders.keys(), dtype=np.int64, count=len(holders))
            ls = np.array(list(holders.values()), dtype=np.int64).reshape(-1, 2)
            got = self._arrays[skill_id] = (idx, ls[:, 0].copy(), ls[:, 1].copy())
        return got


class _Column:
    __slots__ = ("opp_id", "reqs", "weights", "den", "exact", "must_count", "features")

    def __init__(self, opp_id, reqs, weights, den, exact, must_count, features):
        self.opp_id = opp_id
        self.reqs: list[Requirement] = reqs  # merged
        self.weights: list[float] = weights  # per merged requirement: the integer weight (a float holding it)
        self.den: int = den  # D * sum(weights) (exact), or 0 when inexact
        self.exact: bool = exact
        self.must_count: int = must_count
        self.features: list[int] = features


class VectorScorer:
    """The opportunities as sparse columns, and the two products.

    ``related`` and ``related_cap`` as for ``score_match``; ``strengths``: the
    strengths the taxonomy uses, if known up front (others are found as
    requirement skills are indexed; a strength with a new denominator
    recomputes the common denominator, which is cheap and rare)."""

    def __init__(self, factors: EvidenceFactors = DEFAULT_FACTORS, related: RelatedFn | None = None,
                 related_cap: float = DEFAULT_RELATED_CAP, strengths: Iterable[float] = (),
                 key_of: Callable[[str], int] | None = None):
        if isinstance(related_cap, bool) or not 0.0 <= related_cap < 1.0:
            raise ValueError(f"related_cap must be in [0, 1), got {related_cap!r}")
        self.factors = factors
        self.related = related
        self.related_cap = related_cap
        self._fq = [_q(factors.factor(s)) for s in STATUSES]  # per status code
        self._fpos = np.array([f > 0 for f in self._fq])
        self._cap_q = _q(related_cap)
        self._strength_dens: set[int] = {1}
        self._d = 0
        # columns
        self.col_of: dict[str, int] = {}
        # per column the caller's int for its opportunity (``key_of``; the matcher's OpportunityIds),
        # -1 for a free column: a product's columns become the caller's ints in one lookup
        self.key_of = key_of
        self.keys = np.zeros(0, dtype=np.int32)
        self.changes = 0  # put/drop calls so far (callers caching a view of the columns compare it)
        self._cols: list[_Column | None] = []
        self._free: list[int] = []
        self._den = np.zeros(0, dtype=np.int64)  # per column: D * sum(W) (0: free or inexact)
        self._must_count = np.zeros(0, dtype=np.int64)
        self._empty: set[int] = set()  # columns without requirements: 100 % for everybody
        self._inexact: set[int] = set()
        # features: (skill, level) -> id; per feature the columns requiring it and their weights
        self._skill_base: dict[str, int] = {}
        self._frow: list[dict[int, float]] = []
        self._farr: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._must: dict[str, dict[int, None]] = {}  # must-have skill -> columns
        self._must_arr: dict[str, np.ndarray] = {}
        # related: requirement skill s -> {t: strength}; t -> [(s, strength)] (t earns credit towards s)
        self._rel: dict[str, dict[str, float]] = {}
        self._earns: dict[str, list[tuple[str, float]]] = {}
        self._contrib: dict[tuple[str, int, int], list[tuple[int, int]]] = {}
        self._tables: dict[float | None, np.ndarray] = {}
        for s in strengths:
            self._note_strength(float(s))
        self._set_denominator()

    # ------------------------------------------------------------- credits
    @property
    def denominator(self) -> int:
        """D: every credit is an integer over it."""
        return self._d

    def _note_strength(self, strength: float) -> bool:
        den = _q(min(strength, 1.0)).denominator
        if den in self._strength_dens:
            return False
        self._strength_dens.add(den)
        return True

    def _set_denominator(self) -> None:
        d = 1
        for f in self._fq:
            d = _lcm(d, f.denominator)
        d *= 60  # lcm(1..5): min(1, l/L)
        sd = 1
        for den in self._strength_dens:
            sd = _lcm(sd, den)
        self._d = _lcm(d * sd, self._cap_q.denominator)
        self._tables.clear()
        self._contrib.clear()
        for c, col in enumerate(self._cols):
            if col is not None:
                self._set_den(c, col)

    def _table(self, strength: float | None) -> np.ndarray:
        """Credit numerators (over D) indexed [status code, level, required level]
        for direct evidence (``strength`` None) or related evidence of that strength."""
        t = self._tables.get(strength)
        if t is None:
            t = np.zeros((len(STATUSES), LEVELS + 1, LEVELS + 1), dtype=np.float64)
            st = None if strength is None else _q(min(strength, 1.0))
            for code, f in enumerate(self._fq):
                for level in range(1, LEVELS + 1):
                    for need in range(1, LEVELS + 1):
                        c = f * Fraction(min(level, need), need)
                        if st is not None:
                            c = min(c * st, self._cap_q)
                        n = c * self._d
                        assert n.denominator == 1
                        t[code, level, need] = int(n)
            self._tables[strength] = t
        return t

    def _related_of(self, s: str) -> dict[str, float]:
        """``score_match``'s related skills of a requirement skill: other skills,
        strength > 0, clamped at 1."""
        rel = self._rel.get(s)
        if rel is None:
            rel = {}
            if self.related is not None:
                for t, strength in (self.related(s) or {}).items():
                    if t != s and strength > 0.0:
                        rel[t] = min(float(strength), 1.0)
            self._rel[s] = rel
            renew = False
            for t, strength in rel.items():
                self._earns.setdefault(t, []).append((s, strength))
                renew |= self._note_strength(strength)
            if renew:
                self._set_denominator()
        return rel

    def _feature(self, skill: str, need: int) -> int:
        base = self._skill_base.get(skill)
        if base is None:
            base = self._skill_base[skill] = len(self._frow)
            self._frow.extend({} for _ in range(LEVELS))
            self._related_of(skill)
            self._contrib.clear()  # rows now have features for this skill
        return base + need - 1

    def _contributions(self, t: str, level: int, code: int) -> list[tuple[int, int]]:
        """(feature, credit numerator) that holding t at (level, status) earns."""
        key = (t, level, code)
        got = self._contrib.get(key)
        if got is None:
            got = []
            base = self._skill_base.get(t)
            if base is not None:
                direct = self._table(None)[code, level].tolist()
                got.extend((base + need - 1, int(direct[need])) for need in range(1, LEVELS + 1) if direct[need] > 0)
            for s, strength in self._earns.get(t, ()):
                sb = self._skill_base.get(s)
                if sb is None:
                    continue
                rel = self._table(strength)[code, level].tolist()
                got.extend((sb + need - 1, int(rel[need])) for need in range(1, LEVELS + 1) if rel[need] > 0)
            self._contrib[key] = got
        return got

    def row(self, skills: Mapping[str, tuple[int, str]]) -> dict[int, int]:
        """An employee's sparse row: feature -> credit numerator (the larger of
        direct and related credits)."""
        out: dict[int, int] = {}
        get = out.get
        for t, (level, status) in skills.items():
            for feat, c in self._contributions(t, level, STATUS_CODE[status]):
                if c > get(feat, 0):
                    out[feat] = c
        return out

    # ------------------------------------------------------------- columns
    def __len__(self) -> int:
        return len(self.col_of)

    @property
    def size(self) -> int:
        """Length of a dense per-column array (the largest column + 1)."""
        return len(self._cols)

    def opportunity_id(self, col: int) -> str:
        return self._cols[col].opp_id

    def put(self, opp_id: str, requirements: Sequence[Requirement]) -> int:
        """Index (or re-index) an opportunity's requirements; returns its column."""
        self.drop(opp_id)
        self.changes += 1
        reqs = merge_requirements(list(requirements))
        c = self._free.pop() if self._free else len(self._cols)
        if c == len(self._cols):
            self._cols.append(None)
            self._den = np.append(self._den, 0)
            self._must_count = np.append(self._must_count, 0)
            self.keys = np.append(self.keys, np.int32(-1))
        wq = [_q(r.weight) for r in reqs]
        scale = 1
        for w in wq:
            scale = _lcm(scale, w.denominator)
        weights = [float(w * scale) for w in wq]
        features = [self._feature(r.skill_id, r.min_level) for r in reqs]
        col = _Column(opp_id, reqs, weights, 0, True, sum(1 for r in reqs if r.must_have), features)
        self._cols[c] = col
        self.col_of[opp_id] = c
        self.keys[c] = self.key_of(opp_id) if self.key_of is not None else c
        self._must_count[c] = col.must_count
        for f, w in zip(features, weights):
            self._frow[f][c] = w
            self._farr.pop(f, None)
        for r in reqs:
            if r.must_have:
                self._must.setdefault(r.skill_id, {})[c] = None
                self._must_arr.pop(r.skill_id, None)
        if not reqs:
            self._empty.add(c)
        self._set_den(c, col)
        return c

    def _set_den(self, c: int, col: _Column) -> None:
        total = sum(int(w) for w in col.weights)
        ok = all(w < _EXACT_LIMIT for w in col.weights) and 100 * self._d * total < _EXACT_LIMIT
        col.exact = ok
        col.den = self._d * total if ok else 0
        self._den[c] = col.den
        if ok or not col.reqs:
            self._inexact.discard(c)
        else:
            self._inexact.add(c)

    def drop(self, opp_id: str) -> None:
        c = self.col_of.pop(opp_id, None)
        if c is None:
            return
        self.changes += 1
        col = self._cols[c]
        for f in col.features:
            self._frow[f].pop(c, None)
            self._farr.pop(f, None)
        for r in col.reqs:
            if r.must_have:
                self._must[r.skill_id].pop(c, None)
                self._must_arr.pop(r.skill_id, None)
        self._cols[c] = None
        self._den[c] = 0
        self.keys[c] = -1
        self._must_count[c] = 0
        self._empty.discard(c)
        self._inexact.discard(c)
        self._free.append(c)

    def _feature_arrays(self, f: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(columns, integer weights, count) of the opportunities requiring feature f."""
        got = self._farr.get(f)
        if got is None:
            cols = self._frow[f]
            got = self._farr[f] = (np.fromiter(cols.keys(), dtype=np.int64, count=len(cols)),
                                   np.fromiter(cols.values(), dtype=np.float64, count=len(cols)), len(cols))
        return got

    def _must_columns(self, skill: str) -> np.ndarray | None:
        got = self._must_arr.get(skill)
        if got is None:
            cols = self._must.get(skill)
            if not cols:
                return None
            got = self._must_arr[skill] = np.fromiter(cols.keys(), dtype=np.int64, count=len(cols))
        return got

    # ------------------------------------------------------------- products
    def score_row(self, skills: Mapping[str, tuple[int, str]]) -> Scores:
        """One employee (skill -> (level, status name)) against every indexed
        opportunity; pairs scoring 0 are left out."""
        idx_parts, w_parts, credits, lens = [], [], [], []
        farr, build = self._farr, self._feature_arrays
        for f, c in self.row(skills).items():
            arr = farr.get(f) or build(f)
            if arr[2]:
                idx_parts.append(arr[0])
                w_parts.append(arr[1])
                credits.append(c)
                lens.append(arr[2])
        n = len(self._cols)
        if idx_parts:
            vals = np.concatenate(w_parts)
            vals *= np.repeat(np.array(credits, dtype=np.float64), lens)
            num = np.bincount(np.concatenate(idx_parts), vals, minlength=n)
            cols = (num != 0).nonzero()[0]
        else:
            num, cols = np.zeros(n), _EMPTY_I
        if self._empty:
            cols = np.union1d(cols, np.fromiter(self._empty, dtype=np.int64, count=len(self._empty)))
        must_parts = []
        for s, (_, status) in skills.items():
            if self._fpos[STATUS_CODE[status]]:
                m = self._must_columns(s)
                if m is not None:
                    must_parts.append(m)
        has = np.bincount(np.concatenate(must_parts), minlength=n)[cols] if must_parts else np.zeros(len(cols), np.int64)
        missing = has < self._must_count[cols]
        den = self._den[cols]
        exact = den > 0
        percent = np.full(len(cols), 100, dtype=np.int64)  # the empty columns (and inexact ones, fixed below)
        percent[exact] = (num[cols[exact]].astype(np.int64) * 100) // den[exact]
        if self._inexact:
            ev = None
            for k in np.flatnonzero(~exact):
                c = int(cols[k])
                if c in self._inexact:
                    if ev is None:
                        ev = {s: SkillEvidence(lv, st) for s, (lv, st) in skills.items()}
                    percent[k] = self._reference(c, ev).percent
        keep = percent > 0
        if not keep.all():
            cols, percent, missing = cols[keep], percent[keep], missing[keep]
        return Scores(cols, percent, missing)

    def score_column(self, opp_id: str, holders: SkillHolders, only: np.ndarray | None = None) -> Scores:
        """One indexed opportunity against every employee of ``holders``
        (``only``: a boolean mask over the holders' indexes to restrict to);
        pairs scoring 0 are left out. A column without requirements lists
        every employee at 100."""
        c = self.col_of[opp_id]
        col = self._cols[c]
        n = holders.size
        if not col.reqs:
            idx = np.fromiter(holders.index_of.values(), dtype=np.int64, count=len(holders.index_of))
            idx.sort()
            if only is not None:
                idx = idx[only[idx]]
            return Scores(idx, np.full(len(idx), 100, dtype=np.int64), np.zeros(len(idx), dtype=bool))
        num = np.zeros(n)
        has = np.zeros(n, dtype=np.int64)
        best = np.zeros(n)
        direct = self._table(None)
        for r, w in zip(col.reqs, col.weights):
            touched = []
            got = holders.arrays(r.skill_id)
            if got is not None:
                idx, lv, st = got
                best[idx] = direct[st, lv, r.min_level]
                touched.append(idx)
                if r.must_have:
                    has[idx[self._fpos[st]]] += 1
            for t, strength in self._related_of(r.skill_id).items():
                got = holders.arrays(t)
                if got is None:
                    continue
                idx, lv, st = got
                best[idx] = np.maximum(best[idx], self._table(strength)[st, lv, r.min_level])
                touched.append(idx)
            if touched:
                idx = touched[0] if len(touched) == 1 else np.unique(np.concatenate(touched))
                num[idx] += w * best[idx]
                best[idx] = 0.0
        if only is not None:
            num[~only[:n]] = 0.0
        emps = (num != 0).nonzero()[0]
        missing = has[emps] < col.must_count
        if col.exact:
            percent = (num[emps].astype(np.int64) * 100) // col.den
        else:
            percent = np.array([self._reference(c, {s: SkillEvidence(lv, st) for s, (lv, st) in
                                                    self._holder_skills(holders, int(e)).items()}).percent
                                for e in emps], dtype=np.int64)
        keep = percent > 0
        if not keep.all():
            emps, percent, missing = emps[keep], percent[keep], missing[keep]
        return Scores(emps, percent, missing)

    @staticmethod
    def _holder_skills(holders: SkillHolders, i: int) -> dict[str, tuple[int, str]]:
        return {s: (lv, STATUSES[code]) for s, (lv, code) in holders._skills_of.get(i, {}).items()}

    def _reference(self, c: int, evidence: Mapping[str, SkillEvidence]):
        col = self._cols[c]
        return score_match(col.reqs, evidence, self.factors, self.related, self.related_cap)

    def scores_for(self, skills: Mapping[str, tuple[int, str]]) -> dict[str, tuple[int, bool]]:
        """:meth:`score_row` as {opportunity id: (percent, missing must-have)}."""
        s = self.score_row(skills)
        cols = self._cols
        return {cols[c].opp_id: (p, m) for c, p, m in zip(s.index.tolist(), s.percent.tolist(), s.missing_must.tolist())}
