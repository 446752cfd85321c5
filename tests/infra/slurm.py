"""A real single-node SLURM cluster (munge + slurmctld + slurmd) for tests.

The cluster is started from the Debian packages ``slurm-wlm`` and ``munge``
(``.ci/run`` installs them). Everything it writes -- configuration, state,
spool, logs, the munge socket -- lives under one temporary folder, the daemons
run in the foreground as children of the test process and are stopped by
their process ids, so a test run never touches a system-wide SLURM.

Use the ``slurm`` fixture (session scope, see ``tests/conftest.py``); it skips
with the precise reason when the machine cannot run the daemons (not root,
packages missing, ...).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

MUNGE_KEY = Path("/etc/munge/munge.key")
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "sinfo", "squeue", "scontrol", "sacct")


class SlurmUnavailable(RuntimeError):
    """The machine cannot run a test SLURM; the message says why."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _which(name: str) -> str:
    for folder in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise SlurmUnavailable(
            f"{name} not found: install the Debian packages with "
            "`apt-get install -y slurm-wlm munge` (see .ci/run)"
        )
    return found


def _total_memory_mb() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 1024


@dataclass
class SlurmCluster:
    """One running single-node cluster.

    Attributes
    ----------
    root
        Folder holding configuration, state, spool and logs.
    conf
        The ``slurm.conf``; clients find it through ``env["SLURM_CONF"]``.
    node
        The node name (the machine's short hostname).
    cpus
        CPUs the node offers.
    """

    root: Path
    conf: Path
    node: str
    cpus: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """Environment for client commands (``sbatch``, ``squeue``, ...)."""
        env = dict(os.environ)
        env["SLURM_CONF"] = str(self.conf)
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        """Run a client command against this cluster and return its stdout."""
        proc = subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}\n{self.logs()}"
            )
        return proc.stdout

    def sbatch(self, *args: str) -> str:
        """Submit with ``sbatch --parsable`` and return the job id."""
        out = self.run("sbatch", "--parsable", *args)
        return out.strip().split(";")[0]

    def wait(self, job_id: str, timeout: float = 300) -> dict[str, str]:
        """Wait until every task of ``job_id`` has left the queue.

        Returns
        -------
        dict
            Final state per job (array) task id, from ``scontrol show job``
            (``COMPLETED``, ``FAILED``, ...).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            queued = self.run("squeue", "-h", "-j", job_id, "-o", "%i %T", check=False)
            if not queued.strip():
                break
            time.sleep(0.5)
        else:
            raise TimeoutError(f"job {job_id} still queued after {timeout} s:\n{queued}")
        states: dict[str, str] = {}
        out = self.run("scontrol", "-o", "show", "job", job_id, check=False)
        for line in out.splitlines():
            fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            task = fields.get("ArrayTaskId")
            key = f"{fields.get('ArrayJobId', job_id)}_{task}" if task else fields["JobId"]
            states[key] = fields.get("JobState", "?")
        return states

    def idle(self) -> bool:
        """Whether the node reports ``idle``."""
        out = self.run("sinfo", "-h", "-N", "-o", "%T", check=False)
        return out.strip().startswith("idle")

    def logs(self) -> str:
        """The tail of every daemon log, for error messages."""
        parts = []
        for name in ("munged.log", "slurmctld.log", "slurmd.log"):
            path = self.root / "log" / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-15:]
                parts.append(f"--- {name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop the daemons this object started (by process id), newest first."""
        for name in reversed(list(self.procs)):
            proc = self.procs.pop(name)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


def write_conf(root: Path, node: str, cpus: int, memory_mb: int) -> Path:
    """Write a minimal single-node ``slurm.conf`` under ``root``."""
    for sub in ("state", "spool", "log", "run", "munge"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=geoharmony-test",
                f"SlurmctldHost={node}",
                "SlurmUser=root",
                "SlurmdUser=root",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={root / 'munge' / 'munge.socket'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "JobCompType=jobcomp/none",
                "MpiDefault=none",
                "SwitchType=switch/none",
                "SchedulerType=sched/backfill",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "ReturnToService=2",
                "SlurmctldTimeout=30",
                "SlurmdTimeout=30",
                "InactiveLimit=0",
                "MinJobAge=300",
                "KillWait=5",
                "Waittime=0",
                f"StateSaveLocation={root / 'state'}",
                f"SlurmdSpoolDir={root / 'spool'}",
                f"SlurmctldPidFile={root / 'run' / 'slurmctld.pid'}",
                f"SlurmdPidFile={root / 'run' / 'slurmd.pid'}",
                f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
                "SlurmctldDebug=info",
                "SlurmdDebug=info",
                f"NodeName={node} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
                f"PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    return conf


def start(root: Path, timeout: float = 30) -> SlurmCluster:
    """Start munged, slurmctld and slurmd under ``root``; wait for ``idle``.

    Raises
    ------
    SlurmUnavailable
        With the reason when the machine cannot run them.
    """
    if os.geteuid() != 0:
        raise SlurmUnavailable("a test SLURM needs root (SlurmUser=root, munged as munge)")
    binaries = {name: _which(name) for name in (*DAEMONS, *CLIENTS[:4])}
    runuser = _which("runuser")
    if not MUNGE_KEY.exists():
        keygen = shutil.which("mungekey") or shutil.which("create-munge-key")
        if keygen is None:
            raise SlurmUnavailable(f"{MUNGE_KEY} missing and no mungekey to create it")
        subprocess.run([keygen], check=True, capture_output=True)
    node = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    memory = max(256, int(_total_memory_mb() * 0.9))
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    conf = write_conf(root, node, cpus, memory)
    cluster = SlurmCluster(root=root, conf=conf, node=node, cpus=cpus)
    munge_dir = root / "munge"
    shutil.chown(munge_dir, "munge", "munge")
    munge_dir.chmod(0o755)
    log = root / "log"
    shutil.chown(log, "munge", "munge")
    log.chmod(0o777)
    try:
        cluster.procs["munged"] = _spawn(
            [
                runuser, "-u", "munge", "--", binaries["munged"], "--foreground",
                f"--socket={munge_dir / 'munge.socket'}",
                f"--pid-file={munge_dir / 'munged.pid'}",
                f"--log-file={log / 'munged.log'}",
                f"--seed-file={munge_dir / 'munged.seed'}",
                f"--key-file={MUNGE_KEY}",
            ],
            log / "munged.stderr",
        )  # fmt: skip
        _wait_for(lambda: (munge_dir / "munge.socket").exists(), 10, "munged socket", cluster)
        env = cluster.env
        for name in ("slurmctld", "slurmd"):
            args = [binaries[name], "-D", "-f", str(conf)]
            if name == "slurmctld":
                args.append("-i")
            else:
                args += ["-N", node]
            cluster.procs[name] = _spawn(args, log / f"{name}.stderr", env=env)
            if name == "slurmctld":
                _wait_for(
                    lambda: cluster.run("scontrol", "ping", check=False).find("UP") >= 0,
                    timeout, "slurmctld to answer `scontrol ping`", cluster,
                )  # fmt: skip
        _wait_for(cluster.idle, timeout, "the node to be idle in sinfo", cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _spawn(
    args: list[str], stderr: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a daemon in the foreground, its stderr in a file (the child keeps the fd)."""
    with open(stderr, "wb") as err:
        return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=err)


def _wait_for(check: object, timeout: float, what: str, cluster: SlurmCluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in cluster.procs.items():
            if proc.poll() is not None:
                raise SlurmUnavailable(
                    f"{name} exited with {proc.returncode} while waiting for {what}:\n"
                    + cluster.logs()
                    + _stderr(cluster, name)
                )
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise SlurmUnavailable(f"timed out after {timeout} s waiting for {what}:\n{cluster.logs()}")


def _stderr(cluster: SlurmCluster, name: str) -> str:
    path = cluster.root / "log" / f"{name}.stderr"
    return f"\n--- {name} stderr\n{path.read_text(errors='replace')}" if path.exists() else ""


if __name__ == "__main__":
    import tempfile

    t0 = time.monotonic()
    c = start(Path(tempfile.mkdtemp(prefix="slurm-")))
    print("idle after", round(time.monotonic() - t0, 2), "s")
    try:
        print(c.run("sinfo"))
        script = c.root / "job.sh"
        script.write_text(
            "#!/bin/bash\necho task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT\n"
        )
        jid = c.sbatch("--array=0-3", "-o", str(c.root / "out-%a.txt"), str(script))
        print(c.wait(jid, 60))
        for p in sorted(c.root.glob("out-*.txt")):
            print(p.name, p.read_text().strip())
    finally:
        c.stop()
