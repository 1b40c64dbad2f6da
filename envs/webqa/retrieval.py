"""Offline lexical search over a question's sources: Okapi BM25 on titles, snippets and captions.

WebQA's own baselines rank candidate sources with BM25 as the simplest retriever; the env's
``search(query)`` tool uses the same idea so an agent can find sources without any model or
network. The index is tiny (one question's pool, tens of documents), so it is built at reset.
"""

from __future__ import annotations

import math
import re
from collections import Counter

__all__ = ["BM25", "tokenize"]

_WORD = re.compile(r"[a-z0-9]+")
# Question words and glue that would otherwise match every snippet.
_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from has have how in is it its of on or that the this "
    "to was were what when where which who whom whose why with".split()
)


def _stem(word: str) -> str:
    """Strip a plural "s" so "stars" finds "star" (crude, but symmetric for query and documents)."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def tokenize(text: str) -> list[str]:
    """Lower-cased alphanumeric words without stop words, plurals folded."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


class BM25:
    """Okapi BM25 (k1=1.5, b=0.75, the non-negative Lucene IDF) over a fixed list of documents."""

    def __init__(self, documents: list[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.docs = [Counter(tokenize(d)) for d in documents]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg_length = sum(self.lengths) / len(self.docs) if self.docs else 0.0
        frequency = Counter(term for d in self.docs for term in d)
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in frequency.items()}

    def scores(self, query: str) -> list[float]:
        """The BM25 score of every document for ``query`` (0 where no query word occurs)."""
        terms = [t for t in tokenize(query) if t in self.idf]
        out = []
        for doc, length in zip(self.docs, self.lengths, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / (self.avg_length or 1))
            out.append(sum(self.idf[t] * doc[t] * (self.k1 + 1) / (doc[t] + norm) for t in terms if t in doc))
        return out

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (index, score) pairs with a positive score, best first, ties by index."""
        ranked = sorted(((-s, i) for i, s in enumerate(self.scores(query)) if s > 0))
        return [(i, -s) for s, i in ranked[:k]]
