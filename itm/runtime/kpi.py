"""Marketplace KPIs: exact, restart-proof aggregates written with the facts.

A service records a KPI inside the same MULTI/EXEC as the state change that
makes it true (``KpiBook.count`` / ``KpiBook.observe`` queue commands on the
caller's pipeline), so a KPI moves if and only if the change was stored, once
per idempotent write, and survives any restart because it lives in Redis.

Storage, one book per service (each service exports only its own KPIs):
  <service>:kpi:total              hash  "<name>|<k=v,...>" -> running sum
  <service>:kpi:day:<YYYY-MM-DD>   hash  same fields, per UTC day (``itm report`` periods)
  <service>:kpi:hist:<name>        hash  "<labels>|<bucket le>" -> count, "<labels>|sum" -> sum

On scrape, ``KpiCollector`` turns them into ``itm_kpi_<name>`` gauges and
histograms (no per-employee or per-opportunity labels, by construction: label
values are opportunity types, evidence sources and the like).
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from itm.runtime.settings import Settings

# time-to-fill and similar durations: an hour to three months
DURATION_BUCKETS = (3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 90 * 86400)
COUNT_BUCKETS = (0, 1, 2, 3, 5, 10, 20)


def _labels(labels: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


def _parse_labels(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(",") if part)


def _day(at: float | None) -> str:
    return datetime.fromtimestamp(at if at is not None else time.time(), UTC).date().isoformat()


class KpiBook:
    def __init__(self, settings: Settings, service: str | None = None):
        self.settings = settings
        self.prefix = f"{service or settings.service}:kpi"
        self.total_key = settings.key(f"{self.prefix}:total")

    def day_key(self, day: str) -> str:
        return self.settings.key(f"{self.prefix}:day:{day}")

    def hist_key(self, name: str) -> str:
        return self.settings.key(f"{self.prefix}:hist:{name}")

    def count(self, pipe, name: str, labels: dict[str, str] | None = None, amount: float = 1,
              at: float | None = None) -> None:
        """Queue ``name{labels} += amount`` on the caller's MULTI."""
        field = f"{name}|{_labels(labels)}"
        pipe.hincrbyfloat(self.total_key, field, amount)
        pipe.hincrbyfloat(self.day_key(_day(at)), field, amount)

    def observe(self, pipe, name: str, value: float, labels: dict[str, str] | None = None,
                buckets: tuple = DURATION_BUCKETS, at: float | None = None) -> None:
        """Queue one observation of a distribution (cumulative buckets, like Prometheus)."""
        lab = _labels(labels)
        key = self.hist_key(name)
        for le in (*buckets, "+Inf"):
            if le == "+Inf" or value <= le:
                pipe.hincrby(key, f"{lab}|{le}", 1)
        pipe.hincrbyfloat(key, f"{lab}|sum", value)
        self.count(pipe, f"{name}_observations", labels, 1, at)
        self.count(pipe, f"{name}_sum", labels, value, at)

    def tally_key(self, name: str) -> str:
        return self.settings.key(f"{self.prefix}:tally:{name}")

    def tally(self, pipe, name: str, member: str, amount: int = 1) -> None:
        """Count per member (e.g. per manager) without making the member a label:
        exported as the distribution of members' counts."""
        pipe.hincrby(self.tally_key(name), member, amount)

    # -- reading -----------------------------------------------------------------------
    async def tallies(self, redis, names: list[str]) -> dict[str, list[int]]:
        return {name: [int(v) for v in (await redis.hgetall(self.tally_key(name))).values()] for name in names}

    async def totals(self, redis) -> dict[tuple[str, str], float]:
        raw = await redis.hgetall(self.total_key)
        return {tuple(k.decode().split("|", 1)): float(v) for k, v in raw.items()}

    async def period(self, redis, since: date, until: date) -> dict[tuple[str, str], float]:
        """Sums over UTC days since..until inclusive."""
        out: dict[tuple[str, str], float] = defaultdict(float)
        day = since
        while day <= until:
            for k, v in (await redis.hgetall(self.day_key(day.isoformat()))).items():
                out[tuple(k.decode().split("|", 1))] += float(v)
            day += timedelta(days=1)
        return dict(out)

    async def histograms(self, redis, names: list[str]) -> dict[str, dict[str, dict[str, float]]]:
        out = {}
        for name in names:
            raw = await redis.hgetall(self.hist_key(name))
            per_labels: dict[str, dict[str, float]] = defaultdict(dict)
            for k, v in raw.items():
                labels, bound = k.decode().rsplit("|", 1)
                per_labels[labels][bound] = float(v)
            out[name] = dict(per_labels)
        return out


class KpiCollector(Collector):
    """Exports the last snapshot read from Redis; ``refresh`` runs before each scrape."""

    def __init__(self, book: KpiBook, histograms: dict[str, tuple] | None = None,
                 tallies: dict[str, tuple] | None = None, ratios: dict[str, tuple[str, str]] | None = None,
                 zeros: dict[str, list[dict[str, str]]] | None = None):
        """``histograms``: name -> the buckets it is observed with; ``tallies``: name ->
        buckets of the per-member distribution; ``ratios``: name -> (numerator, denominator)
        KPIs divided per label set (e.g. fill rate = filled / posted); ``zeros``: name -> the
        label sets exported at 0 before their first fact, so every series exists from the start."""
        self.book = book
        self.zeros: dict[tuple[str, str], float] = {}
        self._add_zeros(zeros)
        self.histogram_buckets = dict(histograms or {})
        self.histogram_names = list(self.histogram_buckets)
        self.tally_buckets = dict(tallies or {})
        self.ratios = dict(ratios or {})
        self.snapshot: dict[tuple[str, str], float] = {}
        self.hist_snapshot: dict[str, dict[str, dict[str, float]]] = {}
        self.tally_snapshot: dict[str, list[int]] = {}

    def _add_zeros(self, zeros) -> None:
        for name, label_sets in (zeros or {}).items():
            for labels in label_sets:
                self.zeros[(name, _labels(labels))] = 0.0

    def configure(self, histograms=None, tallies=None, ratios=None, zeros=None) -> None:
        self._add_zeros(zeros)
        self.histogram_buckets.update(histograms or {})
        self.histogram_names = list(self.histogram_buckets)
        self.tally_buckets.update(tallies or {})
        self.ratios.update(ratios or {})

    async def refresh(self, redis) -> None:
        self.snapshot = await self.book.totals(redis)
        if self.histogram_names:
            self.hist_snapshot = await self.book.histograms(redis, self.histogram_names)
        if self.tally_buckets:
            self.tally_snapshot = await self.book.tallies(redis, list(self.tally_buckets))

    def collect(self):
        families: dict[str, GaugeMetricFamily] = {}
        hist_parts = {f"{n}_observations" for n in self.histogram_names} | {f"{n}_sum" for n in self.histogram_names}
        for (name, labels), value in sorted({**self.zeros, **self.snapshot}.items()):
            if name in hist_parts or name in self.histogram_buckets:
                continue
            parsed = _parse_labels(labels)
            fam = families.get(name)
            if fam is None:
                fam = families[name] = GaugeMetricFamily(f"itm_kpi_{name}", f"KPI {name} (from Redis)",
                                                         labels=sorted(parsed))
            fam.add_metric([parsed[k] for k in sorted(parsed)], value)
        for ratio, (num, den) in self.ratios.items():
            fam = None
            for (name, labels), denominator in sorted(self.snapshot.items()):
                if name != den or not denominator:
                    continue
                parsed = _parse_labels(labels)
                if fam is None:
                    fam = families[ratio] = GaugeMetricFamily(f"itm_kpi_{ratio}", f"KPI {num} / {den}",
                                                              labels=sorted(parsed))
                fam.add_metric([parsed[k] for k in sorted(parsed)], self.snapshot.get((num, labels), 0.0) / denominator)
        yield from families.values()
        for name, counts in self.tally_snapshot.items():
            fam = HistogramMetricFamily(f"itm_kpi_{name}", f"KPI distribution of {name} per member (from Redis)")
            buckets = [(str(float(le)), sum(1 for c in counts if c <= le)) for le in self.tally_buckets[name]]
            buckets.append(("+Inf", len(counts)))
            fam.add_metric([], buckets, float(sum(counts)))
            yield fam
        hists = {name: dict(self.hist_snapshot.get(name, {})) for name in self.histogram_names}
        for name, labels in self.zeros:
            if name in hists:
                hists[name].setdefault(labels, {})
        for name, per_labels in hists.items():
            if not per_labels:
                continue
            label_names = sorted(_parse_labels(next(iter(per_labels), "")))
            fam = HistogramMetricFamily(f"itm_kpi_{name}", f"KPI {name} distribution (from Redis)",
                                        labels=label_names)
            for labels, bounds in sorted(per_labels.items()):
                parsed = _parse_labels(labels)
                buckets = [(str(float(le)), bounds.get(str(le), 0.0)) for le in self.histogram_buckets[name]]
                buckets.append(("+Inf", bounds.get("+Inf", 0.0)))
                fam.add_metric([parsed.get(k, "") for k in label_names], buckets, bounds.get("sum", 0.0))
            yield fam
