"""Tiny random diffusers pipelines of the real classes, built from configs (nothing downloaded).

Kandinsky 2.2 (prior + decoder) and Stable unCLIP image variations, the shapes taken from the
sizes diffusers' own tests use, saved with ``save_pretrained`` so lma loads them the way it loads
a user's folder. Their CLIP tokenizer is a byte-level BPE with no merges, made here: every
character is a token, which is all a random text encoder needs.
"""

from __future__ import annotations

from pathlib import Path

import torch

_HIDDEN = 32


def clip_tokenizer(max_length: int = 77):  # noqa: ANN201 - a transformers CLIPTokenizer
    """A CLIPTokenizer over single bytes: the 256 byte-level characters, alone and word-final."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    chars = sorted(ByteLevel.alphabet())
    tokens = ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[], model_max_length=max_length)


def _text_config(tokenizer):  # noqa: ANN001, ANN202
    from transformers import CLIPTextConfig

    return CLIPTextConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                          pad_token_id=tokenizer.pad_token_id, hidden_size=_HIDDEN, projection_dim=_HIDDEN,
                          intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                          vocab_size=len(tokenizer), max_position_embeddings=tokenizer.model_max_length)


def _vision(image_size: int = 32):  # noqa: ANN202
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=_HIDDEN, projection_dim=_HIDDEN, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, image_size=image_size, patch_size=8))
    processor = CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    return encoder, processor


def kandinsky22(folder: Path, max_length: int = 77) -> Path:
    """Save a random Kandinsky 2.2 as ``folder/prior`` and ``folder/decoder``; return ``folder``."""
    from diffusers import (DDIMScheduler, KandinskyV22Pipeline, KandinskyV22PriorPipeline, PriorTransformer,
                           UNet2DConditionModel, UnCLIPScheduler, VQModel)
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(0)
    tokenizer = clip_tokenizer(max_length)
    prior = PriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=_HIDDEN, num_layers=1,
                             num_embeddings=max_length)
    prior.clip_std = torch.nn.Parameter(torch.ones(prior.clip_std.shape))
    image_encoder, processor = _vision()
    KandinskyV22PriorPipeline(
        prior=prior, image_encoder=image_encoder, text_encoder=CLIPTextModelWithProjection(_text_config(tokenizer)),
        tokenizer=tokenizer, image_processor=processor,
        scheduler=UnCLIPScheduler(variance_type="fixed_small_log", prediction_type="sample", num_train_timesteps=1000,
                                  clip_sample=True, clip_sample_range=10.0),
    ).save_pretrained(folder / "prior")
    unet = UNet2DConditionModel(
        in_channels=4, out_channels=8, addition_embed_type="image", encoder_hid_dim=_HIDDEN,
        encoder_hid_dim_type="image_proj", cross_attention_dim=32, attention_head_dim=4, layers_per_block=1,
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn", block_out_channels=(32, 64),
        resnet_time_scale_shift="scale_shift", class_embed_type=None)
    movq = VQModel(block_out_channels=[32, 64], down_block_types=["DownEncoderBlock2D", "AttnDownEncoderBlock2D"],
                   in_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8, norm_type="spatial",
                   num_vq_embeddings=12, out_channels=3, up_block_types=["AttnUpDecoderBlock2D", "UpDecoderBlock2D"],
                   vq_embed_dim=4)
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.00085, beta_end=0.012,
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon")
    KandinskyV22Pipeline(unet=unet, scheduler=scheduler, movq=movq).save_pretrained(folder / "decoder")
    return folder


def stable_unclip(folder: Path) -> Path:
    """Save a random Stable unCLIP image-variation pipeline in ``folder``; return ``folder``."""
    from diffusers import (AutoencoderKL, DDIMScheduler, DDPMScheduler, StableUnCLIPImg2ImgPipeline,
                           UNet2DConditionModel)
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import StableUnCLIPImageNormalizer
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    tokenizer = clip_tokenizer()
    image_encoder, processor = _vision()
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), block_out_channels=(32, 64), attention_head_dim=(2, 4),
        class_embed_type="projection", projection_class_embeddings_input_dim=2 * _HIDDEN,
        cross_attention_dim=_HIDDEN, layers_per_block=1, upcast_attention=True, use_linear_projection=True)
    StableUnCLIPImg2ImgPipeline(
        feature_extractor=processor, image_encoder=image_encoder,
        image_normalizer=StableUnCLIPImageNormalizer(embedding_dim=_HIDDEN),
        image_noising_scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2"),
        tokenizer=tokenizer, text_encoder=CLIPTextModel(_text_config(tokenizer)), unet=unet,
        scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                prediction_type="v_prediction", set_alpha_to_one=False, steps_offset=1),
        vae=AutoencoderKL(block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2,
                          up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=32),
    ).save_pretrained(folder)
    return folder
