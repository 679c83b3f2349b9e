"""The living taxonomy without I/O: redirects, add/rename/merge, the ESCO import, the start-up comparison."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from itm import taxonomy_guard
from itm.esco import ESSENTIAL, OPTIONAL, import_esco
from itm.taxonomy import Taxonomy, UnknownSkill

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from esco_fixture import write_esco_fixture  # noqa: E402

BASE = Taxonomy.from_records([
    {"id": "excel", "name": "Excel", "aliases": ["spreadsheets"], "related": {"sql": 0.4}},
    {"id": "sql", "name": "SQL", "aliases": ["structured query language"]},
    {"id": "postgresql", "name": "PostgreSQL", "aliases": ["postgres"], "related": {"sql": 0.8}},
])


def test_a_rename_keeps_the_old_id_and_name_resolving():
    t = BASE.renamed("excel", name="Microsoft Excel", new_id="microsoft-excel")
    assert t.normalise("excel") == t.normalise("Excel") == t.normalise("spreadsheets") == "microsoft-excel"
    assert t.resolve("excel") == "microsoft-excel" and "excel" not in t
    assert t.related("sql") == {"postgresql": 0.8, "microsoft-excel": 0.4}  # relations follow the new id
    assert t.version != BASE.version


def test_a_merge_folds_names_aliases_and_relations_and_follows_chains():
    t = BASE.renamed("excel", new_id="ms-excel").merged("sql", "postgresql")
    assert t.normalise("structured query language") == t.resolve("sql") == "postgresql"
    assert t.related("ms-excel") == {"postgresql": 0.4} and "sql" not in t
    t2 = t.merged("ms-excel", "postgresql")
    assert t2.resolve("excel") == t2.resolve("ms-excel") == "postgresql"  # a chain ends at the current id
    with pytest.raises(ValueError, match="into itself"):
        t2.merged("postgresql", "postgresql")
    with pytest.raises(UnknownSkill):
        t2.merged("nothing", "postgresql")


def test_added_skills_and_files_round_trip(tmp_path):
    t = BASE.merged("sql", "postgresql").with_skill({"id": "dbt", "name": "dbt", "related": {"postgresql": 0.5}})
    with pytest.raises(ValueError, match="taken"):
        t.with_skill({"id": "sql", "name": "again"})  # an old id stays reserved
    path = tmp_path / "t.json"
    t.to_file(path)
    loaded = Taxonomy.load_path(path)
    assert loaded.version == t.version and loaded.resolve("sql") == "postgresql" and loaded.related("dbt")
    with pytest.raises(ValueError, match="leads to no skill"):
        Taxonomy.from_records(BASE.to_records(), {"old": "missing"})


def test_esco_files_become_skills_with_aliases_categories_and_relations(tmp_path):
    write_esco_fixture(tmp_path, n=120)
    seen = []
    t, report = import_esco(tmp_path / "skills_en.csv", tmp_path / "skillSkillRelations_en.csv",
                            on_progress=lambda done, total: seen.append((done, total)))
    assert report["skills"] == 120 and report["relations_skipped"] >= 1 and len(t) == 120
    assert seen[-1][0] == seen[-1][1]  # the progress reaches the end
    assert t.normalise("write Python code") == "python-computer-programming"
    assert t.category("python-computer-programming") == "esco-knowledge"
    assert t.related("analyse-big-data") == {"sql": ESSENTIAL, "python-computer-programming": OPTIONAL}
    assert t.try_normalise("operate telegraph machines") is None  # obsolete
    merged, _ = import_esco(tmp_path / "skills_en.csv", with_base=Taxonomy.load_default())
    assert merged.normalise("Structured Query Language") == "sql"  # ESCO's SQL folded into the curated one
    assert len(merged) == len(Taxonomy.load_default()) + 120 - 1  # SQL was known


def test_the_start_up_comparison_names_both_versions():
    assert taxonomy_guard.mismatch(BASE, None, "profile") is None  # no matcher running
    assert taxonomy_guard.mismatch(BASE, {"version": BASE.version}, "profile") is None
    problem = taxonomy_guard.mismatch(BASE, {"version": "abc", "skills": 9, "path": "/etc/t.json"}, "profile")
    assert BASE.version in problem and "abc" in problem and "matcher workers first" in problem


def test_the_file_remembers_what_each_edit_changed():
    t1 = BASE.with_skill({"id": "dbt", "name": "dbt", "related": {"postgresql": 0.5}})
    t2 = t1.renamed("excel", new_id="ms-excel")
    assert t2.changed_since(t2.version) == set()
    assert t2.changed_since(t1.version) == {"excel", "ms-excel", "sql"}  # and the skill related to it
    assert t2.changed_since(BASE.version) == {"dbt", "postgresql", "excel", "ms-excel", "sql"}
    assert t2.changed_since("not-an-ancestor") is None
    assert BASE.merge([{"id": "go", "name": "Go"}]).changed_since(BASE.version) is None  # a wholesale import


def test_the_matcher_rescores_only_holders_of_a_changed_skill():
    from services.matcher.engine import needs_rescore

    t1 = BASE.with_skill({"id": "dbt", "name": "dbt"})
    t2 = t1.merged("sql", "postgresql")

    def record(skills, taxonomy):
        return {"skills": {s: [3, "claimed"] for s in skills}, "sv": [1, "fp", taxonomy.version]}

    assert needs_rescore(record(["sql"], t1), 1, "fp", t2)        # held a merged skill
    assert needs_rescore(record(["excel"], t1), 1, "fp", t2)      # related to one (excel-sql 0.4)
    assert not needs_rescore(record(["dbt"], t1), 1, "fp", t2)    # untouched by the merge
    assert not needs_rescore(record(["dbt"], t2), 1, "fp", t2)
    assert needs_rescore(record(["dbt"], BASE.merge([{"id": "go"}])), 1, "fp", t2)  # an unknown version: everybody
    assert needs_rescore({"skills": {"dbt": [1, "claimed"]}, "sv": [1, "fp"]}, 1, "fp", t2)  # scored before versions
