"""Opportunity search: the rules and the in-memory index (pure, no I/O).

``SearchIndex`` holds one ``Doc`` per *open* opportunity and answers
``SearchOpportunities``: filters by type, required skills (each a set of
acceptable skill ids: the skill, plus its related skills when asked),
department, location, hours range, owner and free text, sorted by newest,
deadline or the caller's match, one page at a time.

Layout, kept up to date by ``upsert``/``remove`` (O(log n) plus a list insert):

* inverted sets: type -> ids, skill -> ids, department -> ids, location -> ids,
  owner -> ids, word -> ids (words of the title and description, case-folded),
  with a sorted vocabulary so each query word matches the words it starts;
* two lists kept sorted by the NEWEST and DEADLINE orders, walked from the
  page token until the page is full.

A query intersects the smallest sets first, filters by hours, then walks the
sorted list (or, for MATCH, sorts the candidates by the scores the caller
brings). Page tokens are keyset tokens: the last result's sort key and a hash
of the filters, so a page never repeats or skips what stayed in place, and a
token from another search is refused.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field

NEWEST, DEADLINE, MATCH = "newest", "deadline", "match"
SORTS = (NEWEST, DEADLINE, MATCH)
_WORD = re.compile(r"\w+")
NO_DEADLINE = math.inf


def fold(text: str) -> str:
    """The form departments, locations and words are compared in: case, width and
    accents ignored ("Café" and "cafe" are one word)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


@dataclass(frozen=True, slots=True)
class Doc:
    """What search knows of one open opportunity."""

    opportunity_id: str
    type: int
    title: str
    description: str
    department: str
    location: str
    remote: bool
    hours_per_week: float
    created: float  # epoch seconds
    apply_by: float  # epoch seconds; NO_DEADLINE when unset
    skills: frozenset[str]
    owner_id: str

    @property
    def words(self) -> frozenset[str]:
        return frozenset(words(self.title) + words(self.description))


@dataclass
class Query:
    types: frozenset[int] = frozenset()  # any of these; empty: every type
    skill_groups: tuple[frozenset[str], ...] = ()  # every group: at least one of its skills required
    department: str = ""
    location: str = ""
    include_remote: bool = False  # with a location: remote opportunities count as everywhere
    min_hours: float = 0.0
    max_hours: float = 0.0  # 0: no upper bound
    text: str = ""  # every word must start a word of the title or description
    owner_id: str = ""
    sort: str = NEWEST

    def fingerprint(self) -> str:
        """Identifies the filters (not the order), for page tokens."""
        doc = [sorted(self.types), [sorted(g) for g in self.skill_groups], fold(self.department),
               fold(self.location), self.include_remote, self.min_hours, self.max_hours, words(self.text),
               self.owner_id]
        return hashlib.sha1(json.dumps(doc).encode()).hexdigest()[:10]


def doc_of(opp) -> Doc:
    """The search document of an ``itm.v1.Opportunity``."""
    return Doc(
        opportunity_id=opp.opportunity_id, type=opp.type, title=opp.title, description=opp.description,
        department=opp.department, location=opp.location, remote=opp.remote, hours_per_week=opp.hours_per_week,
        created=opp.created_at.seconds + opp.created_at.nanos / 1e9,
        apply_by=opp.apply_by.seconds + opp.apply_by.nanos / 1e9 if opp.HasField("apply_by") else NO_DEADLINE,
        skills=frozenset(r.skill_id for r in opp.requirements), owner_id=opp.owner_id)


def skill_groups(skill_ids: list[str], related, include_related: bool) -> tuple[frozenset[str], ...]:
    """One group per wanted skill: the skill, and its related skills when asked
    (``related(skill_id)`` gives them, as the taxonomy's ``related_view`` does)."""
    return tuple(frozenset({s, *(related(s) if include_related else ())}) for s in dict.fromkeys(skill_ids))


class BadToken(ValueError):
    pass


def sort_key(doc: Doc, sort: str, scores: dict[str, int] | None = None) -> tuple:
    """The order of results: lower first. Ties go to the newest, then the id."""
    if sort == DEADLINE:
        return (doc.apply_by, -doc.created, doc.opportunity_id)
    if sort == MATCH:
        return (-(scores or {}).get(doc.opportunity_id, -1), -doc.created, doc.opportunity_id)
    return (-doc.created, doc.opportunity_id)


def encode_token(sort: str, key: tuple, fingerprint: str) -> str:
    raw = json.dumps([sort, fingerprint, [None if v == math.inf else v for v in key]])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, sort: str, fingerprint: str) -> tuple | None:
    """The sort key to continue after; None for no token. BadToken when it is not one of
    ours, or belongs to another search or another order."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        token_sort, token_fp, key = json.loads(raw)
        key = tuple(math.inf if v is None else v for v in key)
    except (ValueError, TypeError):
        raise BadToken("page_token is not one this service issued; pass next_page_token from the previous page") from None
    if token_sort != sort or token_fp != fingerprint:
        raise BadToken("page_token belongs to another search (other filters or order); start again without it")
    return key


@dataclass
class Page:
    ids: list[str]
    total: int  # open opportunities matching the filters
    next_token: str = ""


@dataclass
class SearchIndex:
    docs: dict[str, Doc] = field(default_factory=dict)
    _by: dict[str, dict[object, set[str]]] = field(default_factory=lambda: {
        "type": {}, "skill": {}, "department": {}, "location": {}, "owner": {}, "word": {}})
    _vocabulary: list[str] = field(default_factory=list)  # sorted words
    _newest: list[tuple] = field(default_factory=list)  # sorted (key, id)
    _deadline: list[tuple] = field(default_factory=list)
    _remote: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.docs)

    # ---------------------------------------------------------------- changes
    def _postings(self, doc: Doc):
        yield "type", doc.type
        for s in doc.skills:
            yield "skill", s
        yield "department", fold(doc.department)
        yield "location", fold(doc.location)
        yield "owner", doc.owner_id
        for w in doc.words:
            yield "word", w

    def upsert(self, doc: Doc) -> None:
        """Add or replace the opportunity (idempotent)."""
        old = self.docs.get(doc.opportunity_id)
        if old == doc:
            return
        if old is not None:
            self.remove(doc.opportunity_id)
        self.docs[doc.opportunity_id] = doc
        for kind, value in self._postings(doc):
            ids = self._by[kind].setdefault(value, set())
            if kind == "word" and not ids:
                bisect.insort(self._vocabulary, value)
            ids.add(doc.opportunity_id)
        if doc.remote:
            self._remote.add(doc.opportunity_id)
        bisect.insort(self._newest, (sort_key(doc, NEWEST), doc.opportunity_id))
        bisect.insort(self._deadline, (sort_key(doc, DEADLINE), doc.opportunity_id))

    def remove(self, opportunity_id: str) -> None:
        """Drop the opportunity (it closed, filled or is unknown); idempotent."""
        doc = self.docs.pop(opportunity_id, None)
        if doc is None:
            return
        for kind, value in self._postings(doc):
            ids = self._by[kind].get(value)
            if ids is None:
                continue
            ids.discard(opportunity_id)
            if not ids:
                del self._by[kind][value]
                if kind == "word":
                    i = bisect.bisect_left(self._vocabulary, value)
                    if i < len(self._vocabulary) and self._vocabulary[i] == value:
                        del self._vocabulary[i]
        self._remote.discard(opportunity_id)
        for ordered, sort in ((self._newest, NEWEST), (self._deadline, DEADLINE)):
            entry = (sort_key(doc, sort), opportunity_id)
            i = bisect.bisect_left(ordered, entry)
            if i < len(ordered) and ordered[i] == entry:
                del ordered[i]

    def clear(self) -> None:
        fresh = SearchIndex()
        self.docs, self._by, self._vocabulary = fresh.docs, fresh._by, fresh._vocabulary
        self._newest, self._deadline, self._remote = fresh._newest, fresh._deadline, fresh._remote

    # ---------------------------------------------------------------- queries
    def _words_starting(self, prefix: str) -> set[str]:
        lo = bisect.bisect_left(self._vocabulary, prefix)
        hi = bisect.bisect_left(self._vocabulary, prefix + "\U0010ffff", lo)
        out: set[str] = set()
        for w in self._vocabulary[lo:hi]:
            out |= self._by["word"][w]
        return out

    def candidates(self, q: Query) -> set[str] | None:
        """Ids passing every filter; None means every open opportunity (no filter)."""
        sets: list[set[str]] = []
        by = self._by
        if q.types:
            sets.append(set().union(*(by["type"].get(t, ()) for t in q.types)))
        for group in q.skill_groups:
            sets.append(set().union(*(by["skill"].get(s, ()) for s in group)))
        if q.department:
            sets.append(by["department"].get(fold(q.department), set()))
        if q.location:
            here = by["location"].get(fold(q.location), set())
            sets.append(here | self._remote if q.include_remote else here)
        if q.owner_id:
            sets.append(by["owner"].get(q.owner_id, set()))
        for w in dict.fromkeys(words(q.text)):
            sets.append(self._words_starting(w))
        if not sets:
            found = None
        else:
            sets.sort(key=len)
            found = set(sets[0])
            for s in sets[1:]:
                if not found:
                    break
                found &= s
        if q.min_hours or q.max_hours:
            pool = self.docs.keys() if found is None else found
            found = {i for i in pool if q.min_hours <= self.docs[i].hours_per_week
                     and (not q.max_hours or self.docs[i].hours_per_week <= q.max_hours)}
        return found

    def search(self, q: Query, size: int, token: str = "", scores: dict[str, int] | None = None) -> Page:
        """One page of ids in the query's order (``scores``: opportunity -> the caller's
        percent, for MATCH; unscored opportunities come last). BadToken for a bad token."""
        fp = q.fingerprint()
        after = decode_token(token, q.sort, fp)
        found = self.candidates(q)
        total = len(self.docs) if found is None else len(found)
        if q.sort == MATCH or (found is not None and len(found) * 8 < len(self.docs)):
            # sort the candidates themselves: always for MATCH, and when they are few
            pool = self.docs if found is None else found
            keyed = sorted((sort_key(self.docs[i], q.sort, scores), i) for i in pool)
            start = bisect.bisect_right(keyed, (after, "\U0010ffff")) if after is not None else 0
            chosen = keyed[start:start + size + 1]
        else:  # walk the kept order from the token on
            ordered = self._newest if q.sort == NEWEST else self._deadline
            start = bisect.bisect_right(ordered, (after, "\U0010ffff")) if after is not None else 0
            chosen = []
            for n in range(start, len(ordered)):
                if found is None or ordered[n][1] in found:
                    chosen.append(ordered[n])
                    if len(chosen) > size:
                        break
        more = len(chosen) > size
        chosen = chosen[:size]
        next_token = encode_token(q.sort, chosen[-1][0], fp) if more else ""
        return Page([i for _, i in chosen], total, next_token)
