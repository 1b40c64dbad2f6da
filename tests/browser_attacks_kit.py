"""The browser attack harness: canaries, a logging DNS server, an attack site, and a runner.

Used by tests/test_browser_attacks.py (short idle check) and benchmarks/browser_attacks.py (two
minutes idle). It tests the browser the way a page would attack it, with lma's real configuration
and a real Chromium, inside the loopback-only network namespace the tests run in:

* canaries that record every TCP connection (and what it said) or UDP datagram: an HTTP server
  and a WebSocket server (each answers, so that a connection that gets through is not cut short),
  a raw TCP port and a UDP port, on other ports of 127.0.0.1, on 127.0.0.2 and on [::1];
* a logging DNS server on 127.0.0.1:53 that Chromium is pointed at: it is started in a mount
  namespace whose /etc/resolv.conf names that server (``executable_path`` is a wrapper), so a
  lookup Chromium made would be logged. A control lookup from that namespace proves the path;
* the attack site (the one allowed origin) serving each attack page from :mod:`browser_attacks`;
* :class:`Run`: for each attack, the agent's action (open the page, click, or goto a URL), a short
  wait, then a probe that the session still works, and the canaries' and the DNS log's counts.

The local-network permission is granted to pages, so that Chromium's own local-network check
cannot cut a connection after it was made and hide an escape.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import re
import socket
import stat
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from browser_attack_pages import ATTACKS, Attack, script_files

from lma.tools.browser import BrowserSession
from lma.tools.browser_process import CHROMIUM

CANARY_NAME = "canary.lma-test"


class TcpCanary:
    """Accepts connections on ``host``, records each (first bytes), answers with ``reply(data)``."""

    def __init__(self, host: str, reply: Any = None):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.authority = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.reply = reply
        self.hits: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        conn.settimeout(2)
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        self.hits.append(data or b"(connection, no data)")
        try:
            if self.reply is not None and data:
                conn.sendall(self.reply(data))
                time.sleep(0.5)
        except OSError:
            pass
        conn.close()


def http_reply(_: bytes) -> bytes:
    body = b"outside"
    return (b"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nContent-Type: text/html\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)) + body


def websocket_reply(data: bytes) -> bytes:
    key = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)", data)
    if not key:
        return http_reply(data)
    accept = base64.b64encode(hashlib.sha1(key.group(1) + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    return b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"


class UdpCanary:
    """Records every datagram sent to ``host`` (STUN, QUIC, WebTransport)."""

    def __init__(self, host: str):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.authority = f"{host}:{self.port}"
        self.hits: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, _ = self.sock.recvfrom(65536)
            except OSError:
                return
            self.hits.append(data)


class DnsLog:
    """A DNS server on 127.0.0.1:53 (UDP) that logs each queried name and answers NXDOMAIN."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        self.names: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                query, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            labels, i = [], 12
            while i < len(query) and query[i]:
                labels.append(query[i + 1: i + 1 + query[i]].decode("ascii", "replace"))
                i += 1 + query[i]
            self.names.append(".".join(labels).lower())
            answer = query[:2] + b"\x81\x83" + query[4:6] + b"\x00\x00\x00\x00\x00\x00" + query[12: i + 5]
            self.sock.sendto(answer, peer)


def resolver_namespace(folder: Path, chromium: str = CHROMIUM) -> tuple[str, list[str]]:
    """A Chromium wrapper that runs it with /etc/resolv.conf naming 127.0.0.1 (a private mount
    namespace), and the command that makes a control lookup in the same kind of namespace."""
    resolv = folder / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")
    inner = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
    wrapper = folder / "chromium"
    wrapper.write_text(f"#!/bin/sh\nexec unshare -m sh -c '{inner}' '{resolv}' '{chromium}' \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return str(wrapper), ["unshare", "-m", "sh", "-c", inner, str(resolv), "getent", "hosts", f"control.{CANARY_NAME}"]


class AttackSite:
    """The allowed origin: serves each attack page and the redirects, headers and scripts they use."""

    def __init__(self, fill: Any):
        self.fill = fill
        self.paths: list[str] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                site.answer(self)

            do_POST = do_HEAD = do_GET

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        path = handler.path
        self.paths.append(path)
        status, headers, body = self.route(path)
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        data = body.encode()
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Cache-Control", "no-store")
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)

    def route(self, path: str) -> tuple[int, list[tuple[str, str]], str]:
        html = [("Content-Type", "text/html; charset=utf-8")]
        parts = path.split("?")[0].strip("/").split("/")
        if parts[0] == "attack":
            attack = next(a for a in ATTACKS if a.name == parts[1])
            headers = html + [(k, self.fill(v)) for k, v in attack.headers]
            done = f"<script>function done() {{ fetch('/ran/{attack.name}') }}</script>"
            return 200, headers, f"<html><head><title>{attack.name}</title>{done}</head><body>{self.fill(attack.page)}</body></html>"
        if parts[0] == "r":  # /r/<status>/<token>: a redirect to a filled-in target
            return int(parts[1]), [("Location", self.fill("{{" + parts[2] + "}}") + "/redirected")], ""
        if parts[0] == "chain":  # /chain/<n>/<token>: n redirects on this origin, then the target
            n, target = int(parts[1]), parts[2]
            nxt = f"/chain/{n - 1}/{target}" if n > 1 else self.fill("{{" + target + "}}") + "/end"
            return 302, [("Location", nxt)], ""
        if parts[0] == "loc":  # /loc/<name>: a raw Location header
            return 302, [("Location", self.fill(LOCATIONS[parts[1]]))], ""
        if parts[0] == "js":
            return 200, [("Content-Type", "text/javascript")], self.fill(script_files()[parts[1]])
        return 200, html, ALIVE_PAGE

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


ALIVE_PAGE = ("<html><head><title>alive</title></head><body><form><input name=q><input type=password name=p>"
              "</form><p>alive</p></body></html>")  # the probe's page; its form invites autofill queries
LOCATIONS = {
    "backslash": "http://{{XA}}\\@{{AH}}/",  # WHATWG: host X; a naive urljoin: host A
    "unparsable": "http://[::1",
    "name": "http://{{N}}/named",
}


@dataclass
class Outcome:
    """One attack's result: what reached a canary or the DNS log, and whether the session held."""

    attack: Attack
    mode: str
    hits: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # what the session refused meanwhile
    alive: bool = True
    problem: str = ""
    seconds: float = 0.0

    @property
    def held(self) -> bool:
        return not self.hits and not self.dns and self.alive and not self.problem


class Run:
    """One browser session under attack, with every canary and the DNS log watching."""

    def __init__(self, folder: Path, mode: str, dns: DnsLog):
        self.mode, self.dns = mode, dns
        self.canaries = {
            "H1": TcpCanary("127.0.0.1", http_reply), "H2": TcpCanary("127.0.0.2", http_reply),
            "H6": TcpCanary("::1", http_reply), "W1": TcpCanary("127.0.0.1", websocket_reply),
            "W2": TcpCanary("127.0.0.2", websocket_reply), "T1": TcpCanary("127.0.0.1"),
            "T2": TcpCanary("127.0.0.2"),
        }
        self.udp = {"U1": UdpCanary("127.0.0.1"), "U2": UdpCanary("127.0.0.2")}
        self.site = AttackSite(self.fill)
        wrapper, self.control_lookup = resolver_namespace(folder)
        allow = (self.site.origin,) if mode == "origin" else ("127.0.0.1", "localhost", "[::1]")
        self.session = BrowserSession(allow=allow, executable_path=wrapper, navigation_timeout=5, action_timeout=3,
                                      permissions=("local-network-access",)).start()
        # Off the allowlist: every canary with the one-origin list; 127.0.0.2 and UDP with loopback's.
        self.watched = list(self.canaries) if mode == "origin" else ["H2", "W2", "T2"]

    def fill(self, text: str) -> str:
        """Fill in ``{{TOKEN}}``s: A (allowed origin), X/XW/XT (the canaries this mode attacks) ..."""
        c, u = self.canaries, self.udp
        main = ("H1", "W1", "T1", "U1") if self.mode == "origin" else ("H2", "W2", "T2", "U2")
        values = {
            "A": self.site.origin, "AH": self.site.origin.removeprefix("http://"),
            "X": "http://" + c[main[0]].authority, "XA": c[main[0]].authority,
            "XW": "ws://" + c[main[1]].authority, "XWA": c[main[1]].authority,
            "XT": c[main[2]].authority, "U": u[main[3]].authority,
            "H1P": str(c["H1"].port), "H6": "http://" + c["H6"].authority, "N": CANARY_NAME,
            "P": str(self.session.proxy.port),
        }
        return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], text)

    def counts(self) -> tuple[int, int]:
        tcp = sum(len(self.canaries[k].hits) for k in self.watched)
        return tcp + sum(len(u.hits) for u in self.udp.values()), len(self.dns.names)

    def attack(self, attack: Attack) -> Outcome:
        outcome, started = Outcome(attack, self.mode), time.monotonic()
        hits, names = self.counts()
        session = self.session
        refusals = len(session.refusals)
        if attack.goto:
            result = session.goto(self.fill(attack.goto))
            if result.ok:
                outcome.problem = f"goto {attack.goto!r} returned ok: {result.output}"
        else:
            session.goto(f"{self.site.origin}/attack/{attack.name}")
            if attack.click:
                go = [e for e in session.observe()["data"]["elements"] if e["label"] == "Go"]
                clicked = session.click(go[0]["id"]) if go else None
                if clicked is None or (not clicked.ok and "refused" not in (clicked.error or "")):
                    outcome.problem = outcome.problem or f"could not click Go: {clicked and clicked.error}"
        time.sleep(attack.wait)
        probe = session.goto(f"{self.site.origin}/alive")  # also fires the page's pagehide handlers
        outcome.alive = probe.ok and "alive" in session.read().output
        time.sleep(0.05)
        outcome.seconds = time.monotonic() - started
        if attack.within and outcome.seconds > attack.within + attack.wait + 2:
            outcome.problem = outcome.problem or f"took {outcome.seconds:.1f}s"
        if attack.proof and f"/ran/{attack.name}" not in self.site.paths:
            outcome.problem = outcome.problem or "the attack page did not run to its end (no done())"
        after_hits, after_names = self.counts()
        outcome.hits = self._hits_since(hits, after_hits)
        outcome.dns = self.dns.names[names:after_names]
        outcome.refused = [f"{r.kind} {r.url[:90]}: {r.reason}" for r in session.refusals[refusals:]]
        return outcome

    def _hits_since(self, before: int, after: int) -> list[str]:
        if after == before:
            return []
        everything = [h for k in self.watched for h in self.canaries[k].hits] + [h for u in self.udp.values() for h in u.hits]
        return [h[:80].decode("latin-1") for h in everything][-(after - before):]

    def control(self, attack: Attack) -> int:
        """Canary hits when the attacked canaries ARE allowed: proves an escape would be seen."""
        for key in ("X", "XW"):
            self.session.allow(self.fill("{{" + key + "}}").replace("ws://", "http://"))
        hits, _ = self.counts()
        self.attack(attack)
        for key in ("X", "XW"):
            self.session.disallow(self.fill("{{" + key + "}}").replace("ws://", "http://"))
        return self.counts()[0] - hits

    def idle(self, seconds: float) -> dict[str, int]:
        """Leave the session on a page with a form for ``seconds``: what did it try meanwhile?"""
        self.session.goto(f"{self.site.origin}/alive")
        time.sleep(1)
        hits, names = self.counts()
        refusals, connections, paths = len(self.session.ledger.refusals), self.session.proxy.connections, len(self.site.paths)
        time.sleep(seconds)
        after_hits, after_names = self.counts()
        return {"canary hits": after_hits - hits, "dns lookups": after_names - names,
                "refusals": len(self.session.ledger.refusals) - refusals,
                "proxy connections": self.session.proxy.connections - connections,
                "requests to the allowed site": len(self.site.paths) - paths}

    def close(self) -> None:
        self.session.close()
        self.site.stop()


def run_all(folder: Path, idle: float = 10.0, modes: tuple[str, ...] = ("origin", "loopback")) -> tuple[list[Outcome], dict[str, Any]]:
    """Every attack in every mode, the controls, and ``idle`` seconds of an idle session (origin mode).

    Returns the outcomes and the facts around them: whether the controls were seen, what the idle
    session tried, the browsers' pids (to check that none is left), the seconds taken.
    """
    dns = DnsLog()
    facts: dict[str, Any] = {"pids": []}
    outcomes: list[Outcome] = []
    started = time.monotonic()
    try:
        for mode in modes:
            (folder / mode).mkdir(exist_ok=True)
            run = Run(folder / mode, mode, dns)
            facts["pids"].append(run.session.pid)
            try:
                if mode == "origin":
                    subprocess.run(run.control_lookup, capture_output=True, timeout=20, check=False)
                    facts["control lookup logged"] = f"control.{CANARY_NAME}" in dns.names
                    dns.names.clear()
                    facts["control escape hits"] = run.control(next(a for a in ATTACKS if a.name == "fetch"))
                outcomes += [run.attack(a) for a in ATTACKS if mode in a.modes]
                if mode == "origin" and idle:
                    facts["idle"] = run.idle(idle)
            finally:
                run.close()
    finally:
        dns.sock.close()
    facts["seconds"] = time.monotonic() - started
    return outcomes, facts


def env_problem() -> str | None:
    """Why the harness cannot run here, or None: it needs root in a loopback-only network namespace."""
    interfaces = [line.split(":")[0].strip() for line in Path("/proc/net/dev").read_text().splitlines()[2:]]
    if interfaces != ["lo"] or os.geteuid() != 0:
        return "the attack suite runs in a loopback-only network namespace as root: use scripts/netns-run"
    return None
