"""The Chromium a browser session drives: how it starts, one thread that owns it, and a kill that
leaves nothing.

How it starts (:func:`chromium_args`, :func:`make_profile_dir`): with lma's egress proxy
(:mod:`lma.tools.browser_proxy`) as its only way out and every other path closed: loopback goes
through the proxy too, Chromium resolves no host name itself, QUIC is off, WebRTC may not send UDP
outside the proxy, and the browser's own services (component and model updates, autofill and
password crowdsourcing, safe browsing, sync, domain reliability, metrics, prediction) are off, so an
idle session makes no connection at all.

Two facts shape this module. Playwright's sync API binds its objects to the thread that created
them, while lma's runner calls env methods from short-lived threads (to enforce step timeouts):
so every Playwright call of a session runs on one :class:`Worker` thread and callers wait for it.
And a browser must never outlive its session, whatever ended it (``close()``, an exception,
Ctrl-C): Playwright starts Chromium in a process group of its own, so :func:`find_browser` finds
the browser process by a marker switch on its command line and :func:`kill_group` kills the group
with SIGKILL. An ``atexit`` hook does this (and removes the session's temporary profile) for
every session still open when Python exits.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import shutil
import signal
import tempfile
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lma.errors import LmaError
from lma.tools.browser_safety import LOOPBACK

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
# Profile preferences: no preconnect, prefetch or prerender (they open connections before any
# request exists); WebRTC over the proxy only; no autofill or password-manager server queries.
PREFERENCES = {
    "net": {"network_prediction_options": 2},
    "webrtc": {"ip_handling_policy": "disable_non_proxied_udp", "multiple_routes_enabled": False,
               "nonproxied_udp_enabled": False},
    "autofill": {"profile_enabled": False, "credit_card_enabled": False},
    "credentials_enable_service": False,
    "profile": {"password_manager_enabled": False},
    "safebrowsing": {"enabled": False},
    "search": {"suggest_enabled": False},
    "alternate_error_pages": {"enabled": False},
    "browser": {"enable_spellchecking": False},
    "translate": {"enabled": False},
}


def chromium_args(proxy_port: int, models_dir: str) -> list[str]:
    """Chromium's switches: the proxy on ``proxy_port`` as its only way out, its own traffic off.

    ``models_dir`` is a folder with no on-device model manifest: pointing Chromium at it is the one
    switch found that stops its start-up request for one (the component updater's on-demand
    install ignores ``--disable-component-update``). Chromium honours only the last
    ``--disable-features``, and Playwright passes one, so nothing here relies on a feature flag.
    """
    return [
        "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-smooth-scrolling",
        "--disable-partial-raster",  # re-raster whole tiles: a screenshot depends on the page, not on
        # which parts were repainted before it (partial raster left antialiased edges 1 level off)
        f"--proxy-server=http://127.0.0.1:{proxy_port}",
        "--proxy-bypass-list=<-loopback>",  # without it Chromium goes to loopback directly
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # no DNS lookups of its own
        "--disable-quic",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--dns-prefetch-disable",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-domain-reliability", "--disable-client-side-phishing-detection",
        "--safebrowsing-disable-auto-update", "--disable-breakpad", "--metrics-recording-only",
        "--no-pings", "--disable-default-apps", "--disable-extensions",
        f"--optimization-guide-manifest-override={models_dir}",
    ]


@dataclass(frozen=True)
class BrowserConfig:
    """How a session's browser is started and how long it may take (seconds)."""

    executable_path: str = field(default_factory=lambda: os.environ.get("LMA_CHROMIUM", CHROMIUM))
    headless: bool = True
    viewport: tuple[int, int] = (800, 600)
    allow: tuple[str, ...] = LOOPBACK  # see lma.tools.browser_safety
    action_timeout: float = 5.0
    navigation_timeout: float = 15.0
    max_elements: int = 200
    max_text: int = 4000
    screenshot: bool = True
    permissions: tuple[str, ...] = ()  # granted to every page, e.g. "clipboard-read"


_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()


class BrowserError(LmaError):
    """The browser cannot be used: it failed to start, was closed, or stopped answering."""


class Worker:
    """A daemon thread that runs submitted functions one at a time, in order.

    ``call(fn, timeout)`` returns ``fn()``'s value or raises its exception in the caller; a call
    from the worker thread itself runs inline. The thread is a daemon so that a stuck browser
    call can never keep Python from exiting (the ``atexit`` kill then cleans up).
    """

    def __init__(self, name: str):
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, box, done = job
            try:
                box["value"] = fn()
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc
            done.set()

    def call(self, fn: Callable[[], T], timeout: float | None) -> T:
        if threading.current_thread() is self._thread:
            return fn()
        if not self._thread.is_alive():
            raise BrowserError("the browser is closed")
        box: dict[str, Any] = {}
        done = threading.Event()
        self._jobs.put((fn, box, done))
        if not done.wait(timeout):
            raise BrowserError(f"the browser did not answer within {timeout:g}s")
        if "error" in box:
            raise box["error"]
        return box["value"]

    def stop(self) -> None:
        self._jobs.put(None)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def find_browser(marker: str) -> int | None:
    """The pid of the Chromium browser process whose command line holds ``marker``, if any."""
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and needle in _cmdline(int(entry.name)):
            return int(entry.name)
    return None


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def kill_group(pid: int | None) -> None:
    """SIGKILL the process group led by ``pid`` (or just ``pid`` when it leads none)."""
    if pid is None:
        return
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def make_profile_dir() -> str:
    """A fresh Chromium profile folder, named after this process, with :data:`PREFERENCES`.

    Folders left by processes that no longer exist (killed with SIGKILL, so no ``atexit``) are
    removed first.
    """
    root = Path(tempfile.gettempdir())
    for old in root.glob("lma-browser-*-*"):
        owner = old.name.split("-")[2]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"lma-browser-{os.getpid()}-"))
    (folder / "Default").mkdir()
    (folder / "Default" / "Preferences").write_text(json.dumps(PREFERENCES))
    return str(folder)


def launch(playwright: Any, config: BrowserConfig, profile_dir: str, marker: str, proxy_port: int) -> Any:
    """Start Chromium with a persistent context on ``profile_dir``, its traffic through the proxy
    on ``proxy_port``; ``marker`` tags its command line."""
    width, height = config.viewport
    args = [*chromium_args(proxy_port, str(Path(profile_dir) / "no-models")), marker]
    return playwright.chromium.launch_persistent_context(
        profile_dir, executable_path=config.executable_path, headless=config.headless,
        args=args, handle_sigint=True, permissions=list(config.permissions),
        viewport={"width": width, "height": height}, accept_downloads=False,
        service_workers="block", device_scale_factor=1,
    )


def track(session: Any) -> None:
    """Kill ``session``'s browser at exit if it is still open then."""
    _LIVE.add(session)


def untrack(session: Any) -> None:
    _LIVE.discard(session)


@atexit.register
def _kill_all() -> None:
    for session in list(_LIVE):
        kill_group(getattr(session, "pid", None))
        if getattr(session, "profile_dir", None):
            shutil.rmtree(session.profile_dir, ignore_errors=True)
