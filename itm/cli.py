"""`itm`: the operator's command line.

  itm dev up [--seed-demo] [--follow]   run the whole platform on embedded defaults
  itm dev down                          stop a detached stack
  itm status                            what runs, and is it healthy
  itm demo                              scripted scenario; exit 0 only if the push arrived
  itm token --sub E123 --role employee  mint a bearer token for local use
  itm replay [--service ...]            re-emit current state (rebuild the matcher)
  itm import employees FILE [--dry-run] create and update employees from an HRIS CSV export
  itm events tail TOPIC [--json]        print a topic's records as the documented JSON mapping
  itm taxonomy import esco DIR --out F  the taxonomy file from ESCO's CSV files (also add, rename, merge)
  itm webhooks add|list|rm|pause|resume|dead|replay   outbound webhook subscriptions (HR admins)
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
from pathlib import Path

import click

from itm import devstack
from itm.runtime.auth import ROLES, mint_token
from itm.runtime.settings import load_settings

DEFAULT_DATA_DIR = devstack.DEFAULT_DATA_DIR
DATA_DIR_HELP = "the stack's directory (logs, data, state); default: ITM_DATA_DIR, else the nearest .itm, else the running stack"
REPLAY_ORDER = ("learning", "opportunity", "profile")  # catalog and gigs before the people


def _targets(stack: devstack.DevStack) -> dict[str, str]:
    return {name: proc.grpc_target for name, proc in stack.services.items() if name != devstack.WEB}


def _stack_dir(data_dir: str | None) -> str:
    """The stack a command acts on: --data-dir / ITM_DATA_DIR, else ``locate_stacks``."""
    found = devstack.locate_stacks(data_dir)
    if len(found) > 1:
        raise click.ClickException("several stacks run here: " + ", ".join(map(str, found)) +
                                   "; choose one with --data-dir (or ITM_DATA_DIR)")
    return str(found[0]) if found else DEFAULT_DATA_DIR


def _targets_from_state(data_dir: str) -> dict[str, str]:
    state = devstack.DevStack.load_state(data_dir)
    if not state:
        raise click.ClickException(f"no running stack recorded in {data_dir}/stack.json; start one with `itm dev up`")
    return {name: comp["grpc_target"] for name, comp in state.get("components", {}).items()
            if comp.get("kind") == "service" and name != devstack.WEB}


@click.group()
def main() -> None:
    """ITM internal talent marketplace: operator commands."""


@main.group()
def dev() -> None:
    """The embedded development stack (Tansu broker, redis-server, the services)."""


@dev.command("up")
@click.option("--data-dir", default=DEFAULT_DATA_DIR, show_default=True, envvar="ITM_DATA_DIR",
              help="where logs, data and state live (also ITM_DATA_DIR)")
@click.option("--seed-demo/--no-seed-demo", default=False, help="load the demo organisation")
@click.option("--follow/--detach", default=False, help="stream notifications until Ctrl-C, then stop everything")
@click.option("--base-port", type=int, default=None, help="pin ports: broker=base, redis=base+1, services above")
@click.option("--web-port", type=click.IntRange(1024, 65535), default=devstack.DEFAULT_WEB_PORT, show_default=True,
              envvar="ITM_WEB_PORT", help="the web console's port (also ITM_WEB_PORT)")
def dev_up(data_dir: str, seed_demo: bool, follow: bool, base_port: int | None, web_port: int) -> None:
    """Start the platform and wait until every service is healthy."""
    settings = load_settings()
    existing = devstack.status_from_state(data_dir)
    if existing and any(c.get("up") for c in existing.values()):
        raise click.ClickException(f"a stack is already running from {data_dir}; `itm dev down` first")
    if base_port is not None and (eph := devstack.ephemeral_overlap(base_port, base_port + 29)):
        raise click.ClickException(
            f"--base-port {base_port}: ports {base_port}-{base_port + 29} reach into the kernel's ephemeral range "
            f"{eph[0]}-{eph[1]}, where outgoing connections can hold them; choose a base below {eph[0]} "
            f"or above {eph[1]}")
    stack = devstack.DevStack(data_dir, base_ports=base_port, die_with_parent=follow, announce=True,
                              web_port=web_port)
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
            click.echo(asyncio.run(_seed(_targets(stack), settings)).line())
        if devstack.WEB in stack.services:
            _announce_console(stack.services[devstack.WEB].http_port, seed_demo)
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


def _announce_console(port: int, seeded: bool) -> None:
    url = f"http://localhost:{port}"
    click.echo(f"\nweb console  {url}")
    click.echo(f"  sign in at {url}/signin (dev mode: pick a person, no password)")
    if seeded:
        click.echo("  sign in as Ana Ribeiro (employee E100): her matches, profile, courses and live notifications")
        click.echo("  sign in as Morgan Reyes (manager M1): approvals and the team; owner of the demo opportunities")
        click.echo("  sign in as Harper Quinn (HR admin hr-admin): import, KPIs, fairness, audit")


async def _seed(targets: dict[str, str], settings):
    """The demo organisation, completed where an earlier run was interrupted (itm.demo.seed)."""
    from itm.client import Clients
    from itm.demo import Seeded, seed

    clients = Clients.connect(targets, settings)
    report = Seeded()
    try:
        await seed(clients, report=report)
    finally:
        await clients.close()
    return report


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
@click.option("--data-dir", default=None, envvar="ITM_DATA_DIR", help=DATA_DIR_HELP)
def dev_down(data_dir: str | None) -> None:
    """Stop a stack started with `itm dev up --detach`."""
    data_dir = _stack_dir(data_dir)
    result = devstack.stop_from_state(data_dir)
    if not result:
        click.echo(f"nothing recorded in {data_dir}")
    for name, outcome in result.items():
        click.echo(f"{name:<12} {outcome}")


@main.command()
@click.option("--data-dir", default=None, envvar="ITM_DATA_DIR", help=DATA_DIR_HELP)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(data_dir: str | None, as_json: bool) -> None:
    """Each component of the local stack, its endpoints, and whether it is healthy.

    Exits 1 when no stack is found or any component is down."""
    dirs = devstack.locate_stacks(data_dir)
    stacks = {str(d): devstack.status_from_state(d) for d in dirs}
    if as_json:
        click.echo(json.dumps(stacks if len(stacks) != 1 else next(iter(stacks.values())), indent=2, default=str))
    elif not any(stacks.values()):
        where = ", ".join(stacks) or f"{DEFAULT_DATA_DIR} here or above, or {devstack.stacks_dir()}"
        click.echo(f"no stack runs (looked in {where}); start one with `itm dev up`", err=True)
    else:
        for where, state in stacks.items():
            click.echo(f"stack {where}")
            for name, comp in state.items():
                click.echo(f"  {name:<12} {'up' if comp.get('up') else 'DOWN':<5} {_endpoints(comp):<62} "
                           f"{comp.get('detail', '')}")
    if not any(stacks.values()) or not all(c.get("up") for state in stacks.values() for c in state.values()):
        sys.exit(1)


def _endpoints(comp: dict) -> str:
    if comp.get("kind") == "service":
        return f"grpc {comp.get('grpc_target', '')}  http {comp.get('http_url', '')}"
    if comp.get("kind") == "broker":
        return f"kafka {comp.get('endpoint', '')}"
    return comp.get("endpoint", "")


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
@click.option("--data-dir", default=None, envvar="ITM_DATA_DIR", help=DATA_DIR_HELP)
@click.option("--service", "services", multiple=True, type=click.Choice(["profile", "opportunity", "learning"]),
              help="which systems of record to replay (default: all three)")
def replay(data_dir: str, services: tuple[str, ...]) -> None:
    """Re-emit current state as events, so the matcher can be rebuilt from nothing."""
    targets = _targets_from_state(_stack_dir(data_dir))
    replayed = asyncio.run(_replay(targets, load_settings(), services or REPLAY_ORDER))
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
@click.option("--data-dir", default=None, envvar="ITM_DATA_DIR", help=DATA_DIR_HELP)
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
    data_dir = _stack_dir(data_dir)
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


@main.group("import")
def import_() -> None:
    """Bring in data from company systems (HRIS exports)."""


@import_.command("employees")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=False))
@click.option("--dry-run", is_flag=True, help="check every line and report what would change; write nothing")
@click.option("--data-dir", default=None, envvar="ITM_DATA_DIR", help=DATA_DIR_HELP)
@click.option("--profile-target", default=None, help="host:port of the profile service (default: the local stack's)")
@click.option("--token", envvar="ITM_TOKEN", default=None,
              help="an HR admin's bearer token (also ITM_TOKEN); default: one minted with the dev stack's key")
@click.option("--encoding", default="utf-8", show_default=True, help="the file's encoding, e.g. cp1252")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="write every line's result here as CSV (line, employee_id, outcome, reason)")
@click.option("--batch-lines", type=click.IntRange(1, 10_000), default=1000, show_default=True,
              help="lines per call")
def import_employees(file, dry_run, data_dir, profile_target, token, encoding, report_path, batch_lines) -> None:
    """Create and update employees from an HRIS CSV export (docs/hris-import.md).

    Every line gets a result; rejected lines are printed with their number and reason.
    Exits 1 when any line was rejected, 0 otherwise."""
    import codecs
    import csv as csvmod
    import os

    import grpc
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from itm import hris_import
    from itm.runtime.auth import bearer

    try:
        codecs.lookup(encoding)
    except LookupError:
        raise click.BadParameter(f"unknown encoding {encoding!r}", param_hint="--encoding") from None
    settings = load_settings()
    target = profile_target or _targets_from_state(_stack_dir(data_dir)).get("profile")
    if not target:
        raise click.ClickException("no profile service found; pass --profile-target host:port")
    metadata = bearer(token or mint_token(settings, "itm-import", "hr_admin"))
    size = os.path.getsize(file)
    report_fh = open(report_path, "w", newline="", encoding="utf-8") if report_path else None
    writer = csvmod.writer(report_fh) if report_fh else None
    if writer:
        writer.writerow(["line", "employee_id", "outcome", "reason"])

    async def run():
        from itm.v1 import profile_pb2_grpc

        channel = grpc.aio.insecure_channel(target)
        stub = profile_pb2_grpc.ProfileServiceStub(channel)
        columns = [TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[counts]}")]
        try:
            with Progress(*columns, transient=False) as progress, open(file, "rb") as fh:
                task = progress.add_task("dry run" if dry_run else "import", total=size, counts="")
                totals = dict.fromkeys(hris_import.OUTCOME_NAMES.values(), 0)

                def on_batch(answer, read):
                    for r in answer.results:
                        outcome = hris_import.OUTCOME_NAMES.get(r.outcome, "rejected")
                        totals[outcome] += 1
                        if outcome == "rejected":
                            progress.console.print(f"line {r.row}" + (f" {r.employee_id}" if r.employee_id else "")
                                                   + f": rejected: {'; '.join(r.errors)}", markup=False, soft_wrap=True,
                                                   highlight=False)
                        if writer:
                            writer.writerow([r.row, r.employee_id, outcome, "; ".join(r.errors)])
                    progress.update(task, completed=read, counts=", ".join(f"{v} {k}" for k, v in totals.items() if v))

                return await hris_import.import_file(stub, metadata, fh, dry_run, on_batch=on_batch,
                                                     batch_lines=batch_lines, encoding=encoding)
        finally:
            await channel.close()

    try:
        summary = asyncio.run(run())
    except grpc.aio.AioRpcError as exc:
        raise click.ClickException(f"import refused: {exc.code().name}: {exc.details()}") from None
    finally:
        if report_fh:
            report_fh.close()
    if not summary.lines:
        raise click.ClickException(f"{file} is empty: an HRIS export starts with a header row")
    click.echo(summary.line())
    if summary.counts["rejected"]:
        sys.exit(1)


@main.group()
def events() -> None:
    """Read ITM's topics (docs/events/)."""


@events.command("tail")
@click.argument("topic")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line (the documented JSON mapping)")
@click.option("--from-beginning", is_flag=True, help="every record kept, not only new ones")
@click.option("--key", default=None, help="only records with this key (an employee, opportunity, ... id)")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="stop after this many records")
@click.option("--raw", is_flag=True, help="write the record value's bytes instead (with --limit 1), e.g. for protoc")
@click.option("--bootstrap", envvar="ITM_KAFKA_BOOTSTRAP", default=None,
              help="Kafka (default: ITM_KAFKA_BOOTSTRAP, else the local stack's broker)")
@click.option("--prefix", envvar="ITM_TOPIC_PREFIX", default=None,
              help="the deployment's topic prefix (default: ITM_TOPIC_PREFIX, else the local stack's)")
@click.option("--data-dir", default=None, envvar="ITM_DATA_DIR", help=DATA_DIR_HELP)
def events_tail(topic, as_json, from_beginning, key, limit, raw, bootstrap, prefix, data_dir) -> None:
    """Print TOPIC's records as they arrive, as the documented JSON mapping (Ctrl-C stops)."""
    from itm import events as ev
    from itm.runtime.topics import INTERNAL_TOPICS, TOPICS

    if topic in INTERNAL_TOPICS and topic not in TOPICS:
        raise click.BadParameter(f"{topic!r} is internal to the matcher and written by faust, not as ITM envelopes: "
                                 f"{INTERNAL_TOPICS[topic]}", param_hint="TOPIC")
    if topic not in TOPICS:
        raise click.BadParameter(f"{topic!r} is not an ITM topic; one of: {', '.join(TOPICS)}", param_hint="TOPIC")
    if raw and limit != 1:
        raise click.BadParameter("--raw writes one record's bytes: use it with --limit 1", param_hint="--raw")
    state = {}
    if bootstrap is None or prefix is None:
        state = devstack.DevStack.load_state(_stack_dir(data_dir)) or {}
    bootstrap = bootstrap or state.get("kafka_bootstrap") or load_settings().kafka_bootstrap
    prefix = prefix if prefix is not None else state.get("topic_prefix", "")
    if TOPICS[topic].internal:
        click.echo(f"note: {topic} is internal to the {TOPICS[topic].writer}; its contents may change in any release",
                   err=True)

    def show(rec: dict, value: bytes) -> None:
        if raw:
            sys.stdout.buffer.write(value)
            sys.stdout.buffer.flush()
        else:
            click.echo(ev.format_record(rec, as_json))

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # a lost broker is retried: no line per attempt
    try:
        asyncio.run(ev.tail(bootstrap, prefix, topic, from_beginning=from_beginning, key=key, limit=limit,
                            on_record=show))
    except KeyboardInterrupt:
        pass
    except (LookupError, ConnectionError) as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def taxonomy() -> None:
    """The skills taxonomy file every service loads (ITM_TAXONOMY_PATH): import ESCO, add, rename, merge."""


def _taxonomy_file(path: str | None) -> str:
    import os

    path = path or os.environ.get("ITM_TAXONOMY_PATH", "")
    if not path:
        raise click.ClickException("which taxonomy file? pass --file or set ITM_TAXONOMY_PATH")
    return path


def _save(tax, path: str, what: str) -> None:
    tax.to_file(path)
    click.echo(f"{what}; {path}: {len(tax)} skills, {len(tax.redirects)} redirects, version {tax.version}")
    click.echo("deploy it to every service with ITM_TAXONOMY_PATH, matcher workers first (docs/taxonomy.md)")


@taxonomy.group("import")
def taxonomy_import() -> None:
    """Build a taxonomy file from a skills framework."""


@taxonomy_import.command("esco")
@click.argument("source", type=click.Path(exists=True))
@click.option("--relations", type=click.Path(exists=True, dir_okay=False), default=None,
              help="skillSkillRelations_en.csv (default: beside skills_en.csv when SOURCE is a folder)")
@click.option("--with-default/--esco-only", default=True, show_default=True,
              help="fold ESCO into the shipped curated skills (ids people already hold keep working)")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), required=True,
              help="the taxonomy file to write (JSON)")
def taxonomy_import_esco(source, relations, with_default, out) -> None:
    """Read ESCO's CSV files (SOURCE: the download folder or skills_en.csv) into a taxonomy file."""
    from pathlib import Path

    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from itm.esco import default_paths, import_esco
    from itm.taxonomy import Taxonomy

    skills = Path(source)
    if skills.is_dir():
        skills, found = default_paths(skills)
        relations = relations or found
        if not skills.exists():
            raise click.ClickException(f"{source} has no skills_en.csv")
    with Progress(TextColumn("[bold]ESCO"), BarColumn(), DownloadColumn(), TimeElapsedColumn()) as progress:
        task = progress.add_task("esco", total=1)
        try:
            tax, report = import_esco(skills, relations, Taxonomy.load_default() if with_default else None,
                                      on_progress=lambda done, total: progress.update(task, completed=done, total=total))
        except (ValueError, OSError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"read {report['skills']} ESCO skills and {report['relations']} relations "
               f"({report['relations_skipped']} naming skills not imported skipped)")
    _save(tax, out, "written")


@taxonomy.command("add")
@click.option("--file", "path", default=None, help="the taxonomy file (default: ITM_TAXONOMY_PATH)")
@click.option("--id", "skill_id", required=True, help="kebab-case id, e.g. prompt-engineering")
@click.option("--name", required=True)
@click.option("--category", default="uncategorised", show_default=True)
@click.option("--alias", "aliases", multiple=True)
@click.option("--related", multiple=True, help="ID=STRENGTH, e.g. python=0.5")
def taxonomy_add(path, skill_id, name, category, aliases, related) -> None:
    """Add a skill."""
    from itm.taxonomy import Taxonomy

    path = _taxonomy_file(path)
    try:
        rel = {k: float(v) for k, _, v in (r.partition("=") for r in related)}
        tax = Taxonomy.load_path(path).with_skill({"id": skill_id, "name": name, "category": category,
                                                   "aliases": list(aliases), "related": rel})
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    _save(tax, path, f"added {skill_id}")


@taxonomy.command("rename")
@click.option("--file", "path", default=None, help="the taxonomy file (default: ITM_TAXONOMY_PATH)")
@click.argument("skill")
@click.option("--name", default=None, help="the new display name (the old one stays an alias)")
@click.option("--new-id", default=None, help="the new id (the old id keeps resolving)")
def taxonomy_rename(path, skill, name, new_id) -> None:
    """Rename a skill (its name, its id, or both)."""
    from itm.taxonomy import Taxonomy

    path = _taxonomy_file(path)
    if not name and not new_id:
        raise click.UsageError("give --name, --new-id or both")
    try:
        tax = Taxonomy.load_path(path)
        tax = tax.renamed(tax.normalise(skill), name, new_id)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    _save(tax, path, f"renamed {skill}")


@taxonomy.command("merge")
@click.option("--file", "path", default=None, help="the taxonomy file (default: ITM_TAXONOMY_PATH)")
@click.argument("old")
@click.argument("into")
def taxonomy_merge(path, old, into) -> None:
    """Fold skill OLD into INTO (OLD's id, name and aliases resolve to INTO)."""
    from itm.taxonomy import Taxonomy

    path = _taxonomy_file(path)
    try:
        tax = Taxonomy.load_path(path)
        tax = tax.merged(tax.normalise(old), tax.normalise(into))
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    _save(tax, path, f"merged {old} into {into}")


@main.group()
def audit() -> None:
    """The append-only audit stream of state-changing calls."""


@audit.command("export")
@click.option("--data-dir", default=None, envvar="ITM_DATA_DIR", help=DATA_DIR_HELP)
@click.option("--redis-url", default=None, help="Redis to read (default: the local stack's, else ITM_REDIS_URL)")
@click.option("--since", type=float, default=0, help="only records at or after this Unix time")
def audit_export(data_dir: str, redis_url: str | None, since: float) -> None:
    """Print audit records as JSON lines: at, service, method, subject, role, on_behalf_of, target, code."""
    import redis

    settings = load_settings()
    state = devstack.DevStack.load_state(_stack_dir(data_dir)) or {}
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


from itm.webhooks_cli import webhooks as _webhooks  # noqa: E402 - `itm webhooks ...` (its own module)

main.add_command(_webhooks)

from itm.chaos.cli import chaos as _chaos  # noqa: E402 - `itm chaos` (itm/chaos/)

main.add_command(_chaos)


if __name__ == "__main__":
    main()
