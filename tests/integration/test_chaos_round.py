"""``itm chaos`` for real: a short round over the embedded stack (local processes), as CI
runs it: about 2,000 acknowledged writes, a matcher and a notifier SIGKILL, poison
records, the broker paused, a profile SIGKILL. The round must come out clean: no push
lost, doubled or unexpected, no acknowledged write missing. (Pushes lost after the only matcher
worker's SIGKILL were a finding until 2026-12-03, docs/chaos.md: faust dropped records around a
rebalance; fixed in the matcher. The report's findings are tested in tests/unit/test_chaos_plan.py;
the full round's printout is in docs/chaos.md.)
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

WRITES = int(os.environ.get("ITM_TEST_CHAOS_WRITES", "2000"))


@pytest.mark.timeout(1200)
def test_a_short_chaos_round_over_local_processes_is_clean(tmp_path):
    stack = tmp_path / "stack"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "itm.cli", "chaos", "--writes", str(WRITES), "--faults", "short",
             "--matcher-workers", "1", "--concurrency", "24", "--data-dir", str(stack)],
            capture_output=True, text=True, timeout=1100, cwd=tmp_path)
    finally:  # whatever became of the round, nothing it started stays up
        subprocess.run([sys.executable, "-m", "itm.cli", "dev", "down", "--data-dir", str(stack)],
                       capture_output=True, timeout=60)
    out = done.stdout + done.stderr
    print(out)
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines() if ":" in line and not line.startswith(" "))
    assert int(lines["writes acknowledged"].split()[0]) == WRITES
    assert int(lines["faults injected"]) == 5
    assert "skipped" not in done.stdout
    for finding in ("lost", "duplicated", "unexpected", "acknowledged but missing"):
        assert lines[finding].strip() == "0", out
    assert done.returncode == 0 and done.stdout.rstrip().endswith("CLEAN"), out[-3000:]
