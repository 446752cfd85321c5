"""Concurrent runs, kills at every step, orphans: real processes through the CLI.

* Two runs on one output: the second is refused (exit 2) naming the holder; the first
  completes with the content of a clean run.
* SIGKILL at instrumented points (``GEOHARMONY_FAULT``: after locking, after planning,
  while the partial folder is created, after a task's shards, after the index, before and
  after the manifest, during cleanup, between the two renames of ``--overwrite``): the
  rerun ends with the content hash of a clean run and leaves nothing behind.
* SIGKILL and SIGTERM of the driver of a 2-worker pool leave no worker running.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from clirun import leftovers, run_cli, start_cli
from digest import dataset_digest
from scenes import small_scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, geoharmony_exe: Path) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("kills")
    cfg = small_scene(root, regions=3, labels=True, patch=16)
    clean = root / "clean"
    r = run_cli(geoharmony_exe, "--no-progress", "extract", cfg, "--out", clean, "--workers", "1")
    assert r.returncode == 0, r.stderr
    return cfg, dataset_digest(clean)


def _wait_for_lock(out: Path, pid: int, timeout: float = 60) -> None:
    lock = out.parent / f".{out.name}.lock"
    t0 = time.time()
    while time.time() - t0 < timeout:
        if lock.is_file() and f'"pid": {pid}' in lock.read_text():
            return
        time.sleep(0.05)
    raise AssertionError("the first run never took the lock")


@pytest.mark.parametrize("other_config", [False, True], ids=["same-config", "other-config"])
def test_second_run_is_refused_naming_the_holder(
    scene: tuple[Path, str], tmp_path: Path, geoharmony_exe: Path, other_config: bool
) -> None:
    cfg, clean = scene
    out = tmp_path / "ds"
    second_cfg = cfg
    if other_config:  # beside the first (relative paths resolve from the config's folder)
        second_cfg = cfg.parent / f"other-{tmp_path.name}.toml"
        second_cfg.write_text(cfg.read_text().replace("stride = 16", "stride = 12"))
    first = start_cli(
        geoharmony_exe,
        "--no-progress",
        "extract",
        cfg,
        "--out",
        out,
        "--workers",
        "1",
        env={"GEOHARMONY_DELAY": "locked:4"},
    )
    _wait_for_lock(out, first.pid)
    r = run_cli(geoharmony_exe, "--no-progress", "extract", second_cfg, "--out", out)
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert f"another extract is writing this output (pid {first.pid} on " in line
    assert "started " in line and str(out) in line
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert dataset_digest(out) == clean
    assert leftovers(out) == []


POINTS = [
    "locked",
    "planned",
    "partial-init",
    "task-written:1",
    "task-written:3",
    "index-written",
    "before-manifest",
    "manifest-written",
    "cleanup",
]


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_then_rerun_gives_the_clean_content(
    scene: tuple[Path, str], tmp_path: Path, geoharmony_exe: Path, point: str
) -> None:
    cfg, clean = scene
    out = tmp_path / "ds"
    args = ("--no-progress", "extract", cfg, "--out", out, "--workers", "1")
    r = run_cli(geoharmony_exe, *args, env={"GEOHARMONY_FAULT": point})
    assert r.returncode == -signal.SIGKILL, (point, r.returncode, r.stderr)
    assert not (out / "manifest.json").exists(), "a killed run looks complete"
    r = run_cli(geoharmony_exe, *args)
    assert r.returncode == 0, r.stderr
    assert dataset_digest(out) == clean
    assert leftovers(out) == []
    r = run_cli(geoharmony_exe, "validate", out)
    assert r.returncode == 0, r.stdout + r.stderr


def test_sigkill_between_the_overwrite_renames(
    scene: tuple[Path, str], tmp_path: Path, geoharmony_exe: Path
) -> None:
    cfg, clean = scene
    out = tmp_path / "ds"
    other = cfg.parent / "other-stride.toml"
    other.write_text(cfg.read_text().replace("stride = 16", "stride = 12"))
    r = run_cli(geoharmony_exe, "--no-progress", "extract", other, "--out", out, "--workers", "1")
    assert r.returncode == 0, r.stderr
    args = ("--no-progress", "extract", cfg, "--out", out, "--workers", "1", "--overwrite")
    r = run_cli(geoharmony_exe, *args, env={"GEOHARMONY_FAULT": "publish"})
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert not out.exists() and (tmp_path / ".ds.old").is_dir()
    r = run_cli(geoharmony_exe, *args)
    assert r.returncode == 0, r.stderr
    assert dataset_digest(out) == clean
    assert leftovers(out) == []


def test_worker_killed_mid_task_leaves_a_resumable_run(
    scene: tuple[Path, str], tmp_path: Path, geoharmony_exe: Path
) -> None:
    cfg, clean = scene
    out = tmp_path / "ds"
    args = ("--no-progress", "extract", cfg, "--out", out, "--workers", "2")
    r = run_cli(geoharmony_exe, *args, env={"GEOHARMONY_FAULT": "task-written:2"})
    assert r.returncode == 1, r.stderr
    assert "a worker process died" in r.stderr and "rerun the same command" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli(geoharmony_exe, *args)
    assert r.returncode == 0, r.stderr
    assert "resumed" in r.stderr
    assert dataset_digest(out) == clean


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_no_orphan_workers_when_the_driver_is_killed(
    scene: tuple[Path, str], tmp_path: Path, geoharmony_exe: Path, sig: signal.Signals
) -> None:
    cfg, clean = scene
    out = tmp_path / "ds"
    args = ("--no-progress", "extract", cfg, "--out", out, "--workers", "2")
    # tasks slowed down so the kill lands while workers are busy
    p = start_cli(
        geoharmony_exe, *args, env={"GEOHARMONY_DELAY": "task-written:2"}, new_session=True
    )
    t0 = time.time()
    kids: list[psutil.Process] = []
    while time.time() - t0 < 120:
        kids = _descendants(p.pid)
        if len(kids) >= 3:  # the fork server and two workers
            break
        time.sleep(0.1)
    assert len(kids) >= 3, "the workers never started"
    time.sleep(1.0)
    if sig is signal.SIGINT:  # Ctrl-C on a terminal: the whole foreground process group
        os.killpg(p.pid, sig)
    else:
        p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    _, alive = psutil.wait_procs(kids, timeout=10)
    assert not alive, f"orphan workers after {sig.name}: {[k.pid for k in alive]}"
    if sig is not signal.SIGKILL:
        assert p.returncode == (143 if sig is signal.SIGTERM else 130), err
        assert "Traceback" not in err
        line = err.strip().splitlines()[-1]
        assert "tasks are kept in" in line and "rerun the same command to resume" in line
    r = run_cli(geoharmony_exe, *args)
    assert r.returncode == 0, r.stderr
    assert dataset_digest(out) == clean


def test_a_run_refused_for_another_reason_names_the_run_writing_the_output(
    scene: tuple[Path, str], tmp_path: Path, geoharmony_exe: Path
) -> None:
    """An --overwrite run is replacing a dataset; a plain run of another config comes in.

    It would be refused anyway (another configuration's dataset), but the first thing to
    say is that the output is being written, and by whom.
    """
    from geoharmony.execution.lock import OutputLock

    cfg, _ = scene
    out = tmp_path / "ds"
    other = cfg.parent / f"other-{tmp_path.name}.toml"
    other.write_text(cfg.read_text().replace("stride = 16", "stride = 12"))
    r = run_cli(geoharmony_exe, "--no-progress", "extract", other, "--out", out, "--workers", "1")
    assert r.returncode == 0, r.stderr
    with OutputLock(out, "f" * 64):  # a real flock held by this process, as a run holds it
        r = run_cli(geoharmony_exe, "--no-progress", "extract", cfg, "--out", out)
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(
        f"error: {out}: another extract is writing this output (pid {os.getpid()} on "
    )
    assert not leftovers(out)
