"""Tiny randomly initialised Hugging Face models, built locally, for tests and benchmarks.

Nothing here downloads: tokenizers are trained on the spot with the ``tokenizers`` library (a
byte-level BPE, so any JSON can be written) or made as a plain word list, and models are built
from configs with random weights, then saved with ``save_pretrained`` so that the transformers
backend loads them from disk exactly as it loads a real checkpoint. Weights do not matter for
what these models test (loading, chat templates, images through the processor, batching,
constrained decoding) nor for speed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lma.models.chatml import CHATML_WITH_IMAGES

SPECIAL = ["<pad>", "<|im_start|>", "<|im_end|>"]
VLM_SPECIAL = ["<image>", "<fake_token_around_image>", "<global-img>"]
CORPUS = [
    "You are an agent that completes tasks by calling tools. Answer only with JSON.",
    '{"name": "click", "args": {"element": 3}} {"name": "answer", "args": {"text": "red"}}',
    "Describe the image. A red square on a white background, a blue circle, green text.",
    "go to the red ball, pick up the key, open the door, turn left, turn right, move forward",
] * 4


def bpe_tokenizer(vocab_size: int = 400, extra_special: list[str] | None = None, *, chat_template: bool = True) -> Any:
    """A byte-level BPE tokenizer trained here on a small corpus, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    special = SPECIAL + (extra_special or [])
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer)
    return _wrap(tok, chat_template)


def word_tokenizer(vocab_size: int, *, chat_template: bool = True) -> Any:
    """A whitespace word tokenizer with exactly ``vocab_size`` entries (``w0``, ``w1``, ...).

    For benchmarks on a full-size vocabulary, where prompt lengths must be exact in tokens.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {t: i for i, t in enumerate(SPECIAL)}
    vocab.update({f"w{i}": i for i in range(len(SPECIAL), vocab_size)})
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return _wrap(tok, chat_template)


def _wrap(tok: Any, chat_template: bool) -> Any:
    from transformers import PreTrainedTokenizerFast

    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<|im_end|>", bos_token="<|im_start|>"
    )
    if chat_template:
        wrapped.chat_template = CHATML_WITH_IMAGES
    return wrapped


def llama_config(tokenizer: Any, **overrides: Any) -> Any:
    """A Llama config sized by ``overrides`` (tiny by default), with the tokenizer's special ids."""
    from transformers import LlamaConfig

    dims = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=2048, vocab_size=len(tokenizer),
                tie_word_embeddings=False)
    dims.update(overrides)
    return LlamaConfig(**dims, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                       bos_token_id=tokenizer.bos_token_id)


def tiny_llama(path: str | Path, *, tokenizer: Any = None, chat_template: bool = True, seed: int = 0,
               **config: Any) -> Path:
    """Save a random Llama causal LM and its tokenizer to ``path``; returns the path."""
    import torch
    from transformers import LlamaForCausalLM

    tokenizer = tokenizer or bpe_tokenizer(chat_template=chat_template)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(llama_config(tokenizer, **config))
    return _save(path, model, tokenizer)


def tiny_llava(path: str | Path, *, seed: int = 0) -> Path:
    """Save a random LLaVA (CLIP vision tower + Llama) with its processor to ``path``."""
    import torch
    from transformers import CLIPVisionConfig, LlavaForConditionalGeneration

    from lma.models.llava import llava_config_and_processor

    tokenizer = bpe_tokenizer(extra_special=VLM_SPECIAL)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=8, projection_dim=32)
    config, processor = llava_config_and_processor(tokenizer, vision, llama_config(tokenizer))
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    return _save(path, model, processor)


def tiny_idefics3(path: str | Path, *, seed: int = 0) -> Path:
    """Save a random Idefics3 (SigLIP-style vision tower + Llama) with its processor to ``path``."""
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.configuration_idefics3 import Idefics3VisionConfig
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    tokenizer = bpe_tokenizer(extra_special=VLM_SPECIAL + [f"<row_{r}_col_{c}>" for r in range(1, 4) for c in range(1, 4)])
    image_size, patch, scale = 32, 8, 2
    vision = Idefics3VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  image_size=image_size, patch_size=patch)
    config = Idefics3Config(vision_config=vision, text_config=llama_config(tokenizer), scale_factor=scale,
                            image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
                            pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config)
    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": 2 * image_size}, max_image_size={"longest_edge": image_size}, do_image_splitting=True,
    )
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                  image_seq_len=(image_size // patch) ** 2 // scale**2,
                                  chat_template=CHATML_WITH_IMAGES)
    return _save(path, model, processor)


def _save(path: str | Path, model: Any, tokenizer_or_processor: Any) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer_or_processor.save_pretrained(path)
    return path
