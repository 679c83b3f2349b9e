"""Skill autocomplete (itm/taxonomy_search.py): ranking, typos, categories, paging,
checked on the shipped taxonomy and against a brute-force ranking on an
ESCO-shaped one."""

from __future__ import annotations

import random
import re

import pytest

from itm.taxonomy import Taxonomy, match_key
from itm.taxonomy_search import EXACT, FUZZY, PREFIX, WORD, max_typos


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return Taxonomy.load_default()


def ids(tax, text, limit=10, category=""):
    return [h.skill.id for h in tax.search(text, limit, category)]


@pytest.mark.parametrize(("text", "first", "kind"), [
    ("python", "python", EXACT),
    ("Py", "python", EXACT),            # an alias
    ("postgres", "postgresql", EXACT),
    ("C++", "cpp", EXACT),
    ("c#", "csharp", EXACT),
    ("r", "r", EXACT),                  # one letter names a skill
    ("pyth", "python", PREFIX),
    ("stakeholder man", "stakeholder-management", PREFIX),
    ("Stakeholder  Man", "stakeholder-management", PREFIX),
    ("node js", "nodejs", EXACT),
    ("kubernet", "kubernetes", PREFIX),
    ("pyhton", "python", FUZZY),        # swapped letters
    ("kubernets", "kubernetes", FUZZY),
    ("javascirpt", "javascript", FUZZY),
    ("postgressql", "postgresql", FUZZY),
    ("stakholder", "stakeholder-management", FUZZY),
])
def test_what_people_type_finds_the_skill_first(tax, text, first, kind):
    hits = tax.search(text, 5)
    assert hits and hits[0].skill.id == first, [(h.skill.id, h.matched, h.kind) for h in hits]
    assert hits[0].kind == kind


def test_the_hit_says_which_label_matched(tax):
    hit = tax.search("postgres", 1)[0]
    assert (hit.skill.name, hit.matched) == ("PostgreSQL", "postgres")
    assert tax.search("pyhton", 1)[0].distance == 1


def test_later_words_match_after_names_and_aliases(tax):
    hits = tax.search("management", 100)
    kinds = [h.kind for h in hits]
    assert kinds == sorted(kinds, key=[EXACT, PREFIX, WORD, FUZZY].index)
    assert "stakeholder-management" in [h.skill.id for h in hits if h.kind == WORD]


def test_names_rank_before_aliases_and_shorter_before_longer(tax):
    hits = tax.search("s", 30)
    prefixes = [h for h in hits if h.kind == PREFIX]
    names = [h for h in prefixes if h.matched == h.skill.name]
    assert prefixes[:len(names)] == names  # every name hit before any alias hit
    lengths = [len(match_key(h.matched)) for h in names]
    assert lengths == sorted(lengths)


def test_a_skill_is_listed_once(tax):
    for text in ("s", "sql", "data", "man", "excell"):
        found = ids(tax, text, 100)
        assert len(found) == len(set(found)), text


def test_short_or_exact_queries_are_not_corrected(tax):
    assert max_typos(3) == 0 and max_typos(4) == 1 and max_typos(7) == 2 and max_typos(11) == 3
    assert all(h.kind != FUZZY for h in tax.search("pyt", 10))
    assert [h.kind for h in tax.search("python", 10)] == [EXACT]


def test_category_keeps_that_category_only(tax):
    hits = tax.search("s", 50, category="databases")
    assert hits and {h.skill.category for h in hits} == {"databases"}
    assert "python" not in ids(tax, "python", 10, category="databases")
    assert tax.search("s", 5, category="no-such-category") == []


def test_limits_and_empty_text(tax):
    assert len(tax.search("s", 3)) == 3
    assert len(tax.search("s", 1000)) == 100
    assert tax.search("", 10) == [] and tax.search("  -- ", 10) == []


def test_related_skills_and_categories(tax):
    index = tax.search_index()
    related = index.related(tax.get("sql"))
    assert ("postgresql", 0.8) in [(s.id, strength) for s, strength in related]
    strengths = [strength for _, strength in related]
    assert strengths == sorted(strengths, reverse=True)
    cats = index.categories()
    assert sum(cats.values()) == len(tax) and list(cats) == sorted(cats)


def test_pages_cover_every_skill_once(tax):
    index = tax.search_index()
    seen, token = [], ""
    while True:
        page, token = index.page(token, 37)
        seen += [s.id for s in page]
        if not token:
            break
    assert seen == tax.ids()
    db, token = index.page("", 500, "databases")
    assert token == "" and len(db) == index.categories()["databases"]


# --------------------------------------------------------------- at ESCO size, against brute force
WORDS = ["manage", "apply", "develop", "analyse", "budgets", "statistics", "software", "customer", "relations",
         "risk", "quality", "inventory", "contracts", "data", "models", "marketing", "legal", "networks", "audit",
         "supply", "chain", "care", "patient", "tax", "safety", "food", "web", "cloud", "sales", "staff"]


def esco_shaped(n: int, seed: int) -> Taxonomy:
    rng = random.Random(seed)
    records, used = [], set()
    while len(records) < n:
        labels = []
        for _ in range(1 + rng.randrange(4)):
            text = " ".join(rng.choice(WORDS) for _ in range(1 + rng.randrange(3))) + f" {rng.randrange(500)}"
            if match_key(text) not in used:
                used.add(match_key(text))
                labels.append(text)
        if labels:
            records.append({"id": f"s-{len(records)}", "name": labels[0], "aliases": labels[1:],
                            "category": f"c{rng.randrange(5)}"})
    return Taxonomy.from_records(records)


def brute_force(tax: Taxonomy, text: str, limit: int, category: str = "") -> list[str]:
    """The documented ranking, computed label by label (exact and prefix tiers)."""
    q = match_key(text)
    order = {s.id: n for n, s in enumerate(sorted(tax.skills(), key=lambda s: (match_key(s.name), s.id)))}
    best = {}
    for s in tax.skills():
        if category and s.category != category:
            continue
        for j, label in enumerate((s.name, *s.aliases, s.id)):
            full, group = match_key(label), 0 if j == 0 else 1
            keys = []
            if full == q:
                keys.append((0, group, len(full), order[s.id], j))
            if full.startswith(q):
                keys.append((1, group, len(full), len(full), order[s.id], j))
            words = [match_key(w) for w in re.split(r"[\s/,;:()\[\]{}\-_.]+", label)]
            for k in range(1, len(words)):
                tail = "".join(words[k:])
                if tail and tail != full and tail.startswith(q):
                    keys.append((1, group + 2, len(tail), len(full), order[s.id], j))
            for key in keys:
                best[s.id] = min(best.get(s.id, key), key)
    return [sid for sid, _ in sorted(best.items(), key=lambda kv: kv[1])][:limit]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ranking_equals_brute_force_on_random_taxonomies(seed):
    tax = esco_shaped(1500, seed)
    rng = random.Random(seed)
    queries = [rng.choice(WORDS)[:rng.randrange(1, 7)] for _ in range(40)]
    queries += [" ".join(rng.sample(WORDS, 2))[:rng.randrange(3, 12)] for _ in range(20)]
    for text in queries:
        for category in ("", "c2"):
            got = [h.skill.id for h in tax.search(text, 15, category) if h.kind != FUZZY]
            want = brute_force(tax, text, 15, category)
            assert got == want[:len(got)] and (len(got) == 15 or got == want), (text, category)
