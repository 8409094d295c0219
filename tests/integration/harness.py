"""Start real servers as subprocesses on 127.0.0.1 ephemeral ports.

Every process is started in its own session, so that stopping it reaches its
workers too, and is always stopped by PID (SIGTERM, then SIGKILL after a
deadline). Readiness is a TCP connect that succeeds, polled with a deadline.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = sys.executable
BIN = os.path.dirname(sys.executable)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate, timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _can_connect(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def children(pid: int) -> List[int]:
    """PIDs of every descendant of ``pid``."""
    found: List[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                continue
            found.extend(kids)
            todo.extend(kids)
    return found


def socket_fds(pid: int) -> int:
    """Count the open sockets of ``pid``."""
    count = 0
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for name in names:
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


class ServerProcess:
    """A server subprocess; use as a context manager."""

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        *,
        cwd: str = ROOT,
        env: Optional[Dict[str, str]] = None,
        ready_timeout: float = 30.0,
    ) -> None:
        self.argv = list(argv)
        self.port = port
        self.cwd = cwd
        self.env = dict(
            os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1", **(env or {})
        )
        self.ready_timeout = ready_timeout
        self.logfile = tempfile.NamedTemporaryFile(
            prefix="wsocket-server-", suffix=".log", delete=False
        )
        self.proc: Optional[subprocess.Popen] = None
        self.name = ""
        self.keepalive = True
        self.early_frames = True
        self.concurrent = True

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=self.logfile,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not wait_for(
            lambda: self.proc.poll() is not None or _can_connect(self.port),
            self.ready_timeout,
        ):
            self.stop()
            raise RuntimeError(
                f"server not ready in {self.ready_timeout}s:\n{self.log()}"
            )
        if self.proc.poll() is not None:
            log = self.log()
            self.stop()
            raise RuntimeError(f"server exited with {self.proc.returncode}:\n{log}")
        return self

    def log(self) -> str:
        with open(self.logfile.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def pids(self) -> List[int]:
        return [self.pid] + children(self.pid)

    def sockets(self) -> int:
        """Open sockets across the server's process tree."""
        return sum(socket_fds(pid) for pid in self.pids())

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> Optional[int]:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        if self.proc is None:
            return None
        pids = self.pids()
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except OSError:
                pass
            if self.wait(timeout) is None:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.wait(5)
        for pid in pids[1:]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.logfile.close()
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        try:
            os.unlink(self.logfile.name)
        except OSError:
            pass


class ServerConfig:
    """How to start one server with the matrix app.

    Args:
        name: test id, e.g. ``"gunicorn-gevent"``.
        argv: builds the command line from the port.
        websocket: ``False`` for servers that cannot hand over a connection:
            an upgrade then gets a 501 naming the server.
        env: extra environment variables.
        cwd: working directory (the repository root by default).
        requires: module names that must be importable, else the config is
            skipped with a reason.
        keepalive: ``False`` for servers that close the connection after
            every HTTP response (gunicorn's sync worker).
        early_frames: ``False`` for servers that cannot pass on frames a
            client sent before the 101 arrived (uWSGI keeps them in a buffer
            Python cannot reach; RFC 6455 4.1 says clients must wait).
        concurrent: ``False`` for servers that serve one connection at a
            time (werkzeug with ``threaded=False``).
    """

    def __init__(
        self,
        name: str,
        argv,
        *,
        websocket: bool = True,
        env: Optional[Dict[str, str]] = None,
        cwd: str = ROOT,
        requires: Sequence[str] = (),
        keepalive: bool = True,
        early_frames: bool = True,
        concurrent: bool = True,
    ) -> None:
        self.name = name
        self.concurrent = concurrent
        self.keepalive = keepalive
        self.early_frames = early_frames
        self.argv = argv
        self.websocket = websocket
        self.env = env
        self.cwd = cwd
        self.requires = tuple(requires)

    def missing(self) -> List[str]:
        import importlib.util

        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    def process(self) -> ServerProcess:
        port = free_port()
        proc = ServerProcess(self.argv(port), port, cwd=self.cwd, env=self.env)
        proc.name = self.name
        proc.keepalive = self.keepalive
        proc.early_frames = self.early_frames
        proc.concurrent = self.concurrent
        return proc

    def __repr__(self) -> str:
        return self.name


REDIS_SERVER = "/usr/bin/redis-server"


def redis_missing() -> Optional[str]:
    """Why the Redis tests cannot run here, or ``None`` when they can."""
    import shutil

    if shutil.which("redis-server") is None and not os.path.exists(REDIS_SERVER):
        return "needs redis-server (apt-get install redis-server)"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "needs the redis package (pip install 'wsocket[redis]')"
    return None


class RedisServer:
    """A throw-away ``redis-server`` on a 127.0.0.1 port, without persistence.

    ``tls=(certfile, keyfile)`` serves TLS only (``rediss://``); extra
    ``options`` go on the command line. ``kill()`` ends it with SIGKILL and
    ``start()`` brings a new one up on the same port, as a crash and a
    restart would.
    """

    def __init__(
        self,
        port: Optional[int] = None,
        *options: str,
        tls: Optional[Sequence[str]] = None,
    ) -> None:
        import shutil

        self.options = list(options)
        self.tls = tls
        self.binary = shutil.which("redis-server") or REDIS_SERVER
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="wsocket-redis-")
        self.proc: Optional[ServerProcess] = None

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        if self.tls:
            certfile, keyfile = self.tls
            listen = [
                "--port", "0",
                "--tls-port", str(self.port),
                "--tls-cert-file", certfile,
                "--tls-key-file", keyfile,
                "--tls-auth-clients", "no",
            ]  # fmt: skip
        else:
            listen = ["--port", str(self.port)]
        argv = [
            self.binary,
            *listen,
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self.dir,
            *self.options,
        ]  # fmt: skip
        self.proc = ServerProcess(argv, self.port, ready_timeout=10.0).start()
        return self

    def kill(self) -> None:
        """SIGKILL the server and wait until it is gone."""
        assert self.proc is not None
        self.proc.signal(signal.SIGKILL)
        self.proc.wait(5)
        self.proc.stop()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            try:
                os.unlink(self.proc.logfile.name)
            except OSError:
                pass
            self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)
