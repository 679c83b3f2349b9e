"""Every service's /metrics passes `promtool check metrics` (Prometheus's own linter:
base units, counter suffixes, help texts), and the KPI series exist at zero before
the first fact, so dashboards and alerts see 0 rather than no data."""

from __future__ import annotations

import subprocess
import urllib.request

from external_tools import promtool

SERVICES = ["profile", "opportunity", "learning", "matcher", "notifier"]

ZERO_AT_START = {
    "opportunity": ['itm_kpi_internal_moves 0.0', 'itm_kpi_opportunities_posted{type="gig"} 0.0',
                    'itm_kpi_opportunities_filled{type="role"} 0.0', 'itm_kpi_applications{type="mentorship"} 0.0',
                    'itm_kpi_gig_time_unlocked_seconds_per_week{type="project"} 0.0',
                    'itm_kpi_time_to_fill_seconds_count{type="gig"} 0.0'],
    "profile": ['itm_kpi_skills_validated{source="course"} 0.0', 'itm_kpi_skills_validated{source="gig"} 0.0'],
}


def test_metrics_pass_promtool_and_kpis_start_at_zero(start_service):
    tool = promtool()
    procs = {name: start_service(name, wait=False) for name in SERVICES}
    for proc in procs.values():
        proc.wait_healthy(90)
    for name, proc in procs.items():
        text = urllib.request.urlopen(f"{proc.http_url}/metrics", timeout=10).read().decode()
        lines = set(text.splitlines())
        for sample in ZERO_AT_START.get(name, []):
            assert sample in lines, f"{name}: {sample!r} is not exported at start"
        run = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, f"promtool check metrics on {name}:\n{run.stdout}{run.stderr}"
