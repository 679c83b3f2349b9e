"""`make bench`: run every benchmark script in bench/ (each prints its figures and
ratios against a baseline measured in the same run). Not part of `make test`:
these machines are shared and noisy, so speed is reported, never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("*_bench.py"))
    chosen = [s for s in scripts if not argv or any(a in s.stem for a in argv)]
    if not chosen:
        print(f"no benchmark matches {argv}; have: {[s.stem for s in scripts]}")
        return 2
    failed = 0
    for script in chosen:
        print(f"\n===== {script.stem} =====", flush=True)
        failed += subprocess.call([sys.executable, str(script)], cwd=HERE.parent) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
