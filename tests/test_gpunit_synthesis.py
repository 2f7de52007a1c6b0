"""`i2ikit data biggan-pairs` with a tiny random BigGAN-deep saved as config.json + pytorch_model.bin."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("pytorch_pretrained_biggan")

from pytorch_pretrained_biggan import BigGAN, BigGANConfig  # noqa: E402

from i2ikit.cli import data_commands, main as cli_main  # noqa: E402
from i2ikit_gpunit import synthesis  # noqa: E402
from i2ikit_gpunit.synthesis import (  # noqa: E402
    SYN_IMAGENET291_CLASSES,
    class_folder,
    latent_codes,
    load_biggan,
    parse_classes,
    synthesize_pairs,
)

CLASSES = [7, 158, 627]
KW = dict(classes=CLASSES, num_train=3, num_test=2, batch_size=2, device="cpu", progress=False)


def _tiny_config() -> BigGANConfig:
    # 4 -> 32 px, bottleneck blocks and the self-attention layer, 1000 classes as the real model.
    return BigGANConfig(output_dim=32, z_dim=8, class_embed_dim=8, channel_width=4, num_classes=1000,
                        layers=[(False, 16, 8), (True, 8, 4), (True, 4, 2), (True, 2, 1)],
                        attention_layer_position=2)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = BigGAN(_tiny_config())
    with torch.no_grad():  # the package leaves the final BN's affine parameters uninitialised
        model.generator.bn.weight.fill_(1.0)
        model.generator.bn.bias.zero_()
        for name, buf in model.named_buffers():  # distinct statistics per truncation row
            if name.endswith("running_means"):
                buf.normal_(0, 0.1)
    folder = tmp_path_factory.mktemp("biggan-tiny")
    (folder / "config.json").write_text(model.config.to_json_string())
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


@pytest.fixture(scope="module")
def built(weights, tmp_path_factory) -> Path:
    return synthesize_pairs(weights, tmp_path_factory.mktemp("syn") / "synImageNet291", **KW)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.jpg"))}


def test_classes_and_folders():
    assert len(SYN_IMAGENET291_CLASSES) == 291
    counts = {c: list(SYN_IMAGENET291_CLASSES.values()).count(c) for c in ("bird", "dog", "otheranimal", "vehicle")}
    assert counts == {"bird": 55, "dog": 118, "otheranimal": 93, "vehicle": 25}
    # the official examples
    assert [class_folder(i) for i in (7, 158, 271, 627, 10, 436)] == [
        "7_bird", "158_dog", "271_otheranimal", "627_vehicle", "10_bird", "436_vehicle"]
    assert 21 not in SYN_IMAGENET291_CLASSES and 103 not in SYN_IMAGENET291_CLASSES
    assert parse_classes(None) == list(SYN_IMAGENET291_CLASSES)
    assert parse_classes(["vehicle", "7", "151-153"]) == sorted({7, 151, 152, 153, *[
        i for i, c in SYN_IMAGENET291_CLASSES.items() if c == "vehicle"]})
    with pytest.raises(ValueError, match="'cats' is neither a class index"):
        parse_classes(["cats"])


def test_latent_codes_truncation_and_determinism():
    z, ts = latent_codes(6, 8, (0.5, 1.0), seed=3)
    assert ts == [0.5, 1.0] * 3 and z.dtype == np.float32 and z.shape == (6, 8)
    assert np.abs(z[0::2]).max() <= 1.0 + 1e-6 and np.abs(z[1::2]).max() <= 2.0 + 1e-6
    assert np.array_equal(z, latent_codes(6, 8, (0.5, 1.0), seed=3)[0])
    assert not np.array_equal(z, latent_codes(6, 8, (0.5, 1.0), seed=4)[0])
    with pytest.raises(ValueError, match=r"truncation must be in \(0, 1\].*got 0.0"):
        latent_codes(2, 8, (0.0,))


def test_layout_and_meta(built):
    for c in CLASSES:
        assert sorted(p.name for p in (built / "train" / class_folder(c)).iterdir()) == ["0.jpg", "1.jpg", "2.jpg"]
        assert sorted(p.name for p in (built / "test" / class_folder(c)).iterdir()) == ["3.jpg", "4.jpg"]
    from PIL import Image

    img = Image.open(built / "train" / "7_bird" / "0.jpg")
    assert img.size == (32, 32) and img.mode == "RGB"
    meta = json.loads((built / "meta.json").read_text())
    assert meta["complete"] and meta["classes"] == CLASSES and meta["resolution"] == 32
    assert meta["truncations"] == [0.5, 1.0] and meta["code_truncation"] == [0.5, 1.0, 0.5, 1.0, 0.5]
    assert not list(built.rglob(".*tmp*"))
    # the class conditions the image: the same code differs across class folders
    a = np.asarray(Image.open(built / "train" / "7_bird" / "0.jpg"), dtype=float)
    b = np.asarray(Image.open(built / "train" / "627_vehicle" / "0.jpg"), dtype=float)
    assert np.abs(a - b).mean() > 0.5


def test_same_seed_same_bytes_and_pairs_match_the_generator(built, weights, tmp_path):
    again = synthesize_pairs(weights, tmp_path / "again", **KW)
    assert _files(again) == _files(built)
    other = synthesize_pairs(weights, tmp_path / "seed1", **{**KW, "seed": 1})
    assert _files(other) != _files(built)
    # file i of class c is G(z_i, onehot(c), t_i), computed here directly (png: lossless)
    png = synthesize_pairs(weights, tmp_path / "png", **{**KW, "classes": [158], "image_format": "png"})
    model = load_biggan(weights, "cpu")
    z, ts = latent_codes(5, 8, (0.5, 1.0), seed=0)
    y = torch.zeros(1, 1000)
    y[0, 158] = 1
    from PIL import Image

    with torch.no_grad():
        img = model(torch.from_numpy(z[3:4]), y, ts[3])
    expect = ((img.clamp(-1, 1) + 1) * 127.5).round()[0].permute(1, 2, 0).numpy()
    got = np.asarray(Image.open(png / "test" / "158_dog" / "3.png"), dtype=np.float32)
    assert np.abs(got - expect).max() <= 1


def test_resume_rewrites_only_missing_files(built, weights, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    before = _files(copy)
    (copy / "train" / "158_dog" / "1.jpg").unlink()
    synthesize_pairs(weights, copy, **KW)
    meta = json.loads((copy / "meta.json").read_text())
    assert meta["counts"]["written_this_run"] == 1
    assert _files(copy) == before
    # other settings are refused, --force redoes the folder
    with pytest.raises(ValueError, match="other settings"):
        synthesize_pairs(weights, copy, **{**KW, "seed": 5})
    synthesize_pairs(weights, copy, **{**KW, "seed": 5, "force": True})
    assert json.loads((copy / "meta.json").read_text())["seed"] == 5


def test_missing_or_wrong_weights(tmp_path, weights):
    with pytest.raises(FileNotFoundError) as err:
        synthesize_pairs(tmp_path / "nope", tmp_path / "out", **KW)
    msg = str(err.value)
    assert "config.json" in msg and "pytorch_model.bin" in msg
    assert "https://s3.amazonaws.com/models.huggingface.co/biggan/biggan-deep-128-pytorch_model.bin" in msg
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text((weights / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="lacks pytorch_model.bin"):
        load_biggan(half)
    # a state dict that does not fit the config is refused (the package loads with strict=False)
    state = torch.load(weights / "pytorch_model.bin", weights_only=True)
    state.pop("embeddings.weight")
    torch.save(state, half / "pytorch_model.bin")
    with pytest.raises(ValueError, match="missing key"):
        load_biggan(half)
    # a model name is never downloaded
    with pytest.raises(FileNotFoundError, match="(?s)'biggan-deep-128' does not exist.*i2ikit never downloads them"):
        load_biggan("biggan-deep-128")


def test_cli(weights, tmp_path, capsys):
    assert {"glyphs", "biggan-pairs"} <= set(data_commands())
    assert data_commands()["biggan-pairs"][0] == "gpunit"
    assert cli_main(["data"]) == 2
    assert "biggan-pairs" in capsys.readouterr().err
    out = tmp_path / "cli"
    rc = cli_main(["data", "biggan-pairs", "--weights", str(weights), "--out", str(out), "--classes", "7",
                   "--num-train", "2", "--num-test", "1", "--device", "cpu", "--quiet"])
    assert rc == 0
    assert sorted(p.name for p in (out / "train" / "7_bird").iterdir()) == ["0.jpg", "1.jpg"]
    assert (out / "test" / "7_bird" / "2.jpg").is_file()
    assert cli_main(["data", "biggan-pairs", "--weights", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert "biggan-deep-128-config.json" in capsys.readouterr().err
    assert synthesis.main is not None
