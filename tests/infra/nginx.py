"""A real nginx on 127.0.0.1 serving a folder, with faults on demand.

Started from the Debian package ``nginx`` (plus ``libnginx-mod-http-echo``
for the artificial latency of ``/slow/``); ``.ci/run`` installs both. The
server runs in the foreground as a child of the test process with every
file it writes (configuration, pid, temp folders, logs) under one temporary
folder, listens on a random free port of 127.0.0.1 only and is stopped by its
process id.

URLs
----
``{url}/NAME``
    The file ``root/NAME`` (ranges, multi-ranges, HEAD, ETag).
``{url}/slow/NAME``
    The same file after ``delay`` seconds per request (needs the echo module).
Per-file faults, switched at run time with :meth:`Nginx.set_fault` (the
server reloads its configuration): ``"503"`` answers 503 Service Unavailable,
``"drop"`` closes the connection without an answer, ``"404"`` answers Not Found.

The access log records, per request, the time, method, original URI, status,
bytes sent and the Range header; :meth:`Nginx.requests` parses it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
FAULTS = ("503", "drop", "404")


class NginxUnavailable(RuntimeError):
    """nginx cannot run here; the message says why."""


@dataclass(frozen=True)
class Request:
    """One line of the access log."""

    time: float
    method: str
    uri: str
    status: int
    bytes_sent: int
    range: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nginx_binary() -> str:
    for candidate in ("/usr/sbin/nginx", shutil.which("nginx")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise NginxUnavailable(
        "nginx not found: install the Debian package with "
        "`apt-get install -y nginx libnginx-mod-http-echo` (see .ci/run)"
    )


@dataclass
class Nginx:
    """A running nginx serving ``docroot``.

    Attributes
    ----------
    docroot
        The folder served at ``url``.
    root
        Folder with configuration, logs and temp folders.
    port
        The port on 127.0.0.1.
    delay
        Seconds ``/slow/`` waits before each answer.
    """

    docroot: Path
    root: Path
    port: int
    delay: float = 0.05
    faults: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def has_delay(self) -> bool:
        """Whether ``/slow/`` is available (the echo module is installed)."""
        return ECHO_MODULE.exists()

    @property
    def access_log(self) -> Path:
        """Path of the access log."""
        return self.root / "access.log"

    def _conf(self) -> str:
        fault_map = "".join(
            f'        "/{name.lstrip("/")}" {mode};\n' for name, mode in sorted(self.faults.items())
        )
        tmp = self.root / "tmp"
        slow = (
            f"""
        location ~ ^/slow/(?<rest>.*)$ {{
            echo_sleep {self.delay};
            echo_exec /_files/$rest;
        }}
        location /_files/ {{
            internal;
            alias {self.docroot}/;
        }}"""
            if self.has_delay
            else ""
        )
        # Workers run as the test's own user so they can read its private tmp folders.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
        return f"""{f"load_module {ECHO_MODULE};" if self.has_delay else ""}
{user}
daemon off;
master_process on;
worker_processes 1;
pid {self.root}/nginx.pid;
error_log {self.root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    types {{ image/tiff tif tiff; application/json json; text/plain txt; }}
    default_type application/octet-stream;
    log_format geo '$msec $request_method $request_uri $status $body_bytes_sent "$http_range"';
    access_log {self.root}/access.log geo;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    map $uri $fault {{
        default "";
{fault_map}    }}
    server {{
        listen 127.0.0.1:{self.port};
        root {self.docroot};
        location / {{
            if ($fault = "503") {{ return 503; }}
            if ($fault = "drop") {{ return 444; }}
            if ($fault = "404") {{ return 404; }}
        }}{slow}
    }}
}}
"""

    def _write_conf(self) -> Path:
        conf = self.root / "nginx.conf"
        conf.write_text(self._conf())
        return conf

    def start(self, timeout: float = 10) -> None:
        """Start the server and wait until it answers."""
        binary = _nginx_binary()
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        conf = self._write_conf()
        test = subprocess.run(
            [binary, "-t", "-p", str(self.root), "-c", str(conf)], capture_output=True, text=True
        )
        if test.returncode != 0:
            raise NginxUnavailable(f"nginx rejects its test configuration: {test.stderr.strip()}")
        with open(self.root / "stderr.log", "wb") as err:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                [binary, "-p", str(self.root), "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                logs = [self.root / "stderr.log", self.root / "error.log"]
                text = "".join(p.read_text(errors="replace") for p in logs if p.exists())
                raise NginxUnavailable(f"nginx exited with {self.proc.returncode}: {text}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise NginxUnavailable(f"nginx did not listen on 127.0.0.1:{self.port} in {timeout} s")

    def set_fault(self, name: str, mode: str | None) -> None:
        """Make ``/name`` fail with ``mode`` (one of ``FAULTS``) or heal it (``None``).

        The configuration is rewritten and reloaded; the call returns once the
        new workers answer.
        """
        if mode is None:
            self.faults.pop(name.lstrip("/"), None)
        elif mode not in FAULTS:
            raise ValueError(f"fault {mode!r}: expected one of {FAULTS}")
        else:
            self.faults[name.lstrip("/")] = mode
        self.reload()

    def set_delay(self, seconds: float) -> None:
        """Change the latency of ``/slow/`` and reload."""
        self.delay = seconds
        self.reload()

    def reload(self) -> None:
        """Rewrite the configuration and reload it (SIGHUP to the master)."""
        assert self.proc is not None, "nginx is not running"
        self._write_conf()
        before = self._worker_pids()
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = self._worker_pids()
            if now and not (now & before):
                return
            time.sleep(0.05)
        raise NginxUnavailable("nginx did not replace its workers after a reload")

    def _worker_pids(self) -> set[int]:
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return {int(p) for p in children.read_text().split()}
        except OSError:
            return set()

    def requests(self, since: int = 0, *, settle: float = 0.1) -> list[Request]:
        """Parsed access-log lines from byte offset ``since`` (see :meth:`log_offset`).

        nginx logs a request after it sent the answer, so the client may see the answer
        first: ``settle`` seconds are waited before the log is read.
        """
        time.sleep(settle)
        if not self.access_log.exists():
            return []
        out = []
        with self.access_log.open() as fh:
            fh.seek(since)
            for line in fh:
                t, method, uri, status, sent, rng = line.rstrip("\n").split(" ", 5)
                rng = rng.strip('"')
                out.append(
                    Request(
                        float(t), method, uri, int(status), int(sent), "" if rng == "-" else rng
                    )
                )
        return out

    def log_offset(self) -> int:
        """Current size of the access log, to count only later requests."""
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def stop(self) -> None:
        """Stop the server this object started (SIGQUIT: graceful, then SIGKILL)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None


def start(docroot: Path, root: Path, delay: float = 0.05) -> Nginx:
    """Start nginx serving ``docroot`` on a free port of 127.0.0.1."""
    root.mkdir(parents=True, exist_ok=True)
    server = Nginx(docroot=Path(docroot).resolve(), root=root, port=_free_port(), delay=delay)
    server.start()
    return server


if __name__ == "__main__":
    import tempfile
    import urllib.request

    base = Path(tempfile.mkdtemp(prefix="nginx-"))
    (base / "www").mkdir()
    (base / "www" / "a.txt").write_text("0123456789" * 10)
    s = start(base / "www", base / "srv")
    try:
        r = urllib.request.Request(s.url + "/a.txt", headers={"Range": "bytes=0-4"})
        print(urllib.request.urlopen(r).read())
        t0 = time.monotonic()
        print(urllib.request.urlopen(s.url + "/slow/a.txt").read()[:10], time.monotonic() - t0)
        s.set_fault("a.txt", "503")
        try:
            urllib.request.urlopen(s.url + "/a.txt")
        except Exception as e:
            print("fault:", e)
        s.set_fault("a.txt", "drop")
        try:
            urllib.request.urlopen(s.url + "/a.txt")
        except Exception as e:
            print("fault:", e)
        s.set_fault("a.txt", None)
        print(urllib.request.urlopen(s.url + "/a.txt").read()[:10])
        for q in s.requests():
            print(q)
    finally:
        s.stop()
