"""KPI aggregates against a real Redis: exact, per day, exported as metrics."""

from __future__ import annotations

from datetime import date

from prometheus_client import CollectorRegistry, generate_latest

from itm.runtime.kpi import DURATION_BUCKETS, KpiBook, KpiCollector
from itm.runtime.settings import Settings

DAY1, DAY2 = 1_790_000_000.0, 1_790_000_000.0 + 86400  # two UTC days


async def test_counts_and_distributions_survive_as_redis_aggregates(redis_client, topic_prefix):
    book = KpiBook(Settings(topic_prefix=topic_prefix))
    async with redis_client.pipeline(transaction=True) as pipe:
        book.count(pipe, "opportunities_posted", {"type": "gig"}, at=DAY1)
        book.count(pipe, "opportunities_posted", {"type": "gig"}, at=DAY2)
        book.count(pipe, "opportunities_posted", {"type": "role"}, at=DAY2)
        book.observe(pipe, "time_to_fill_seconds", 2 * 86400, {"type": "gig"}, at=DAY2)
        await pipe.execute()
    totals = await book.totals(redis_client)
    assert totals[("opportunities_posted", "type=gig")] == 2 and totals[("opportunities_posted", "type=role")] == 1
    d1, d2 = (date.fromtimestamp(DAY1), date.fromtimestamp(DAY2))
    day2 = await book.period(redis_client, d2, d2)
    assert day2[("opportunities_posted", "type=gig")] == 1
    assert day2[("time_to_fill_seconds_observations", "type=gig")] == 1
    assert (await book.period(redis_client, d1, d2))[("opportunities_posted", "type=gig")] == 2

    collector = KpiCollector(book, histograms={"time_to_fill_seconds": DURATION_BUCKETS})
    await collector.refresh(redis_client)
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    assert 'itm_kpi_opportunities_posted{type="gig"} 2.0' in text
    assert 'itm_kpi_time_to_fill_seconds_bucket{le="86400.0",type="gig"} 0.0' in text
    assert 'itm_kpi_time_to_fill_seconds_bucket{le="259200.0",type="gig"} 1.0' in text
    assert 'itm_kpi_time_to_fill_seconds_count{type="gig"} 1.0' in text
    assert 'itm_kpi_time_to_fill_seconds_sum{type="gig"} 172800.0' in text
    assert "time_to_fill_seconds_observations" not in text  # internal parts stay internal
