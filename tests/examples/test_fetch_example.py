"""fetch-example against a local HTTP server: checksums, safe extraction, atomic result."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import subprocess
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from geoharmony.demo.examples import fetch_example, registry, safe_extract
from geoharmony.errors import InputError


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _registry(tmp_path: Path, entry: dict) -> Path:  # type: ignore[type-arg]
    p = tmp_path / "reg.json"
    p.write_text(json.dumps({"tiny": {"description": "test", "config": "# cfg\n", **entry}}))
    return p


def test_builtin_registry_pins_every_file() -> None:
    reg = registry()
    assert {"rofental", "rmnp", "pine-lake"} <= set(reg)
    for entry in reg.values():
        assert entry["config"].startswith("[study_area]")
        assert entry.get("files") or entry.get("zenodo")  # zenodo: checked by the API's md5
        for f in entry.get("files", []):
            assert len(f["sha256"]) == 64 and f["url"].startswith("https://")


def test_files_download_and_verify(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, root = server
    (root / "a.txt").write_bytes(b"hello")
    reg = _registry(
        tmp_path, {"files": [{"name": "a.txt", "url": f"{url}/a.txt", "sha256": _sha(b"hello")}]}
    )
    monkeypatch.setenv("GEOHARMONY_EXAMPLES", str(reg))
    cfg = fetch_example("tiny", tmp_path / "ex")
    assert cfg.read_text() == "# cfg\n"
    assert (cfg.parent / "a.txt").read_bytes() == b"hello"


def test_checksum_mismatch_leaves_nothing(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, root = server
    (root / "a.txt").write_bytes(b"tampered")
    reg = _registry(
        tmp_path, {"files": [{"name": "a.txt", "url": f"{url}/a.txt", "sha256": _sha(b"hello")}]}
    )
    monkeypatch.setenv("GEOHARMONY_EXAMPLES", str(reg))
    with pytest.raises(InputError, match="checksum"):
        fetch_example("tiny", tmp_path / "ex")
    assert not (tmp_path / "ex" / "tiny").exists()
    assert list((tmp_path / "ex").iterdir()) == []


def test_archive_is_extracted_safely(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, root = server
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("data/x.txt", "x")
    (root / "ok.zip").write_bytes(buf.getvalue())
    reg = _registry(tmp_path, {"archive": {"url": f"{url}/ok.zip", "sha256": _sha(buf.getvalue())}})
    monkeypatch.setenv("GEOHARMONY_EXAMPLES", str(reg))
    cfg = fetch_example("tiny", tmp_path / "ex")
    assert (cfg.parent / "data" / "x.txt").read_text() == "x"


@pytest.mark.parametrize("member", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_zip_slip_is_refused(tmp_path: Path, member: str) -> None:
    arc = tmp_path / "bad.zip"
    with zipfile.ZipFile(arc, "w") as z:
        z.writestr("fine.txt", "ok")
        z.writestr(member, "evil")
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InputError, match="unsafe archive member"):
        safe_extract(arc, dest)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_tar_links_are_refused(tmp_path: Path) -> None:
    arc = tmp_path / "bad.tar"
    with tarfile.open(arc, "w") as t:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        t.addfile(info)
    with pytest.raises(InputError, match="link"):
        safe_extract(arc, tmp_path)


def test_cli_unknown_example_exits_2(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "geoharmony"
    r = subprocess.run(
        [str(exe), "fetch-example", "nope", "--dir", str(tmp_path)], capture_output=True, text=True
    )
    assert r.returncode == 2
    assert "example 'nope' is not known; available:" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run([str(exe), "fetch-example", "--list"], capture_output=True, text=True)
    assert r.returncode == 0 and "rofental" in r.stdout
