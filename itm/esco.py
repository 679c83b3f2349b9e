"""ESCO's CSV files into an ITM taxonomy (``itm taxonomy import esco``).

Reads the files of an ESCO download (any version, English):

* ``skills_en.csv`` (required): one skill per row, ``conceptUri``,
  ``preferredLabel``, ``altLabels`` (one per line inside the cell),
  ``skillType``, ``status``, ``description``; rows not ``released`` are skipped.
  Ids, names, aliases and categories as ``itm.taxonomy.import_esco_csv`` says
  (id = the slug of the preferred label; category ``esco-knowledge`` or
  ``esco-skill-competence``);
* ``skillSkillRelations_en.csv`` (optional): ``originalSkillUri``,
  ``relationType`` (``essential`` or ``optional``), ``relatedSkillUri``. Each
  relation between two imported skills becomes a related-skill pair with
  strength ``ESSENTIAL`` (0.6) or ``OPTIONAL`` (0.3): the share of a skill's
  credit the matcher may give through the other, capped by ITM_RELATED_SKILL_CAP.
  Relations are symmetric in ITM.

``with_base`` folds the import into a base taxonomy (the shipped curated one)
with :meth:`Taxonomy.merge`: an ESCO skill whose label names a base skill
("SQL") becomes aliases of it, the others are added; the base's redirects
are kept. ``on_progress(bytes read, total bytes)`` reports reading.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

from itm.taxonomy import SkillRecord, Taxonomy, _counted, import_esco_csv

ESSENTIAL = 0.6
OPTIONAL = 0.3
_STRENGTH = {"essential": ESSENTIAL, "optional": OPTIONAL}

Progress = Callable[[int, int], None]


def _sizes(*paths) -> int:
    return sum(os.path.getsize(p) for p in paths if p)


def read_relations(path: str | os.PathLike[str], by_uri: dict[str, str], on_bytes: Callable[[int], None] | None = None
                   ) -> tuple[dict[str, dict[str, float]], int]:
    """skill id -> {related id: strength} from skillSkillRelations_en.csv, and how many
    rows named a skill that was not imported (skipped)."""
    related: dict[str, dict[str, float]] = {}
    skipped = 0
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(_counted(fh, on_bytes) if on_bytes else fh)
        missing = [c for c in ("originalSkillUri", "relatedSkillUri") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{os.fspath(path)}: not an ESCO skill-skill relations CSV (missing {missing})")
        for row in reader:
            a = by_uri.get((row.get("originalSkillUri") or "").strip())
            b = by_uri.get((row.get("relatedSkillUri") or "").strip())
            if not a or not b or a == b:
                skipped += 1
                continue
            strength = _STRENGTH.get((row.get("relationType") or "").strip().lower(), OPTIONAL)
            related.setdefault(a, {})[b] = max(strength, related.get(a, {}).get(b, 0.0))
    return related, skipped


def import_esco(skills: str | os.PathLike[str], relations: str | os.PathLike[str] | None = None,
                with_base: Taxonomy | None = None, on_progress: Progress | None = None) -> tuple[Taxonomy, dict]:
    """The taxonomy for ESCO's files, and what was read (counts for the report)."""
    total = _sizes(skills, relations)
    done = 0

    def on_bytes(n: int) -> None:
        nonlocal done
        done += n
        if on_progress is not None:
            on_progress(done, total)

    records: list[SkillRecord] = import_esco_csv(skills, on_bytes=on_bytes)
    by_uri = {r["uri"]: r["id"] for r in records if r.get("uri")}
    report = {"skills": len(records), "relations": 0, "relations_skipped": 0}
    if relations:
        related, skipped = read_relations(relations, by_uri, on_bytes)
        for r in records:
            r["related"] = related.get(r["id"], {})
        report["relations"] = sum(len(v) for v in related.values())
        report["relations_skipped"] = skipped
    taxonomy = with_base.merge(records) if with_base is not None else Taxonomy.from_records(records)
    report["total_skills"] = len(taxonomy)
    return taxonomy, report


def default_paths(directory: str | os.PathLike[str]) -> tuple[Path, Path | None]:
    """skills_en.csv and skillSkillRelations_en.csv in an ESCO download folder."""
    d = Path(directory)
    skills = d / "skills_en.csv"
    relations = d / "skillSkillRelations_en.csv"
    return skills, (relations if relations.exists() else None)
