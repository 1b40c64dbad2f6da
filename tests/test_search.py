"""Multimodal search: the index in Chroma, fused and composed queries, filters, the tool and the CLI.

Mechanics run on a tiny CLIP trained here for a few steps; what the search finds is checked with
the small CLIP shipped in lma/images/weights/clip.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from lma.cli import main
from lma.images.clip import ClipConfig
from lma.images.clip_train import TrainConfig, train_clip
from lma.images.scenes import (
    Scene,
    draw_single,
    make_scenes,
    single_caption,
    write_dataset,
)
from lma.search.compose import DEFAULT_WEIGHTS, Weights
from lma.search.index import SearchError, SearchIndex
from lma.search.matrix import Matrix
from lma.tools.search import SearchTool

TINY = ClipConfig(dim=16, channels=(8, 16, 16), text_width=16, text_layers=1, text_heads=2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    docs = write_dataset(root / "docs", make_scenes(40, seed=5, relation_share=0.0))
    clip, _ = train_clip(docs, root / "clip", TrainConfig(steps=3, batch_size=8, device="cpu"), TINY)
    return root, docs, SearchIndex.build(docs, root / "index", root / "clip", backend=clip)


def test_index_reopens_and_searches_by_text_image_and_both(tiny):
    root, docs, _ = tiny
    again = SearchIndex.open(root / "index")
    assert len(again) == 40 and again.info["clip"] == str((root / "clip").resolve())
    picture = make_scenes(1, seed=99, relation_share=0.0)[0].render()
    for kwargs in ({"text": "a red circle"}, {"image": picture}, {"image": picture, "text": "but green"}):
        hits = again.search(k=7, **kwargs)
        assert len(hits) == 7 and len({h.id for h in hits}) == 7
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert all(h.image and h.image.startswith(str(docs)) for h in hits)


def test_filters_keep_only_that_colour_and_pattern(tiny):
    _, _, index = tiny
    everything = index.search(text="a circle", k=40)
    colors = {h.color for h in everything}
    color = min(colors)
    hits = index.search(text="a circle", color=color, k=40)
    assert hits and all(h.color == color for h in hits)
    assert len(hits) == sum(h.color == color for h in everything)
    pattern = everything[0].pattern
    assert all(h.pattern == pattern and h.color == color
               for h in index.search(text="a circle", color=color, pattern=pattern, k=40))


def test_bad_input_is_one_clear_error(tiny, tmp_path):
    root, docs, index = tiny
    with pytest.raises(SearchError, match="needs a picture, a text, or both"):
        index.search(text="  ")
    with pytest.raises(SearchError, match="unknown color 'teal'"):
        index.search(text="a", color="teal")
    with pytest.raises(SearchError, match="already exists"):
        SearchIndex.build(docs, root / "index")
    with pytest.raises(SearchError, match="no documents to index"):
        SearchIndex.build([], tmp_path / "empty")
    assert not (tmp_path / "empty").exists()
    with pytest.raises(SearchError, match="is not a search index"):
        SearchIndex.open(tmp_path)
    (tmp_path / "bad.png").write_bytes(b"GIF89a but not really")
    assert main(["search", "query", str(root / "index"), "--image", str(tmp_path / "bad.png")]) == 2
    assert main(["search", "query", str(root / "index")]) == 2


def test_an_emptied_index_says_so(tiny, tmp_path):
    root, docs, index = tiny
    small = SearchIndex.build(docs, tmp_path / "idx", root / "clip", backend=index.backend)
    for collection in (small.images, small.texts):
        collection.delete(ids=collection.get()["ids"])
    with pytest.raises(SearchError, match="is empty"):
        small.search(text="a red circle")


def _chroma_scores(collection, vector, where=None):
    """Chroma's own nearest-neighbour search, as {id: cosine}: exhaustive on 40 documents (HNSW
    visits them all), so it is the ranking the probes of the former search gave."""
    found = collection.query(query_embeddings=[vector], n_results=40, where=where, include=["distances"])
    return {i: 1 - d for i, d in zip(found["ids"][0], found["distances"][0])}


def test_exact_scoring_ranks_as_chroma_does_with_and_without_filters(tiny):
    _, _, index = tiny
    picture = make_scenes(1, seed=98, relation_share=0.0)[0].render()
    color = index.search(text="a circle", k=1)[0].color
    for vectors in (index.vectors(text="a red circle"), index.vectors(image=picture)):
        for collection, w in ((index.images, 1.0), (index.texts, 0.0)):
            for where, kwargs in ((None, {}), ({"color": color}, {"color": color})):
                expected = _chroma_scores(collection, vectors.main, where)
                hits = index.search_vectors(vectors, k=40, weights=Weights(image=w), **kwargs)
                assert len(hits) == len(expected) and {h.id for h in hits} == set(expected)
                assert [h.score for h in hits] == pytest.approx(sorted(expected.values(), reverse=True), abs=1e-5)
                assert all(h.score == pytest.approx(expected[h.id], abs=1e-5) for h in hits)  # ties may swap
    composed = index.vectors(image=picture, text="but green")
    rows = index.images.get(include=["embeddings"])
    text_of = dict(zip(*(index.texts.get(include=["embeddings"])[key] for key in ("ids", "embeddings"))))
    w = DEFAULT_WEIGHTS
    fused = {i: w.image * emb @ composed.main + (1 - w.image) * text_of[i] @ composed.main
             + w.modifier * text_of[i] @ composed.modifier for i, emb in zip(rows["ids"], rows["embeddings"])}
    hits = index.search_vectors(composed, k=10)
    assert [h.score for h in hits] == pytest.approx(sorted(fused.values(), reverse=True)[:10], abs=1e-5)
    assert all(h.score == pytest.approx(fused[h.id], abs=1e-5) for h in hits)


def test_the_matrix_follows_chroma(tiny, tmp_path):
    """Written with the index; rebuilt from Chroma when missing or when Chroma's count changed."""
    root, docs, index = tiny
    small = SearchIndex.build(docs, tmp_path / "idx", root / "clip", backend=index.backend)
    assert (tmp_path / "idx" / "vectors.npz").is_file()
    before = [(h.id, round(h.score, 5)) for h in small.search(text="a red circle", k=5)]
    (tmp_path / "idx" / "vectors.npz").unlink()
    again = SearchIndex.open(tmp_path / "idx", backend=index.backend)
    assert [(h.id, round(h.score, 5)) for h in again.search(text="a red circle", k=5)] == before
    assert (tmp_path / "idx" / "vectors.npz").is_file()
    database = tmp_path / "idx" / "chroma" / "chroma.sqlite3"
    os.utime(database, (database.stat().st_atime - 60, database.stat().st_mtime - 60))  # quiet: trusted
    query = again.vectors(text="a red circle")
    assert again.search_vectors(query, k=1)[0].id != "new"
    again.images.add(ids=["new"], embeddings=[query.main], metadatas=[{"text": "added", "color": "red",
                                                                       "pattern": "plain"}])
    again.texts.add(ids=["new"], embeddings=[query.main], metadatas=[{"text": "added"}])
    hits = again.search_vectors(query, color="red", k=1)
    assert hits[0].id == "new" and hits[0].text == "added" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert len(Matrix.load(tmp_path / "idx")) == 41  # saved for the next process


def test_the_tool_names_pictures_by_reference(tiny):
    _, _, index = tiny
    picture = make_scenes(1, seed=4, relation_share=0.0)[0].render()
    tool = SearchTool(index, pictures=lambda ref: picture if ref == "picture" else None)
    result = tool(text="but green", image="picture", k=3)
    assert result.ok and result.output.startswith("3 results") and len(result.data["hits"]) == 3
    assert result.image is not None and result.image.shape == (32, 32, 3)
    first = result.data["hits"][0]["id"]
    assert tool(image=first, k=1).data["hits"][0]["id"] == first  # a document's own picture finds it
    assert not tool(image="/etc/passwd").ok  # a path is not a picture name
    assert "needs a text, an image" in tool().error
    assert not tool(text="x", color="teal").ok  # the schema refuses it


def test_cli_index_and_query(tiny, tmp_path, capsys):
    root, docs, _ = tiny
    out = tmp_path / "cli-index"
    assert main(["search", "index", str(docs), "--out", str(out), "--clip", str(root / "clip")]) == 0
    capsys.readouterr()
    assert main(["search", "query", str(out), "--text", "a red circle", "-k", "3"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 3 and all(len(r.split("\t")) == 6 for r in rows)
    assert main(["search", "index", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2


# --- the shipped small CLIP, end to end ----------------------------------------------------------

def _product(color: str, shape: str, pattern: str, seed: int) -> Scene:
    return draw_single(np.random.default_rng(seed), color, shape, pattern)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """One product per colour x shape x pattern (54), each one object; queries are re-drawn scenes."""
    from lma.images.attributes import VALUES

    docs = [{"id": f"{c}-{s}-{p}", "text": single_caption(c, s, p), "image": _product(c, s, p, 1).render()}
            for c in VALUES["color"] for s in VALUES["shape"] for p in VALUES["pattern"]]
    return SearchIndex.build(docs, tmp_path_factory.mktemp("shop") / "index")


def test_shipped_clip_composed_query_finds_the_changed_product(catalogue):
    hits_at_1 = 0
    cases = [("blue", "circle", "striped", "green"), ("red", "square", "plain", "yellow"),
             ("purple", "triangle", "dotted", "orange"), ("yellow", "circle", "plain", "blue")]
    for color, shape, pattern, target in cases:
        picture = _product(color, shape, pattern, 7).render()
        hits = catalogue.search(image=picture, text=f"but {target}", k=10)
        assert f"{target}-{shape}-{pattern}" in [h.id for h in hits]
        hits_at_1 += hits[0].id == f"{target}-{shape}-{pattern}"
        assert catalogue.search(image=picture, k=1)[0].id == f"{color}-{shape}-{pattern}"
    assert hits_at_1 >= 3


def test_shipped_clip_filters_by_predicted_colour(catalogue):
    hits = catalogue.search(text="a circle", color="green", k=54)
    assert hits and all(h.color == "green" for h in hits)
    assert sum(h.id.startswith("green-") for h in hits) >= 0.8 * len(hits)
