"""Multi-hop recall: graph memory against flat Chroma vector recall, on a generated, seeded set.

    python benchmarks/multihop_recall.py [--chains 150] [--noise 300] [--seeds 0,1,2] [--k 5]

Each *chain* is two stored items linked only through an entity, and a question that names neither
the entity nor anything of the answer item:

    A  "The silver compass is kept in the red attic."          (names X and the bridge Y)
    B  "The key to the red attic is under the clay pot."       (names Y and the answer)
    Q  "Where is the key to the place that holds the silver compass?"    -> the answer item is B

Every chain has a different X and Y, and its B has the same shape as every other chain's B of its
kind (key or guard), so a question matches all of them equally well by wording; only the link
through Y tells them apart. Distractors name X or Y alone ("The silver compass was polished last
winter.", "The red attic has two narrow windows."), and ``--noise`` agent experiences
("Task: go to the red ball | outcome: success | ...") fill the rest, all shuffled.

Both memories get the same items and the same all-MiniLM-L6-v2 embeddings (computed once), and the
same question embeddings; they differ only in how they recall. Each question is asked twice: as
the items word X, and paraphrased ("the compass made of silver"), so that no entity of the question
is in the graph and only the vector hits seed the propagation. Reported per seed: recall@k of the
answer item B, of the first hop A, and of both, for ``chroma`` (vector recall) and ``graph``
(:mod:`lma.memory.graph`), and the graph's recall latency. The constants of the graph memory were
set on seed 0; seeds 1 and 2 are held out.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from dataclasses import dataclass

import numpy as np

MATERIALS = ("silver brass copper iron glass ivory jade marble bronze crystal velvet leather wooden clay "
             "golden pewter bamboo oak stone porcelain").split()
THINGS = ("compass lantern violin map clock mirror telescope hourglass locket chalice goblet dagger "
          "flute candlestick globe statuette inkwell kettle music-box chessboard").split()
COLOURS = "red blue green yellow purple orange white black grey pink brown teal".split()
PLACES = ("attic cellar kitchen library garage tower shed barn chapel cabin vault gallery pantry "
          "studio office workshop greenhouse lobby stable cottage").split()
SPOTS = ("clay pot|old rug|loose floorboard|third step|flower box|broken chair|rusty bucket|stack of books|"
         "copper bucket|woven basket|cracked tile|wooden crate|window sill|brick by the door").split("|")
NAMES = ("Marta Ortiz|Jonas Berg|Aiko Tanaka|Omar Haddad|Lena Fischer|Ravi Menon|Sofia Rossi|Tomas Novak|"
         "Nadia Petrova|Kofi Mensah|Elena Cruz|Ivan Horvat").split("|")

HOLDS = ("The {x} is kept in the {y}.", "Someone left the {x} in the {y}.", "You can find the {x} inside the {y}.",
         "The {x} sits on a shelf in the {y}.")
ANSWERS = {
    "key": (("The key to the {y} is under the {a}.", "The {y}'s key lies beneath the {a}.",
             "Whoever needs the {y} key should look under the {a}."),
            ("Where is the key to the place that holds the {x}?", "Under what is the key of the room with the {x}?",
             "I want to get the {x}: where is the key of the room it is in?")),
    "guard": (("The {y} is guarded by {a}.", "{a} watches over the {y} every night.",
               "Nobody enters the {y} without asking {a}."),
              ("Who guards the place where the {x} is kept?", "Whom must I ask to get at the {x}?",
               "Who watches over the room with the {x}?")),
}
X_ALONE = ("The {x} was polished last winter.", "The {x} is older than it looks.", "Everyone admires the {x}.")
Y_ALONE = ("The {y} has two narrow windows.", "The {y} smells of dust.", "The {y} was painted last spring.")
NOISE = ("Task: go to the {c} {o} | outcome: {r} | key steps: forward, turn_left, forward | reflection: {f}",
         "Task: pick up the {c} {o} | outcome: {r} | key steps: turn_right, forward, pickup | reflection: {f}",
         "Task: open the {c} door | outcome: {r} | key steps: forward, toggle | reflection: {f}")
REFLECTIONS = ("Succeeded in 7 steps; repeating this action sequence should work again.",
               "Failed after 24 steps without reaching the goal; try a different approach.")


@dataclass
class Chain:
    a: str  # the first-hop item's id
    b: str  # the answer item's id
    question: str  # names X as the items do ("the silver compass")
    paraphrase: str  # names X otherwise ("the compass made of silver"): no entity of the question matches


def generate(chains: int, noise: int, seed: int) -> tuple[list[tuple[str, str]], list[Chain]]:
    """``(id, text)`` items (shuffled) and the chains' questions."""
    rng = random.Random(seed)
    xs = rng.sample([(m, t) for m in MATERIALS for t in THINGS], chains)
    ys = rng.sample([f"{c} {p}" for c in COLOURS for p in PLACES], chains)
    items: list[tuple[str, str]] = []
    found: list[Chain] = []
    for n, ((material, thing), y) in enumerate(zip(xs, ys)):
        x = f"{material} {thing}"
        kind = rng.choice(sorted(ANSWERS))
        facts, questions = ANSWERS[kind]
        answer = rng.choice(SPOTS if kind == "key" else NAMES)
        items += [(f"a{n}", rng.choice(HOLDS).format(x=x, y=y)), (f"b{n}", rng.choice(facts).format(y=y, a=answer)),
                  (f"x{n}", rng.choice(X_ALONE).format(x=x)), (f"y{n}", rng.choice(Y_ALONE).format(y=y))]
        question = rng.choice(questions)
        found.append(Chain(f"a{n}", f"b{n}", question.format(x=x), question.format(x=f"{thing} made of {material}")))
    for n in range(noise):
        text = rng.choice(NOISE).format(c=rng.choice(COLOURS), o=rng.choice(["ball", "box", "key"]),
                                        r=rng.choice(["success", "failure"]), f=rng.choice(REFLECTIONS))
        items.append((f"n{n}", text))
    rng.shuffle(items)
    return items, found


def fill(spec: str, items: list[tuple[str, str]], vectors: np.ndarray):
    from lma.memory import MemoryItem, make_memory

    memory = make_memory(spec)
    for start in range(0, len(items), 20):  # 20 items a write: an agent writes per episode
        batch = [MemoryItem(t, metadata={"env": "bench"}, id=i) for i, t in items[start : start + 20]]
        memory.write_many(batch, embeddings=vectors[start : start + 20])
    return memory


def score(memory, chains: list[Chain], texts: list[str], questions: np.ndarray, k: int) -> dict[str, float]:
    """recall@k (%) of the answer, the first hop and both, and the recall p50 (ms)."""
    hits = {"answer": 0, "first hop": 0, "both": 0}
    times = []
    for chain, text, q in zip(chains, texts, questions):
        begin = time.perf_counter()
        if memory.name.startswith("graph"):
            found = memory.recall(text, k=k, embedding=q)
        else:
            found = memory.recall_vector(q, k=k)
        times.append(time.perf_counter() - begin)
        ids = {m.id for m in found}
        hits["answer"] += chain.b in ids
        hits["first hop"] += chain.a in ids
        hits["both"] += chain.a in ids and chain.b in ids
    result = {name: 100.0 * n / len(chains) for name, n in hits.items()}
    result["p50 ms"] = float(np.percentile(np.asarray(times) * 1000, 50))
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--chains", type=int, default=150)
    p.add_argument("--noise", type=int, default=300)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--k", type=int, default=5)
    args = p.parse_args()
    from lma.memory.embedding import embed_texts

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LMA_HOME"] = tmp
        print(f"{args.chains} chains (4 items each) + {args.noise} noise items; recall@{args.k} in %")
        print(f"{'seed':>4}  {'questions':10}  {'memory':6}  {'answer B':>8}  {'first hop A':>11}  {'both':>6}  "
              f"{'recall p50':>10}")
        for seed in (int(s) for s in args.seeds.split(",")):
            items, chains = generate(args.chains, args.noise, seed)
            vectors = embed_texts([t for _, t in items])
            for backend in ("chroma", "graph"):
                memory = fill(f"{backend}:multihop-{backend}-{seed}", items, vectors)
                for wording in ("question", "paraphrase"):
                    texts = [getattr(c, wording) for c in chains]
                    r = score(memory, chains, texts, embed_texts(texts), args.k)
                    print(f"{seed:>4}  {wording:10}  {backend:6}  {r['answer']:8.1f}  {r['first hop']:11.1f}  "
                          f"{r['both']:6.1f}  {r['p50 ms']:7.1f} ms", flush=True)
                memory.close()

if __name__ == "__main__":
    main()
