"""Generate the committed code and references for proto/ (``make proto``).

* the Python modules in ``itm/v1/``;
* the published descriptor sets, for any language and tool (protoc, buf, grpcurl):
  ``proto/descriptors/itm.v1.binpb`` (every file of proto/ with its imports and
  comments) and ``proto/descriptors/itm.v1.records.binpb`` (the same plus one
  ``itm.v1.records.<Payload>Record`` per event payload: the envelope with its
  ``payload`` typed, so ``protoc --decode`` prints a whole record);
* the topic reference in ``docs/events/`` (``itm.eventdocs``).

``python -m itm.protogen --check`` regenerates into a temporary directory and
exits 1, naming the files, when anything committed differs from a fresh
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


DESCRIPTOR_SET = Path("proto/descriptors/itm.v1.binpb")
RECORDS_SET = Path("proto/descriptors/itm.v1.records.binpb")
RECORDS_FILE = "itm/v1/records.proto"
RECORDS_PACKAGE = "itm.v1.records"
ENVELOPE = "itm.v1.EventEnvelope"
PAYLOAD_FIELD = 10


def descriptor_set() -> bytes:
    """Every file of proto/ with its imports and comments, as a FileDescriptorSet."""
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.binpb"
        rc = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{include}", "--include_imports", "--include_source_info",
                          f"--descriptor_set_out={out}", *[str(p.relative_to(PROTO_ROOT)) for p in proto_files()]])
        if rc != 0:
            raise SystemExit(f"protoc failed with exit code {rc}")
        return out.read_bytes()


def payload_types() -> list[str]:
    """Full names of the messages the registry's topics carry."""
    from itm.runtime.topics import TOPICS

    return sorted({t.payload.DESCRIPTOR.full_name for t in TOPICS.values() if t.payload is not None})


def records_set(contract: bytes, payloads: list[str]) -> bytes:
    """``contract`` plus ``itm/v1/records.proto``: per payload P a message ``PRecord``
    with the envelope's fields, its ``payload`` being ``{type_url = 1; P value = 2}``
    (the wire shape of a google.protobuf.Any holding a P)."""
    from google.protobuf import descriptor_pb2 as d

    fds = d.FileDescriptorSet.FromString(contract)
    files = {f.name: f for f in fds.file}
    envelope = next(m for f in fds.file if f.package == "itm.v1" for m in f.message_type
                    if f"{f.package}.{m.name}" == ENVELOPE)
    where = {f"{f.package}.{m.name}": f.name for f in fds.file for m in f.message_type}
    records = d.FileDescriptorProto(name=RECORDS_FILE, package=RECORDS_PACKAGE, syntax="proto3")
    records.dependency.extend(sorted({where[ENVELOPE], *(where[p] for p in payloads)}
                                     | {dep for dep in files[where[ENVELOPE]].dependency}))
    for full in payloads:
        name = full.rsplit(".", 1)[1]
        msg = records.message_type.add(name=f"{name}Record")
        for field in envelope.field:
            copy = msg.field.add()
            copy.CopyFrom(field)
            copy.ClearField("json_name")
            if field.number == PAYLOAD_FIELD:
                copy.type_name = f".{RECORDS_PACKAGE}.{name}Record.Payload"
        payload = msg.nested_type.add(name="Payload")
        payload.field.add(name="type_url", number=1, label=d.FieldDescriptorProto.LABEL_OPTIONAL,
                          type=d.FieldDescriptorProto.TYPE_STRING)
        payload.field.add(name="value", number=2, label=d.FieldDescriptorProto.LABEL_OPTIONAL,
                          type=d.FieldDescriptorProto.TYPE_MESSAGE, type_name=f".{full}")
    out = d.FileDescriptorSet()
    for f in fds.file:
        stripped = out.file.add()
        stripped.CopyFrom(f)
        stripped.ClearField("source_code_info")
    out.file.append(records)
    return out.SerializeToString(deterministic=True)


def published() -> dict[Path, bytes]:
    """Descriptor sets and docs (path relative to the repo -> content)."""
    from itm import eventdocs

    contract = descriptor_set()
    out = {DESCRIPTOR_SET: contract, RECORDS_SET: records_set(contract, payload_types())}
    out.update({path: text.encode() for path, text in eventdocs.render(contract).items()})
    return out


def drift() -> list[str]:
    """Names of generated files that differ from, or are missing in, the repo."""
    problems = []
    fresh_published = published()
    for rel, content in fresh_published.items():
        committed = ROOT / rel
        if not committed.exists():
            problems.append(f"{rel}: missing (run `make proto`)")
        elif committed.read_bytes() != content:
            problems.append(f"{rel}: differs from a fresh generation (run `make proto`)")
    from itm import eventdocs

    for stale in sorted(set(eventdocs.existing_pages(ROOT)) - set(fresh_published)):
        problems.append(f"{stale}: no topic generates it any more (delete it)")
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        fresh_names = {p.name for p in fresh}
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
    from itm import eventdocs

    for stale in eventdocs.existing_pages(ROOT):
        (ROOT / stale).unlink()
    for rel, content in published().items():
        (ROOT / rel).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / rel).write_bytes(content)
    print(f"wrote {DESCRIPTOR_SET}, {RECORDS_SET} and the topic reference in docs/events/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
