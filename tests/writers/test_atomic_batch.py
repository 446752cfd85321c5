"""io.atomic.AtomicBatch: files appear only at commit, complete; an abort leaves nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from geoharmony.io.atomic import AtomicBatch


def test_files_appear_at_commit_with_their_sha256(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    batch = AtomicBatch()
    batch.submit(tmp_path / "a" / "x.bin", b"x" * 100_000)
    batch.submit(tmp_path / "b" / "y.bin", b"y", mkdir=True)
    assert not (tmp_path / "a" / "x.bin").exists()  # not before commit
    batch.commit()
    assert (tmp_path / "a" / "x.bin").read_bytes() == b"x" * 100_000
    assert batch.digests[tmp_path / "b" / "y.bin"] == hashlib.sha256(b"y").hexdigest()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["x.bin", "y.bin"]


def test_an_error_inside_the_batch_changes_no_target(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    batch = AtomicBatch()

    def task() -> None:
        with batch:
            batch.submit(target, b"new")
            raise RuntimeError("the task failed after writing")

    with pytest.raises(RuntimeError):
        task()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]  # no temporary file left
    assert not batch.digests


@pytest.mark.parametrize("depth", [0, 1, 2, 3, 9])
def test_outline_json_is_the_same_document(depth: int, tmp_path: Path) -> None:
    """Indented at the top, one line per value below: the same JSON value either way."""
    import json

    from geoharmony.io.atomic import outline_json, write_json_atomic

    doc = {
        "a": {"r1": {"count": [1, 2], "mean": [0.5, None]}, "r2": {}},
        "b": [1, {"x": 'é\n"q"'}],
        "c": {},
        "d": 1.5e-300,
        "e": {"deep": {"deeper": {"deepest": [True, False, None]}}},
    }
    text = outline_json(doc, depth)
    assert json.loads(text) == doc
    if depth == 0:
        assert "\n" not in text
    if depth >= 2:
        assert '  "a": {\n    "r1": {' in text  # the outer levels a key per line
    write_json_atomic(tmp_path / "m.json", doc, depth=depth)
    assert json.loads((tmp_path / "m.json").read_text()) == doc
