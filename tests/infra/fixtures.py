"""Pytest fixtures that start real services: a single-node SLURM and nginx.

Imported by ``tests/conftest.py``. Each fixture starts its daemons itself (see
:mod:`infra.slurm` and :mod:`infra.nginx`) and skips the test with the precise reason
only when the machine cannot run them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra import nginx as _nginx
from infra import slurm as _slurm


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[_slurm.SlurmCluster]:
    """A running single-node SLURM (munged, slurmctld, slurmd) for the whole session.

    Its folder is under ``/tmp`` with a short name: slurmd's spool paths and the munge
    socket path must stay well below the 108-byte limit of a UNIX socket path.
    """
    root = Path(tempfile.mkdtemp(prefix="gh-slurm-"))
    try:
        cluster = _slurm.start(root)
    except _slurm.SlurmUnavailable as exc:
        pytest.skip(f"no test SLURM: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[Callable[..., _nginx.Nginx]]:
    """Factory: ``http_server(folder, delay=0.05)`` serves ``folder`` with nginx on 127.0.0.1.

    Every server started is stopped at the end of the test.
    """
    started: list[_nginx.Nginx] = []

    def serve(docroot: Path, *, delay: float = 0.05) -> _nginx.Nginx:
        try:
            server = _nginx.start(docroot, tmp_path / f"nginx-{len(started)}", delay=delay)
        except _nginx.NginxUnavailable as exc:
            pytest.skip(f"no test nginx: {exc}")
        started.append(server)
        return server

    try:
        yield serve
    finally:
        for server in started:
            server.stop()
