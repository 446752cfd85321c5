"""``geoharmony fetch-example``: published sample datasets, checksummed, safely extracted.

The registry (``examples.json``, overridable with the ``GEOHARMONY_EXAMPLES`` environment
variable pointing at another JSON file) lists for each example either ``files`` (each a
URL and its sha256) or an ``archive`` (zip or tar; URL and sha256), or a ``zenodo`` archive
(a record id and a file name: its URL, md5 and size come from the Zenodo records API at
``$GEOHARMONY_ZENODO_API/records/<id>``, default ``https://zenodo.org/api``; the sha256 is
computed after download and recorded in ``source.json``), plus a ready ``config``.
Downloads go through pooch, which refuses a file whose hash differs; Zenodo archives are
cached by pooch (in ``$GEOHARMONY_CACHE``, default the user cache folder) and reused.
Archive members are checked before anything is written: absolute paths, ``..``, links and
special files are refused (no "zip slip"), and so is an archive that would unpack to more
than :data:`MAX_UNPACKED` bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from importlib.resources import files as pkg_files
from pathlib import Path, PurePosixPath
from typing import IO, Any

from geoharmony.errors import ConfigError, InputError

MAX_UNPACKED = 4 << 30
ZENODO_API = "https://zenodo.org/api"
#: Source record of a fetched example (beside its ``pipeline.toml``).
SOURCE = "source.json"


def registry() -> dict[str, Any]:
    """The example registry (built-in, or the file named by ``GEOHARMONY_EXAMPLES``)."""
    override = os.environ.get("GEOHARMONY_EXAMPLES")
    if override:
        return json.loads(Path(override).read_text(encoding="utf-8"))
    text = pkg_files("geoharmony.demo").joinpath("examples.json").read_text(encoding="utf-8")
    return json.loads(text)


def _download(url: str, sha256: str, dest_dir: Path, fname: str) -> Path:
    import pooch

    try:
        path = pooch.retrieve(
            url, known_hash=f"sha256:{sha256}", fname=fname, path=dest_dir, progressbar=False
        )
    except ValueError as exc:  # pooch: hash mismatch
        raise InputError(f"{url}: downloaded file failed its checksum ({exc})") from None
    except Exception as exc:  # network errors of requests
        raise InputError(f"{url}: download failed ({type(exc).__name__}: {exc})") from None
    return Path(path)


def _safe_name(name: str, archive: Path) -> PurePosixPath:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise InputError(f"{archive}: refusing unsafe archive member {name!r} (absolute or '..')")
    return p


@dataclass(frozen=True)
class _Member:
    """One archive member, whatever the archive format."""

    name: str
    is_dir: bool
    size: int
    is_special: bool  # a link, device or fifo: never extracted
    open: Callable[[], IO[bytes] | None]


def _members(archive: Path, stack: ExitStack) -> list[_Member]:
    if zipfile.is_zipfile(archive):
        z = stack.enter_context(zipfile.ZipFile(archive))
        return [
            _Member(
                i.filename,
                i.is_dir(),
                i.file_size,
                (i.external_attr >> 16) & 0o170000 == 0o120000,  # symlink mode bits
                partial(z.open, i),
            )
            for i in z.infolist()
        ]
    if tarfile.is_tarfile(archive):
        t = stack.enter_context(tarfile.open(archive))  # noqa: SIM115 - closed by the stack
        return [
            _Member(
                m.name,
                m.isdir(),
                m.size,
                not (m.isfile() or m.isdir()),
                partial(t.extractfile, m),
            )
            for m in t.getmembers()
        ]
    raise InputError(f"{archive}: not a zip or tar archive")


def safe_extract(archive: Path, dest: Path) -> list[Path]:
    """Extract a zip or tar archive into ``dest`` after checking every member."""
    out: list[Path] = []
    with ExitStack() as stack:
        members = _members(archive, stack)
        for m in members:  # check everything before writing anything
            _safe_name(m.name, archive)
            if m.is_special:
                raise InputError(f"{archive}: refusing link or special member {m.name!r}")
        total = sum(m.size for m in members)
        if total > MAX_UNPACKED:
            raise InputError(f"{archive}: would unpack to {total} bytes (> {MAX_UNPACKED})")
        for m in members:
            target = dest / _safe_name(m.name, archive)
            if m.is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            stream = m.open()
            if stream is None:  # pragma: no cover - regular members always have one
                raise InputError(f"{archive}: cannot read member {m.name!r}")
            with stream, open(target, "wb") as dst:
                shutil.copyfileobj(stream, dst)
            out.append(target)
    return out


def zenodo_file(record: str, key: str) -> dict[str, Any]:
    """URL, md5 and size of file ``key`` of a Zenodo record, from the records API.

    Raises
    ------
    InputError
        If the API cannot be read or the record has no such file.
    """
    import urllib.request

    base = os.environ.get("GEOHARMONY_ZENODO_API", ZENODO_API).rstrip("/")
    url = f"{base}/records/{record}"
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            meta = json.loads(r.read().decode("utf-8"))
    except Exception as exc:  # network, HTTP and JSON errors alike
        raise InputError(
            f"{url}: cannot read the Zenodo record ({type(exc).__name__}: {exc}); "
            "check the connection (or GEOHARMONY_ZENODO_API)"
        ) from None
    files = meta.get("files", [])
    for f in files:
        if f.get("key") == key:
            algo, _, digest = str(f.get("checksum", "")).partition(":")
            if algo != "md5" or not digest:
                raise InputError(f"{url}: file {key!r} has no md5 checksum ({f.get('checksum')})")
            return {
                "record": str(record),
                "key": key,
                "url": f["links"]["self"],
                "md5": digest,
                "size": int(f["size"]),
                "api": url,
            }
    have = ", ".join(str(f.get("key")) for f in files) or "none"
    raise InputError(f"{url}: the record has no file {key!r}; files: {have}")


def _cache_dir() -> Path:
    import pooch

    override = os.environ.get("GEOHARMONY_CACHE")
    return Path(override) if override else Path(pooch.os_cache("geoharmony"))


def fetch_zenodo(record: str, key: str) -> tuple[Path, dict[str, Any]]:
    """Download (or reuse from the cache) a Zenodo file checked against its md5 and size.

    Returns the cached file and its record (``url``, ``md5``, ``size``, ``sha256``).

    Raises
    ------
    InputError
        If the download fails or the file's md5 or size differ from the record's.
    """
    import pooch

    info = zenodo_file(record, key)
    folder = _cache_dir() / "zenodo" / str(record)
    try:
        path = Path(
            pooch.retrieve(
                info["url"],
                known_hash=f"md5:{info['md5']}",
                fname=key,
                path=folder,
                progressbar=False,
            )
        )
    except ValueError as exc:  # pooch: hash mismatch
        raise InputError(f"{info['url']}: downloaded file failed its md5 check ({exc})") from None
    except Exception as exc:  # network errors of requests
        raise InputError(f"{info['url']}: download failed ({type(exc).__name__}: {exc})") from None
    size = path.stat().st_size
    if size != info["size"]:
        path.unlink()
        raise InputError(
            f"{info['url']}: downloaded {size} bytes, the Zenodo record says {info['size']}; "
            "the file was removed from the cache, retry"
        )
    return path, {**info, "sha256": pooch.file_hash(str(path), alg="sha256")}


def _find(root: Path, name: str) -> Path:
    hits = sorted(root.rglob(name))
    if not hits:
        raise InputError(f"{root}: the archive holds no {name!r}; is it the right record?")
    return hits[0]


def fetch_example(name: str, dest: str | Path) -> Path:
    """Download example ``name`` into ``dest/name`` and write its ``pipeline.toml``.

    Returns the config path. Everything lands in a temporary folder first and is moved
    into place only when every checksum matched, so a failure leaves nothing behind.
    """
    reg = registry()
    if name not in reg:
        raise ConfigError(f"example {name!r} is not known; available: {', '.join(sorted(reg))}")
    entry = reg[name]
    dest = Path(dest).expanduser().absolute()
    target = dest / name
    cfg = target / "pipeline.toml"
    if cfg.is_file():
        return cfg
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=f".{name}.") as tmp:
        work = Path(tmp) / name
        work.mkdir()
        for f in entry.get("files", []):
            _download(f["url"], f["sha256"], work, _safe_name(f["name"], work).name)
        if "archive" in entry:
            a = entry["archive"]
            path = _download(a["url"], a["sha256"], Path(tmp), "archive")
            safe_extract(path, work)
            path.unlink()
        config = entry["config"]
        if "zenodo" in entry:
            z = entry["zenodo"]
            path, source = fetch_zenodo(z["record"], z["file"])
            safe_extract(path, work)
            # the archive's own layout decides where the files are; the config follows it
            folder = _find(work, z["locate"]).parent.relative_to(work).as_posix()
            config = config.replace("{dir}", folder)
            (work / SOURCE).write_text(json.dumps(source, indent=1), encoding="utf-8")
        (work / "pipeline.toml").write_text(config, encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(work, target)
    return cfg
