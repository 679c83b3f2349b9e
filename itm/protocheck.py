"""Contract checks of proto/ with buf (npm @bufbuild/buf, pinned in tools/buf/).

* ``lint``: ``buf lint`` with proto/buf.yaml (STANDARD, three naming rules off);
* ``breaking``: ``buf breaking`` (FILE category) of proto/ against the descriptor
  set of the previous release, ``proto/releases/<version>.binpb`` (the newest);
* ``release``: freezes today's published descriptor set as the release named by
  pyproject.toml's version, the baseline of the next release's check.

``python -m itm.protocheck [lint|breaking|release] [--proto DIR]`` exits 1 and
prints buf's findings when a check fails. How a topic's schema moves is in
docs/architecture.md ("How a topic's schema moves"); the test suite runs both
checks (tests/integration/test_proto_contract.py).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from itm.protogen import DESCRIPTOR_SET, PROTO_ROOT, ROOT

BUF_PACKAGE = ROOT / "tools" / "buf"
RELEASES = PROTO_ROOT / "releases"


class ContractError(RuntimeError):
    """buf found problems; the message lists them."""


def buf_binary() -> Path:
    """buf from tools/buf/node_modules (``npm ci`` there installs the pinned version)."""
    found = BUF_PACKAGE / "node_modules" / ".bin" / "buf"
    if not found.exists():
        raise FileNotFoundError(f"buf is not installed: run `npm ci` in {BUF_PACKAGE.relative_to(ROOT)}")
    return found


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.stem))


def previous_release(releases: Path = RELEASES) -> Path:
    found = sorted(releases.glob("*.binpb"), key=_version_key)
    if not found:
        raise FileNotFoundError(f"no release descriptor set in {releases} (python -m itm.protocheck release)")
    return found[-1]


def _buf(*args: str, cwd: Path) -> None:
    run = subprocess.run([str(buf_binary()), *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        raise ContractError((run.stdout + run.stderr).strip() or f"buf {args[0]} exited with {run.returncode}")


def lint(proto: Path = PROTO_ROOT) -> None:
    _buf("lint", str(proto), cwd=proto)


def breaking(proto: Path = PROTO_ROOT, against: Path | None = None) -> Path:
    """Raise ContractError naming each break against ``against`` (default: the previous release)."""
    against = against or previous_release()
    _buf("breaking", str(proto), "--against", str(against), cwd=proto)
    return against


def release(version: str | None = None) -> Path:
    """Copy the published descriptor set to proto/releases/<version>.binpb."""
    if version is None:
        version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        raise ValueError(f"a release version is dotted numbers, not {version!r}")
    out = RELEASES / f"{version}.binpb"
    if out.exists():
        raise FileExistsError(f"{out} exists: a release's contract never changes")
    RELEASES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / DESCRIPTOR_SET, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("check", nargs="?", choices=["lint", "breaking", "all", "release"], default="all")
    parser.add_argument("--proto", type=Path, default=PROTO_ROOT, help="the proto directory (default: proto/)")
    parser.add_argument("--version", default=None, help="release: the version (default: pyproject.toml's)")
    args = parser.parse_args(argv)
    try:
        if args.check == "release":
            print(f"wrote {release(args.version)}")
            return 0
        if args.check in ("lint", "all"):
            lint(args.proto)
            print("buf lint: no findings")
        if args.check in ("breaking", "all"):
            against = breaking(args.proto)
            print(f"buf breaking: nothing breaks the contract of release {against.stem}")
    except (ContractError, FileNotFoundError, FileExistsError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
