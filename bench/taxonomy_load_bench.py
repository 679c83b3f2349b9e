"""Loading a living taxonomy at ESCO's size: what every service pays at start-up.

An ESCO-shaped download of N skills (default 14,000: skills_en.csv with five
alternative labels per skill on average, skillSkillRelations_en.csv with two
relations per skill) is imported with ``itm.esco.import_esco`` into a taxonomy
file; then the file is loaded as a service loads ITM_TAXONOMY_PATH
(``Taxonomy.load_path``) and its search index built (the profile service does
that at start). Baseline, in the same run: ``json.load`` of the same file.
Figures: seconds of each step, and its peak traced memory (tracemalloc, a second run), ratios to
the baseline. Printed, never asserted.

    .venv/bin/python bench/taxonomy_load_bench.py [--skills 14000]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from taxonomy_bench import esco_like  # noqa: E402

from itm.esco import import_esco  # noqa: E402
from itm.taxonomy import Taxonomy  # noqa: E402


def write_download(directory: Path, n: int) -> None:
    rng = random.Random(3)
    records = esco_like(n)
    uris = [f"http://data.europa.eu/esco/skill/{i:08x}-bench" for i in range(n)]
    with open(directory / "skills_en.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["conceptType", "conceptUri", "skillType", "reuseLevel", "preferredLabel", "altLabels",
                    "hiddenLabels", "status", "modifiedDate", "scopeNote", "definition", "inScheme", "description"])
        for rec, uri in zip(records, uris):
            w.writerow(["KnowledgeSkillCompetence", uri, rng.choice(["skill/competence", "knowledge"]), "sector-specific",
                        rec["name"], "\n".join(rec["aliases"]), "", "released", "2023-01-01", "", "", "",
                        f"Ability to {rec['name']}."])
    with open(directory / "skillSkillRelations_en.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["originalSkillUri", "originalSkillType", "relationType", "relatedSkillType", "relatedSkillUri"])
        for uri in uris:
            for _ in range(2):
                w.writerow([uri, "skill/competence", rng.choice(["essential", "optional"]), "skill/competence",
                            rng.choice(uris)])


def measure(fn):
    """(result, seconds untraced, peak MiB traced in a second run): tracing slows Python down."""
    started = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, elapsed, peak / 2**20


def main(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="itm-taxonomy-load-") as tmp:
        d = Path(tmp)
        write_download(d, n)
        size = sum(p.stat().st_size for p in d.glob("*.csv")) / 2**20
        (tax, report), import_s, import_mb = measure(lambda: import_esco(d / "skills_en.csv",
                                                                         d / "skillSkillRelations_en.csv"))
        path = d / "taxonomy.json"
        tax.to_file(path)
        labels = sum(1 + len(s.aliases) for s in tax.skills())
        print(f"ESCO-shaped download: {report['skills']:,} skills, {labels:,} labels, {report['relations']:,} relations, "
              f"{size:.1f} MiB of CSV; taxonomy file {path.stat().st_size / 2**20:.1f} MiB")
        _, json_s, json_mb = measure(lambda: json.loads(path.read_text(encoding="utf-8")))
        loaded, load_s, load_mb = measure(lambda: Taxonomy.load_path(path))
        from itm.taxonomy_search import SkillSearch

        _, index_s, index_mb = measure(lambda: SkillSearch(loaded))
        assert loaded.version == tax.version
        print(f"baseline json.load      : {json_s:6.2f} s  peak {json_mb:6.1f} MiB")
        print(f"import esco (CSV -> file): {import_s:6.2f} s  peak {import_mb:6.1f} MiB")
        print(f"load ITM_TAXONOMY_PATH  : {load_s:6.2f} s  peak {load_mb:6.1f} MiB  ({load_s / json_s:.1f}x json.load)")
        print(f"build the search index  : {index_s:6.2f} s  peak {index_mb:6.1f} MiB")
        print(f"service start-up total  : {load_s + index_s:6.2f} s  ({(load_s + index_s) / json_s:.1f}x json.load)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skills", type=int, default=14_000)
    main(parser.parse_args().skills)
