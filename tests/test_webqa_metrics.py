"""WebQA metrics: the published baseline Acc is reproduced, and each scoring rule behaves as the
official leaderboard script does (category vocabularies, integers, articles, one-word answers)."""

from pathlib import Path

import pytest

pytest.importorskip("spacy")
pytest.importorskip("spacy_lookups_data")

from lma.envs.webqa.metrics import (
    WebQAFormatError,
    accuracy,
    normalize_answer,
    read_prediction_tsv,
    retrieval_f1,
    score_predictions,
)

DATA = Path(__file__).parent / "data" / "webqa"
IMG_VINVL = DATA / "img_queries_VLP_vinvl_combinedTraining_val_beam5_img_step13_cleaned.tsv"
IMG_X101 = DATA / "img_queries_VLP_x101fpn_combinedTraining_val_beam5_img_step11_cleaned.tsv"
TXT_FILES = [
    DATA / "txt_queries_VLP_vinvl_combinedTraining_val_beam5_txt_step13_cleaned.tsv",
    DATA / "txt_queries_VLP_x101fpn_combinedTraining_val_beam5_txt_step11_cleaned.tsv",
]
HEADER = "Guid\tQcate\tQ\tA\tKeywords_A\tOutput_conf\tOutput\n"
GOOD_LINE = 'g1\tcolor\tWhat color?\t["It is red."]\tred\t"[-1.0]"\t["It is red ."]\n'
IMAGE_CATEGORIES = {"YesNo", "choose", "color", "shape", "number", "Others"}
ONE = 2 / (2 + 1e-5)  # the official F1 of a perfect match, because of the 1e-5 smoothing


# --- published numbers (oracle sources, first beam output) -----------------------------------


@pytest.mark.parametrize(("path", "published"), [(IMG_VINVL, 0.4961), (IMG_X101, 0.4429)])
def test_image_query_accuracy_matches_published(path: Path, published: float) -> None:
    result = score_predictions(read_prediction_tsv(path))
    print(f"{path.name}: acc={result['acc']:.4f} (published {published})")
    assert result["n"] == 2511
    assert result["acc"] == pytest.approx(published, abs=0.005)
    assert set(result["acc_by_category"]) == IMAGE_CATEGORIES
    assert result["fl"] is None and result["qa"] is None


@pytest.mark.parametrize("path", TXT_FILES, ids=lambda p: p.name[:20])
def test_text_query_accuracy_runs(path: Path) -> None:
    # No published figure: validation text queries have Keywords_A == "TBD", so accuracy uses the
    # reference-answer approximation. Only check it is a sensible number.
    result = score_predictions(read_prediction_tsv(path))
    print(f"{path.name}: text acc={result['acc']:.4f} (no published figure)")
    assert result["n"] == 2455
    assert list(result["acc_by_category"]) == ["text"]
    assert 0.2 < result["acc"] < 0.8


# --- normalisation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("The Eiffel Tower", ["eiffel", "tower"]),  # articles dropped from multi-word strings
        ("An apple a day", ["apple", "day"]),
        ("the", ["the"]),  # ... but kept when the string is one word
        ("A", ["a"]),  # one character: only lower-cased
        ("5", ["5"]),
        ("Dogs!", ["dog"]),  # one word: punctuation dropped, lemmatised
        ("seven", ["7"]),
        ("point", ["point"]),  # "point" is not turned into a number
        ("Twenty people", ["20", "people"]),
        ("There are two dogs.", ["there", "be", "2", "dog"]),
        ("It costs 3.5 dollars.", ["it", "cost", "3.5", "dollar"]),  # decimal point survives
        ("1,000 men", ["1000", "man"]),
    ],
)
def test_normalize_answer(text: str, words: list[str]) -> None:
    assert normalize_answer(text) == words


# --- accuracy per category ------------------------------------------------------------------


def test_number_keeps_only_integers() -> None:
    assert accuracy("There are two dogs.", [], "2", "number") == pytest.approx(ONE)
    assert accuracy("There are three dogs.", [], "2", "number") == 0.0
    # An extra integer halves precision: F1 = 2 * 0.5 * 1 / (1.5 + 1e-5).
    assert accuracy("Either 2 or 3 dogs.", [], "2", "number") == pytest.approx(1 / 1.50001)


def test_color_keeps_only_color_words() -> None:
    assert accuracy("The car is bright red.", [], "red", "color") == pytest.approx(ONE)
    assert accuracy("The car is red and white.", [], "red", "color") == pytest.approx(1 / 1.50001)
    assert accuracy("The car is blue.", [], "red", "color") == 0.0
    # Vocabulary filtering works on sets: a repeated colour counts once.
    assert accuracy("Red, red and more red.", [], "red", "color") == pytest.approx(ONE)


def test_shape_uses_shape_vocabulary() -> None:
    assert accuracy("The window is round.", [], "round", "shape") == pytest.approx(ONE)
    assert accuracy("The window is square.", [], "round", "shape") == 0.0


def test_yes_no() -> None:
    assert accuracy("Yes, it does have petals.", [], "Yes", "YesNo") == pytest.approx(ONE)
    assert accuracy("Yes, the flower has petals in a cup shape.", [], "No", "YesNo") == 0.0
    assert accuracy("The flower has petals.", [], "Yes", "YesNo") == 0.0  # no yes/no word


def test_choose_and_others_use_keyword_recall() -> None:
    # Recall ignores the extra words of a full-sentence answer.
    assert accuracy("A fountain sits in front of the clock tower.", [], "fountain", "Others") == 1
    assert accuracy("A fountain stands there.", [], "stone fountain", "Others") == 0.5
    assert accuracy("The left one is taller.", [], "right", "choose") == 0.0


def test_text_query_without_keywords_scores_against_reference() -> None:
    reference = ["The Eiffel Tower is in Paris."]
    # Target words: eiffel tower be in paris; the answer has 4 of the 5.
    assert accuracy("The tower is in Paris.", reference, "TBD", "text") == pytest.approx(0.8)
    assert accuracy("Nothing relevant.", reference, "TBD", "text") == 0.0


def test_unknown_category_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown WebQA category"):
        accuracy("red", [], "red", "colour")


# --- retrieval -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chosen", "positives", "f1"),
    [
        (["a", "b"], ["a", "b"], 1.0),
        (["a"], ["a", "b"], 2 / 3),  # P=1, R=0.5
        (["a", "b", "c", "d"], ["a", "b"], 2 / 3),  # P=0.5, R=1
        (["a", "a"], ["a"], 1.0),  # duplicates count once
        (["c"], ["a", "b"], 0.0),
        ([], ["a"], 0.0),
    ],
)
def test_retrieval_f1(chosen: list[str], positives: list[str], f1: float) -> None:
    assert retrieval_f1(chosen, positives) == pytest.approx(f1)


# --- aggregation and file format -------------------------------------------------------------


def test_fluency_only_from_caller() -> None:
    rows = [
        {"category": "color", "prediction": answer, "references": ["Red."], "keywords": "red"}
        for answer in ("It is red.", "It is blue.")
    ]
    result = score_predictions(rows, fluency_fn=lambda preds, refs: [0.5] * len(preds))
    assert result["acc"] == pytest.approx(ONE / 2)
    assert result["fl"] == 0.5
    assert result["qa"] == pytest.approx(0.5 * ONE / 2)
    with pytest.raises(ValueError, match="1 scores for 2 rows"):
        score_predictions(rows, fluency_fn=lambda preds, refs: [0.5])


def test_reader_parses_rows(tmp_path: Path) -> None:
    path = tmp_path / "ok.tsv"
    path.write_text(HEADER + GOOD_LINE + "\n", encoding="utf-8")
    (row,) = read_prediction_tsv(path)
    assert row["category"] == "color"
    assert row["references"] == ["It is red."]
    assert row["prediction"] == "It is red ."


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ('g2\tcolor\tQ?\t["A."]\tred\t"[-1.0]"\t["It is red ." \n', "column Output is not valid"),
        ('g2\tcolor\tQ?\t"A."\tred\t"[-1.0]"\t["x"]\n', "column A must be a JSON list of strings"),
        ("g2\tcolor\tQ?\n", "expected 7 tab-separated fields, got 3"),
        ('g2\tcolour\tQ?\t["A."]\tred\t"[-1.0]"\t["x"]\n', "unknown Qcate"),
        ('g2\tcolor\tQ?\t["A."]\tred\t"[-1.0]"\t[]\n', "column Output is an empty list"),
    ],
)
def test_malformed_line_names_the_line(tmp_path: Path, bad_line: str, reason: str) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text(HEADER + GOOD_LINE + bad_line, encoding="utf-8")
    with pytest.raises(WebQAFormatError, match=f"line 3: {reason}") as info:
        read_prediction_tsv(path)
    assert info.value.line == 3
    assert isinstance(info.value, ValueError)
