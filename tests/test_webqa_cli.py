"""``lma webqa score`` and ``generate`` as a user runs them, and BARTScore fluency on a tiny random
BART built here (the real bart-large-cnn + ParaBank2 weights cannot be loaded on this machine)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("spacy")
pytest.importorskip("spacy_lookups_data")

from lma.cli import main as lma_main

DATA = Path(__file__).parent / "data" / "webqa"
IMG_VINVL = DATA / "img_queries_VLP_vinvl_combinedTraining_val_beam5_img_step13_cleaned.tsv"
IMG_X101 = DATA / "img_queries_VLP_x101fpn_combinedTraining_val_beam5_img_step11_cleaned.tsv"
HEADER = "Guid\tQcate\tQ\tA\tKeywords_A\tOutput_conf\tOutput\n"


def lma(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lma.cli", *args], capture_output=True, text=True, timeout=300)


def prediction_file(path: Path, rows: list[tuple[str, str, list[str], str, str]]) -> Path:
    """Rows of (category, question, references, keywords, output) in the baseline format."""
    lines = [
        f"g{i}\t{cat}\t{q}\t{json.dumps(refs)}\t{kw}\t\"[-1.0]\"\t{json.dumps([out])}\n"
        for i, (cat, q, refs, kw, out) in enumerate(rows)
    ]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(("path", "published"), [(IMG_VINVL, 0.4961), (IMG_X101, 0.4429)])
def test_score_reproduces_published_accuracy(path: Path, published: float) -> None:
    done = lma("webqa", "score", str(path))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    print(f"{path.name}: acc={result['acc']:.4f} (published {published})")
    assert result["n"] == 2511
    assert result["acc"] == pytest.approx(published, abs=0.005)
    assert set(result["acc_by_category"]) == {"YesNo", "choose", "color", "shape", "number", "Others"}
    assert result["fl"] is None and result["qa"] is None


def test_score_bad_files_exit_2_with_one_line(tmp_path: Path) -> None:
    missing = lma("webqa", "score", str(tmp_path / "none.tsv"))
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0
    assert "no such prediction file" in missing.stderr
    bad = tmp_path / "bad.tsv"
    bad.write_text(HEADER + 'g1\tcolor\tQ?\t["A."]\tred\t"[-1.0]"\t["It is red ." \n', encoding="utf-8")
    malformed = lma("webqa", "score", str(bad))
    assert malformed.returncode == 2 and malformed.stderr.strip().count("\n") == 0
    assert f"{bad}, line 2: column Output is not valid JSON" in malformed.stderr
    (tmp_path / "header.tsv").write_text(HEADER, encoding="utf-8")
    assert lma_main(["webqa", "score", str(tmp_path / "header.tsv")]) == 2


def test_generate_writes_the_set_and_keeps_existing_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "set"
    assert lma_main(["webqa", "generate", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["questions"] >= 200 and summary["images"] == 80
    before = (out / "WebQA_train_val.json").read_bytes()
    assert lma_main(["webqa", "generate", str(out), "--seed", "3"]) == 2
    assert "already holds" in capsys.readouterr().err
    assert (out / "WebQA_train_val.json").read_bytes() == before  # nothing lost
    assert lma_main(["webqa", "generate", str(out), "--seed", "3", "--force"]) == 0
    assert (out / "WebQA_train_val.json").read_bytes() != before


# --- BARTScore fluency on a tiny random BART -------------------------------------------------


def build_tiny_bart(folder: Path, seed: int = 0) -> Path:
    """A 2-layer BART with a byte-level BPE tokenizer trained here; nothing is downloaded."""
    torch = pytest.importorskip("torch")
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    from tokenizers import decoders, models, pre_tokenizers, processors, trainers

    tok = tokenizers.Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    corpus = ["The car is red.", "There are two dogs in the park.", "The Eiffel Tower is in Paris."] * 4
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                                pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
    fast.save_pretrained(folder)
    config = transformers.BartConfig(
        vocab_size=len(fast), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2,
    )  # fmt: skip
    torch.manual_seed(seed)
    transformers.BartForConditionalGeneration(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_bart(tmp_path_factory) -> Path:
    return build_tiny_bart(tmp_path_factory.mktemp("bart") / "tiny")


def test_bartscore_matches_the_model_likelihood(tiny_bart: Path) -> None:
    import torch

    from lma.envs.webqa.fluency import BARTScorer

    scorer = BARTScorer(tiny_bart, device="cpu", batch_size=2)
    pairs = [("The car is red", "It is red"), ("There are two dogs", "Two dogs in the park today"),
             ("The Eiffel Tower", "Paris")]  # fmt: skip
    batched = scorer.score([s for s, _ in pairs], [t for _, t in pairs])
    for (src, tgt), score in zip(pairs, batched, strict=True):
        # S(src -> tgt) is minus the model's own mean token loss; padding in a batch changes nothing.
        enc_src, enc_tgt = scorer.tokenizer(src, return_tensors="pt"), scorer.tokenizer(tgt, return_tensors="pt")
        with torch.no_grad():
            loss = scorer.model(**enc_src, labels=enc_tgt["input_ids"]).loss.item()
        assert score == pytest.approx(-loss, abs=1e-5)


def test_fluency_formula(tiny_bart: Path) -> None:
    from lma.envs.webqa.fluency import BARTScorer, normalize_for_bart

    scorer = BARTScorer(tiny_bart, device="cpu")
    refs = ["The car is red.", "It's red!"]
    predictions = ["The car is red", "A dog.", "Paris is in France, next to the Eiffel Tower."]
    fl = scorer.fluency(predictions, [refs] * len(predictions))
    assert fl[0] == pytest.approx(1.0)  # a reference, up to punctuation, scores exactly 1
    for prediction, value in zip(predictions, fl, strict=True):
        clean = [normalize_for_bart(r) for r in refs]
        own = scorer.score(clean, clean)
        cand = scorer.score(clean, [normalize_for_bart(prediction)] * 2)
        assert value == pytest.approx(min(1.0, max(math.exp(c - o) for c, o in zip(cand, own, strict=True))))
        assert 0.0 < value <= 1.0


def test_parabank_weights_are_loaded_over_the_model(tiny_bart: Path, tmp_path: Path) -> None:
    import torch
    from transformers import BartForConditionalGeneration

    from lma.envs.webqa.fluency import PARABANK_WEIGHTS, BARTScorer

    other = build_tiny_bart(tmp_path / "other", seed=1)
    folder = tmp_path / "with-pth"
    folder.mkdir()
    for item in tiny_bart.iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    state = BartForConditionalGeneration.from_pretrained(other).state_dict()
    torch.save(state, folder / PARABANK_WEIGHTS)
    pair = (["The car is red"], ["It is a dog"])
    loaded = BARTScorer(folder, device="cpu").score(*pair)
    assert loaded == pytest.approx(BARTScorer(other, device="cpu").score(*pair))
    assert loaded != pytest.approx(BARTScorer(tiny_bart, device="cpu").score(*pair))


def test_score_with_bartscore_reports_fl_and_qa(tiny_bart: Path, tmp_path: Path) -> None:
    path = prediction_file(tmp_path / "preds.tsv", [
        ("color", "What color is the car?", ["The car is red."], "red", "The car is red."),
        ("YesNo", "Is it a dog?", ["Yes, it is a dog."], "yes", "Yes, it is a dog."),
        ("text", "Where is the tower?", ["The Eiffel Tower is in Paris."], "TBD", "The Eiffel Tower is in Paris."),
    ])  # fmt: skip
    done = lma("webqa", "score", str(path), "--bartscore", str(tiny_bart))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # Every output is its reference verbatim: FL is 1 each, so QA equals Acc.
    assert result["n"] == 3 and result["fl"] == pytest.approx(1.0)
    assert result["qa"] == pytest.approx(result["acc"]) and result["acc"] > 0.99
    broken = lma("webqa", "score", str(path), "--bartscore", str(tmp_path / "no-model"))
    assert broken.returncode == 2 and "BARTScore model folder not found" in broken.stderr
