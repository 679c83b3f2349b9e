"""The skills taxonomy: curated data, lookup, suggestions, ESCO import."""

from __future__ import annotations

import csv
import pickle
import re

import pytest

from itm.taxonomy import Taxonomy, UnknownSkill, import_esco_csv, match_key, slugify


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return Taxonomy.load_default()


# ----------------------------------------------------------- curated data
def test_default_is_cached_and_large(tax):
    assert Taxonomy.load_default() is tax
    assert len(tax) >= 250
    assert len(tax.skills()) == len(tax) == len(list(tax))
    assert len(tax.categories()) >= 10


def test_ids_are_kebab_case_with_names_and_categories(tax):
    for s in tax.skills():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", s.id), s.id
        assert s.name and s.category


@pytest.mark.parametrize(
    "skill_id",
    ["python", "sql", "data-analysis", "stakeholder-management", "kubernetes", "postgresql",
     "machine-learning", "project-management", "communication", "excel", "leadership"],
)
def test_core_skills_present(tax, skill_id):
    assert skill_id in tax


def test_names(tax):
    assert tax.name("postgresql") == "PostgreSQL"
    assert tax.name("cpp") == "C++"
    assert tax.name("stakeholder-management") == "Stakeholder Management"
    with pytest.raises(UnknownSkill):
        tax.name("Postgres")  # name() takes canonical ids only


# ------------------------------------------------------------- normalise
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("python", "python"),
        ("Python", "python"),
        ("  PYTHON  ", "python"),
        ("py", "python"),
        ("python3", "python"),
        ("Python 3", "python"),
        ("postgres", "postgresql"),
        ("PostgreSQL", "postgresql"),
        ("Postgre SQL", "postgresql"),
        ("ml", "machine-learning"),
        ("Machine Learning", "machine-learning"),
        ("machine_learning", "machine-learning"),
        ("data-analysis", "data-analysis"),
        ("Data Analytics", "data-analysis"),
        ("stakeholder management", "stakeholder-management"),
        ("k8s", "kubernetes"),
        ("C", "c"),
        ("C++", "cpp"),
        ("c#", "csharp"),
        ("C Sharp", "csharp"),
        ("F#", "fsharp"),
        ("Node.js", "nodejs"),
        ("node js", "nodejs"),
        (".NET", "dotnet"),
        ("A/B testing", "a-b-testing"),
        ("CI/CD", "ci-cd"),
        ("FP&A", "financial-planning-and-analysis"),
        ("R", "r"),
        ("golang", "go"),
        ("MS Excel", "excel"),
    ],
)
def test_normalise(tax, text, expected):
    assert tax.normalise(text) == expected


def test_c_family_stays_distinct(tax):
    assert len({tax.normalise(t) for t in ("C", "C++", "C#", "F#")}) == 4


def test_unknown_with_suggestions(tax):
    with pytest.raises(UnknownSkill) as exc:
        tax.normalise("pyhton")
    err = exc.value
    assert isinstance(err, ValueError)
    assert err.text == "pyhton"
    assert err.suggestions[0] == "python"
    assert 1 <= len(err.suggestions) <= 3
    assert str(err).startswith("unknown skill 'pyhton'; did you mean: python")
    assert str(err).endswith("?")
    assert str(err) == f"unknown skill 'pyhton'; did you mean: {', '.join(err.suggestions)}?"


def test_unknown_suggestions_come_from_aliases_and_names(tax):
    with pytest.raises(UnknownSkill) as exc:
        tax.normalise("kubernets")
    assert exc.value.suggestions[0] == "kubernetes"
    with pytest.raises(UnknownSkill) as exc:
        tax.normalise("postgress")
    assert exc.value.suggestions[0] == "postgresql"
    with pytest.raises(UnknownSkill) as exc:
        tax.normalise("stakeholder mgmt")
    assert "stakeholder-management" in exc.value.suggestions


def test_unknown_without_suggestions(tax):
    with pytest.raises(UnknownSkill) as exc:
        tax.normalise("zzqxjv wibble")
    assert exc.value.suggestions == []
    assert str(exc.value) == "unknown skill 'zzqxjv wibble'"
    with pytest.raises(UnknownSkill):
        tax.normalise("")
    assert tax.try_normalise("zzqxjv") is None and tax.try_normalise("PY") == "python"


def test_unknown_skill_pickles():
    err = pickle.loads(pickle.dumps(UnknownSkill("pyhton", ["python"])))
    assert err.suggestions == ["python"] and "did you mean: python?" in str(err)


def test_contains_is_for_canonical_ids(tax):
    assert "python" in tax
    assert "py" not in tax and "Python" not in tax and 3 not in tax


# --------------------------------------------------------------- related
def test_related_is_symmetric_and_in_range(tax):
    pairs = 0
    for s in tax:
        for t, w in tax.related(s).items():
            assert t in tax and t != s
            assert 0.0 < w <= 1.0
            assert tax.related(t)[s] == w, (s, t)
            pairs += 1
    assert pairs >= 2 * 200


def test_related_examples(tax):
    assert tax.related("python")["r"] == 0.5
    assert tax.related("r")["python"] == 0.5
    assert tax.related("postgresql")["sql"] == 0.8
    assert tax.related("sql")["postgresql"] == 0.8
    assert tax.related("not-a-skill") == {}
    rel = tax.related("python")
    rel["python"] = 1.0  # a copy: mutating it does not change the taxonomy
    assert "python" not in tax.related("python")


def test_related_declared_one_way_becomes_symmetric():
    t = Taxonomy.from_records(
        [
            {"id": "a", "name": "A", "related": {"b": 0.3}},
            {"id": "b", "name": "B", "related": {"a": 0.6}},
            {"id": "c", "name": "C", "related": [["a", 0.2]]},
        ]
    )
    assert t.related("a") == {"b": 0.6, "c": 0.2}
    assert t.related("b") == {"a": 0.6} and t.related("c") == {"a": 0.2}


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([{"id": "Python"}], "invalid skill id"),
        ([{"id": "a b"}], "invalid skill id"),
        ([{"id": "a"}, {"id": "a"}], "duplicate"),
        ([{"id": "a", "aliases": ["x"]}, {"id": "b", "aliases": ["X!"]}], "ambiguous"),
        ([{"id": "a", "name": "Bee"}, {"id": "bee"}], "ambiguous"),
        ([{"id": "a", "related": {"zzz": 0.5}}], "unknown skill"),
        ([{"id": "a", "related": {"a": 0.5}}], "itself"),
        ([{"id": "a", "related": {"b": 0}}, {"id": "b"}], "outside"),
        ([{"id": "a", "related": {"b": 1.5}}, {"id": "b"}], "outside"),
        ([{"id": "a", "aliases": "x"}], "list"),
        ([{"id": "a", "aliases": ["!!"]}], "no letters"),
    ],
)
def test_from_records_validates(records, message):
    with pytest.raises(ValueError, match=message):
        Taxonomy.from_records(records)


def test_records_round_trip(tax):
    again = Taxonomy.from_records(tax.to_records())
    assert again.to_records() == tax.to_records()


def test_match_key_and_slugify():
    assert match_key(" Node.JS ") == "nodejs" == match_key("node js")
    assert match_key("C++") == "cplusplus" and match_key("C#") == "csharp"
    assert slugify("Python (computer programming)") == "python-computer-programming"
    assert slugify("C++") == "c-plus-plus"
    assert slugify("Español básico") == "espanol-basico"
    assert slugify("中文") == ""


# ------------------------------------------------------------------ ESCO
ESCO_COLUMNS = [
    "conceptType", "conceptUri", "skillType", "reuseLevel", "preferredLabel", "altLabels",
    "hiddenLabels", "status", "modifiedDate", "scopeNote", "definition", "inScheme", "description",
]


def write_esco(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=ESCO_COLUMNS)
        w.writeheader()
        for row in rows:
            w.writerow({c: row.get(c, "") for c in ESCO_COLUMNS})


def esco_row(uid, label, alts=(), skill_type="skill/competence", status="released", desc=""):
    return {
        "conceptType": "KnowledgeSkillCompetence",
        "conceptUri": f"http://data.europa.eu/esco/skill/{uid}",
        "skillType": skill_type,
        "reuseLevel": "sector-specific",
        "preferredLabel": label,
        "altLabels": "\n".join(alts),
        "hiddenLabels": "",
        "status": status,
        "description": desc,
    }


@pytest.fixture
def esco_csv(tmp_path):
    path = tmp_path / "skills_en.csv"
    write_esco(
        path,
        [
            esco_row("ccd0a1d9-afda-43d9-b901-96344886e14d", "Python (computer programming)",
                     ["Python", "python scripting"], "knowledge", desc="The techniques of..."),
            esco_row("a8d2b1c3-1111-4a4a-9999-000000000001", "SQL", ["structured query language",
                     "SQL querying"], "knowledge"),
            esco_row("0b1e2f3a-2222-4b4b-8888-000000000002", "manage musical staff",
                     ["coordinate musical staff", "direct music staff", "manage musical staff"],
                     desc="Assign and manage staff tasks."),
            esco_row("0c1e2f3a-3333-4c4c-7777-000000000003", "manage musical staff!",
                     ["oversee musical staff"]),
            esco_row("0d1e2f3a-4444-4d4d-6666-000000000004", "draft skill", status="draft"),
            esco_row("0e1e2f3a-5555-4e4e-5555-000000000005", "perform Pilates exercises",
                     ["pilates", "ml"]),
        ],
    )
    return path


def test_import_esco_csv(esco_csv):
    records = import_esco_csv(esco_csv)
    by_id = {r["id"]: r for r in records}
    assert list(by_id) == [
        "python-computer-programming",
        "sql",
        "manage-musical-staff",
        "manage-musical-staff-0c1e2f3a",  # slug collision: URI suffix
        "perform-pilates-exercises",
    ]  # the draft row is skipped
    py = by_id["python-computer-programming"]
    assert py["name"] == "Python (computer programming)"
    assert py["aliases"] == ["Python", "python scripting"]  # newline-separated altLabels
    assert py["category"] == "esco-knowledge"
    assert py["uri"].endswith("ccd0a1d9-afda-43d9-b901-96344886e14d")
    assert py["description"] == "The techniques of..."
    staff = by_id["manage-musical-staff"]
    assert staff["aliases"] == ["coordinate musical staff", "direct music staff"]
    assert staff["category"] == "esco-skill-competence"
    assert len(import_esco_csv(esco_csv, released_only=False)) == 6


def test_import_esco_rejects_other_csv(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="ESCO"):
        import_esco_csv(path)


def test_merge_esco_records(tax, esco_csv):
    merged = tax.merge(import_esco_csv(esco_csv))
    assert len(tax) >= 250 and "perform-pilates-exercises" not in tax  # default unchanged
    # "SQL" is an existing skill: merged into it, no duplicate
    assert "sql" in merged and merged.normalise("SQL querying") == "sql"
    assert merged.get("sql").uri.endswith("000000000001")
    # "python scripting" is new text but "Python" already names python, so
    # the ESCO concept stays its own skill and keeps only unambiguous aliases
    assert merged.normalise("Python (computer programming)") == "python-computer-programming"
    assert merged.normalise("python scripting") == "python-computer-programming"
    assert merged.normalise("Python") == "python"
    # brand-new skills, found by their aliases; a conflicting alias ("ml") is dropped
    assert merged.normalise("direct music staff") == "manage-musical-staff"
    # a label that differs only in punctuation normalises to the same key,
    # so merging folds it into the first concept rather than add a twin
    assert merged.normalise("oversee musical staff") == "manage-musical-staff"
    assert "manage-musical-staff-0c1e2f3a" not in merged
    assert merged.normalise("pilates") == "perform-pilates-exercises"
    assert merged.normalise("ml") == "machine-learning"
    assert merged.category("perform-pilates-exercises") == "esco-skill-competence"
    assert len(merged) == len(tax) + 3
    # curated relations survive the merge
    assert merged.related("postgresql")["sql"] == 0.8


def test_merge_is_lenient_and_symmetric():
    base = Taxonomy.from_records([{"id": "a", "name": "A"}, {"id": "b", "name": "B"}])
    merged = base.merge(
        [
            {"id": "c", "name": "C", "aliases": ["A", "see"], "related": {"a": 0.4, "nope": 0.9}},
            {"id": "Not Kebab", "name": "Not kebab"},
            {"id": "b", "aliases": ["bee"], "related": {"a": 2.0}},
        ]
    )
    assert merged.normalise("see") == "c" and merged.normalise("A") == "a"
    assert merged.related("a") == {"c": 0.4} and merged.related("c") == {"a": 0.4}
    assert "not-kebab" in merged
    assert merged.normalise("bee") == "b"
    assert len(base) == 2


def test_related_view_is_read_only_and_matches(tax):
    view = tax.related_view("postgresql")
    assert dict(view) == tax.related("postgresql")
    with pytest.raises(TypeError):
        view["x"] = 1.0  # type: ignore[index]
    assert dict(tax.related_view("not-a-skill")) == {}
