"""Translation-accuracy classifiers: training, determinism, save/load, inputs, fine-tuning, content labels."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from i2ikit.data import DataSourceError, ImageFolder
from i2ikit.eval.classifier import (
    Classifier,
    ContentLabeled,
    content_labeled,
    load_backbone_weights,
    load_classifier,
    main,
    save_classifier,
    train_classifier,
)

MODEL = "test_resnet"  # timm's tiny test network: ~0.4M parameters, fast on CPU
COLOURS = [(220, 30, 30), (30, 200, 40), (40, 40, 220)]
TRAIN_ARGS = dict(model_name=MODEL, image_size=32, epochs=3, batch_size=8, lr=1e-2, val_fraction=0.3, progress=False)


def make_colour_folder(root: Path, per_class: int = 10) -> Path:
    """Noisy solid colours, one per class (some images non-square): trivially separable."""
    rng = random.Random(0)
    for c, colour in enumerate(COLOURS):
        d = root / f"colour_{c}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            fill = tuple(max(0, min(255, v + rng.randint(-30, 30))) for v in colour)
            Image.new("RGB", (20, 20 + 4 * (i % 2)), fill).save(d / f"{i:02d}.png")
    return root


def make_glyph_layout(root: Path, faces: int = 3) -> Path:
    """A glyph-like dataset: root/train/<face>/<stem>.png + root/content_labels.json (stem -> char index).

    The "characters" are shapes (bar, column, box) and the "faces" colours, so content and class differ.
    """
    stems = ["065_A", "066_B", "067_C"]
    for f in range(faces):
        d = root / "train" / f"face-{f}"
        d.mkdir(parents=True, exist_ok=True)
        colour = COLOURS[f % len(COLOURS)]
        for k, stem in enumerate(stems):
            img = Image.new("RGB", (24, 24), (255, 255, 255))
            draw = ImageDraw.Draw(img)
            box = [(2, 9, 21, 14), (9, 2, 14, 21), (4, 4, 19, 19)][k]
            draw.rectangle(box, fill=colour)
            img.save(d / f"{stem}.png")
    (root / "content_labels.json").write_text(json.dumps({s: i for i, s in enumerate(stems)}))
    return root


@pytest.fixture(scope="module")
def colour_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_colour_folder(tmp_path_factory.mktemp("colours"))


@pytest.fixture(scope="module")
def trained(colour_folder: Path) -> Classifier:
    return train_classifier(ImageFolder(colour_folder), **TRAIN_ARGS)


def test_trains_to_high_val_accuracy(trained: Classifier) -> None:
    s = trained.training_summary
    assert s is not None and s["epochs"] == 3 and s["seed"] == 0
    assert s["num_train"] + s["num_val"] == 30 and s["num_val"] == 9  # stratified: 3 per class
    assert s["val_accuracy"] >= 0.9
    assert len(s["history"]) == 3 and "image_folder:" in s["dataset"]
    assert trained.classes == ["colour_0", "colour_1", "colour_2"] and trained.image_size == 32
    assert trained.model_name == MODEL and not trained.training


def test_deterministic_and_leaves_global_rng_alone(colour_folder: Path, trained: Classifier) -> None:
    state = torch.get_rng_state()
    again = train_classifier(ImageFolder(colour_folder), **TRAIN_ARGS)
    assert torch.equal(torch.get_rng_state(), state)
    a, b = trained.state_dict(), again.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert again.training_summary["history"] == trained.training_summary["history"]
    other = train_classifier(ImageFolder(colour_folder), **{**TRAIN_ARGS, "epochs": 1, "seed": 1})
    assert not torch.equal(other.model.fc.weight, trained.model.fc.weight)


def test_save_load_round_trip(trained: Classifier, tmp_path: Path) -> None:
    out = save_classifier(trained, tmp_path / "clf")
    save_classifier(trained, tmp_path / "clf")  # overwriting an existing folder is fine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clf"]  # no temp folders left
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_name"] == MODEL and cfg["classes"] == trained.classes and cfg["image_size"] == 32
    assert cfg["i2ikit_version"] and cfg["training"]["val_accuracy"] == trained.training_summary["val_accuracy"]
    loaded = load_classifier(out)
    x = torch.rand(5, 3, 40, 40) * 2 - 1
    assert torch.equal(loaded.predict(x), trained.predict(x))
    assert loaded.training_summary == trained.training_summary and not loaded.training


def test_inputs_any_size_in_minus_one_one(trained: Classifier) -> None:
    torch.manual_seed(0)
    x = torch.rand(3, 3, 50, 50) * 2 - 1
    logits = trained.predict(x)
    assert logits.shape == (3, 3)
    assert torch.allclose(trained.predict(x, batch_size=1), logits, atol=1e-5)
    # Solid colours in [-1, 1] at another size are still recognised.
    solid = torch.stack([torch.tensor(c, dtype=torch.float32).view(3, 1, 1).expand(3, 50, 70) / 127.5 - 1
                         for c in COLOURS])
    assert trained.predict(solid).argmax(1).tolist() == [0, 1, 2]
    trained.train()
    trained.predict(x)
    assert trained.training  # predict restores the mode
    trained.eval()
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        trained.predict(x * 127.5 + 127.5)
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        trained.predict(torch.zeros(2, 1, 32, 32))


def test_pretrained_weights_from_local_file(colour_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import timm

    torch.manual_seed(1)
    donor = timm.create_model(MODEL, pretrained=False, num_classes=10)  # another head: like ImageNet weights
    file = tmp_path / "backbone.pth"
    torch.save(donor.state_dict(), file)
    clf = Classifier(MODEL, ["a", "b", "c"], 32)
    skipped = load_backbone_weights(clf.model, file)
    assert sorted(skipped) == ["fc.bias", "fc.weight"]
    assert "fc" in capsys.readouterr().err
    donor_sd = donor.state_dict()
    assert all(torch.equal(v, donor_sd[k]) for k, v in clf.model.state_dict().items() if not k.startswith("fc."))
    # Fine-tuning from it through train_classifier.
    tuned = train_classifier(ImageFolder(colour_folder), **{**TRAIN_ARGS, "epochs": 1, "pretrained_weights": str(file)})
    assert tuned.training_summary["pretrained_weights"] == str(file)
    # Weights of another architecture are refused, not half-loaded.
    wrong = tmp_path / "wrong.pth"
    torch.save(timm.create_model("test_efficientnet", pretrained=False).state_dict(), wrong)
    with pytest.raises(ValueError, match="does not fit"):
        load_backbone_weights(Classifier(MODEL, ["a", "b"], 32).model, wrong)
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        load_backbone_weights(clf.model, tmp_path / "missing.pth")


def test_content_labels_on_glyph_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_glyph_layout(tmp_path / "glyphs")
    src = content_labeled(ImageFolder(root / "train"))
    assert isinstance(src, ContentLabeled)
    assert src.classes == ["065_A", "066_B", "067_C"]
    assert src.labels == [0, 1, 2] * 3 and len(src) == 9
    assert src.load(4).size == (24, 24)
    # Through the CLI, with glyphs:train resolved to this layout.
    import dataclasses

    from i2ikit.plugins import get_registry

    registry = get_registry()  # the glyphs plugin's dataset type, swapped for this layout
    entry = dataclasses.replace(registry.get("dataset", "glyphs"), obj=lambda split="train", **kw: ImageFolder(root / split))
    monkeypatch.setitem(registry._entries, ("dataset", "glyphs"), entry)
    out = tmp_path / "content-clf"
    rc = main(["--data", "glyphs:train", "--labels", "content", "--out", str(out), "--model", MODEL,
               "--image-size", "32", "--epochs", "2", "--batch-size", "4", "--val-fraction", "0.34", "--quiet"])
    assert rc == 0
    clf = load_classifier(out)
    assert clf.classes == ["065_A", "066_B", "067_C"]
    assert clf.training_summary["num_val"] == 3 and clf.training_summary["dataset"].endswith("[content]")
    # A folder path of glyph layout works too; class labels are the faces.
    rc = main(["--data", str(root / "train"), "--out", str(tmp_path / "face-clf"), "--model", MODEL,
               "--image-size", "32", "--epochs", "1", "--batch-size", "4", "--val-fraction", "0.34", "--quiet"])
    assert rc == 0 and load_classifier(tmp_path / "face-clf").classes == ["face-0", "face-1", "face-2"]


def test_clear_errors(tmp_path: Path, colour_folder: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere.*does not exist"):
        load_classifier(missing)
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"half.*model\.safetensors"):
        load_classifier(half)
    assert main(["--data", str(missing), "--out", str(tmp_path / "o")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert main(["--data", str(colour_folder), "--labels", "content", "--out", str(tmp_path / "o")]) == 2
    assert "content labels" in capsys.readouterr().err
    assert main(["--data", "glyphs:valid", "--out", str(tmp_path / "o")]) == 2
    assert "glyphs:train" in capsys.readouterr().err
    with pytest.raises(DataSourceError, match="content_labels.json"):
        content_labeled(ImageFolder(colour_folder))
    with pytest.raises(DataSourceError, match="content labels"):
        ContentLabeled(ImageFolder(colour_folder), [0, 1], ["x", "y"])
    assert not (tmp_path / "o").exists()
