"""An ESCO-shaped fixture: skills_en.csv and skillSkillRelations_en.csv with the
columns, quoting and multi-line alternative labels of an ESCO download, a few
hundred skills (ESCO itself cannot be downloaded here). Deterministic.

Known skills the tests look for: "Python (computer programming)" (alt labels
"Python programming", "write Python code"), "SQL", "use spreadsheets software"
(alt "use Excel"), "manage budgets"; one obsolete skill that must be skipped.
"""

from __future__ import annotations

import csv
import random
import uuid
from pathlib import Path

SKILL_COLUMNS = ["conceptType", "conceptUri", "skillType", "reuseLevel", "preferredLabel", "altLabels",
                 "hiddenLabels", "status", "modifiedDate", "scopeNote", "definition", "inScheme", "description"]
RELATION_COLUMNS = ["originalSkillUri", "originalSkillType", "relationType", "relatedSkillType", "relatedSkillUri"]
KNOWN = [
    ("Python (computer programming)", ["Python programming", "write Python code"], "knowledge",
     "The techniques and principles of software development in Python."),
    ("SQL", ["Structured Query Language", "SQL querying"], "knowledge", "The query language SQL."),
    ("use spreadsheets software", ["use Excel", "spreadsheet use"], "skill/competence", "Use software tools to create "
     "and edit tabular data."),
    ("manage budgets", ["budget management", "control budgets"], "skill/competence", "Plan, monitor and report on "
     "the budget."),
    ("analyse big data", ["big data analysis"], "skill/competence", "Collect and evaluate numerical data in large "
     "quantities."),
]
VERBS = ["manage", "apply", "develop", "analyse", "design", "monitor", "operate", "maintain", "evaluate", "plan",
         "coordinate", "prepare", "perform", "implement", "advise on", "negotiate", "supervise", "teach", "assess"]
NOUNS = ["risk", "quality standards", "machinery", "inventory", "contracts", "data models", "marketing campaigns",
         "legal requirements", "financial statements", "training programmes", "networks", "suppliers", "projects",
         "safety procedures", "electrical systems", "medical records", "food hygiene", "vehicles", "logistics",
         "web applications", "cloud infrastructure", "survey results", "sales forecasts", "staff", "audits"]


def uri(rng: random.Random) -> str:
    return f"http://data.europa.eu/esco/skill/{uuid.UUID(int=rng.getrandbits(128))}"


def write_esco_fixture(directory: Path, n: int = 300, seed: int = 17) -> dict[str, str]:
    """Write the two files into ``directory``; returns preferred label -> concept URI."""
    rng = random.Random(seed)
    rows, labels = [], {}
    for label, alts, kind, description in KNOWN:
        rows.append((label, alts, kind, description, "released"))
    seen = {r[0] for r in rows}
    while len(rows) < n:
        label = f"{rng.choice(VERBS)} {rng.choice(NOUNS)}"
        if label in seen:
            label = f"{label} {rng.randrange(100)}"
        if label in seen:
            continue
        seen.add(label)
        alts = [f"{label} tasks"] if rng.random() < 0.5 else []
        rows.append((label, alts, rng.choice(["skill/competence", "knowledge"]), f"Ability to {label}.", "released"))
    rows.append(("operate telegraph machines", [], "skill/competence", "Obsolete.", "obsolete"))
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "skills_en.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_MINIMAL)
        w.writerow(SKILL_COLUMNS)
        for label, alts, kind, description, status in rows:
            labels[label] = u = uri(rng)
            w.writerow(["KnowledgeSkillCompetence", u, kind, "cross-sector", label, "\n".join(alts), "", status,
                        "2023-05-01T12:00:00Z", "", "", "http://data.europa.eu/esco/concept-scheme/skills", description])
    uris = list(labels.values())
    with open(directory / "skillSkillRelations_en.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(RELATION_COLUMNS)
        w.writerow([labels["analyse big data"], "skill/competence", "essential", "knowledge", labels["SQL"]])
        w.writerow([labels["analyse big data"], "skill/competence", "optional", "knowledge",
                    labels["Python (computer programming)"]])
        w.writerow([labels["manage budgets"], "skill/competence", "optional", "skill/competence",
                    labels["use spreadsheets software"]])
        w.writerow([labels["SQL"], "knowledge", "essential", "skill/competence", uri(rng)])  # not in the file: skipped
        for u in uris[len(KNOWN):]:
            for _ in range(rng.randrange(0, 3)):
                w.writerow([u, "skill/competence", rng.choice(["essential", "optional"]), "skill/competence",
                            rng.choice(uris[len(KNOWN):])])
    return labels
