"""`itm`: the operator's command line.

  itm dev up [--seed-demo] [--follow]   run the whole platform on embedded defaults
  itm dev down                          stop a detached stack
  itm status                            what runs, and is it healthy
  itm demo                              scripted scenario; exit 0 only if the push arrived
  itm token --sub E123 --role employee  mint a bearer token for local use
  itm replay [--service ...]            re-emit current state (rebuild the matcher)
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

import click

from itm import devstack
from itm.runtime.auth import ROLES, mint_token
from itm.runtime.settings import load_settings

DEFAULT_DATA_DIR = ".itm"
REPLAY_ORDER = ("learning", "opportunity", "profile")  # catalog and gigs before the people


def _targets(stack: devstack.DevStack) -> dict[str, str]:
    return {name: proc.grpc_target for name, proc in stack.services.items()}


def _targets_from_state(data_dir: str) -> dict[str, str]:
    state = devstack.DevStack.load_state(data_dir)
    if not state:
        raise click.ClickException(f"no running stack recorded in {data_dir}/stack.json; start one with `itm dev up`")
    return {name: comp["grpc_target"] for name, comp in state.get("components", {}).items()
            if comp.get("kind") == "service"}


@click.group()
def main() -> None:
    """ITM internal talent marketplace: operator commands."""


@main.group()
def dev() -> None:
    """The embedded development stack (Tansu broker, redis-server, five services)."""


@dev.command("up")
@click.option("--data-dir", default=DEFAULT_DATA_DIR, show_default=True, help="where logs, data and state live")
@click.option("--seed-demo/--no-seed-demo", default=False, help="load the demo organisation")
@click.option("--follow/--detach", default=False, help="stream notifications until Ctrl-C, then stop everything")
@click.option("--base-port", type=int, default=None, help="pin ports: broker=base, redis=base+1, services above")
def dev_up(data_dir: str, seed_demo: bool, follow: bool, base_port: int | None) -> None:
    """Start the platform and wait until every service is healthy."""
    settings = load_settings()
    existing = devstack.status_from_state(data_dir)
    if existing and any(c.get("up") for c in existing.values()):
        raise click.ClickException(f"a stack is already running from {data_dir}; `itm dev down` first")
    stack = devstack.DevStack(data_dir, base_ports=base_port, die_with_parent=follow)
    click.echo(f"starting broker, redis and services (logs in {data_dir}/logs) ...")
    try:
        stack.start()
    except devstack.DevStackError as exc:
        stack.stop()
        raise click.ClickException(str(exc)) from None
    click.echo(f"kafka  {stack.kafka_bootstrap}\nredis  {stack.redis_url}")
    for name, proc in stack.services.items():
        click.echo(f"{name:<12} grpc {proc.grpc_target}  http {proc.http_url}")
    try:
        if stack.broker is not None:
            # Tansu keeps nothing across restarts while Redis (AOF) does: broker loss.
            # The recovery path is replay: re-emit current state so the matcher rebuilds.
            replayed = asyncio.run(_replay(_targets(stack), settings, REPLAY_ORDER))
            if any(replayed.values()):
                click.echo("fresh broker: replayed " + ", ".join(f"{n} {c}" for n, c in replayed.items()) + " events")
        if seed_demo:
            asyncio.run(_seed(_targets(stack), settings))
            click.echo("demo organisation seeded (6 employees, 6 courses, 3 opportunities)")
        if follow:
            notifier = stack.services["notifier"].http_url
            click.echo(f"\nstreaming notifications (SSE: {notifier}/v1/employees/<id>/notifications/stream); "
                       "Ctrl-C stops everything\n")
            try:
                asyncio.run(_follow(_targets(stack), settings))
            except KeyboardInterrupt:
                pass
    finally:
        if follow:
            click.echo("\nstopping ...")
            stack.stop()
            click.echo("stopped")
    if not follow:
        click.echo(f"running detached; `itm status` to check, `itm dev down` to stop")


async def _seed(targets: dict[str, str], settings) -> None:
    from itm.client import Clients
    from itm.demo import seed

    clients = Clients.connect(targets, settings)
    try:
        await seed(clients)
    finally:
        await clients.close()


async def _follow(targets: dict[str, str], settings) -> None:
    from itm.client import Clients
    from itm.demo import EMPLOYEES
    from itm.v1 import notifier_pb2

    clients = Clients.connect(targets, settings)

    async def one(employee_id: str) -> None:
        call = clients.notifier.Subscribe(notifier_pb2.SubscribeRequest(employee_id=employee_id),
                                          metadata=clients.metadata)
        async for note in call:
            click.echo(f"[{note.employee_id}] {note.body}")

    try:
        await asyncio.gather(*(one(e[0]) for e in EMPLOYEES))
    finally:
        await clients.close()


@dev.command("down")
@click.option("--data-dir", default=DEFAULT_DATA_DIR, show_default=True)
def dev_down(data_dir: str) -> None:
    """Stop a stack started with `itm dev up --detach`."""
    result = devstack.stop_from_state(data_dir)
    if not result:
        click.echo(f"nothing recorded in {data_dir}")
    for name, outcome in result.items():
        click.echo(f"{name:<12} {outcome}")


@main.command()
@click.option("--data-dir", default=DEFAULT_DATA_DIR, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(data_dir: str, as_json: bool) -> None:
    """Show each component of the local stack and whether it is healthy."""
    state = devstack.status_from_state(data_dir)
    if as_json:
        click.echo(json.dumps(state, indent=2, default=str))
    elif not state:
        click.echo(f"no stack recorded in {data_dir}")
    else:
        for name, comp in state.items():
            click.echo(f"{name:<12} {'up' if comp.get('up') else 'DOWN':<5} {comp.get('endpoint', '')}  {comp.get('detail', '')}")
    if state and not all(c.get("up") for c in state.values()):
        sys.exit(1)


@main.command()
@click.option("--sub", required=True, help="subject: an employee id, manager id or service name")
@click.option("--role", type=click.Choice(ROLES), default="employee", show_default=True)
@click.option("--ttl", type=int, default=3600, show_default=True, help="seconds until it expires")
def token(sub: str, role: str, ttl: int) -> None:
    """Mint a signed bearer token (embedded stack's key) for local use."""
    click.echo(mint_token(load_settings(), sub, role, ttl))


@main.command()
@click.option("--timeout", type=float, default=120, show_default=True, help="seconds to wait for the push")
@click.option("--keep-data", is_flag=True, help="keep the demo's data directory")
def demo(timeout: float, keep_data: bool) -> None:
    """Headless scenario: a gig is posted, an employee at 60% completes a course,
    and their "you're N% qualified" notification must arrive (exit 0) or not (exit 1)."""
    settings = load_settings()
    Path(DEFAULT_DATA_DIR).mkdir(exist_ok=True)
    data_dir = tempfile.mkdtemp(prefix="demo-", dir=DEFAULT_DATA_DIR)
    stack = devstack.DevStack(data_dir)
    click.echo("starting the embedded stack ...")
    try:
        stack.start()
        click.echo("stack healthy; running the scenario ...")
        note = asyncio.run(_demo(_targets(stack), settings, timeout))
    except (TimeoutError, devstack.DevStackError) as exc:
        click.echo(f"FAILED: no notification arrived ({exc or 'timed out'}); logs in {data_dir}/logs", err=True)
        stack.stop()
        sys.exit(1)
    stack.stop()
    if not keep_data:
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)
    click.echo("\nnotification received:")
    click.echo(f"  to:    {note.employee_id}")
    click.echo(f"  title: {note.title}")
    click.echo(f"  body:  {note.body}")
    click.echo(f"  link:  {note.opportunity_link}")


async def _demo(targets, settings, timeout):
    from itm.client import Clients
    from itm.demo import scenario

    clients = Clients.connect(targets, settings)
    try:
        return await scenario(clients, timeout)
    finally:
        await clients.close()


@main.command()
@click.option("--data-dir", default=DEFAULT_DATA_DIR, show_default=True)
@click.option("--service", "services", multiple=True, type=click.Choice(["profile", "opportunity", "learning"]),
              help="which systems of record to replay (default: all three)")
def replay(data_dir: str, services: tuple[str, ...]) -> None:
    """Re-emit current state as events, so the matcher can be rebuilt from nothing."""
    replayed = asyncio.run(_replay(_targets_from_state(data_dir), load_settings(), services or REPLAY_ORDER))
    for name, count in replayed.items():
        click.echo(f"{name:<12} {count} events re-emitted")


async def _replay(targets: dict[str, str], settings, services) -> dict[str, int]:
    from itm.client import Clients
    from itm.v1 import common_pb2

    clients = Clients.connect(targets, settings)
    try:
        return {name: (await clients.stub(name).Replay(common_pb2.ReplayRequest(), metadata=clients.metadata)).events_emitted
                for name in services}
    finally:
        await clients.close()


@main.command()
@click.option("--data-dir", default=DEFAULT_DATA_DIR, show_default=True, help="find the local stack's endpoints")
@click.option("--redis-url", default=None, help="Redis holding the KPI books (default: the local stack's)")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, help="first UTC day (default: 30 days ago)")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="last UTC day (default: today)")
@click.option("--fairness", is_flag=True, help="the fairness report (adverse impact, four-fifths rule) instead")
@click.option("--min-group", type=int, default=5, show_default=True, help="smallest group the fairness report flags")
@click.option("--json", "as_json", is_flag=True)
def report(data_dir, redis_url, since, until, fairness, min_group, as_json) -> None:
    """Marketplace KPIs for a period (what /metrics exports, per UTC day), or --fairness."""
    import dataclasses
    from datetime import UTC, datetime, timedelta

    from itm import report as reports

    settings = load_settings()
    if fairness:
        from itm.client import Clients
        from itm.fairness import format_report

        async def run():
            clients = Clients.connect(_targets_from_state(data_dir), settings, subject="itm-report", role="hr_admin")
            try:
                return await reports.fairness(clients, min_group)
            finally:
                await clients.close()

        rows, opted_out = asyncio.run(run())
        if as_json:
            click.echo(json.dumps({"groups": [dataclasses.asdict(r) for r in rows], "opted_out": opted_out}, indent=2))
        else:
            click.echo(format_report(rows))
            click.echo(f"\n{opted_out} opted-out employees are not counted. Rate: share reaching their threshold on "
                       "at least one open opportunity; impact: rate / best group's rate (below 0.8 flagged).")
        return
    import redis.asyncio as aioredis

    today = datetime.now(UTC).date()
    first = since.date() if since else today - timedelta(days=30)
    last = until.date() if until else today
    state = devstack.DevStack.load_state(data_dir) or {}
    url = redis_url or state.get("redis_url") or settings.redis_url

    async def run():
        client = aioredis.from_url(url)
        try:
            return await reports.kpis(client, settings, first, last)
        finally:
            await client.aclose()

    doc = asyncio.run(run())
    click.echo(json.dumps(doc, indent=2) if as_json else reports.format_kpis(doc))


@main.group()
def audit() -> None:
    """The append-only audit stream of state-changing calls."""


@audit.command("export")
@click.option("--data-dir", default=DEFAULT_DATA_DIR, show_default=True, help="find Redis from this local stack")
@click.option("--redis-url", default=None, help="Redis to read (default: the local stack's, else ITM_REDIS_URL)")
@click.option("--since", type=float, default=0, help="only records at or after this Unix time")
def audit_export(data_dir: str, redis_url: str | None, since: float) -> None:
    """Print audit records as JSON lines: at, service, method, subject, role, on_behalf_of, target, code."""
    import redis

    settings = load_settings()
    state = devstack.DevStack.load_state(data_dir) or {}
    url = redis_url or state.get("redis_url") or settings.redis_url
    client = redis.Redis.from_url(url, decode_responses=True)
    start = f"{int(since * 1000)}-0" if since else "-"
    stream = settings.key("audit")
    while True:
        batch = client.xrange(stream, start, "+", count=1000)
        for entry_id, fields in batch:
            click.echo(json.dumps({"id": entry_id, **fields}))
        if len(batch) < 1000:
            break
        start = "(" + batch[-1][0]


if __name__ == "__main__":
    main()
