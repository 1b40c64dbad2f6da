"""WebQA fluency (FL): BARTScore of an answer against the references, normalised per reference.

WebQA's leaderboard script (``vlp/eval_1022.py`` in WebQnA/WebQA_Baseline) scores fluency with
BARTScore (Yuan et al., 2021) using ``facebook/bart-large-cnn`` fine-tuned on ParaBank2
(``bart.pth``). For one answer ``c`` with references ``a_1..a_n``, after removing punctuation and
extra spaces from all strings::

    FL = min(1, max_j  exp(S(a_j -> c)) / exp(S(a_j -> a_j)))

where ``S(x -> y)`` is the mean log-likelihood of the tokens of ``y`` given ``x`` under BART.
Dividing by the reference's own score makes a verbatim reference score exactly 1.

Those weights are not available here, so FL is computed only when the user points to a local
copy: a folder that ``BartForConditionalGeneration.from_pretrained`` and
``AutoTokenizer.from_pretrained`` can load (for example ``facebook/bart-large-cnn`` saved with
``save_pretrained``), optionally holding the ParaBank2 ``bart.pth`` state dict, which is then
loaded over the weights as the original script does. Nothing is ever downloaded
(``local_files_only``); without a model, FL is reported as unavailable, never estimated.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lma.errors import LmaError

__all__ = ["PARABANK_WEIGHTS", "BARTScorer", "normalize_for_bart"]

#: The ParaBank2 fine-tuned weights file, loaded over the model when present in the folder.
PARABANK_WEIGHTS = "bart.pth"
_PUNCTUATION = str.maketrans(dict.fromkeys(string.punctuation))


def normalize_for_bart(text: str) -> str:
    """The light normalisation WebQA applies before BARTScore: no punctuation, single spaces."""
    return " ".join(text.translate(_PUNCTUATION).split())


class BARTScorer:
    """BARTScore with a local BART model; ``fluency`` is the WebQA FL of many answers at once."""

    def __init__(self, path: str | Path, *, device: str | None = None, batch_size: int = 16,
                 max_length: int = 1024) -> None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise LmaError(f"BARTScore model folder not found: {folder}")
        try:
            import torch
            from transformers import AutoTokenizer, BartForConditionalGeneration
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise LmaError(f"BARTScore needs torch and transformers (pip install 'lma[hf]'): {exc}") from None
        hf_logging.disable_progress_bar()
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size, self.max_length = batch_size, max_length
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            self.model = BartForConditionalGeneration.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise LmaError(f"{folder} does not hold a BART model and tokenizer: {exc}") from None
        weights = folder / PARABANK_WEIGHTS
        if weights.is_file():
            try:
                state = torch.load(weights, map_location="cpu", weights_only=True)
                self.model.load_state_dict(state)
            except (RuntimeError, OSError, ValueError) as exc:
                raise LmaError(f"{weights} is not a state dict for this BART model: {exc}") from None
        self.model.eval().to(self.device)
        self._torch = torch

    def score(self, sources: Sequence[str], targets: Sequence[str]) -> list[float]:
        """BARTScore ``S(source -> target)`` of each pair: the mean token log-likelihood of the
        target given the source (padding excluded), as in the BARTScore reference code."""
        torch = self._torch
        pad = self.model.config.pad_token_id
        out: list[float] = []
        for start in range(0, len(sources), self.batch_size):
            src = list(sources[start : start + self.batch_size])
            tgt = list(targets[start : start + self.batch_size])
            options: dict[str, Any] = dict(max_length=self.max_length, truncation=True, padding=True,
                                           return_tensors="pt")  # fmt: skip
            encoded_src = self.tokenizer(src, **options).to(self.device)
            encoded_tgt = self.tokenizer(tgt, **options).to(self.device)
            labels = encoded_tgt["input_ids"]
            with torch.no_grad():
                logits = self.model(input_ids=encoded_src["input_ids"], attention_mask=encoded_src["attention_mask"],
                                    labels=labels).logits  # fmt: skip
                log_probs = torch.log_softmax(logits.float(), dim=-1)
                picked = log_probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
                picked = picked.masked_fill(labels == pad, 0.0)
                lengths = encoded_tgt["attention_mask"].sum(dim=1).clamp(min=1)
                out.extend((picked.sum(dim=1) / lengths).tolist())
        return out

    def fluency(self, predictions: list[str], references: list[list[str]]) -> list[float]:
        """WebQA FL of each prediction against its references (see the module docstring).

        Fits :func:`lma.envs.webqa.metrics.score_predictions`'s ``fluency_fn``.
        """
        sources, targets, owners = [], [], []
        for row, (prediction, refs) in enumerate(zip(predictions, references, strict=True)):
            answer = normalize_for_bart(prediction)
            for ref in (normalize_for_bart(r) for r in refs):
                sources += [ref, ref]
                targets += [answer, ref]
                owners.append(row)
        scores = self.score(sources, targets)
        best = [0.0] * len(predictions)
        for k, row in enumerate(owners):
            ratio = math.exp(scores[2 * k] - scores[2 * k + 1])  # exp(S(a->c)) / exp(S(a->a)), no underflow
            best[row] = max(best[row], min(1.0, ratio))
        return best
