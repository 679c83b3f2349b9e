"""Opportunity search rules (services/opportunity/search.py): filters, orders and
pages checked against a brute-force search over random opportunities, through
changes (upserts and removals)."""

from __future__ import annotations

import random

import pytest

from services.opportunity.search import (
    DEADLINE,
    MATCH,
    NEWEST,
    NO_DEADLINE,
    BadToken,
    Doc,
    Query,
    SearchIndex,
    fold,
    skill_groups,
    sort_key,
    words,
)

SKILLS = ["sql", "python", "excel", "negotiation", "kubernetes", "docker", "data-analysis", "r"]
RELATED = {"sql": {"postgresql": 0.8}, "python": {"r": 0.5}, "r": {"python": 0.5}}
DEPTS = ["Data", "Marketing", "Sales", "Engineering", "Finance"]
PLACES = ["Lisbon", "Lagos", "Prague", "Dubai"]
TITLE_WORDS = ["analyst", "reporting", "dashboard", "migration", "pricing", "forecast", "customer", "platform",
               "Café", "data"]


def random_doc(rng: random.Random, n: int) -> Doc:
    return Doc(
        opportunity_id=f"opp-{n:05d}", type=rng.randrange(1, 7),
        title=" ".join(rng.sample(TITLE_WORDS, 2)), description=" ".join(rng.sample(TITLE_WORDS, 3)),
        department=rng.choice(DEPTS), location=rng.choice(PLACES), remote=rng.random() < 0.2,
        hours_per_week=rng.choice([2, 4, 6, 8, 10, 20, 40]), created=1_700_000_000 + rng.randrange(10_000),
        apply_by=NO_DEADLINE if rng.random() < 0.3 else 1_800_000_000 + rng.randrange(5_000),
        skills=frozenset(rng.sample(SKILLS + ["postgresql"], rng.randrange(1, 4))), owner_id=f"O{rng.randrange(5)}")


def random_query(rng: random.Random) -> Query:
    q = Query(sort=rng.choice([NEWEST, DEADLINE, MATCH]))
    if rng.random() < 0.4:
        q.types = frozenset(rng.sample(range(1, 7), rng.randrange(1, 3)))
    if rng.random() < 0.4:
        q.skill_groups = skill_groups([rng.choice(SKILLS)], lambda s: RELATED.get(s, {}), rng.random() < 0.5)
    if rng.random() < 0.3:
        q.department = rng.choice(DEPTS).upper()
    if rng.random() < 0.3:
        q.location, q.include_remote = rng.choice(PLACES).lower(), rng.random() < 0.5
    if rng.random() < 0.3:
        q.min_hours, q.max_hours = rng.choice([(0, 8), (4, 0), (6, 20), (10, 10)])
    if rng.random() < 0.3:
        q.text = rng.choice(["anal", "DASH", "data fore", "café", "cafe", "x"])
    if rng.random() < 0.2:
        q.owner_id = f"O{rng.randrange(5)}"
    return q


def brute_force(docs: dict[str, Doc], q: Query, scores: dict[str, int]) -> list[str]:
    def ok(d: Doc) -> bool:
        if q.types and d.type not in q.types:
            return False
        if any(not (d.skills & g) for g in q.skill_groups):
            return False
        if q.department and fold(d.department) != fold(q.department):
            return False
        if q.location and fold(d.location) != fold(q.location) and not (q.include_remote and d.remote):
            return False
        if q.owner_id and d.owner_id != q.owner_id:
            return False
        if d.hours_per_week < q.min_hours or (q.max_hours and d.hours_per_week > q.max_hours):
            return False
        have = set(words(d.title) + words(d.description))
        return all(any(w.startswith(t) for w in have) for t in words(q.text))

    return [d.opportunity_id for d in sorted((d for d in docs.values() if ok(d)),
                                             key=lambda d: sort_key(d, q.sort, scores))]


def all_pages(index: SearchIndex, q: Query, size: int, scores) -> tuple[list[str], int]:
    out, token, total = [], "", None
    while True:
        page = index.search(q, size, token, scores)
        total = page.total if total is None else total
        assert page.total == total
        out += page.ids
        token = page.next_token
        if not token:
            return out, total


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_every_page_of_every_search_equals_brute_force_through_changes(seed):
    rng = random.Random(seed)
    docs = {d.opportunity_id: d for d in (random_doc(rng, n) for n in range(800))}
    index = SearchIndex()
    for d in docs.values():
        index.upsert(d)
    for round_ in range(4):
        scores = {i: rng.randrange(0, 101) for i in rng.sample(sorted(docs), len(docs) // 2)}
        for _ in range(25):
            q = random_query(rng)
            want = brute_force(docs, q, scores)
            got, total = all_pages(index, q, rng.choice([1, 7, 50, 500]), scores)
            assert got == want, q
            assert total == len(want)
        # changes: some close (removed), some change (upserted again), some are new
        for i in rng.sample(sorted(docs), 60):
            index.remove(i)
            del docs[i]
        for i in rng.sample(sorted(docs), 40):
            changed = random_doc(rng, int(i[4:]))
            docs[i] = changed
            index.upsert(changed)
        for n in range(1000 + round_ * 100, 1050 + round_ * 100):
            d = random_doc(rng, n)
            docs[d.opportunity_id] = d
            index.upsert(d)
        index.remove("opp-unknown")  # idempotent
    assert len(index) == len(docs)


def test_orders():
    a = Doc("a", 1, "A", "", "D", "L", False, 4, created=100, apply_by=NO_DEADLINE, skills=frozenset({"sql"}), owner_id="O")
    b = Doc("b", 1, "B", "", "D", "L", False, 4, created=200, apply_by=500, skills=frozenset({"sql"}), owner_id="O")
    c = Doc("c", 1, "C", "", "D", "L", False, 4, created=300, apply_by=400, skills=frozenset({"sql"}), owner_id="O")
    index = SearchIndex()
    for d in (a, b, c):
        index.upsert(d)
    assert index.search(Query(sort=NEWEST), 10).ids == ["c", "b", "a"]
    assert index.search(Query(sort=DEADLINE), 10).ids == ["c", "b", "a"]  # no deadline last
    assert index.search(Query(sort=MATCH), 10, scores={"a": 90, "b": 90}).ids == ["b", "a", "c"]  # unscored last


def test_tokens_belong_to_their_search():
    rng = random.Random(9)
    index = SearchIndex()
    for n in range(30):
        index.upsert(random_doc(rng, n))
    page = index.search(Query(), 5)
    assert page.next_token and len(page.ids) == 5
    with pytest.raises(BadToken, match="another search"):
        index.search(Query(department="Data"), 5, page.next_token)
    with pytest.raises(BadToken, match="another search"):
        index.search(Query(sort=DEADLINE), 5, page.next_token)
    for bad in ("nonsense", "!!!", "eyJ4Ijp9"):
        with pytest.raises(BadToken, match="not one this service issued"):
            index.search(Query(), 5, bad)


def test_a_changed_opportunity_moves_between_the_sets():
    rng = random.Random(3)
    d = random_doc(rng, 1)
    index = SearchIndex()
    index.upsert(d)
    moved = Doc(**{**{f: getattr(d, f) for f in d.__slots__}, "department": "Elsewhere", "title": "zebra"})
    index.upsert(moved)
    assert index.search(Query(department=d.department), 5).ids == [] if d.department != "Elsewhere" else True
    assert index.search(Query(department="elsewhere", text="zeb"), 5).ids == [d.opportunity_id]
    index.remove(d.opportunity_id)
    assert index.search(Query(), 5).ids == [] and index._vocabulary == []
