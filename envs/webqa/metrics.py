"""WebQA answer metrics that reproduce the official leaderboard numbers.

WebQA (Chang et al., CVPR 2022) scores an answer on two axes: fluency (FL, BARTScore) and
accuracy (Acc, a category-aware word overlap with a keyword answer); the QA score is FL x Acc per
example, averaged. Retrieval is scored separately as the F1 of the chosen sources. This module
re-implements Acc and retrieval F1 following the leaderboard script (``vlp/eval_1022.py`` in
WebQnA/WebQA_Baseline) so numbers computed here are comparable with published ones: on the
baseline prediction files of the validation split it reproduces Acc 0.4961 (VLP+VinVL) and
0.4429 (VLP+x101fpn) within a few thousandths.

Two deliberate differences from the original, both forced by the offline setting:

* The original lemmatises with spaCy's ``en_core_web_sm`` (a model download). Here a blank English
  pipeline with the lookup lemmatiser from ``spacy-lookups-data`` is used; it needs no download and
  moves the published Acc by less than 0.002.
* FL needs BART-large-CNN plus the ParaBank2 weights, which cannot be loaded here, so fluency is
  only computed when the caller passes a scorer; otherwise FL and QA are reported as ``None``
  rather than estimated.

Validation text queries carry the placeholder keyword ``"TBD"`` (keywords were annotated only on
the hidden test split; the leaderboard script would score against the literal word "tbd"). For
missing keywords the metric falls back to the approximation the WebQA authors recommend for the
validation split (``eval_webqa.md`` in WebQnA/WebQA): the reference answer itself becomes the
target, under the same category rule (recall of its words for text queries).
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from lma.errors import LmaError

__all__ = [
    "CATEGORIES",
    "WebQAFormatError",
    "accuracy",
    "normalize_answer",
    "read_prediction_tsv",
    "retrieval_f1",
    "score_predictions",
]

#: Question categories: image queries use the first six, text queries use "text".
CATEGORIES = ("YesNo", "choose", "color", "shape", "number", "Others", "text")
#: Categories scored by F1 of the (filtered) word overlap; the others by recall of the target.
F1_CATEGORIES = frozenset({"color", "shape", "number", "YesNo"})
#: Keyword values that mean "not annotated" (validation text queries use "TBD").
MISSING_KEYWORDS = frozenset({"", "TBD"})
#: Columns the baseline prediction TSV must have (Output_conf is allowed but unused).
REQUIRED_COLUMNS = ("Guid", "Qcate", "Q", "A", "Keywords_A", "Output")


def _load_word_sets() -> dict[str, frozenset[str]]:
    """Load the official color/shape/YesNo vocabularies shipped as package data."""
    text = resources.files(__package__).joinpath("word_sets.json").read_text(encoding="utf-8")
    return {category: frozenset(words) for category, words in json.loads(text).items()}


WORD_SETS = _load_word_sets()

# Normalisation pieces. Only ASCII punctuation is removed (as in the original); a "." survives
# only as a decimal point, i.e. when a digit follows it.
_PUNCTUATION_BUT_DOT = str.maketrans("", "", string.punctuation.replace(".", ""))
_NON_DECIMAL_DOT = re.compile(r"\.(?!\d)")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
# The vocabulary of word2number, which the original uses one word at a time; "point" is kept as a
# word because on its own it is not a number.
_UNITS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)  # fmt: skip
_NUMBER_WORDS = {word: str(value) for value, word in enumerate(_UNITS)} | {
    "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
    "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100", "thousand": "1000",
    "million": "1000000", "billion": "1000000000",
}  # fmt: skip


class WebQAFormatError(LmaError, ValueError):
    """A prediction file line that does not follow the WebQA baseline TSV format.

    Carries ``path`` and ``line`` (1-based) so a broken file can be fixed without a debugger.
    """

    def __init__(self, path: str | Path, line: int, reason: str) -> None:
        super().__init__(f"{path}, line {line}: {reason}")
        self.path = str(path)
        self.line = line


@lru_cache(maxsize=1)
def _lemmatiser() -> Any:
    """Build the spaCy lookup-lemmatiser pipeline once; spaCy is imported lazily so the rest of
    the package works without the ``web`` extra."""
    try:
        import spacy
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "WebQA accuracy needs spaCy's lookup lemmatiser: pip install spacy spacy-lookups-data"
        ) from exc
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return nlp


def _digits(word: str) -> str:
    """Write a number word or digit string as canonical digits ("seven" -> "7", "007" -> "7")."""
    if word.isdigit():
        try:
            return str(int(word))
        except ValueError:  # digit-like characters int() rejects, such as "²"
            return word
    return _NUMBER_WORDS.get(word, word)


def _words_to_digits(text: str) -> str:
    return " ".join(_digits(word) for word in text.split())


def _remove_punctuation(text: str) -> str:
    return _NON_DECIMAL_DOT.sub("", text.translate(_PUNCTUATION_BUT_DOT))


@lru_cache(maxsize=1 << 16)
def _normalize(text: str) -> tuple[str, ...]:
    """Cached core of :func:`normalize_answer`; answers and keywords repeat a lot across rows."""
    lowered = text.lower()
    stripped = text.strip()
    if len(stripped) == 1:
        # A single character ("a", "3", "?") is kept as it is: no punctuation removal, no
        # lemmatisation, so answers like "A" or "5" survive normalisation.
        return tuple(_words_to_digits(lowered).split())
    cleaned = _remove_punctuation(lowered)
    if len(stripped.split()) > 1:
        # Articles go only from multi-word strings so a one-word answer "the"/"a" stays a word.
        cleaned = _ARTICLES.sub(" ", cleaned)
    doc = _lemmatiser()(_words_to_digits(cleaned))
    return tuple(" ".join(token.lemma_ for token in doc).split())


def normalize_answer(text: str) -> list[str]:
    """Normalise an answer into the words WebQA compares.

    Lower-case; drop ASCII punctuation except a decimal point; drop the articles a/an/the unless
    the string is one word; write number words as digits (except "point"); lemmatise with spaCy's
    lookup lemmatiser; split into words. A one-character string is only lower-cased, as in the
    official script. Surface variation ("Two dogs." vs "2 dog") must not cost accuracy.
    """
    return list(_normalize(text))


def _integers(words: Iterable[str]) -> list[str]:
    """Keep the tokens that parse as integers, in canonical form (number questions)."""
    kept = []
    for word in words:
        try:
            kept.append(str(int(word)))
        except ValueError:
            continue
    return kept


def _overlap_score(prediction: str, target: str, category: str) -> float:
    """Score one prediction against one target string under ``category``'s rule."""
    predicted, expected = normalize_answer(prediction), normalize_answer(target)
    if category == "number":
        predicted, expected = _integers(predicted), _integers(expected)
    elif category in WORD_SETS:
        # The official script intersects with the vocabulary as sets, so repeats count once.
        vocabulary = WORD_SETS[category]
        predicted = list(vocabulary.intersection(predicted))
        expected = list(vocabulary.intersection(expected))
    same = sum((Counter(expected) & Counter(predicted)).values())
    if same == 0:
        return 0.0
    recall = same / len(expected)
    if category not in F1_CATEGORIES:
        return recall
    precision = same / len(predicted)
    return 2 * precision * recall / (precision + recall + 1e-5)


def accuracy(prediction: str, references: list[str], keywords: str, category: str) -> float:
    """WebQA accuracy of one answer, in [0, 1].

    color, shape and YesNo keep only words of that category's vocabulary and number keeps only
    integer tokens, then score the F1 of the overlap with the keyword answer,
    2PR/(P+R+1e-5), so a correct colour inside a long sentence still counts while extra colours are
    penalised. choose, Others and text score the recall of the keyword words, since a fluent full
    sentence should not be punished for its extra words. No overlap scores 0.

    When ``keywords`` is missing ("TBD" on validation text queries) the target is each reference
    answer instead and the best score over references is returned: the authors' recommended
    validation approximation, since scoring against the placeholder would give 0 to every answer.
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown WebQA category {category!r}; expected one of {CATEGORIES}")
    if keywords.strip() not in MISSING_KEYWORDS:
        return _overlap_score(prediction, keywords, category)
    return max((_overlap_score(prediction, ref, category) for ref in references), default=0.0)


def retrieval_f1(chosen: list[str], positives: list[str]) -> float:
    """F1 of the chosen source ids against the positive (gold) sources of one question.

    Ids are compared as sets, so choosing the same source twice neither helps nor hurts. Choosing
    nothing, or nothing relevant, scores 0.
    """
    picked, gold = set(chosen), set(positives)
    hits = len(picked & gold)
    if hits == 0:
        return 0.0
    precision, recall = hits / len(picked), hits / len(gold)
    return 2 * precision * recall / (precision + recall)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def score_predictions(
    rows: Iterable[Mapping[str, Any]],
    fluency_fn: Callable[[list[str], list[list[str]]], Sequence[float]] | None = None,
) -> dict[str, Any]:
    """Aggregate WebQA scores over rows as produced by :func:`read_prediction_tsv`.

    Each row needs ``category``, ``prediction``, ``references`` and ``keywords``. Returns
    ``{"n", "acc", "acc_by_category", "fl", "qa"}``; ``acc`` is the mean per-example accuracy.
    Fluency needs a BARTScore model, so it is computed only when ``fluency_fn(predictions,
    references)`` is given, returning one official FL score per example (BARTScore of the answer
    against each reference, divided by the reference's self-score, best reference, capped at 1);
    then ``qa`` is the mean of FL x Acc. Without it ``fl`` and ``qa`` are ``None``, never guessed.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("no WebQA rows to score")
    scores = [
        accuracy(row["prediction"], row["references"], row["keywords"], row["category"])
        for row in rows
    ]
    by_category: dict[str, list[float]] = {}
    for row, score in zip(rows, scores, strict=True):
        by_category.setdefault(row["category"], []).append(score)
    result: dict[str, Any] = {
        "n": len(rows),
        "acc": _mean(scores),
        "acc_by_category": {cat: _mean(values) for cat, values in sorted(by_category.items())},
        "fl": None,
        "qa": None,
    }
    if fluency_fn is not None:
        fluency = [
            float(value)
            for value in fluency_fn(
                [row["prediction"] for row in rows], [list(row["references"]) for row in rows]
            )
        ]
        if len(fluency) != len(rows):
            raise ValueError(f"fluency_fn returned {len(fluency)} scores for {len(rows)} rows")
        result["fl"] = _mean(fluency)
        result["qa"] = _mean([fl * acc for fl, acc in zip(fluency, scores, strict=True)])
    return result


def _json_string_list(path: Path, line: int, column: str, field: str) -> list[str]:
    """Parse a JSON list of strings from one TSV cell, or say precisely what is wrong with it."""
    try:
        value = json.loads(field)
    except json.JSONDecodeError as exc:
        reason = f"column {column} is not valid JSON ({exc.msg})"
        raise WebQAFormatError(path, line, reason) from None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise WebQAFormatError(path, line, f"column {column} must be a JSON list of strings")
    return value


def read_prediction_tsv(path: str | Path) -> list[dict[str, Any]]:
    """Read a WebQA baseline prediction file (tab-separated, with a header line).

    Columns: Guid, Qcate, Q, A (JSON list of reference answers), Keywords_A, Output_conf, Output
    (JSON list of beam outputs, the first being the answer). Returns one dict per row with
    ``guid``, ``category``, ``question``, ``references``, ``keywords``, ``outputs`` and
    ``prediction`` (= ``outputs[0]``). Blank lines are skipped. Any malformed line raises
    :class:`WebQAFormatError` naming the file and line, so bad submissions fail loudly instead of
    being scored silently wrong.
    """
    path = Path(path)
    rows: list[dict[str, Any]] = []
    columns: dict[str, int] | None = None
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if columns is None:
                missing = [name for name in REQUIRED_COLUMNS if name not in fields]
                if missing:
                    raise WebQAFormatError(path, number, f"header lacks columns {missing}")
                columns = {name: index for index, name in enumerate(fields)}
                continue
            if len(fields) != len(columns):
                raise WebQAFormatError(
                    path, number, f"expected {len(columns)} tab-separated fields, got {len(fields)}"
                )
            category = fields[columns["Qcate"]]
            if category not in CATEGORIES:
                raise WebQAFormatError(path, number, f"unknown Qcate {category!r}")
            outputs = _json_string_list(path, number, "Output", fields[columns["Output"]])
            if not outputs:
                raise WebQAFormatError(path, number, "column Output is an empty list")
            rows.append(
                {
                    "guid": fields[columns["Guid"]],
                    "category": category,
                    "question": fields[columns["Q"]],
                    "references": _json_string_list(path, number, "A", fields[columns["A"]]),
                    "keywords": fields[columns["Keywords_A"]],
                    "outputs": outputs,
                    "prediction": outputs[0],
                }
            )
    if columns is None:
        raise WebQAFormatError(path, 1, "empty file: no header line")
    return rows
