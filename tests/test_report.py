"""``lma report`` on a real run, checked in headless Chromium: it renders, images load, links work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_evaluate import lma, only_run

from lma.run.recording import RunDir

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """expert, random and a scripted-model type1 (whose first answer is hostile HTML) on two BabyAI levels."""
    root = tmp_path_factory.mktemp("report")
    script = root / "script.jsonl"
    script.write_text("\n".join(json.dumps(o) for o in [
        "<script>window.pwned = 1</script> not a tool call",
        {"name": "forward", "args": {}},
        {"name": "turn_left", "args": {}},
    ]) + "\n")
    config = root / "eval.yaml"
    config.write_text(
        "agents: [expert, random, {name: type1, label: scripted, model: 'scripted:%s'}]\n"
        "envs: [babyai/GoToObj-v0, babyai/GoToRedBall-v0]\nepisodes: 2\nmax_steps: 6\nworkers: 2\n" % script)
    proc = lma("eval", "--config", str(config), "--out", str(root / "runs"))
    assert proc.returncode == 0, proc.stderr
    return only_run(root / "runs")


def test_report_writes_markdown_and_html(run):
    proc = lma("report", str(run))
    assert proc.returncode == 0, proc.stderr
    md = (run / "report.md").read_text()
    for words in ("| agent |", "expert", "scripted", "McNemar", "report-files/success.png"):
        assert words in md
    for name in ("success", "cost", "steps"):
        assert (run / "report-files" / f"{name}.png").stat().st_size > 1000
    results = RunDir(run).results()
    assert len(results) == 12
    assert all((run / "episodes" / r.episode_id / "index.html").is_file() for r in results)
    assert not list(run.rglob("*.tmp"))


def test_report_renders_in_headless_chromium(run):
    playwright = pytest.importorskip("playwright.sync_api")
    assert lma("report", str(run)).returncode == 0
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto((run / "report.html").as_uri())
        assert "Agents side by side" in page.inner_text("h1")
        glance = page.inner_text("section:nth-of-type(1) table")
        assert all(agent in glance for agent in ("expert", "random", "scripted"))
        images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
        assert len(images) == 3 and all(done and width > 0 for done, width in images)
        links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        assert len(links) == 12 and all((run / link).is_file() for link in links)

        page.click("text=scripted__babyai_GoToObj-v0__s0")
        page.wait_for_load_state()
        assert "scripted on babyai/GoToObj-v0, seed 0" in page.inner_text("h1")
        body = page.text_content("body")
        assert "<script>window.pwned = 1</script>" in body  # shown as text ...
        assert page.evaluate("window.pwned === undefined && document.scripts.length === 0")  # ... never run
        assert "model output (try 1 of 2)" in body and "forward" in body and "Mission:" in body
        frames = page.eval_on_selector_all(".step img", "els => els.map(e => e.naturalWidth)")
        assert frames and all(width > 0 for width in frames)
        page.click("text=next episode")
        page.wait_for_load_state()
        assert "seed 1" in page.inner_text("h1")
        page.click("text=← report")
        page.wait_for_load_state()
        assert page.url.endswith("report.html")
        browser.close()


def test_replay_rerenders_one_episode(run):
    episode = "expert__babyai_GoToObj-v0__s0"
    proc = lma("replay", str(run), episode, "--html", "--gif")
    assert proc.returncode == 0, proc.stderr
    folder = run / "episodes" / episode
    assert "index.html" in proc.stdout and (folder / "index.html").is_file()
    from PIL import Image

    with Image.open(folder / "episode.gif") as gif:
        assert gif.n_frames == len((folder / "trajectory.jsonl").read_text().splitlines())


def test_bad_runs_exit_2_and_leave_the_last_good_report(run, tmp_path):
    proc = lma("report", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "not an lma run folder" in proc.stderr and "Traceback" not in proc.stderr
    empty = RunDir.create(tmp_path, "empty", {"command": "eval", "agents": [], "envs": []})
    proc = lma("report", str(empty.path))
    assert proc.returncode == 2 and "no finished episodes" in proc.stderr
    assert not (empty.path / "report.html").exists() and not (empty.path / "report.md").exists()

    assert lma("report", str(run)).returncode == 0
    good = (run / "report.html").read_bytes()
    config = (run / "config.yaml").read_text()
    try:
        (run / "config.yaml").write_text("agents: [unclosed\n")
        proc = lma("report", str(run))
        assert proc.returncode == 2 and "not valid YAML" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert (run / "report.html").read_bytes() == good
    finally:
        (run / "config.yaml").write_text(config)


def test_a_run_folder_from_before_the_one_job_path_still_reports(tmp_path):
    """``lma run`` folders written before it became a one-agent ``lma eval`` (one ``agent``, one ``env``)."""
    import yaml

    from lma.core import EpisodeResult
    from lma.report.build import build

    old = tmp_path / "20261126-183522-type1-babyai-GoToRedBall-v0-0703"
    (old / "episodes").mkdir(parents=True)
    (old / "config.yaml").write_text(yaml.safe_dump({
        "command": "run", "agent": {"name": "type1", "model": "llamacpp:smollm2-135m"}, "agent_options": {},
        "env": "babyai/GoToRedBall-v0", "env_kwargs": {}, "seeds": [0, 1], "max_steps": 24}))
    rows = [EpisodeResult(f"type1__babyai_GoToRedBall-v0__s{s}", "babyai/GoToRedBall-v0", "type1", s, steps=24,
                          tokens_in=7000).to_json() for s in (0, 1)]
    (old / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = RunDir(old).config()
    assert [a["label"] for a in config["agents"]] == ["type1"] and config["envs"] == ["babyai/GoToRedBall-v0"]
    assert config["agents"][0]["options"]["model"] == "llamacpp:smollm2-135m"
    page = build(old, episodes=False).read_text()
    assert "type1" in page and "babyai/GoToRedBall-v0" in page
