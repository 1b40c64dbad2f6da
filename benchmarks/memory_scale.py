"""Long-term memory at scale: add and recall latency (p50, p95) of the ``chroma`` backend.

    python benchmarks/memory_scale.py [--sizes 1000,10000,100000] [--modes embedded,server] [--samples 50]

For each mode (an embedded store in a temporary ``LMA_HOME``; a real ``chroma run`` server on a
free loopback port) and each size, the store is filled with random unit vectors (the store's
cost alone: embedding 100k texts on 2 cores would take the whole budget), then it measures

* ``add``: one item per ``write_many`` call with its vector given (embedding excluded), as an
  agent writes at the end of an episode; in embedded mode this includes the cross-process lock,
  reopening the client and flushing the index (see :mod:`lma.memory.chroma`);
* ``recall``: ``recall_vector(k=5)`` with a precomputed query vector (embedding excluded);
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


def bench(spec: str, size: int, samples: int, rng: np.random.Generator) -> None:
    from lma.memory import MemoryItem, make_memory

    memory = make_memory(spec)
    fill_start, batch = time.perf_counter(), 5000
    for start in range(0, size, batch):
        n = min(batch, size - start)
        items = [MemoryItem(f"note {start + i}", metadata={"env": f"env{(start + i) % 10}"}) for i in range(n)]
        memory.write_many(items, embeddings=unit_vectors(n, rng))
    fill = time.perf_counter() - fill_start
    queries = unit_vectors(samples, rng)
    add = timed(lambda i: memory.write_many([MemoryItem(f"extra {i}", metadata={"env": "env0"})],
                                            embeddings=unit_vectors(1, rng)), samples)
    memory.recall_vector(queries[0], k=5)  # reopen after the last write: not a recall's steady-state cost
    recall = timed(lambda i: memory.recall_vector(queries[i], k=5), samples)
    recall_where = timed(lambda i: memory.recall_vector(queries[i], k=5, where={"env": "env3"}), samples)
    texts = [f"where did I find the key in room {i}?" for i in range(samples)]
    recall_text = timed(lambda i: memory.recall(texts[i], k=5), samples)
    add_text = timed(lambda i: memory.write(MemoryItem(texts[i], metadata={"env": "env1"})), max(5, samples // 5))
    memory.close()
    mode = "server" if "http" in spec else "embedded"
    print(f"{mode:8s} {size:>7d} items  fill {size / fill:8.0f} items/s")
    for name, values in [("add", add), ("recall", recall), ("recall where", recall_where),
                         ("recall+embed", recall_text), ("add+embed", add_text)]:
        print(f"{mode:8s} {size:>7d} items  {name:13s} {pct(values)}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--modes", default="embedded,server")
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
        for mode in args.modes.split(","):
            server = None
            if mode == "server":
                server, url = start_server(Path(tmp) / "server")
            try:
                for size in (int(s) for s in args.sizes.split(",")):
                    spec = f"chroma+{url}?collection=bench{size}" if server else f"chroma:bench{size}"
                    bench(spec, size, args.samples, rng)
            finally:
                if server is not None:
                    server.terminate()
                    server.wait(10)


if __name__ == "__main__":
    main()
