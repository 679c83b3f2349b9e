"""Dev ports, start-up causes and finding a stack (itm.devstack), without processes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from itm import cli, devstack
from itm.devstack import DevStackError, dev_port_ranges, free_port, locate_stacks, startup_cause

TANSU_IN_USE = """\
----- 2026-12-02 08:05:27 starting broker: tansu broker --listener-url tcp://127.0.0.1:19555
tansu broker 0.6.0
listening on: tcp://127.0.0.1:19555 (advertised: tcp://127.0.0.1:19555)
\x1b[2m2026-12-02T08:05:28.000444Z\x1b[0m \x1b[31mERROR\x1b[0m tansu_broker::broker: 240: err=Os { code: 98, \
kind: AddrInUse, message: "Address in use" } self.advertised_listener=tcp://127.0.0.1:19555
thread 'tokio-rt-worker' (4488) panicked at tansu-broker/src/broker.rs:139:18:
"""
REDIS_IN_USE = """\
5916:C 02 Dec 2026 08:06:02.069 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo
5916:M 02 Dec 2026 08:06:02.070 # Warning: Could not create server TCP listening socket 127.0.0.1:19556: bind: \
Address already in use
5916:M 02 Dec 2026 08:06:02.070 # Failed listening on port 19556 (TCP), aborting.
"""


@pytest.mark.parametrize("ephemeral", [(32768, 60999), (20000, 60999), (1024, 40000)])
def test_free_ports_stay_out_of_the_ephemeral_range(monkeypatch, ephemeral):
    monkeypatch.setattr(devstack, "_ephemeral_range", lambda: ephemeral)
    lo, hi = ephemeral
    for _ in range(30):
        port = free_port()
        assert port >= devstack.LOWEST_DEV_PORT and not lo <= port <= hi, (port, ephemeral)


def test_on_this_kernel_dev_ports_lie_below_the_ephemeral_range():
    lo, _ = devstack._ephemeral_range()
    assert dev_port_ranges() == [(devstack.LOWEST_DEV_PORT, lo - 1)]  # never above it while there is room below
    assert all(devstack.LOWEST_DEV_PORT <= free_port() < lo for _ in range(50))


def test_no_room_for_dev_ports_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(devstack, "_ephemeral_range", lambda: (1024, 65535))
    with pytest.raises(DevStackError, match="ip_local_port_range"):
        free_port()


def test_a_base_port_in_the_ephemeral_range_is_refused(tmp_path):
    lo, hi = devstack._ephemeral_range()
    result = CliRunner().invoke(cli.main, ["dev", "up", "--data-dir", str(tmp_path), "--base-port", str(lo + 10)])
    assert result.exit_code != 0
    assert "ephemeral range" in result.output and str(lo) in result.output
    assert not (tmp_path / devstack.STATE_FILE).exists()


def test_startup_cause_reads_the_log():
    assert startup_cause(TANSU_IN_USE) == "address in use (127.0.0.1:19555)"
    assert startup_cause(REDIS_IN_USE) == "address in use (127.0.0.1:19556)"
    assert startup_cause("starting\nTraceback (most recent call last):\n  boom") == "Traceback (most recent call last):"
    assert startup_cause("starting\nall fine\n") == ""


def test_locate_stacks_explicit_then_nearest_then_announced(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    project = tmp_path / "project"
    (project / ".itm").mkdir(parents=True)
    (project / ".itm" / devstack.STATE_FILE).write_text("{}")
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    assert locate_stacks("/some/dir", cwd=deep) == [devstack.Path("/some/dir")]
    assert locate_stacks(None, cwd=deep) == [project / ".itm"]
    assert locate_stacks(None, cwd=elsewhere) == []

    other = tmp_path / "other-stack"
    other.mkdir()
    (other / devstack.STATE_FILE).write_text("{}")
    devstack.announce_stack(other)
    gone = tmp_path / "gone"
    devstack.announce_stack(gone)  # no state file: a stale record, dropped
    assert locate_stacks(None, cwd=elsewhere) == [other]
    assert len(list(devstack.stacks_dir().glob("*.json"))) == 1
    devstack.withdraw_stack(other)
    assert locate_stacks(None, cwd=elsewhere) == []


def test_status_exits_1_when_nothing_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.main, ["status"])
    assert result.exit_code == 1 and "no stack runs" in result.output
    result = CliRunner().invoke(cli.main, ["status", "--json"])
    assert result.exit_code == 1 and json.loads(result.output) == {}
