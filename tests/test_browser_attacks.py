"""The allowlist under attack: every class of issue 17, against lma's real browser configuration.

Each attack (tests/browser_attack_pages.py) is a URL the agent is lured to open or a page on the
one allowed site; canaries on other loopback ports, on 127.0.0.2 and on [::1] record any TCP
connection or UDP datagram, and a DNS server that Chromium is pointed at logs any lookup
(tests/browser_attacks_kit.py). It runs twice: with only the attack site allowed, and with lma's
default loopback allowlist (attacked through 127.0.0.2 and host names). Controls prove that the
harness would see an escape and a lookup. ``benchmarks/browser_attacks.py`` runs the same with a
two-minute idle session and prints the table.
"""

from __future__ import annotations

from collections import Counter

import pytest
from browser_attack_pages import ATTACKS
from browser_attacks_kit import env_problem, run_all

from lma.tools.browser_process import group_members

pytestmark = pytest.mark.timeout(400)
IDLE_SECONDS = 10.0


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    problem = env_problem()
    if problem:
        pytest.skip(problem)
    return run_all(tmp_path_factory.mktemp("attacks"), idle=IDLE_SECONDS)


def test_the_controls_would_see_an_escape_and_a_lookup(attacked):
    _, facts = attacked
    assert facts["control escape hits"] >= 1  # the fetch attack, its canary allowed, reaches it
    assert facts["control lookup logged"]  # a lookup in Chromium's mount namespace is logged


def test_no_attack_reaches_a_canary_or_a_resolver_and_the_session_survives_each(attacked):
    outcomes, _ = attacked
    escaped = [(o.attack.name, o.hits, o.dns, o.alive, o.problem) for o in outcomes if not o.held]
    assert escaped == []
    assert len(outcomes) == sum(len(a.modes) for a in ATTACKS) >= 100


def test_the_attacks_were_made_and_refused_by_the_proxy(attacked):
    outcomes, _ = attacked
    by_name = {(o.attack.name, o.mode): o for o in outcomes}
    # the classes that escaped before: each one now shows as a refusal, with the URL it went for
    for name in ("redirect-backslash-fetch", "shared-worker", "payment-request", "fedcm", "audio-worklet",
                 "pagehide-keepalive-beacon", "iframe-sandboxed-websocket", "dedicated-worker"):
        for mode in ("origin", "loopback"):
            assert by_name[name, mode].refused, (name, mode)
    assert any("SECRET-IN-PATH" in r for r in by_name["payment-request", "origin"].refused)
    assert any("more than 19 redirects" in r for r in by_name["redirect-over-limit", "origin"].refused)
    assert any("the proxy itself" in r for r in by_name["proxy-itself", "loopback"].refused)
    kinds = Counter(a.kind for a in ATTACKS)
    assert set(kinds) >= {"url tricks", "navigation", "frames", "redirects", "subresources", "preloading",
                          "requests", "workers", "websockets", "browser-side"}


def test_an_idle_session_tries_nothing(attacked):
    _, facts = attacked
    assert facts["idle"] == {"canary hits": 0, "dns lookups": 0, "refusals": 0, "proxy connections": 0,
                             "requests to the allowed site": 0}


def test_no_chromium_is_left(attacked):
    _, facts = attacked
    assert all(pid and group_members(pid) == [] for pid in facts["pids"])
