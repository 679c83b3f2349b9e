"""Generate the committed Python code for proto/ (``make proto``).

``python -m itm.protogen --check`` regenerates into a temporary directory and
exits 1, naming the files, when the committed code differs from a fresh
generation (the drift check the test suite runs).
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
GENERATED_DIR = ROOT / "itm" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.glob("itm/v1/*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Run protoc for every .proto into ``out_dir``; returns generated files."""
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).parent / "_proto"
    protos = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *protos,
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise SystemExit(f"protoc failed with exit code {rc}")
    gen = out_dir / "itm" / "v1"
    (gen / "__init__.py").write_text('"""Generated from proto/itm/v1 by `make proto`. Do not edit."""\n')
    return sorted(p for p in gen.iterdir() if p.is_file())


def drift() -> list[str]:
    """Names of generated files that differ from, or are missing in, the repo."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        fresh_names = {p.name for p in fresh}
        problems = []
        for p in fresh:
            committed = GENERATED_DIR / p.name
            if not committed.exists():
                problems.append(f"{p.name}: missing (run `make proto`)")
            elif not filecmp.cmp(p, committed, shallow=False):
                problems.append(f"{p.name}: differs from a fresh generation (run `make proto`)")
        for p in GENERATED_DIR.iterdir():
            if p.name.endswith(GENERATED_SUFFIXES) and p.name not in fresh_names:
                problems.append(f"{p.name}: no .proto generates it any more (delete it)")
        return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed code drifted")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift()
        for line in problems:
            print(line, file=sys.stderr)
        return 1 if problems else 0
    generate(ROOT)
    print(f"generated {len(proto_files())} protos into {GENERATED_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
