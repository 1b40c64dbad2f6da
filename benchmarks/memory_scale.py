"""Long-term memory at scale: add and recall latency (p50, p95) of the ``chroma`` and ``graph`` backends.

    python benchmarks/memory_scale.py [--sizes 1000,10000,100000] [--modes embedded,server]
                                      [--backends chroma,graph] [--samples 50]

For each backend, mode (an embedded store in a temporary ``LMA_HOME``; a real ``chroma run``
server on a free loopback port; ``graph`` is embedded only) and size, the store is filled with
random unit vectors (the store's cost alone: embedding 100k texts on 2 cores would take the whole
budget), one item in ten a near-copy of the one before (a similarity edge in the graph), and
generated texts with entities ("The red ball is in the blue attic of house 17."), then it measures

* ``add``: one item per ``write_many`` call with its vector given (embedding excluded), as an
  agent writes at the end of an episode; in embedded mode this includes the cross-process lock,
  reopening the client and flushing the index (see :mod:`lma.memory.chroma`);
* ``recall``: ``recall_vector(k=5)`` with a precomputed query vector (embedding excluded); for
  ``graph``, ``recall(text, k=5, embedding=vector)``: the query's entities, the vector hits, the
  personalized PageRank and the fusion, all included but the embedding;
* ``recall+embed``: ``recall(text, k=5)``, the query embedded by all-MiniLM-L6-v2 (included);
* ``add+embed``: ``write(item)``, its text embedded (included).

It also prints the embedding cost alone (one query; a batch of 256 texts). Results go to stdout.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 384


def unit_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def pct(samples: list[float]) -> str:
    ms = np.asarray(samples) * 1000
    return f"p50 {np.percentile(ms, 50):8.1f} ms  p95 {np.percentile(ms, 95):8.1f} ms"


def timed(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - start)
    return out


def start_server(path: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    chroma = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen([str(chroma), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("chroma run did not start")


COLOURS = "red blue green yellow purple grey white black orange pink brown teal".split()
THINGS = "ball box key door lantern compass map clock mirror flute globe kettle locket dagger chest".split()
PLACES = "attic cellar kitchen library garage tower shed barn chapel cabin vault gallery pantry studio".split()


def note(n: int, rng: np.random.Generator) -> str:
    """A generated note with entities: ~180 colour+thing, ~170 colour+place and 1,000 houses."""
    c1, c2, t, p = rng.choice(COLOURS), rng.choice(COLOURS), rng.choice(THINGS), rng.choice(PLACES)
    return f"Note {n}: the {c1} {t} is in the {c2} {p} of house {n % 1000}."


def fill_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    """Random unit vectors, every tenth a near-copy of the one before (cosine ~0.98)."""
    v = unit_vectors(n, rng)
    v[1::10] = v[0::10][: len(v[1::10])] + 0.1 * unit_vectors(len(v[1::10]), rng)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def bench(spec: str, size: int, samples: int, rng: np.random.Generator) -> None:
    from lma.memory import MemoryItem, make_memory

    memory = make_memory(spec)
    fill_start, batch = time.perf_counter(), 5000
    for start in range(0, size, batch):
        n = min(batch, size - start)
        items = [MemoryItem(note(start + i, rng), metadata={"env": f"env{(start + i) % 10}"}) for i in range(n)]
        memory.write_many(items, embeddings=fill_vectors(n, rng))
    fill = time.perf_counter() - fill_start
    queries = unit_vectors(samples, rng)
    asks = [f"where is the {rng.choice(COLOURS)} {rng.choice(THINGS)} of house {i}?" for i in range(samples)]
    add = timed(lambda i: memory.write_many([MemoryItem(note(size + i, rng), metadata={"env": "env0"})],
                                            embeddings=unit_vectors(1, rng)), samples)
    if spec.startswith("graph"):
        def by_vector(i: int, where: dict | None = None) -> list:
            return memory.recall(asks[i], k=5, where=where, embedding=queries[i])
    else:
        def by_vector(i: int, where: dict | None = None) -> list:
            return memory.recall_vector(queries[i], k=5, where=where)
    by_vector(0)  # reopen after the last write: not a recall's steady-state cost
    recall = timed(by_vector, samples)
    recall_where = timed(lambda i: by_vector(i, {"env": "env3"}), samples)
    texts = [f"where did I find the key in room {i}?" for i in range(samples)]
    recall_text = timed(lambda i: memory.recall(texts[i], k=5), samples)
    add_text = timed(lambda i: memory.write(MemoryItem(texts[i], metadata={"env": "env1"})), max(5, samples // 5))
    memory.close()
    mode = ("graph" if spec.startswith("graph") else "chroma") + (" server" if "http" in spec else " embedded")
    print(f"{mode:15s} {size:>7d} items  fill {size / fill:8.0f} items/s")
    for name, values in [("add", add), ("recall", recall), ("recall where", recall_where),
                         ("recall+embed", recall_text), ("add+embed", add_text)]:
        print(f"{mode:15s} {size:>7d} items  {name:13s} {pct(values)}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--modes", default="embedded,server")
    p.add_argument("--backends", default="chroma,graph")
    p.add_argument("--samples", type=int, default=50)
    args = p.parse_args()
    from lma.memory.embedding import embed_texts

    embed_texts(["warm up"])
    one = timed(lambda i: embed_texts([f"go to the red ball {i}"]), 30)
    start = time.perf_counter()
    embed_texts([f"Task: pick up the {i} key | outcome: success | key steps: forward, pickup" for i in range(256)])
    per_text = (time.perf_counter() - start) / 256
    print(f"embedding (all-MiniLM-L6-v2, CPU): one query {pct(one)}; batch of 256: {per_text * 1000:.1f} ms/text")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LMA_HOME"] = tmp
        runs = [(b, m) for b in args.backends.split(",") for m in args.modes.split(",")
                if b == "chroma" or m == "embedded"]
        for backend, mode in runs:
            server = None
            if mode == "server":
                server, url = start_server(Path(tmp) / "server")
            try:
                for size in (int(s) for s in args.sizes.split(",")):
                    spec = f"chroma+{url}?collection=bench{size}" if server else f"{backend}:{backend}{size}"
                    bench(spec, size, args.samples, rng)
            finally:
                if server is not None:
                    server.terminate()
                    server.wait(10)


if __name__ == "__main__":
    main()
