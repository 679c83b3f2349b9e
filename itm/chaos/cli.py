"""``itm chaos``: see itm/chaos/__init__.py and docs/chaos.md."""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile

import click

from itm.chaos import faults as fault_plans


def _schedule(name: str, workers: int, session_timeout_s: float) -> list[fault_plans.Fault]:
    if name == "none":
        return []
    if name == "short":
        return fault_plans.short_schedule()
    return fault_plans.full_schedule(session_timeout_s, workers)


@click.command("chaos")
@click.option("--writes", type=int, default=2000, show_default=True, help="acknowledged writes in the round")
@click.option("--faults", "plan", type=click.Choice(["short", "full", "none"]), default="short", show_default=True,
              help="short: a few faults (CI); full: every fault kind on every service")
@click.option("--backend", type=click.Choice(["local", "compose"]), default="local", show_default=True,
              help="local: start the embedded stack and signal its processes; compose: a docker compose project")
@click.option("--data-dir", default=None, help="local: where the round's stack keeps its data (default: a temp dir)")
@click.option("--matcher-workers", type=int, default=2, show_default=True, help="local: matcher workers to start")
@click.option("--compose-dir", default=".", show_default=True, help="compose: the project directory")
@click.option("--compose-file", "compose_files", multiple=True, help="compose: -f files (repeatable)")
@click.option("--compose-project", default=None, help="compose: -p project name")
@click.option("--compose-command", default="docker compose", show_default=True, help="compose: the compose CLI")
@click.option("--target", "targets", multiple=True, metavar="SERVICE=HOST:PORT",
              help="compose: each ITM service's gRPC address as this machine reaches it (repeatable)")
@click.option("--kafka-bootstrap", default=None, help="compose: the broker as this machine reaches it")
@click.option("--concurrency", type=int, default=16, show_default=True, help="writes in flight")
@click.option("--settle-timeout", type=float, default=120.0, show_default=True,
              help="after the last write, a missing push counts as lost once no push arrived for this many seconds")
def chaos(writes, plan, backend, data_dir, matcher_workers, compose_dir, compose_files, compose_project,
          compose_command, targets, kafka_bootstrap, concurrency, settle_timeout) -> None:
    """Run a workload whose pushes are known exactly while faults are injected; print lost,
    duplicated and unexpected pushes and acknowledged-but-missing writes; exit 1 on any."""
    from itm.runtime.settings import load_settings

    def interrupted(*_):  # SIGTERM as Ctrl-C: the round's finally stops the stack it started
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    report = asyncio.run(_round(writes, plan, backend, data_dir, matcher_workers, compose_dir, compose_files,
                                compose_project, compose_command, targets, kafka_bootstrap, concurrency,
                                settle_timeout, load_settings()))
    for line in report.lines():
        click.echo(line)
    sys.exit(0 if report.clean else 1)


async def _round(writes, plan, backend_name, data_dir, matcher_workers, compose_dir, compose_files, compose_project,
                 compose_command, targets, kafka_bootstrap, concurrency, settle_timeout, settings):
    from itm.chaos.backends import ComposeBackend, LocalBackend
    from itm.chaos.run import run_round

    if backend_name == "compose":
        parsed = dict(t.split("=", 1) for t in targets)
        missing = [s for s in ("profile", "opportunity", "notifier") if s not in parsed]
        if missing or not kafka_bootstrap:
            raise click.UsageError("compose needs --target for profile, opportunity and notifier and --kafka-bootstrap"
                                   f" (missing: {', '.join(missing) or 'kafka bootstrap'})")
        backend = ComposeBackend(parsed, kafka_bootstrap, project_dir=compose_dir, project=compose_project,
                                 files=compose_files, compose=compose_command.split(),
                                 topic_prefix=settings.topic_prefix)
        session_s = settings.consumer_session_timeout_ms / 1000
        return await run_round(backend, settings, writes=writes, concurrency=concurrency,
                               schedule=_schedule(plan, 1, session_s), settle_timeout_s=settle_timeout,
                               say=lambda s: click.echo(s))
    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="itm-chaos-")
        data_dir = tmp.name
    session_ms = 6000
    backend = LocalBackend(data_dir, matcher_workers=matcher_workers,
                           env={"ITM_CONSUMER_SESSION_TIMEOUT_MS": str(session_ms)})
    click.echo(f"starting the embedded stack in {data_dir} ({matcher_workers} matcher workers) ...")
    try:
        await backend.open()
        return await run_round(backend, settings, writes=writes, concurrency=concurrency,
                               schedule=_schedule(plan, matcher_workers, session_ms / 1000),
                               settle_timeout_s=settle_timeout, say=lambda s: click.echo(s))
    finally:
        await backend.close()
        if tmp is not None:
            tmp.cleanup()
