"""`itm report`: marketplace KPIs for a period, and the fairness report.

KPIs come from the services' KPI books in Redis (the same aggregates their
/metrics export), summed over the UTC days of the period. The fairness report
asks the profile service for every employee's department and location and the
matcher whether each reaches their threshold on at least one open opportunity.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import grpc

from itm.fairness import Person, report as fairness_rows
from itm.runtime.kpi import KpiBook
from itm.runtime.settings import Settings

KPI_SERVICES = ("opportunity", "profile")


async def kpis(redis, settings: Settings, since: date, until: date) -> dict:
    sums: dict[tuple[str, str], float] = defaultdict(float)
    tallies: dict[str, list[int]] = {}
    for service in KPI_SERVICES:
        book = KpiBook(settings, service)
        for key, value in (await book.period(redis, since, until)).items():
            sums[key] += value
        for name, counts in (await book.tallies(redis, list(TALLIES))).items():
            tallies.setdefault(name, []).extend(counts)
    return kpis_from_sums(sums, since, until, tallies)


async def kpis_over_grpc(stubs: dict, metadata, since: date, until: date, timeout: float = 10) -> dict:
    """The same document from the services' ReportService (the web console: it reads no Redis).
    ``stubs``: service name -> ReportServiceStub, for every name in KPI_SERVICES."""
    from itm.v1 import reports_pb2

    sums: dict[tuple[str, str], float] = defaultdict(float)
    tallies: dict[str, list[int]] = {}
    for service in KPI_SERVICES:
        period = await stubs[service].GetKpiPeriod(reports_pb2.GetKpiPeriodRequest(
            since=since.isoformat(), until=until.isoformat()), metadata=metadata, timeout=timeout)
        for v in period.values:
            sums[(v.name, v.labels)] += v.value
        for t in period.tallies:
            tallies.setdefault(t.name, []).extend(int(c) for c in t.counts)
    return kpis_from_sums(sums, since, until, tallies)


TALLIES = ("manager_talent_export",)


def kpis_from_sums(sums: dict[tuple[str, str], float], since: date, until: date,
                   tallies: dict[str, list[int]] | None = None) -> dict:
    """The KPI document from the books' sums over the period (and the all-time tallies)."""

    def by(name: str, label: str) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for (n, labels), v in sums.items():
            if n == name:
                parts = dict(p.split("=", 1) for p in labels.split(",") if p)
                out[parts.get(label, "")] += v
        return dict(out)

    posted, filled = by("opportunities_posted", "type"), by("opportunities_filled", "type")
    ttf_sum, ttf_n = by("time_to_fill_seconds_sum", "type"), by("time_to_fill_seconds_observations", "type")
    types = sorted(set(posted) | set(filled))
    export = sorted((tallies or {}).get("manager_talent_export", []), reverse=True)
    return {
        "period": {"since": since.isoformat(), "until": until.isoformat()},
        "by_type": {
            t: {
                "posted": posted.get(t, 0), "filled": filled.get(t, 0),
                "fill_rate": (filled.get(t, 0) / posted[t]) if posted.get(t) else None,
                "mean_time_to_fill_days": (ttf_sum[t] / ttf_n[t] / 86400) if ttf_n.get(t) else None,
                "applications": by("applications", "type").get(t, 0),
            }
            for t in types
        },
        "internal_moves": sum(by("internal_moves", "").values()),
        "gig_hours_unlocked_per_week": sum(by("gig_time_unlocked_seconds_per_week", "type").values()) / 3600,
        "skills_validated": by("skills_validated", "source"),
        # all time, not per period: how many people each manager has let go to other teams
        "manager_talent_export": {"managers": len(export), "people": sum(export), "per_manager": export},
    }


def format_kpis(doc: dict) -> str:
    lines = [f"ITM marketplace KPIs, {doc['period']['since']} .. {doc['period']['until']} (UTC days)", ""]
    lines.append(f"{'type':<14} {'posted':>7} {'filled':>7} {'fill rate':>9} {'time to fill':>13} {'applications':>12}")
    for t, row in doc["by_type"].items():
        rate = f"{row['fill_rate']:.0%}" if row["fill_rate"] is not None else "-"
        ttf = f"{row['mean_time_to_fill_days']:.1f} d" if row["mean_time_to_fill_days"] is not None else "-"
        lines.append(f"{t:<14} {row['posted']:>7g} {row['filled']:>7g} {rate:>9} {ttf:>13} {row['applications']:>12g}")
    lines += ["", f"internal moves: {doc['internal_moves']:g}",
              f"gig hours unlocked per week: {doc['gig_hours_unlocked_per_week']:g}",
              "skills validated: " + (", ".join(f"{k} {v:g}" for k, v in sorted(doc["skills_validated"].items())) or "none")]
    return "\n".join(lines)


async def fairness(clients, min_group_size: int = 5) -> tuple[list, int]:
    """Rows of the fairness report, and how many opted-out employees were left out."""
    from itm.v1 import matcher_pb2, profile_pb2

    people, opted_out, token = [], 0, ""
    while True:
        page = await clients.profile.ListEmployees(profile_pb2.ListEmployeesRequest(page_size=500, page_token=token),
                                                   metadata=clients.metadata)
        for emp in page.employees:
            if emp.preferences.opted_out:
                opted_out += 1
                continue
            try:
                mine = await clients.matcher.MyMatches(matcher_pb2.MyMatchesRequest(employee_id=emp.employee_id,
                                                                                   limit=100), metadata=clients.metadata)
                qualified = any(m.qualified for m in mine.matches)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                qualified = False  # no match state: nothing reaches the threshold
            people.append(Person(emp.department, emp.location, qualified))
        token = page.next_page_token
        if not token:
            break
    return fairness_rows(people, min_group_size), opted_out
