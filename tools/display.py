"""A private virtual X display (Xvfb) whose processes cannot outlive their owner.

:class:`VirtualDisplay` starts ``Xvfb`` on a free display number (``-displayfd``: the server picks
the number and reports it once it accepts connections, so there is no race for a number and no
polling), with its own MIT-MAGIC-COOKIE (other users' processes cannot connect, and clients work
without a ``~/.Xauthority``). :meth:`VirtualDisplay.spawn` starts applications on it.

No leftovers, whatever happens to the owner. Xvfb and every spawned application join one process
group, led by a tiny *guardian* process that blocks reading a pipe whose only writer is the owner.
``stop()`` (also run by ``with``, by ``atexit`` and on garbage collection) terminates the group in
order; if the owner dies instead (Ctrl-C, ``kill -9``, a crash) the kernel closes the pipe, the
guardian reads end-of-file and kills the whole group. The group is not the terminal's foreground
group, so Ctrl-C reaches only the owner, which then shuts down in order.
``prctl(PR_SET_PDEATHSIG)`` is deliberately not used: it fires when the *thread* that spawned the
child exits, and lma's runner makes and steps envs on short-lived worker threads.
"""

from __future__ import annotations

import atexit
import os
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

from lma.errors import LmaError

# Runs in the guardian: ignore the signals meant for the owner, wait for the owner's pipe to close,
# then end the whole process group (Xvfb first gets SIGTERM so it removes its lock files) and the
# display's temporary folder.
_GUARDIAN = """
import os, shutil, signal, sys, time
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
sys.stdin.buffer.read()
os.killpg(0, signal.SIGTERM)
time.sleep(0.5)
shutil.rmtree(sys.argv[1], ignore_errors=True)
os.killpg(0, signal.SIGKILL)
"""
_FAMILY_LOCAL, _FAMILY_WILD = 256, 65535
_LIVE: weakref.WeakSet[VirtualDisplay] = weakref.WeakSet()


class DisplayError(LmaError):
    """Xvfb is missing, failed to start, or an application could not be started on it."""


def _xauth_entry(family: int, address: bytes, number: str, cookie: bytes) -> bytes:
    fields = [address, number.encode(), b"MIT-MAGIC-COOKIE-1", cookie]
    return struct.pack(">H", family) + b"".join(struct.pack(">H", len(f)) + f for f in fields)


class VirtualDisplay:
    """One Xvfb server and the applications started on it; see the module docstring.

    >>> with VirtualDisplay(size=(800, 600)) as display:          # doctest: +SKIP
    ...     app = display.spawn(["xclock"])
    """

    def __init__(self, size: tuple[int, int] = (1024, 768), *, depth: int = 24, start_timeout: float = 10.0):
        self.size, self.depth, self.start_timeout = size, depth, start_timeout
        self.name = ""  # ":N" once started
        self.xauthority = ""
        self._dir: str | None = None
        self._guardian: subprocess.Popen[bytes] | None = None
        self._close_pipe: weakref.finalize | None = None  # closing the pipe ends the group
        self._xvfb: subprocess.Popen[bytes] | None = None
        self._children: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> VirtualDisplay:
        """Start Xvfb and return once it accepts connections; raise :class:`DisplayError` if not."""
        if self._xvfb is not None:
            return self
        xvfb = shutil.which("Xvfb")
        if xvfb is None:
            raise DisplayError("Xvfb is not installed (Debian/Ubuntu: apt-get install xvfb); GUI envs need it")
        self._dir = tempfile.mkdtemp(prefix="lma-display-")
        read_end, write_end = os.pipe()
        # Also closed when this object is garbage-collected without stop(): the guardian cleans up.
        self._close_pipe = weakref.finalize(self, os.close, write_end)
        try:
            self._guardian = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _GUARDIAN, self._dir],
                stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, process_group=0,
            )
        finally:
            os.close(read_end)
        _LIVE.add(self)
        try:
            self._start_xvfb(xvfb)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_xvfb(self, xvfb: str) -> None:
        assert self._dir is not None and self._guardian is not None
        # Xvfb loads every cookie in its -auth file whatever display number it is filed under;
        # clients look theirs up by number, so the file is rewritten once the number is known.
        cookie = secrets.token_bytes(16)
        auth = Path(self._dir, "Xauthority")
        auth.write_bytes(_xauth_entry(_FAMILY_WILD, b"", "0", cookie))
        auth.chmod(0o600)
        log_path = Path(self._dir, "xvfb.log")
        fd_read, fd_write = os.pipe()
        width, height = self.size
        argv = [xvfb, "-displayfd", str(fd_write), "-screen", "0", f"{width}x{height}x{self.depth}",
                "-nolisten", "tcp", "-noreset", "-auth", str(auth)]
        try:
            with open(log_path, "wb") as log:
                self._xvfb = subprocess.Popen(argv, pass_fds=(fd_write,), stdin=subprocess.DEVNULL, stdout=log,
                                              stderr=log, process_group=self._guardian.pid)
            os.close(fd_write)
            fd_write = -1
            number = self._read_display_number(fd_read, log_path)
        finally:
            os.close(fd_read)
            if fd_write >= 0:
                os.close(fd_write)
        host = socket.gethostname().encode()
        auth.write_bytes(_xauth_entry(_FAMILY_LOCAL, host, number, cookie)
                         + _xauth_entry(_FAMILY_WILD, b"", number, cookie))
        self.name, self.xauthority = f":{number}", str(auth)

    def _read_display_number(self, fd: int, log_path: Path) -> str:
        deadline = time.monotonic() + self.start_timeout
        data = b""
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise DisplayError(f"Xvfb did not start within {self.start_timeout:g}s")
            chunk = os.read(fd, 32)
            if not chunk:
                assert self._xvfb is not None
                code = self._xvfb.wait(timeout=5)
                # Xvfb's messages look like "(EE) \nFatal server error:\n(EE) Couldn't add screen 0(EE) ".
                lines = [ln.replace("(EE)", "").strip() for ln in log_path.read_text(errors="replace").splitlines()]
                lines = [ln for ln in lines if ln and ln != "Fatal server error:"]
                why = lines[-1] if lines else "no output"
                raise DisplayError(f"Xvfb failed to start (exit code {code}): {why}")
            data += chunk
        return data.decode().strip()

    @property
    def env(self) -> dict[str, str]:
        """The variables that point an X client at this display."""
        if not self.name:
            raise DisplayError("the virtual display is not running")
        return {"DISPLAY": self.name, "XAUTHORITY": self.xauthority}

    @property
    def tmpdir(self) -> Path:
        """A private folder removed with the display (also by the guardian): put per-run files here."""
        if self._dir is None:
            raise DisplayError("the virtual display is not running")
        return Path(self._dir)

    @property
    def running(self) -> bool:
        return self._xvfb is not None and self._xvfb.poll() is None

    @property
    def pgid(self) -> int | None:
        """The process group of Xvfb and the applications (the guardian's pid)."""
        return self._guardian.pid if self._guardian is not None else None

    def spawn(self, argv: Sequence[str], *, cwd: str | Path | None = None, log: str | Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start an application on this display, in its process group; output goes to ``log``.

        Its standard streams are never pipes (a GUI child blocked on a full pipe hangs the caller).
        """
        if not self.running:
            raise DisplayError("the virtual display is not running")
        assert self._guardian is not None
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
        try:
            proc = subprocess.Popen(list(argv), cwd=cwd, env={**os.environ, **(env or {}), **self.env},
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    process_group=self._guardian.pid)
        except OSError as exc:
            raise DisplayError(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
        finally:
            if log:
                out.close()
        self._children = [p for p in self._children if p.poll() is None] + [proc]
        return proc

    def stop(self) -> None:
        """End every process of the display (SIGTERM, then SIGKILL) and remove its files. Idempotent."""
        with self._lock:
            guardian, self._guardian = self._guardian, None
            if guardian is None:
                return
            _LIVE.discard(self)
            procs = [p for p in (*self._children, self._xvfb) if p is not None]
            _signal_group(guardian.pid, signal.SIGTERM)
            deadline = time.monotonic() + 2.0
            for proc in procs:
                try:
                    proc.wait(timeout=max(0.01, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            _signal_group(guardian.pid, signal.SIGKILL)
            if self._close_pipe is not None:
                self._close_pipe()
            for proc in (*procs, guardian):
                proc.wait()
            if self._dir:
                shutil.rmtree(self._dir, ignore_errors=True)
            self._xvfb, self._children, self._close_pipe, self._dir, self.name = None, [], None, None, ""

    def _forget(self) -> None:
        """In a forked child: drop the copy of the owner's pipe, never touch the owner's processes."""
        if self._close_pipe is not None:
            self._close_pipe()
        self._guardian, self._xvfb, self._children, self._close_pipe, self._dir = None, None, [], None, None

    def __enter__(self) -> VirtualDisplay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"on {self.name}" if self.running else "stopped"
        return f"<VirtualDisplay {self.size[0]}x{self.size[1]} {state}>"


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def find_display(name: str) -> VirtualDisplay | None:
    """The running display called ``name`` (":N") if this process started it, else None."""
    return next((d for d in list(_LIVE) if d.name == name and d.running), None)


def _stop_all() -> None:
    for display in list(_LIVE):
        display.stop()


def _forget_all() -> None:
    for display in list(_LIVE):
        display._forget()
    _LIVE.clear()


atexit.register(_stop_all)
os.register_at_fork(after_in_child=_forget_all)
