"""WebQA env and data: the synthetic set is deterministic and complete, the loader reads the real
format and names the file and line of anything malformed, the tools behave, and the oracle scores
Acc ~1 and retrieval F1 1 on every question."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("spacy")
pytest.importorskip("spacy_lookups_data")

import lma
from lma.agents import make_agent
from lma.core import Task, ToolCall
from lma.envs.webqa.data import (
    IMAGES_FILE,
    LINEIDX_FILE,
    QUESTIONS_FILE,
    ImageStore,
    WebQADataError,
    WebQADataset,
)
from lma.envs.webqa.env import WebQAEnv
from lma.envs.webqa.metrics import CATEGORIES
from lma.envs.webqa.retrieval import BM25
from lma.envs.webqa.synthetic import synthetic_dir, write_synthetic
from lma.errors import LmaError
from lma.run.runner import run_episode

FILES = (QUESTIONS_FILE, IMAGES_FILE, LINEIDX_FILE)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("webqa") / "set"
    write_synthetic(folder, seed=0)
    return folder


def copy_set(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in FILES:
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


# --- the synthetic set ---------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(synthetic: Path, tmp_path: Path) -> None:
    write_synthetic(tmp_path / "again", seed=0)
    write_synthetic(tmp_path / "other", seed=1)
    for name in FILES:
        assert (tmp_path / "again" / name).read_bytes() == (synthetic / name).read_bytes(), name
    assert (tmp_path / "other" / QUESTIONS_FILE).read_bytes() != (synthetic / QUESTIONS_FILE).read_bytes()


def test_synthetic_set_covers_the_webqa_task(synthetic: Path) -> None:
    examples = list(WebQADataset(synthetic))
    assert len(examples) >= 200
    categories = Counter(ex.category for ex in examples)
    assert set(categories) == set(CATEGORIES) and min(categories.values()) >= 25
    kinds_of = {ex.guid: {s.id: s.kind for s in ex.sources} for ex in examples}
    two_hop = [ex for ex in examples if len(ex.positive_ids) == 2]
    hop_kinds = Counter(tuple(sorted(kinds_of[ex.guid][p] for p in ex.positive_ids)) for ex in two_hop)
    # Multi-hop questions of all three shapes: two images, an image and a snippet, two snippets.
    assert set(hop_kinds) == {("image", "image"), ("image", "text"), ("text", "text")}
    assert len(two_hop) >= 70
    for ex in examples:
        kinds = Counter(s.kind for s in ex.sources if s.id not in ex.positive_ids)
        assert kinds["text"] >= 3 and kinds["image"] >= 3, ex.guid  # distractors of both kinds
        assert set(ex.positive_ids) <= {s.id for s in ex.sources}
        assert len({s.id for s in ex.sources}) == len(ex.sources)
    assert {ex.split for ex in examples} == {"train", "val"}


def test_captions_do_not_give_away_visual_answers(synthetic: Path) -> None:
    # As in WebQA, colour, shape and count questions need the picture, not its caption.
    for ex in WebQADataset(synthetic):
        if ex.category in ("color", "shape", "number"):
            for source in ex.sources:
                if source.kind == "image":
                    assert ex.keywords.lower() not in source.text.lower().split(), (ex.guid, source.text)


def test_cache_folder_is_generated_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMA_HOME", str(tmp_path / "home"))
    first = synthetic_dir()
    assert first.is_relative_to(tmp_path / "home" / "data" / "webqa-synthetic")
    stamp = (first / QUESTIONS_FILE).stat().st_mtime_ns
    assert synthetic_dir() == first and (first / QUESTIONS_FILE).stat().st_mtime_ns == stamp
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".partial")]


# --- the loader ----------------------------------------------------------------------------


def test_images_decode_from_tsv(synthetic: Path) -> None:
    ex = WebQADataset(synthetic).example(2)
    image_source = next(s for s in ex.sources if s.kind == "image")
    pixels = image_source.load_image()
    assert pixels.shape == (144, 192, 3) and pixels.dtype == np.uint8
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) >= 2  # a background and shapes


def test_reads_a_record_in_the_real_format(tmp_path: Path) -> None:
    # Real records quote their questions and answers and carry no Keywords_A.
    record = {
        "Q": '"What color is the roof of the Castro Theatre?"', "A": ['"The roof is red."'], "Qcate": "color",
        "split": "val", "Guid": "abc", "topic": "theatres",
        "txt_posFacts": [], "txt_negFacts": [{"title": "T", "fact": "A fact.", "url": "u", "snippet_id": "d5bd"}],
        "img_posFacts": [{"image_id": 30000000, "title": "Castro", "caption": "The theatre.", "url": "u",
                          "imgUrl": "v"}],
        "img_negFacts": [],
    }  # fmt: skip
    (tmp_path / QUESTIONS_FILE).write_text(json.dumps({"abc": record}), encoding="utf-8")
    ex = WebQADataset(tmp_path, split="val").example(0)
    assert ex.question == "What color is the roof of the Castro Theatre?"
    assert ex.answers == ["The roof is red."] and ex.keywords == "TBD"
    assert ex.positive_ids == ["30000000"] and {s.id for s in ex.sources} == {"30000000", "d5bd"}
    with pytest.raises(WebQADataError, match="no questions in split 'train'"):
        WebQADataset(tmp_path, split="train")


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / QUESTIONS_FILE).write_text('{\n "a": {"Q": "x",\n  "A": [}\n}\n', encoding="utf-8")
    with pytest.raises(WebQADataError, match=r"WebQA_train_val\.json, line 3: not valid JSON") as info:
        WebQADataset(tmp_path)
    assert isinstance(info.value, LmaError) and info.value.line == 3


def test_malformed_record_names_question_and_line(synthetic: Path, tmp_path: Path) -> None:
    records = json.loads((synthetic / QUESTIONS_FILE).read_text())
    del records["syn-0003"]["Qcate"]
    (tmp_path / QUESTIONS_FILE).write_text(json.dumps(records, indent=1), encoding="utf-8")
    dataset = WebQADataset(tmp_path)
    dataset.example(2)  # the others still load
    line = (tmp_path / QUESTIONS_FILE).read_text().splitlines().index(' "syn-0003": {') + 1
    with pytest.raises(WebQADataError, match=rf"line {line}: question syn-0003: missing field 'Qcate'"):
        dataset.example(3)


def test_malformed_tsv_lines_name_file_and_line(synthetic: Path, tmp_path: Path) -> None:
    folder = copy_set(synthetic, tmp_path / "set")
    lines = (folder / IMAGES_FILE).read_bytes().splitlines(keepends=True)
    lines[3] = b"30000003\tnot*base64!\n"
    lines[5] = b"30000099\t" + lines[5].split(b"\t")[1]  # another image's id on this line
    offsets, total = [], 0
    for row in lines:
        offsets.append(total)
        total += len(row)
    (folder / IMAGES_FILE).write_bytes(b"".join(lines))
    (folder / LINEIDX_FILE).write_text("".join(f"{o}\n" for o in offsets))
    store = ImageStore(folder / IMAGES_FILE)
    assert store.load(30000004).shape == (144, 192, 3)
    with pytest.raises(WebQADataError, match=r"imgs\.tsv, line 4: image 30000003 is not a base64"):
        store.load(30000003)
    with pytest.raises(WebQADataError, match=r"imgs\.tsv, line 6: holds image '30000099', not 30000005"):
        store.load(30000005)
    with pytest.raises(WebQADataError, match="no entry for image 30000500"):
        store.load(30000500)
    (folder / LINEIDX_FILE).write_text("0\n12x\n")
    with pytest.raises(WebQADataError, match=r"imgs\.lineidx, line 2: not a byte offset"):
        ImageStore(folder / IMAGES_FILE).load(30000000)


# --- the env -------------------------------------------------------------------------------


def test_oracle_answers_every_question_perfectly(synthetic: Path) -> None:
    env = WebQAEnv(data=str(synthetic))
    scores = Counter()
    for seed in range(len(env.dataset)):
        env.reset(seed=seed)
        for _ in range(4):
            obs, reward, terminated, truncated, info = env.step(env.expert_action())
            assert "error" not in info
            if terminated:
                break
        metrics = env.episode_metrics()
        assert terminated and info["success"] and reward == metrics["acc"]
        assert metrics["acc"] == pytest.approx(1.0, abs=1e-4), (seed, metrics)
        assert metrics["retrieval_f1"] == 1.0 and metrics["fl"] is None and metrics["qa"] is None
        scores[metrics["category"]] += 1
    assert set(scores) == set(CATEGORIES)


def test_search_read_and_answer(synthetic: Path) -> None:
    env = WebQAEnv(data=str(synthetic))
    obs, info = env.reset(seed=2)  # a colour question about one image
    ex = env.example
    assert obs["text"].startswith(f"Question: {ex.question}") and obs["image"] is None
    assert info["category"] == "color" and obs["data"]["goal"] == ex.question
    obs, reward, terminated, _, info = env.step(ToolCall("search", {"query": ex.question}))
    (gold,) = ex.positive_ids
    assert gold in info["result"] and not terminated and reward == 0.0
    obs, _, _, _, info = env.step(ToolCall("read", {"source_id": gold}))
    assert obs["image"] is not None and obs["image"].shape == (144, 192, 3)
    assert "Caption:" in obs["text"] and obs["data"]["read"] == [gold]
    obs, _, _, _, _ = env.step(ToolCall("search", {"query": "zzzz qqqq"}))
    assert obs["image"] is None and "no source matches" in obs["text"]
    obs, reward, terminated, _, info = env.step(ToolCall("answer", {"text": "It is blue.", "sources": [gold, "x"]}))
    metrics = env.episode_metrics()
    assert terminated and (ex.keywords != "blue") and reward == 0.0 and not info["success"]
    assert metrics["answered"] and metrics["retrieval_f1"] == pytest.approx(2 / 3)
    _, _, _, _, info = env.step(ToolCall("search", {"query": "again"}))
    assert info["error"] == "episode is over"


def test_search_finds_the_positive_sources(synthetic: Path) -> None:
    dataset = WebQADataset(synthetic)
    found = []
    for ex in dataset:
        top = {ex.sources[i].id for i, _ in BM25([f"{s.title} {s.text}" for s in ex.sources]).top(ex.question, 5)}
        found += [p in top for p in ex.positive_ids]
    assert sum(found) / len(found) > 0.9  # the question's own words reach its sources


def test_bad_ids_and_calls_are_failed_steps(synthetic: Path) -> None:
    env = WebQAEnv(data=str(synthetic))
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step(ToolCall("read", {"source_id": "nope"}))
    assert "no source with id 'nope'" in info["error"] and not terminated and reward == 0.0
    _, _, terminated, _, info = env.step(ToolCall("answer", {"text": "yes"}))  # sources missing
    assert "sources" in info["error"] and not terminated
    _, _, _, _, info = env.step(ToolCall("click", {"x": 1}))
    assert "unknown tool 'click'" in info["error"]
    metrics = env.episode_metrics()
    assert metrics["answered"] is False and metrics["acc"] == 0.0 and metrics["retrieval_f1"] == 0.0


def test_broken_image_is_a_recorded_failure(synthetic: Path, tmp_path: Path) -> None:
    folder = copy_set(synthetic, tmp_path / "set")
    rows = (folder / IMAGES_FILE).read_bytes().split(b"\n")
    image_id = int(rows[0].split(b"\t")[0])
    rows[0] = rows[0][: len(rows[0]) // 2]  # truncated base64: not an image any more
    data = b"\n".join(rows)
    (folder / IMAGES_FILE).write_bytes(data)
    starts = [0] + [i + 1 for i, byte in enumerate(data) if byte == 10][:-1]
    (folder / LINEIDX_FILE).write_text("".join(f"{o}\n" for o in starts))
    env = WebQAEnv(data=str(folder))
    seed = next(i for i in range(len(env.dataset)) if str(image_id) in env.dataset.example(i).positive_ids)
    env.reset(seed=seed)
    _, _, terminated, _, info = env.step(ToolCall("read", {"source_id": str(image_id)}))
    assert "imgs.tsv, line 1" in info["error"] and not terminated
    _, _, terminated, _, _ = env.step(ToolCall("answer", {"text": "no idea", "sources": []}))
    assert terminated  # the episode went on


def test_real_env_needs_its_data(synthetic: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LMA_WEBQA_DATA", raising=False)
    with pytest.raises(LmaError, match="LMA_WEBQA_DATA"):
        lma.make("webqa/real-v0")
    monkeypatch.setenv("LMA_WEBQA_DATA", str(synthetic / "missing"))
    with pytest.raises(LmaError, match="WebQA questions file not found"):
        lma.make("webqa/real-v0")
    # The real loader reads any folder in the real format, here the synthetic one, by split.
    monkeypatch.setenv("LMA_WEBQA_DATA", str(synthetic))
    env = lma.make("webqa/real-v0", split="val")
    assert {ex.split for ex in env.unwrapped.dataset} == {"val"}
    with pytest.raises(LmaError, match="unknown WebQA dataset"):
        WebQAEnv(dataset="mine")


def test_expert_agent_through_the_runner() -> None:
    # The registered id, with the set generated on first use into $LMA_HOME (set by conftest).
    agent = make_agent("expert")
    results = [run_episode(agent, Task("webqa/synthetic-v0", seed)) for seed in range(7)]
    assert all(r.success and r.error is None for r in results), [r.error for r in results]
    assert {r.metrics["category"] for r in results} == set(CATEGORIES)
    for r in results:
        assert r.metrics["retrieval_f1"] == 1.0 and r.metrics["acc"] > 0.999 and r.metrics["fl"] is None
        assert 2 <= r.steps <= 3
