"""Real service processes for scale-out and fault tests: ``python -m assistant serve`` subprocesses,
and private PostgreSQL / Redis servers that a test may stop and start without touching the shared ones.

An ``AppProcess`` is one API worker on a free 127.0.0.1 port with its own data dir, configured only by
environment (as in production), using the small test corpus and the hashing embedder so it is ready
in seconds. ``PrivatePostgres`` runs ``initdb`` + ``pg_ctl`` into a temporary folder on a free port
(as the ``postgres`` user when the tests run as root); ``PrivateRedis`` runs ``redis-server`` without
persistence. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import MINI_DOC, ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_mini_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mini-plan.md").write_text(MINI_DOC, encoding="utf-8")
    return folder


class AppProcess:
    """One API worker process (``python -m assistant serve``) on a free port."""

    def __init__(self, name: str, workdir: Path, corpus: Path, env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = workdir / f"data-{name}"
        self.log_path = workdir / f"{name}.log"
        base = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
        self.env = {
            **base, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "ASSISTANT_DATA_DIR": str(self.data_dir),
            "ASSISTANT_KNOWLEDGE__CORPUS_DIR": str(corpus),
            "ASSISTANT_KNOWLEDGE__EMBEDDER": "hashing",
            "ASSISTANT_LOG_LEVEL": "WARNING",
            "ASSISTANT_SERVER__TRUST_FORWARDED": "true",  # tests give each citizen an address of its own
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AppProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        return self

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f}s:\n{self.log_tail()}")

    def kill9(self) -> None:
        """SIGKILL: no shutdown hook runs, in-flight requests die with the process."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_all(apps: list[AppProcess], timeout_s: float = 120.0) -> None:
    """Start processes in parallel (start-up is dominated by loading the Korean tokenizer)."""
    for a in apps:
        a.start()
    try:
        for a in apps:
            a.wait_ready(timeout_s)
    except BaseException:
        for a in apps:
            a.stop()
        raise


@contextlib.contextmanager
def running(apps: list[AppProcess]) -> Iterator[list[AppProcess]]:
    start_all(apps)
    try:
        yield apps
    finally:
        for a in apps:
            a.stop()


class Citizen:
    """One chat user: a session id and an address of its own (X-Forwarded-For), any worker per turn."""

    def __init__(self, ip: str) -> None:
        self.ip = ip
        self.session_id: str | None = None

    def say(self, app: AppProcess, message: str, timeout_s: float = 15.0) -> httpx.Response:
        body: dict[str, Any] = {"message": message}
        if self.session_id:
            body["session_id"] = self.session_id
        r = httpx.post(f"{app.url}/api/chat", json=body, timeout=timeout_s,
                       headers={"x-forwarded-for": self.ip})
        if r.status_code == 200:
            self.session_id = r.json()["session_id"]
        return r


# --- private servers the fault tests may stop -----------------------------------------------------
def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def postgres_available() -> str:
    """Empty string when a private PostgreSQL can be run here, else the reason it cannot."""
    if not (_pg_bin("initdb") and _pg_bin("pg_ctl")):
        return "PostgreSQL server binaries (initdb, pg_ctl) not installed"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run PostgreSQL as"
        if not shutil.which("runuser"):
            return "running as root and 'runuser' is missing"
    return ""


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on a free port (trust auth, fsync off, commits synchronous), for
    stop/start tests."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="nyj-pg-"))
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout_s: float = 60.0) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=timeout_s)

    def init(self) -> PrivatePostgres:
        initdb = _pg_bin("initdb")
        assert initdb
        self._run(initdb, "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8", "--locale=C")
        return self

    def start(self) -> None:
        pg_ctl = _pg_bin("pg_ctl")
        assert pg_ctl
        # fsync off is safe for a crash of the server (the OS keeps the writes), but NOT
        # synchronous_commit=off: an immediate stop would then lose the last ~0.6 s of acknowledged
        # commits (once, the migrations that created the tables), which is exactly what these tests check
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off")
        self._run(pg_ctl, "-D", str(self.dir / "data"), "-o", opts, "-l", str(self.dir / "server.log"),
                  "-w", "-t", "30", "start")

    def stop(self, mode: str = "immediate") -> None:
        pg_ctl = _pg_bin("pg_ctl")
        assert pg_ctl
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(pg_ctl, "-D", str(self.dir / "data"), "-m", mode, "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """A throw-away redis-server on a free port (no persistence), for kill/restart tests."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
