"""The ``wsocket`` command: ``run``, ``new`` and ``version``.

Also reachable as ``python -m wsocket``. ``main()`` returns the exit status:
0 on success, 1 when the server cannot start (port in use, host not of this
machine), 2 for a bad command line (unknown option, no such module or
attribute). Every error is one line on stderr that starts with ``wsocket:``.

Theory of operation for ``wsocket run``:

- the first process binds the listening socket
  (:func:`wsocket.server.bind_socket`), so that a bad host or a taken port is
  reported once, before anything else starts;
- one process: it imports the app and serves through :func:`wsocket.run`
  on that socket;
- ``--workers N``: it forks N children that share the socket; each imports
  the app, says on a pipe whether that worked, and serves through
  :func:`wsocket.run`. SIGTERM or SIGINT to the parent is passed on to every
  child, which closes its WebSockets with 1001 and exits; a child that dies
  while serving is replaced;
- ``--reload``: it watches the ``.py`` files under the app's folder and runs
  the server in a child process (``python -m wsocket run ... --fd N``) that
  inherits the socket, so clients never find the port closed; an edit
  stops that child and starts a new one.

The app is imported only in the process that serves it, after gevent's
monkey-patching when ``--server gevent`` asks for it.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import platform
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ["main"]

_PROG = "wsocket"
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

#: Exit status for a bad command line, as argparse uses.
_USAGE = 2

#: The reloader's bounds: how often it looks, and how many files at most.
_RELOAD_INTERVAL = 0.5
_RELOAD_MAX_FILES = 10_000
#: Folders the reloader never looks into.
_RELOAD_SKIP = frozenset(
    ("__pycache__", "node_modules", "site-packages", "build", "dist")
)

#: How long a worker may take to import the app and report.
_START_TIMEOUT = 60.0


class _Fail(Exception):
    """An error for the user: printed as one line, then exit with ``status``."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse, with errors on one line instead of the usage block."""

    def error(self, message: str) -> Any:
        raise _Fail(f"{self.prog}: {message} (see '{self.prog} --help')", _USAGE)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port {text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not between 0 and 65535")
    return port


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def _parser() -> _Parser:
    parser = _Parser(
        prog=_PROG,
        description="Serve WSGI apps with WebSockets, and start new projects.",
    )
    parser.add_argument(
        "--version", action="store_true", help="print what 'wsocket version' prints"
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser
    )

    run = commands.add_parser(
        "run",
        help="serve a WSGI app",
        description=(
            "Serve the WSGI app named by MODULE:APP (as in 'myproject.web:app', "
            "'app:create_app()', or 'app' for its 'app' or 'application') with "
            "wsocket's own server. The WebSocket middleware is applied when the "
            "app lacks it."
        ),
    )
    run.add_argument("app", metavar="MODULE:APP", help="the app to serve")
    run.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    run.add_argument(
        "--port", type=_port, default=8000, help="port to bind; 0 picks one (8000)"
    )
    run.add_argument(
        "--server",
        choices=("auto", "gevent", "threading"),
        default="auto",
        help=(
            "gevent: monkey-patch with gevent before importing the app, then "
            "serve on greenlets; threading: a thread per connection; auto "
            "(default): gevent if the app module itself monkey-patched, else "
            "threads"
        ),
    )
    run.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="processes serving the one socket (1)",
    )
    run.add_argument(
        "--reload",
        action="store_true",
        help="restart when a .py file under the app's folder changes",
    )
    run.add_argument(
        "--log-level",
        choices=_LOG_LEVELS,
        default="info",
        help="info logs each request; warning and above also hide the start-up line",
    )
    run.add_argument(
        "--grace",
        type=float,
        default=5.0,
        help="seconds open connections get to finish at stop (5)",
    )
    # The reloader hands its socket to the server process it starts.
    run.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)

    new = commands.add_parser(
        "new",
        help="write a small working project",
        description=(
            "Write the project NAME in a new folder: an app with an HTTP route, a "
            "WebSocket route and events with a room, a page using the JavaScript "
            "client, tests, and a README."
        ),
    )
    new.add_argument("name", metavar="NAME", help="the folder to create")

    commands.add_parser(
        "version",
        help="print versions, server modes and the masking implementation",
        description="Print versions, server modes and the masking implementation.",
    )
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``wsocket`` command with ``argv`` (``sys.argv[1:]`` by default).

    Returns:
        The exit status.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    try:
        args = parser.parse_args(args_list)
        if args.version or args.command == "version":
            print(_version_text())
            return 0
        if args.command == "run":
            return _run(args)
        if args.command == "new":
            return _new(args.name)
        parser.print_help()
        return _USAGE
    except _Fail as fail:
        print(
            f"{_PROG}: {fail}" if not str(fail).startswith(_PROG) else fail,
            file=sys.stderr,
        )
        return fail.status
    except KeyboardInterrupt:
        return 130


# -- version ----------------------------------------------------------------------


def _version_text() -> str:
    import wsocket
    from wsocket import speedups

    modes = ["threading"]
    try:
        import gevent
    except ImportError:
        gevent_line = "gevent not installed"
    else:
        modes.append("gevent")
        gevent_line = f"gevent {gevent.__version__}"
    accelerator = (
        "C accelerator (wsocket._speedups)"
        if speedups.ACCELERATED
        else "pure Python (the C accelerator is not built)"
    )
    return "\n".join(
        [
            f"wsocket {wsocket.__version__}",
            f"Python {platform.python_version()} "
            f"({platform.python_implementation()}, {sys.platform})",
            f"server modes: {', '.join(modes)} ({gevent_line})",
            f"masking: {accelerator}",
        ]
    )


# -- new --------------------------------------------------------------------------


def _new(name: str) -> int:
    from importlib import resources

    target = Path(name)
    project = target.name
    if not project.isidentifier() or project.startswith("_"):
        raise _Fail(
            f"{name!r} is not a usable project name: use letters, digits and "
            "underscores, starting with a letter (like 'chat_demo')",
            _USAGE,
        )
    if target.exists():
        raise _Fail(f"{str(target)!r} exists already: pick another name", _USAGE)
    root = resources.files("wsocket") / "templates" / "new"
    written: List[Path] = []

    def copy(folder: Any, dest: Path) -> None:
        dest.mkdir(parents=True)
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.is_dir():
                if entry.name != "__pycache__":
                    copy(entry, dest / entry.name)
                continue
            out_name = entry.name
            if out_name.endswith(".tmpl"):
                out_name = out_name[: -len(".tmpl")]
            text = entry.read_text(encoding="utf-8").replace("{{ name }}", project)
            path = dest / out_name
            path.write_text(text, encoding="utf-8")
            written.append(path)

    try:
        copy(root, target)
    except OSError as exc:
        raise _Fail(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None
    for path in written:
        print(f"  wrote {path}")
    print(
        f"\nNext:\n  cd {target}\n  pytest\n  wsocket run app:app --reload\n"
        "and open http://127.0.0.1:8000/"
    )
    return 0


# -- run --------------------------------------------------------------------------


def _listen(args: argparse.Namespace) -> socket.socket:
    from .server import PortInUse, bind_socket

    if args.fd is not None:
        try:
            sock = socket.socket(fileno=args.fd)
        except OSError as exc:
            raise _Fail(f"--fd {args.fd} is not a socket: {exc.strerror}") from None
        return sock
    try:
        return bind_socket(args.host, args.port)
    except PortInUse as exc:
        raise _Fail(str(exc)) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
            hint = (
                " (give an address of this machine: 127.0.0.1, 0.0.0.0 for "
                "every interface, or ::1)"
            )
        elif exc.errno == errno.EACCES:
            hint = " (ports below 1024 need privileges: pick a higher port)"
        else:
            hint = ""
        raise _Fail(
            f"cannot listen on host {args.host!r} port {args.port}: {reason}{hint}"
        ) from None


def _run(args: argparse.Namespace) -> int:
    if args.server == "gevent":
        try:
            import gevent  # noqa: F401
        except ImportError:
            raise _Fail(
                "--server gevent needs gevent: pip install 'wsocket[gevent]'", _USAGE
            ) from None
    if args.grace < 0:
        raise _Fail("--grace must not be negative", _USAGE)
    if args.workers > 1 and not hasattr(os, "fork"):
        raise _Fail(
            f"--workers needs os.fork, which {sys.platform} does not have: "
            "run one process per port behind a proxy instead",
            _USAGE,
        )
    listener = _listen(args)
    try:
        if args.reload:
            return _Reloader(args, listener).run()
        if args.workers > 1:
            return _Supervisor(args, listener).run()
        return _serve(args, listener, None)
    finally:
        listener.close()


def _serve(
    args: argparse.Namespace, listener: socket.socket, report: Optional[int]
) -> int:
    """Import the app and serve it on ``listener`` until stopped.

    ``report`` is a pipe to the supervisor, told ``ok`` or the error once
    the app is imported.
    """
    if args.server == "gevent":
        from gevent import monkey

        # Before the app is imported, so that its modules see the patched
        # standard library.
        monkey.patch_all()
    from .server import AppNotFound, import_app, run

    level = getattr(logging, args.log_level.upper())
    logging.getLogger("wsocket").setLevel(level)
    try:
        app = import_app(args.app)
    except AppNotFound as exc:
        if report is not None:
            _tell(report, f"error {exc}")
        raise _Fail(str(exc), _USAGE) from None
    if report is not None:
        _tell(report, "ok")
    run(
        app,
        server=args.server,
        grace=args.grace,
        quiet=level > logging.INFO,
        sock=listener,
    )
    return 0


def _tell(fd: int, message: str) -> None:
    # One write, well under PIPE_BUF, so reports from workers never mix.
    data = f"{os.getpid()} {message}".replace("\n", " ")[:400] + "\n"
    os.write(fd, data.encode("utf-8", "replace"))


class _Supervisor:
    """The parent of ``--workers N``: fork, watch, pass signals on, replace."""

    def __init__(self, args: argparse.Namespace, listener: socket.socket) -> None:
        self.args = args
        self.listener = listener
        self.workers: Dict[int, bool] = {}  # pid -> reported ready
        self.signals: List[int] = []  # SIGTERM or SIGINT received

    def run(self) -> int:
        report_r, report_w = os.pipe()
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        os.set_blocking(wake_r, False)
        os.set_blocking(report_r, False)
        previous_wakeup = signal.set_wakeup_fd(wake_w)
        signals = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in signals}
        try:
            for _ in range(self.args.workers):
                self._spawn(report_r, report_w)
            return self._watch(report_r, report_w, wake_r)
        finally:
            self._stop_all()
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for fd in (report_r, report_w, wake_r, wake_w):
                os.close(fd)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum != signal.SIGCHLD:
            self.signals.append(signum)

    def _spawn(self, report_r: int, report_w: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            self.workers[pid] = False
            return
        # The child: serve, then leave without running the parent's cleanup.
        status = 1
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            os.close(report_r)
            status = _serve(self.args, self.listener, report_w)
        except _Fail:
            status = _USAGE  # the supervisor prints the reason once
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        except KeyboardInterrupt:
            status = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(status)

    def _watch(self, report_r: int, report_w: int, wake_r: int) -> int:
        started = time.monotonic()
        announced = False
        while not self.signals:
            try:
                select.select([report_r, wake_r], [], [], 1.0)
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                pass
            _drain(wake_r)
            for line in _drain(report_r).decode("utf-8", "replace").splitlines():
                pid_text, _, message = line.partition(" ")
                if message.startswith("error "):
                    raise _Fail(message[len("error ") :], _USAGE)
                if message == "ok" and pid_text.isdigit():
                    self.workers[int(pid_text)] = True
            for pid, status in self._reap():
                ready = self.workers.pop(pid, False)
                if self.signals:
                    continue
                if not ready:
                    raise _Fail(
                        f"worker {pid} {_describe(status)} while starting; "
                        "see its output above"
                    )
                print(
                    f"wsocket: worker {pid} {_describe(status)}; starting another",
                    file=sys.stderr,
                    flush=True,
                )
                self._spawn(report_r, report_w)
            if not announced and self.workers and all(self.workers.values()):
                announced = True
                pids = ", ".join(str(pid) for pid in sorted(self.workers))
                print(
                    f"wsocket: {len(self.workers)} workers serving (pids {pids})",
                    file=sys.stderr,
                    flush=True,
                )
            if not announced and time.monotonic() - started > _START_TIMEOUT:
                raise _Fail(f"the workers did not start in {_START_TIMEOUT:.0f}s")
        return 0

    def _reap(self) -> List[Tuple[int, int]]:
        done = []
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            done.append((pid, status))
        return done

    def _stop_all(self) -> None:
        """SIGTERM every worker, wait for them, SIGKILL what is left."""
        for pid in self.workers:
            _kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.args.grace + 5.0
        while self.workers and time.monotonic() < deadline:
            for pid, _ in self._reap():
                self.workers.pop(pid, None)
            if self.workers:
                time.sleep(0.02)
        for pid in list(self.workers):
            _kill(pid, signal.SIGKILL)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:  # pragma: no cover
                pass
            self.workers.pop(pid, None)


def _drain(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by signal {os.WTERMSIG(status)}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


class _Reloader:
    """``--reload``: serve in a child process, start a new one on each edit."""

    def __init__(self, args: argparse.Namespace, listener: socket.socket) -> None:
        self.args = args
        self.listener = listener
        self.folder = _app_folder(args.app)
        self.stopping = False
        self.warned = False

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def _command(self) -> List[str]:
        args = self.args
        command = [
            sys.executable, "-m", "wsocket", "run", args.app,
            "--fd", str(self.listener.fileno()),
            "--server", args.server,
            "--workers", str(args.workers),
            "--log-level", args.log_level,
            "--grace", str(args.grace),
        ]  # fmt: skip
        return command

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self._command(), pass_fds=(self.listener.fileno(),))

    def run(self) -> int:
        signals = (signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in signals}
        child: Optional[subprocess.Popen[bytes]] = None
        try:
            snapshot = self._snapshot()
            child = self._start()
            first = True
            while not self.stopping:
                try:
                    status = child.wait(_RELOAD_INTERVAL) if child else None
                except subprocess.TimeoutExpired:
                    status = None
                if child is not None and status is not None and not self.stopping:
                    if first and status == _USAGE:
                        return _USAGE  # the child said why, once
                    print(
                        f"wsocket: the server exited with status {status}; "
                        "waiting for a change to start it again",
                        file=sys.stderr,
                        flush=True,
                    )
                    child = None
                if child is None:
                    time.sleep(_RELOAD_INTERVAL)
                changed = self._changed(snapshot)
                if changed is None:
                    continue
                path, snapshot = changed
                first = False
                print(
                    f"wsocket: {path} changed ({len(snapshot)} .py files watched "
                    f"under {self.folder}); restarting",
                    file=sys.stderr,
                    flush=True,
                )
                if child is not None:
                    self._stop(child)
                child = self._start()
            return 0
        finally:
            if child is not None:
                self._stop(child)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, child: subprocess.Popen[bytes]) -> None:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(self.args.grace + 5.0)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def _snapshot(self) -> Dict[str, int]:
        found: Dict[str, int] = {}
        for top, dirs, files in os.walk(self.folder):
            dirs[:] = [
                d
                for d in dirs
                if not d.startswith(".")
                and d not in _RELOAD_SKIP
                and not os.path.exists(os.path.join(top, d, "pyvenv.cfg"))
            ]
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(top, name)
                try:
                    found[path] = os.stat(path).st_mtime_ns
                except OSError:
                    continue
                if len(found) >= _RELOAD_MAX_FILES:
                    if not self.warned:
                        self.warned = True
                        print(
                            f"wsocket: more than {_RELOAD_MAX_FILES} .py files under "
                            f"{self.folder}; watching the first ones only",
                            file=sys.stderr,
                        )
                    return found
        return found

    def _changed(self, before: Dict[str, int]) -> Optional[Tuple[str, Dict[str, int]]]:
        now = self._snapshot()
        if now == before:
            return None
        for path in sorted(set(now) | set(before)):
            if now.get(path) != before.get(path):
                return path, now
        return None  # pragma: no cover - the dicts differ somewhere


def _app_folder(spec: str) -> str:
    """The folder of the app's module or package, found without importing it."""
    import importlib.util

    module = spec.partition(":")[0]
    top = module.split(".")[0]
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        found = importlib.util.find_spec(top) if top.isidentifier() else None
    except (ImportError, ValueError):
        found = None
    if found is not None and found.submodule_search_locations:
        return str(list(found.submodule_search_locations)[0])
    if found is not None and found.origin and os.path.isfile(found.origin):
        return os.path.dirname(os.path.abspath(found.origin))
    return cwd
