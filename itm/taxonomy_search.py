"""Skill search for autocomplete: prefix, alias and typo-tolerant, ranked.

Built once per taxonomy (:meth:`itm.taxonomy.Taxonomy.search_index`) and then
read-only, so one index serves every request of a process. Pure: no I/O.

**What it indexes.** Every skill's display name, aliases and id as lookup keys
(:func:`itm.taxonomy.match_key`: case, spaces and punctuation ignored, so
"stakeholder man" finds "Stakeholder Management" and "node js" finds
"Node.js"), and each of them from every later word on ("management" and
"management acc" find "Management Accounting" through "cost accounting,
management accounting"; "web app" finds "develop web applications").

**Ranking**, best first; a skill appears once, with its best label:

1. *exact*: the query names the skill (what ``Taxonomy.normalise`` resolves);
2. *prefix* of the display name, then of an alias or the id;
3. *word*: the query starts a later word of the name, then of an alias;
4. *fuzzy*: the query is the start of a key with a typo or two (optimal
   string alignment distance, where swapping two neighbouring letters counts
   once: 1 edit from 4 characters, 2 from 7, 3 from 11). The first letter is
   taken as typed. Queries under 4 characters and queries that name a skill
   exactly are not corrected.

Within the prefix and word tiers the shorter matched key comes first (closest
to what was typed), then the shorter label, then the display name in
alphabetical order; fuzzy hits come by distance, names before aliases.

**Layout and cost.** Keys are grouped by tier (name, alias, name word, alias
word) and, within a group, by length, each length a sorted list with the
postings of each key (one int per skill and label, ordered by rank). A prefix
query walks the groups in rank order and the lengths upwards, taking a binary
search's range in each, and stops as soon as the page is full, so even a
one-letter prefix reads only the few keys it returns. Fuzzy matching compares
the query with the start of every key of its first letter (rapidfuzz, in C)
and runs only when the prefix tiers leave the page short. Measured by
``bench/taxonomy_bench.py`` (14,000 ESCO-shaped skills, 85,000 labels).
"""

from __future__ import annotations

import bisect
import heapq
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rapidfuzz import process
from rapidfuzz.distance import OSA

if TYPE_CHECKING:  # pragma: no cover
    from itm.taxonomy import Skill, Taxonomy

__all__ = ["EXACT", "FUZZY", "MAX_LIMIT", "PREFIX", "WORD", "SkillHit", "SkillSearch", "max_typos"]

# how a hit matched (the proto's SkillMatchKind names them the same)
EXACT, PREFIX, WORD, FUZZY = "exact", "prefix", "word", "fuzzy"
MAX_LIMIT = 100

# key groups, in rank order
_NAME, _ALIAS, _NAME_WORD, _ALIAS_WORD = range(4)
_GROUP_KIND = {_NAME: PREFIX, _ALIAS: PREFIX, _NAME_WORD: WORD, _ALIAS_WORD: WORD}
_MIN_FUZZY = 4
_MAX_LABEL = 255  # a skill's labels past this many report as the last one
_ORDER_BITS = 20  # name order: up to a million skills
_WORD_SPLIT = re.compile(r"[\s/,;:()\[\]{}\-_.]+")


def max_typos(length: int) -> int:
    """How many edits a query of ``length`` characters may be away from a key."""
    if length < _MIN_FUZZY:
        return 0
    if length < 7:
        return 1
    if length < 11:
        return 2
    return 3


@dataclass(frozen=True, slots=True)
class SkillHit:
    """One search result: the skill, the text that matched and how."""

    skill: "Skill"
    matched: str  # the name, alias or id that matched
    kind: str  # EXACT, PREFIX, WORD or FUZZY
    distance: int = 0  # edits between the query and the matched text (FUZZY)


class _Group:
    """Keys of one tier: per key length, the sorted keys and their postings."""

    __slots__ = ("lengths", "keys", "postings")

    def __init__(self, table: dict[str, list[int]]) -> None:
        by_length: dict[int, list[str]] = {}
        for key in table:
            by_length.setdefault(len(key), []).append(key)
        self.lengths = sorted(by_length)
        self.keys = {n: sorted(ks) for n, ks in by_length.items()}
        self.postings = {n: [tuple(sorted(table[k])) for k in ks] for n, ks in self.keys.items()}

    def ranges(self, q: str):
        """(length, postings of each key starting with q) by increasing key length."""
        for n in self.lengths[bisect.bisect_left(self.lengths, len(q)):]:
            keys = self.keys[n]
            lo = bisect.bisect_left(keys, q)
            hi = bisect.bisect_left(keys, q + "\U0010ffff", lo)
            if lo < hi:
                yield n, self.postings[n][lo:hi]

    def exact(self, q: str) -> tuple[int, ...]:
        keys = self.keys.get(len(q), ())
        i = bisect.bisect_left(keys, q)
        return self.postings[len(q)][i] if i < len(keys) and keys[i] == q else ()


class SkillSearch:
    """The index of one taxonomy. Build it with :meth:`Taxonomy.search_index`."""

    def __init__(self, taxonomy: "Taxonomy") -> None:
        from itm.taxonomy import match_key

        self._match_key = match_key
        self._skills: list[Skill] = taxonomy.skills()  # by id
        self._by_order = sorted(range(len(self._skills)),
                                key=lambda i: (match_key(self._skills[i].name), self._skills[i].id))
        self._labels = [(s.name, *s.aliases, s.id) for s in self._skills]  # label 0 is the name
        # a posting is one int: label length, the skill's name order and the label's index,
        # so postings sort by rank and name the skill and label they come from
        tables: list[dict[str, list[int]]] = [{}, {}, {}, {}]
        all_keys: set[str] = set()
        word_keys: dict[str, str] = {}
        for order, i in enumerate(self._by_order):
            for j, text in enumerate(self._labels[i]):
                full = match_key(text)
                if not full:
                    continue
                code = ((len(full) << _ORDER_BITS | order) << 8) | min(j, _MAX_LABEL)
                tables[_NAME if j == 0 else _ALIAS].setdefault(full, []).append(code)
                all_keys.add(full)
                words = _WORD_SPLIT.split(text)
                if len(words) < 2:
                    continue
                parts = []
                for word in words:
                    wk = word_keys.get(word)
                    if wk is None:
                        wk = word_keys[word] = match_key(word)
                    parts.append(wk)
                for k in range(1, len(parts)):  # the label from its k-th word on
                    tail = "".join(parts[k:])
                    if tail and tail != full:
                        tables[_NAME_WORD if j == 0 else _ALIAS_WORD].setdefault(tail, []).append(code)
                        all_keys.add(tail)
        self._groups = [_Group(t) for t in tables]
        self._keys = sorted(all_keys)  # every key, for fuzzy matching
        self._by_id = {s.id: s for s in self._skills}
        self._ids = [s.id for s in self._skills]
        self._ids_by_category: dict[str, list[str]] = {}
        for s in self._skills:
            self._ids_by_category.setdefault(s.category, []).append(s.id)

    def __len__(self) -> int:
        """How many distinct keys the index holds."""
        return len(self._keys)

    def _decode(self, code: int) -> tuple[int, int]:
        """(skill index, label index) of a posting."""
        return self._by_order[(code >> 8) & ((1 << _ORDER_BITS) - 1)], code & 0xFF

    def _in(self, category: str, i: int) -> bool:
        return not category or self._skills[i].category == category

    # ------------------------------------------------------------------ queries
    def search(self, query: str, limit: int = 10, category: str = "") -> list[SkillHit]:
        """Up to ``limit`` (1..100) skills for what a person typed, best first;
        ``category`` keeps that category's skills only. Text without letters or
        digits finds nothing."""
        limit = max(1, min(limit, MAX_LIMIT))
        q = self._match_key(query or "")
        if not q or (category and category not in self._ids_by_category):
            return []
        hits: list[SkillHit] = []
        seen: set[int] = set()

        def take(codes, kind: str, distance: int = 0) -> bool:
            """Add the postings' skills not seen yet; True once the page is full."""
            for code in codes:
                i, j = self._decode(code)
                if i not in seen and self._in(category, i):
                    seen.add(i)
                    hits.append(SkillHit(self._skills[i], self._labels[i][j], kind, distance))
                    if len(hits) == limit:
                        return True
            return False

        for group in (_NAME, _ALIAS):
            if take(self._groups[group].exact(q), EXACT):
                return hits
        exact = bool(hits)
        for group in (_NAME, _ALIAS, _NAME_WORD, _ALIAS_WORD):
            for _, postings in self._groups[group].ranges(q):
                codes = postings[0] if len(postings) == 1 else heapq.merge(*postings)
                if take(codes, _GROUP_KIND[group]):
                    return hits
        if not exact and max_typos(len(q)):
            for distance, codes in self._fuzzy(q):
                if take(codes, FUZZY, distance):
                    break
        return hits

    def _fuzzy(self, q: str):
        """(distance, postings) for the keys of q's first letter whose start is at most
        max_typos(len(q)) edits from q: nearest first, then names before aliases before
        words, then shorter keys first."""
        lo = bisect.bisect_left(self._keys, q[0])
        hi = bisect.bisect_left(self._keys, q[0] + "\U0010ffff", lo)
        cutoff = max_typos(len(q))
        nearest: dict[int, int] = {}  # key index in lo..hi -> distance
        bucket = self._keys[lo:hi]
        for width in (len(q) - 1, len(q), len(q) + 1):
            starts = [k[:width] for k in bucket]
            for _, d, n in process.extract(q, starts, scorer=OSA.distance, score_cutoff=cutoff, limit=None):
                if d < nearest.get(n, cutoff + 1):
                    nearest[n] = d
        by_distance: dict[int, list[str]] = {}
        for n, d in nearest.items():
            by_distance.setdefault(d, []).append(bucket[n])
        for d in sorted(by_distance):
            keys = sorted(by_distance[d], key=lambda k: (len(k), k))  # lazily: the page is full soon
            for group in (_NAME, _ALIAS, _NAME_WORD, _ALIAS_WORD):
                for key in keys:
                    if postings := self._groups[group].exact(key):
                        yield d, postings

    # ------------------------------------------------------------------ browsing
    def related(self, skill: "Skill") -> list[tuple["Skill", float]]:
        """The skill's related skills with their strengths, strongest first."""
        return [(self._by_id[other], strength) for other, strength in skill.related.items() if other in self._by_id]

    def categories(self) -> dict[str, int]:
        """Category -> how many skills it has, by category name."""
        return {c: len(ids) for c, ids in sorted(self._ids_by_category.items())}

    def page(self, after: str = "", size: int = 50, category: str = "") -> tuple[list["Skill"], str]:
        """Skills in id order after the id ``after`` (of ``category`` when given): one
        page of ``size`` and the id to continue after ("" on the last page)."""
        ids = self._ids_by_category.get(category, []) if category else self._ids
        start = bisect.bisect_right(ids, after) if after else 0
        chunk = ids[start:start + size]
        more = start + size < len(ids)
        return [self._by_id[i] for i in chunk], (chunk[-1] if more and chunk else "")
