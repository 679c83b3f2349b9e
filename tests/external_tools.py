"""Tools nobody here wrote, for the tests that check ITM with them: Debian's promtool
and protoc, and npm packages pinned in a package.json of the repo.

Each getter returns what is needed, installing it when missing, or calls
``pytest.skip`` saying why it cannot (no apt, no npm). Debian's `prometheus`
package is only unpacked (``apt-get download`` + ``dpkg-deb -x``), never installed:
installing it would start a Prometheus server. Downloads land in
``.itm/tools/`` (ignored by git) and are reused.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".itm" / "tools"
APT_LOCK_TIMEOUT = "300"


@contextmanager
def _locked(name: str):
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _apt(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    cmd = ["apt-get", "-o", f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT}", *args]
    run = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if run.returncode != 0:  # a new machine may have no package lists yet
        subprocess.run(["apt-get", "update"], capture_output=True, timeout=900)
        run = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900,
                             env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return run


def _need_apt(what: str) -> None:
    if shutil.which("apt-get") is None:
        pytest.skip(f"{what} is not installed and there is no apt-get to install it with")


def promtool() -> str:
    """Path of promtool: on PATH, else unpacked from Debian's `prometheus` package."""
    if found := shutil.which("promtool"):
        return found
    unpacked = CACHE / "prometheus" / "usr" / "bin" / "promtool"
    with _locked("prometheus"):
        if not unpacked.exists():
            _need_apt("promtool (Debian package prometheus)")
            work = CACHE / "prometheus-deb"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            run = _apt("download", "prometheus", cwd=work)
            debs = list(work.glob("prometheus_*.deb"))
            if run.returncode != 0 or not debs:
                pytest.fail(f"apt-get download prometheus failed:\n{run.stdout}\n{run.stderr}")
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(CACHE / "prometheus")], check=True, timeout=300)
            shutil.rmtree(work, ignore_errors=True)
    return str(unpacked)


PROTOC_PACKAGES = ("protobuf-compiler", "libprotobuf-dev")


def protoc() -> str:
    """Path of Debian's protoc, with the well-known types (libprotobuf-dev) beside it."""
    wkt = Path("/usr/include/google/protobuf/timestamp.proto")
    if not (shutil.which("protoc") and wkt.exists()):
        _need_apt("protoc (Debian packages protobuf-compiler, libprotobuf-dev)")
        if os.geteuid() != 0:
            pytest.skip("protoc is not installed and installing it needs root: "
                        f"apt-get install {' '.join(PROTOC_PACKAGES)}")
        with _locked("apt"):
            run = _apt("install", "-y", "--no-install-recommends", *PROTOC_PACKAGES)
        if run.returncode != 0:
            pytest.fail(f"apt-get install {' '.join(PROTOC_PACKAGES)} failed:\n{run.stdout}\n{run.stderr}")
    return shutil.which("protoc") or "protoc"


def npm_install(package_dir: Path) -> Path:
    """``npm ci`` in ``package_dir`` (its package-lock.json pins everything); returns
    its node_modules/.bin. Skips where Node.js or npm is missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed (Debian/NodeSource nodejs 20)")
    stamp = package_dir / "node_modules" / ".itm-installed"
    lock = package_dir / "package-lock.json"
    with _locked(f"npm-{package_dir.name}"):
        if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
            run = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=package_dir, capture_output=True,
                                 text=True, timeout=900)
            if run.returncode != 0:
                pytest.fail(f"npm ci in {package_dir} failed:\n{run.stdout}\n{run.stderr}")
            stamp.touch()
    return package_dir / "node_modules" / ".bin"
