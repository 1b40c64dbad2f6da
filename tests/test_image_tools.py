"""unCLIP image tools: tiny random diffusers pipelines (Kandinsky 2.2, Stable unCLIP), lma's small
unCLIP trained for a few steps here and the shipped one, the manipulations, tools, CLI, bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lma.cli import main
from lma.errors import LmaError
from lma.images import small_unclip, unclip
from lma.images.clip import ClipConfig
from lma.images.clip_train import TrainConfig, train_clip
from lma.images.decoder import DecoderConfig, DecoderTraining
from lma.images.prior import PriorConfig, PriorTraining
from lma.images.scenes import make_scenes, write_dataset
from lma.tools.image import ImageWorkspace, image_tools

pytest.importorskip("diffusers")
import tiny_diffusers  # noqa: E402  (tests/ is on the path)

TINY_CLIP = ClipConfig(image_size=32, dim=32, channels=(8, 16, 16, 16), text_width=32, text_layers=1, text_heads=2)
TINY_PRIOR = (PriorConfig(width=32, blocks=1), PriorTraining(steps=20, batch_size=32))
TINY_DECODER = (DecoderConfig(channels=(16, 16), attention=(False, False), sample_steps=2),
                DecoderTraining(steps=3, batch_size=8, device="cpu"))
WEIGHTS = Path(unclip.__file__).parent / "weights" / "unclip"


def _picture(color: tuple[int, int, int] = (220, 30, 30), size: int = 32) -> Image.Image:
    image = Image.new("RGB", (size, size), (245, 245, 240))
    image.paste(Image.new("RGB", (size // 2, size // 2), color), (size // 4, size // 4))
    return image


@pytest.fixture(scope="module")
def kandinsky(tmp_path_factory):
    folder = tiny_diffusers.kandinsky22(tmp_path_factory.mktemp("k22"))
    return folder, unclip.load(folder, steps=2, prior_steps=2, size=16, device="cpu")


@pytest.fixture(scope="module")
def stable(tmp_path_factory):
    folder = tiny_diffusers.stable_unclip(tmp_path_factory.mktemp("sunclip"))
    return folder, unclip.load(folder, steps=2, size=16, device="cpu")


@pytest.fixture(scope="module")
def tiny_unclip(tmp_path_factory):
    """A small unCLIP of tiny CLIP, prior and decoder, each trained for a few steps."""
    root = tmp_path_factory.mktemp("small")
    data = write_dataset(root / "data", make_scenes(48, seed=5))
    train_clip(data, root / "clip", TrainConfig(steps=5, batch_size=16, warmup=1), TINY_CLIP)
    figures = small_unclip.train(data, root / "unclip", clip=root / "clip", prior=TINY_PRIOR, decoder=TINY_DECODER)
    return root, figures


def test_kandinsky_runs_every_manipulation(kandinsky):
    _, backend = kandinsky
    a, b = _picture(), _picture((30, 60, 220))
    assert unclip.generate(backend, "a red square", seed=0).size == (16, 16)
    assert unclip.vary(backend, a, 0.3).size == (16, 16)
    ends = unclip.interpolation_path(backend, a, b, 2)  # t=0 and t=1, the same decoder noise
    assert not np.array_equal(np.asarray(ends[0]), np.asarray(ends[1]))
    edited = unclip.text_diff(backend, a, "a red square", "a green square", 0.5, seed=0)
    assert not np.array_equal(np.asarray(edited), np.asarray(ends[0]))


def test_stable_unclip_varies_and_interpolates_and_refuses_the_rest(stable):
    _, backend = stable
    a, b = _picture(), _picture((30, 60, 220))
    assert unclip.vary(backend, a).size == (16, 16)
    assert unclip.interpolate(backend, a, b, 0.5).size == (16, 16)
    with pytest.raises(LmaError, match="no prior"):
        unclip.generate(backend, "a red square")
    with pytest.raises(LmaError, match="text diffs need"):
        unclip.text_diff(backend, a, "red", "green")


def test_wrong_or_half_pipeline_folders_are_one_line(kandinsky, stable, tmp_path):
    k_folder, _ = kandinsky
    s_folder, _ = stable
    with pytest.raises(LmaError, match="one half of Kandinsky 2.2"):
        unclip.load(k_folder / "prior")
    other = tmp_path / "sd"
    other.mkdir()
    (other / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(LmaError, match="holds a StableDiffusionPipeline"):
        unclip.load(other)
    with pytest.raises(LmaError, match="neither an lma unCLIP folder"):
        unclip.load(tmp_path)
    with pytest.raises(LmaError, match="no model folder"):
        unclip.load(tmp_path / "missing")
    mixed = tmp_path / "mixed"
    (mixed / "prior").mkdir(parents=True)
    (mixed / "prior" / "model_index.json").write_text((s_folder / "model_index.json").read_text())
    with pytest.raises(LmaError, match=f"holds a StableUnCLIPImg2ImgPipeline, not a KandinskyV22PriorPipeline"):
        unclip.load(mixed)


def test_bad_input_is_one_clear_line(kandinsky, tmp_path):
    _, backend = kandinsky
    with pytest.raises(LmaError, match="at most 77"):
        unclip.generate(backend, "a red square " * 40)
    for bad in (-0.1, 1.5):
        with pytest.raises(LmaError, match=r"t must be in \[0, 1\]"):
            unclip.interpolate(backend, _picture(), _picture(), bad)
    not_image = tmp_path / "notes.png"
    not_image.write_text("not a picture")
    with pytest.raises(LmaError, match="is not an image"):
        unclip.vary(backend, not_image)
    with pytest.raises(LmaError, match="no image file"):
        unclip.vary(backend, tmp_path / "absent.png")
    with pytest.raises(LmaError, match="same text embedding"):
        unclip.text_diff(backend, _picture(), "a red square", "a red square")


def test_slerp_stays_on_the_sphere_and_hits_its_ends():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(16), rng.standard_normal(16)
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    assert np.allclose(unclip.slerp(a, b, 0.0), a, atol=1e-6) and np.allclose(unclip.slerp(a, b, 1.0), b, atol=1e-6)
    middle = unclip.slerp(a, b, 0.5)
    assert np.isclose(np.linalg.norm(middle), 1.0, atol=1e-5)
    assert np.isclose(middle @ a, middle @ b, atol=1e-5)


def test_small_unclip_trains_saves_and_loads(tiny_unclip):
    root, figures = tiny_unclip
    assert figures["prior"]["steps"] == 20 and figures["decoder"]["steps"] == 3
    backend = unclip.load(root / "unclip", device="cpu")
    assert isinstance(backend, small_unclip.SmallUnclip)
    image = unclip.generate(backend, "a red circle", seed=3)
    assert image.size == (32, 32)
    assert np.array_equal(np.asarray(image), np.asarray(unclip.generate(backend, "a red circle", seed=3)))
    assert unclip.text_diff(backend, image, "a red circle", "a green circle", 0.5).size == (32, 32)
    with pytest.raises(LmaError, match="longer than this text encoder takes"):
        unclip.generate(backend, "red " * 40)


def test_a_half_trained_folder_never_looks_complete(tiny_unclip, tmp_path):
    root, _ = tiny_unclip
    data = root / "data"
    small_unclip.train(data, tmp_path / "u", clip=root / "clip", parts=("prior",), prior=TINY_PRIOR)
    assert not list((tmp_path / "u").glob(".*tmp*"))
    with pytest.raises(LmaError, match="has a prior but no decoder"):
        unclip.load(tmp_path / "u")
    with pytest.raises(LmaError, match="already holds a trained prior"):
        small_unclip.train(data, tmp_path / "u", clip=root / "clip", parts=("prior",), prior=TINY_PRIOR)
    other_clip = tmp_path / "clip2"
    train_clip(data, other_clip, TrainConfig(steps=2, batch_size=8, warmup=1, seed=1), TINY_CLIP)
    with pytest.raises(LmaError, match="trained on another CLIP"):
        small_unclip.train(data, tmp_path / "u", clip=other_clip, parts=("decoder",), decoder=TINY_DECODER)


def test_tools_return_images_into_the_observation(tiny_unclip, tmp_path):
    root, _ = tiny_unclip
    ws = ImageWorkspace(root / "unclip", tmp_path / "ws", device="cpu")
    tools = {t.name: t for t in image_tools(workspace=ws)}
    made = tools["image_generate"](prompt="a blue square")
    assert made.ok and made.image.shape == (32, 32, 3) and (tmp_path / "ws" / made.data["image"]).is_file()
    first = made.data["image"]
    outside = ws.add(np.asarray(_picture()))
    for name, args in [("image_vary", {"image": first, "strength": 0.2}),
                       ("image_interpolate", {"a": first, "b": outside, "t": 0.5}),
                       ("image_text_diff", {"image": first, "from_text": "a blue square", "to_text": "a red square"})]:
        result = tools[name](**args)
        assert result.ok, result.error
        assert result.image.dtype == np.uint8 and result.data["image"] != first
    bad_t = tools["image_interpolate"](a=first, b=outside, t=2.0)
    assert not bad_t.ok and bad_t.error == "t must be in [0, 1], not 2.0"
    for name in ("../etc/passwd.png", "/tmp/x.png", "absent.png"):
        result = tools["image_vary"](image=name)
        assert not result.ok and "\n" not in result.error


def test_cli_commands_write_pngs_and_fail_with_exit_code_2(tiny_unclip, tmp_path, capsys):
    root, _ = tiny_unclip
    model = ["--model", str(root / "unclip"), "--device", "cpu"]
    assert main(["image", "generate", "--prompt", "a red circle", "--out", str(tmp_path / "g.png"), *model]) == 0
    assert main(["image", "vary", str(tmp_path / "g.png"), "--out", str(tmp_path / "v.png"), *model]) == 0
    assert main(["image", "edit", str(tmp_path / "g.png"), "--from", "a red circle", "--to", "a green circle",
                 "--out", str(tmp_path / "e.png"), *model]) == 0
    assert main(["image", "interpolate", str(tmp_path / "g.png"), str(tmp_path / "v.png"), "--steps", "3",
                 "--out", str(tmp_path / "path"), *model]) == 0
    assert sorted(p.name for p in (tmp_path / "path").iterdir()) == ["00.png", "01.png", "02.png"]
    assert all(Image.open(tmp_path / f).size == (32, 32) for f in ("g.png", "v.png", "e.png"))
    capsys.readouterr()
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    assert main(["image", "vary", str(tmp_path / "bad.png"), "--out", str(tmp_path / "x.png"), *model]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lma: error:") and "is not an image" in err and err.count("\n") == 1
    assert main(["image", "generate", "--prompt", "x", "--out", str(tmp_path / "x.png"),
                 "--model", str(tmp_path)]) == 2


def test_shipped_weights_match_their_checksums():
    sums = json.loads((WEIGHTS / "SHA256SUMS.json").read_text())
    files = sorted(p.relative_to(WEIGHTS).as_posix() for p in WEIGHTS.rglob("*") if p.is_file())
    assert sorted([*sums, "SHA256SUMS.json"]) == files
    for name, digest in sums.items():
        assert hashlib.sha256((WEIGHTS / name).read_bytes()).hexdigest() == digest, name
    assert sum((WEIGHTS / n).stat().st_size for n in sums) < 20_000_000


def test_shipped_unclip_runs_end_to_end(tmp_path):
    """The shipped model through the default path: the tools with no model named. (Its images are
    not yet good enough for an attribute assertion: 877 CPU steps; docs/image.md has the figures.)"""
    tools = {t.name: t for t in image_tools(folder=str(tmp_path), device="cpu", steps=2)}
    made = tools["image_generate"](prompt="a red circle")
    assert made.ok and made.image.shape == (32, 32, 3) and made.image.std() > 0
    edited = tools["image_text_diff"](image=made.data["image"], from_text="a red circle", to_text="a green circle")
    assert edited.ok and not np.array_equal(edited.image, made.image)
