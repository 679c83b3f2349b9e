"""The matcher's derived pair scores, compact, per owned partition (issue 12 item 2).

What must survive a crash is an employee's match profile and the notification
marks of pairs that crossed; those are in the faust table ``employees``
(``engine.employee_record``). The scores of the pairs at or above the pair floor
(about 200 per employee at 100,000 x 10,000) are derived: they are rebuilt from
the table and the opportunity replica after every rebalance
(``VectorScorer.score_row``, one per employee) and kept here, in memory only.

- :class:`OpportunityIds`: opportunity id -> a small int, one table for the
  process, never reused while the process runs (unlike ``VectorScorer`` columns,
  which are recycled when an opportunity closes and another is posted).
- :class:`PairScores`: per employee one ``bytes`` value packing the sorted int32
  opportunity indexes followed by their uint8 scores (5 bytes a pair plus one
  object header, against ~280 bytes a pair as JSON lists in a dict), and the
  opportunity -> holders index (per opportunity an ``array('i')`` of employee
  indexes), kept equal to the rows by construction: every change goes through
  :meth:`PairScores.put`, :meth:`PairScores.set` or :meth:`PairScores.remove`.
- :func:`merge_pairs` / :func:`split_pairs`: the pair dict the crossing rule
  works on (``{opportunity: [score, threshold mark, full mark]}``, as
  ``Matcher.decide`` expects) from the scores here and the record's marks, and
  back.

Pure: no I/O, no faust. ``tests/unit/test_matcher_pair_store.py`` checks it
against a plain dict over random operations.
"""

from __future__ import annotations

from array import array
from typing import Iterable, Mapping

import numpy as np

__all__ = ["OpportunityIds", "PairScores", "merge_pairs", "split_pairs", "NO_MARK"]

NO_MARK = (0, False)
_EMPTY = b""


class OpportunityIds:
    """Opportunity id <-> a small int, for the whole process. An id keeps its int
    for as long as the process runs (a closed opportunity's int is not reused;
    there are only as many as opportunities ever seen)."""

    __slots__ = ("index_of", "ids")

    def __init__(self) -> None:
        self.index_of: dict[str, int] = {}
        self.ids: list[str] = []

    def __len__(self) -> int:
        return len(self.ids)

    def intern(self, opp_id: str) -> int:
        i = self.index_of.get(opp_id)
        if i is None:
            i = self.index_of[opp_id] = len(self.ids)
            self.ids.append(opp_id)
        return i

    def get(self, opp_id: str) -> int | None:
        return self.index_of.get(opp_id)

    def __getitem__(self, i: int) -> str:
        return self.ids[i]


def _pack(opps: np.ndarray, scores: np.ndarray) -> bytes:
    if not len(opps):
        return _EMPTY
    return opps.astype(np.int32, copy=False).tobytes() + scores.astype(np.uint8, copy=False).tobytes()


def _unpack(row: bytes) -> tuple[np.ndarray, np.ndarray]:
    n = len(row) // 5
    return np.frombuffer(row, dtype=np.int32, count=n), np.frombuffer(row, dtype=np.uint8, count=n, offset=4 * n)


def _check(score: int) -> int:
    if not 0 <= score <= 100:
        raise ValueError(f"a pair score is a percent in 0..100, got {score!r}")
    return score


class PairScores:
    """The scores of the pairs one partition holds: employee -> {opportunity: score}
    (0..100), and opportunity -> the employees holding a pair with it."""

    def __init__(self, opportunities: OpportunityIds | None = None) -> None:
        self.opportunities = opportunities if opportunities is not None else OpportunityIds()
        self._index_of: dict[str, int] = {}  # employees with a row (possibly empty)
        self._ids: list[str | None] = []
        self._free: list[int] = []
        self._rows: list[bytes] = []
        self._holders: dict[int, array] = {}
        self._pairs = 0

    # ----------------------------------------------------------------- reading
    def __len__(self) -> int:
        """Employees with at least one pair."""
        return sum(1 for r in self._rows if r)

    @property
    def pair_count(self) -> int:
        return self._pairs

    @property
    def nbytes(self) -> int:
        """The packed rows' payload (object headers and the holders index not counted)."""
        return sum(len(r) for r in self._rows)

    def __contains__(self, employee_id: str) -> bool:
        i = self._index_of.get(employee_id)
        return i is not None and bool(self._rows[i])

    def row(self, employee_id: str) -> dict[str, int]:
        """{opportunity id: score} of the employee's pairs (empty: none)."""
        i = self._index_of.get(employee_id)
        if i is None or not self._rows[i]:
            return {}
        opps, scores = _unpack(self._rows[i])
        ids = self.opportunities.ids
        return {ids[o]: s for o, s in zip(opps.tolist(), scores.tolist())}

    def score(self, employee_id: str, opp_id: str) -> int | None:
        """The pair's score, or None when the employee holds no pair with it."""
        i = self._index_of.get(employee_id)
        o = self.opportunities.get(opp_id)
        if i is None or o is None or not self._rows[i]:
            return None
        opps, scores = _unpack(self._rows[i])
        k = int(np.searchsorted(opps, o))
        if k < len(opps) and opps[k] == o:
            return int(scores[k])
        return None

    def holders(self, opp_id: str) -> list[str]:
        """The employees holding a pair with ``opp_id`` (in no particular order)."""
        o = self.opportunities.get(opp_id)
        held = self._holders.get(o) if o is not None else None
        if not held:
            return []
        ids = self._ids
        return [ids[i] for i in held]

    def employees(self) -> list[str]:
        """The employees with at least one pair."""
        return [e for e, i in self._index_of.items() if self._rows[i]]

    # ----------------------------------------------------------------- writing
    def _employee(self, employee_id: str) -> int:
        i = self._index_of.get(employee_id)
        if i is None:
            if self._free:
                i = self._free.pop()
                self._ids[i] = employee_id
            else:
                i = len(self._ids)
                self._ids.append(employee_id)
                self._rows.append(_EMPTY)
            self._index_of[employee_id] = i
        return i

    def _release(self, employee_id: str, i: int) -> None:
        del self._index_of[employee_id]
        self._ids[i] = None
        self._rows[i] = _EMPTY
        self._free.append(i)

    def _hold(self, o: int, i: int) -> None:
        held = self._holders.get(o)
        if held is None:
            self._holders[o] = array("i", (i,))
        else:
            held.append(i)

    def _unhold(self, o: int, i: int) -> None:
        held = self._holders[o]
        held.remove(i)
        if not held:
            del self._holders[o]

    def put(self, employee_id: str, scores: Mapping[str, int]) -> None:
        """Replace the employee's pairs with ``scores`` ({opportunity id: score}; empty: none)."""
        self.put_interned(employee_id, np.fromiter(map(self.opportunities.intern, scores), dtype=np.int32,
                                                   count=len(scores)),
                          np.fromiter(scores.values(), dtype=np.int64, count=len(scores)))

    def put_interned(self, employee_id: str, opps: np.ndarray, scores: np.ndarray) -> None:
        """:meth:`put` with the opportunities as their ints (``OpportunityIds``, each once, in
        any order) and the scores as an array beside them."""
        if len(opps):
            if scores.min() < 0 or scores.max() > 100:
                bad = scores[(scores < 0) | (scores > 100)][0]
                raise ValueError(f"a pair score is a percent in 0..100, got {bad!r}")
            order = np.argsort(opps)
            new_o, new_s = opps[order].astype(np.int32, copy=False), scores[order].astype(np.uint8)
        else:
            new_o = np.zeros(0, dtype=np.int32)
            new_s = np.zeros(0, dtype=np.uint8)
        i = self._index_of.get(employee_id)
        if i is None and not len(new_o):
            return
        i = self._employee(employee_id) if i is None else i
        old_o, _ = _unpack(self._rows[i])
        if len(old_o):
            for o in np.setdiff1d(old_o, new_o, assume_unique=True).tolist():
                self._unhold(o, i)
            added = np.setdiff1d(new_o, old_o, assume_unique=True).tolist()
        else:
            added = new_o.tolist()
        for o in added:
            self._hold(o, i)
        self._pairs += len(new_o) - len(old_o)
        if len(new_o):
            self._rows[i] = _pack(new_o, new_s)
        else:
            self._release(employee_id, i)

    def set(self, employee_id: str, opp_id: str, score: int | None) -> None:
        """Set one pair's score (None: the employee no longer holds the pair)."""
        if score is None:
            i = self._index_of.get(employee_id)
            o = self.opportunities.get(opp_id)
            if i is None or o is None:
                return
        else:
            _check(int(score))
            i = self._employee(employee_id)
            o = self.opportunities.intern(opp_id)
        opps, scores = _unpack(self._rows[i])
        k = int(np.searchsorted(opps, o))
        present = k < len(opps) and opps[k] == o
        if score is None:
            if not present:
                return
            opps, scores = np.delete(opps, k), np.delete(scores, k)
            self._unhold(o, i)
            self._pairs -= 1
        elif present:
            if scores[k] == score:
                return
            scores = scores.copy()
            scores[k] = score
        else:
            opps, scores = np.insert(opps, k, o), np.insert(scores, k, score)
            self._hold(o, i)
            self._pairs += 1
        if len(opps):
            self._rows[i] = _pack(opps, scores)
        else:
            self._release(employee_id, i)

    def remove(self, employee_id: str) -> None:
        """Drop every pair of the employee."""
        self.put(employee_id, {})

    @staticmethod
    def pack(opps: np.ndarray, scores: np.ndarray) -> bytes:
        """One row from opportunity ints (``OpportunityIds``) and their scores, in any order
        (each opportunity once): the value :meth:`from_packed` takes."""
        opps = np.asarray(opps, dtype=np.int32)
        scores = np.asarray(scores)
        if len(scores) and (scores.min() < 0 or scores.max() > 100):
            raise ValueError(f"a pair score is a percent in 0..100, got {scores.min()}..{scores.max()}")
        order = np.argsort(opps, kind="stable")
        opps = opps[order]
        if len(opps) > 1 and not (opps[1:] != opps[:-1]).all():
            raise ValueError("an opportunity listed twice in one row")
        return _pack(opps, scores[order].astype(np.uint8))

    @classmethod
    def build(cls, rows: Iterable[tuple[str, Mapping[str, int]]], opportunities: OpportunityIds | None = None
              ) -> "PairScores":
        """A store holding ``rows`` ((employee id, {opportunity id: score}), each employee
        once), with the holders index built in one sort rather than pair by pair."""
        ids = opportunities if opportunities is not None else OpportunityIds()
        intern = ids.intern

        def packed():
            for employee_id, scores in rows:
                o = np.fromiter((intern(x) for x in scores), dtype=np.int32, count=len(scores))
                yield employee_id, cls.pack(o, np.fromiter(scores.values(), dtype=np.int64, count=len(scores)))

        return cls.from_packed(packed(), ids)

    @classmethod
    def from_packed(cls, rows: Iterable[tuple[str, bytes]], opportunities: OpportunityIds | None = None
                    ) -> "PairScores":
        """A store holding ``rows`` ((employee id, :meth:`pack`'s row), each employee once),
        with the holders index built in one sort rather than pair by pair."""
        store = cls(opportunities)
        for employee_id, row in rows:
            if not row:
                continue
            if employee_id in store._index_of:
                raise ValueError(f"employee {employee_id!r} listed twice")
            i = store._employee(employee_id)
            store._rows[i] = row
            store._pairs += len(row) // 5
        if store._pairs:
            opps = np.empty(store._pairs, dtype=np.int32)
            emps = np.empty(store._pairs, dtype=np.int32)
            at = 0
            for i, row in enumerate(store._rows):
                if row:
                    o, _ = _unpack(row)
                    opps[at:at + len(o)] = o
                    emps[at:at + len(o)] = i
                    at += len(o)
            order = np.argsort(opps, kind="stable")
            opps, emps = opps[order], emps[order]
            starts = np.flatnonzero(np.r_[True, opps[1:] != opps[:-1]])
            ends = np.r_[starts[1:], len(opps)]
            for o, a, b in zip(opps[starts].tolist(), starts.tolist(), ends.tolist()):
                held = array("i")
                held.frombytes(emps[a:b].astype(np.int32).tobytes())
                store._holders[o] = held
        return store

    def as_dict(self) -> dict[str, dict[str, int]]:
        """Every row as a plain dict (tests, debugging)."""
        return {e: self.row(e) for e in self.employees()}

    def holders_as_dict(self) -> dict[str, set[str]]:
        ids, opp_ids = self._ids, self.opportunities.ids
        return {opp_ids[o]: {ids[i] for i in held} for o, held in self._holders.items()}


def merge_pairs(scores: Mapping[str, int], marks: Mapping[str, list]) -> dict[str, list]:
    """The pairs as the crossing rule reads them, ``{opportunity: [score, threshold mark,
    full mark]}``: every scored pair with its marks (none: ``[0, False]``), and a marked
    pair without a score at 0 (it should not happen: a marked pair always has a score)."""
    out = {o: [s, *marks.get(o, NO_MARK)] for o, s in scores.items()}
    for o, m in marks.items():
        if o not in out:
            out[o] = [0, m[0], m[1]]
    return out


def split_pairs(pairs: Mapping[str, list]) -> tuple[dict[str, int], dict[str, list]]:
    """The pair dict back into scores (every pair) and marks (only the pairs carrying one)."""
    scores = {o: p[0] for o, p in pairs.items()}
    marks = {o: [p[1], p[2]] for o, p in pairs.items() if p[1] or p[2]}
    return scores, marks
