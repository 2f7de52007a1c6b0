"""The zoo entries of the FUNIT, GP-UNIT and DeepI2I plugins (and the BigGAN-PyTorch checkpoints DeepI2I starts
from): each is listed by ``i2ikit zoo`` with a licence, a source, its files and a convert command, its settings
are keyword arguments ``i2ikit.build(method, pretrained=...)`` takes, and ``i2ikit convert --zoo <id>`` turns an
official-format file or folder of that release (random tensors, tiny widths) into an export that translates
exactly as the model built from the official files with the entry's settings."""
from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Callable

import pytest
import torch
import yaml

import i2ikit
from i2ikit.api import method_class
from i2ikit.cli import main as cli_main
from i2ikit.recipe import check_method_kwargs
from i2ikit.zoo import LICENCES, Release, find_release, zoo_entries
from i2ikit_deepi2i import save_deepi2i_weights
from i2ikit_gpunit import save_content_encoder, save_translation_model

from test_convert import official_funit_file
from test_deepi2i_method import _biggan_folder
from test_deepi2i_method import tiny as tiny_deepi2i
from test_gpunit_method import TINY as GPUNIT_TINY
from test_gpunit_method import tiny as tiny_gpunit

GPUNIT_TASKS = ["male2female", "female2male", "dog2cat", "cat2dog", "dog2wild", "wild2dog", "cat2wild", "wild2cat",
                "face2cat", "cat2face", "dog2face", "face2dog", "bird2dog", "dog2bird", "bird2car", "car2bird",
                "face2metface"]
IDS = {
    "funit": ["funit/animal149"],
    "gpunit": ["gpunit/content_encoder", *(f"gpunit/{t}" for t in GPUNIT_TASKS),
               *(f"gpunit/biggan_deep_{n}" for n in (128, 256, 512))],
    "deepi2i": ["deepi2i/animals", "deepi2i/birds", "deepi2i/foods", "deepi2i/biggan_imagenet128",
                "deepi2i/biggan_imagenet128_100k"],
}
ALL_IDS = [i for ids in IDS.values() for i in ids]
# Files read as they are (BigGAN-deep for `i2ikit data biggan-pairs`): a use command instead of a convert command.
USED_AS_IS = [i for i in ALL_IDS if "biggan_deep" in i]
# Options the methods' official loaders take besides their constructors' keywords.
LOADER_OPTIONS = {"gpunit": {"task"}, "funit": {"dis_checkpoint"}, "deepi2i": set()}
DEEPI2I_CLASSES = {"deepi2i/animals": 149, "deepi2i/birds": 555, "deepi2i/foods": 256}

# Small convolutions: one thread (conftest) avoids OpenMP contention.
pytestmark = [pytest.mark.filterwarnings("ignore:GP-UNIT"), pytest.mark.usefixtures("one_thread")]


# ---- (1) the entries ------------------------------------------------------------------------------------
def test_every_entry_is_listed_with_a_licence_a_source_files_and_a_convert_command(capsys) -> None:
    entries = {e.id: e for e in zoo_entries()}
    for method, ids in IDS.items():
        assert sorted(e.id for e in zoo_entries() if e.method == method) == sorted(ids), method
        assert method in i2ikit.list_models()  # a registered method's name
    for rid in ALL_IDS:
        e = entries[rid]
        assert isinstance(e, Release) and find_release(rid) is e
        assert e.id.split("/")[0] == e.method and e.title and e.dataset and e.notes
        assert e.task == {"funit": "few_shot", "gpunit": "two_domain", "deepi2i": "many_class"}[e.method]
        assert e.licence in LICENCES and (e.licence != "other" or e.licence_name)
        assert e.source.startswith("https://github.com/") and e.files and all(f.name for f in e.files)
        assert all(f.sha256 is None for f in e.files)  # none is published
        assert not e.reported or e.reported_source
        if rid in USED_AS_IS:
            assert e.convert_command is None and e.command.startswith("i2ikit data biggan-pairs --weights ")
            assert e.as_dict()["use_command"] == e.command and e.settings == {}
            continue
        src = e.convert_from or e.files[0].name
        assert e.convert_command == f"i2ikit convert {src} --zoo {rid} --out exports/{rid.replace('/', '-')}"
        # the settings are keyword arguments of i2ikit.build(method, pretrained=...): the constructor's (checked
        # as build checks them) or options of the method's official loader
        cls = method_class(e.method)
        params = inspect.signature(cls.__init__).parameters
        own = {k: v for k, v in e.settings.items() if k in params}
        assert check_method_kwargs(cls, own, rid, allow_auto=()) == own
        assert set(e.settings) - set(own) <= LOADER_OPTIONS[e.method], rid

    assert entries["funit/animal149"].licence == "cc-by-nc-sa-4.0" and entries["funit/animal149"].settings == {}
    assert [f.name for f in entries["funit/animal149"].files] == ["animal149_gen.pt"]
    for rid in sorted(set(IDS["gpunit"]) - set(USED_AS_IS)):
        assert (entries[rid].licence, entries[rid].licence_name) == ("other", "s-lab-license-1.0")
        assert "content_encoder.pt" in [f.name for f in entries[rid].files]
    for task in GPUNIT_TASKS:  # a task file needs the content encoder: a folder of both, the task picked by name
        e = entries[f"gpunit/{task}"]
        assert e.settings == {"task": task} and e.convert_from == "checkpoint"
        assert [f.name for f in e.files] == [f"{task}.pt", "content_encoder.pt"] and "content_encoder" in e.notes
    for rid, n in DEEPI2I_CLASSES.items():
        e = entries[rid]
        assert e.settings == {"class_map": list(range(n))} and e.licence == "other"
        assert sorted(f.name for f in e.files) == ["A1.pth", "D.pth", "E1.pth", "G.pth"]
    assert entries["deepi2i/animals"].reported == {"rc": 49.5, "fc": 55.4, "mkid_x100": 4.93, "mfid": 68.4}
    for rid in ("deepi2i/biggan_imagenet128", "deepi2i/biggan_imagenet128_100k"):
        e = entries[rid]
        assert e.licence == "mit" and e.source == "https://github.com/ajbrock/BigGAN-PyTorch" and e.settings == {}
        assert {"G_ema.pth", "D.pth"} <= {f.name for f in e.files} and "method.biggan" in e.notes
    # pytorch-pretrained-biggan's BigGAN-deep files are read by no method, only by `i2ikit data biggan-pairs`
    for rid in USED_AS_IS:
        e = entries[rid]
        assert e.licence == "apache-2.0" and e.source == "https://github.com/huggingface/pytorch-pretrained-BigGAN"
        assert [f.name for f in e.files] == ["config.json", "pytorch_model.bin"]
        assert all(f.url.endswith(f"biggan-deep-{rid[-3:]}-{f.name}") for f in e.files)
        assert f"--weights biggan-deep-{rid[-3:]}/" in e.command

    assert cli_main(["zoo", "--json"]) == 0
    listed = {d["id"]: d for d in json.loads(capsys.readouterr().out)}
    for rid in ALL_IDS:
        assert listed[rid]["licence"] == entries[rid].licence and listed[rid]["files"]
        assert listed[rid]["convert_command"] == entries[rid].convert_command
        assert listed[rid]["use_command"] == (entries[rid].command or entries[rid].convert_command)
    assert cli_main(["zoo", "gpunit/*"]) == 0
    out = capsys.readouterr().out
    assert "21 release(s)" in out and "i2ikit convert checkpoint --zoo gpunit/cat2dog" in out
    assert "use: i2ikit data biggan-pairs --weights biggan-deep-128/" in out


def test_convert_refuses_a_release_that_is_used_as_it_is(tmp_path: Path, capsys) -> None:
    """BigGAN-deep's files are no i2ikit model: converting them is a one-paragraph error naming the command."""
    folder = tmp_path / "biggan-deep-128"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert cli_main(["convert", str(folder), "--zoo", "gpunit/biggan_deep_128", "--out", str(tmp_path / "x")]) != 0
    err = capsys.readouterr().err
    assert "gpunit/biggan_deep_128" in err and "i2ikit data biggan-pairs" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


# ---- (2) official-format files of each release at tiny widths ---------------------------------------------
def _images(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def _perturb(module: torch.nn.Module, seed: int) -> None:
    """Move every parameter off its initial value, so a file that failed to load would show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


# Each writer puts the release's files (random tensors, tiny widths) under `folder` and returns the source to
# convert, the settings the tiny files need beyond the entry's (absent discriminators, sizes), a function giving
# the model's translations, and the seed to build with (None: the build draws nothing that the files do not set).
Writer = Callable[[Path, Release], tuple[Path, dict, Callable, "int | None"]]


def _funit(folder: Path, release: Release):
    src = official_funit_file(folder / release.files[0].name, seed=3)
    content, shots = _images(2, 32, 4), _images(3, 32, 5)
    return src, {"discriminator": {"nf": 8}}, lambda model: model.translate(content, shots), None


def _gpunit_task(folder: Path, release: Release):
    task = release.settings["task"]
    torch.manual_seed(6)
    src = tiny_gpunit()
    _perturb(src.G_ema, 7)
    save_content_encoder(src.content_encoder, folder / "content_encoder.pt")
    save_translation_model(src.G_ema, src.sampler, folder / f"{task}.pt")
    other = tiny_gpunit()  # another task file in the same folder: the entry's task setting picks the right one
    save_translation_model(other.G_ema, other.sampler, folder / ("cat2dog.pt" if task != "cat2dog" else "dog2cat.pt"))
    x, y = _images(2, 32, 8), _images(2, 32, 9)
    z = torch.randn(2, GPUNIT_TINY["noise_dim"], generator=torch.Generator().manual_seed(10))
    return folder, {"img_size": 64, "discriminator": {"nf": 8}}, lambda model: torch.cat(
        [model.translate(x, y), model.translate(x, z=z)]), None


def _gpunit_content_encoder(folder: Path, release: Release):
    torch.manual_seed(11)
    enc = tiny_gpunit().content_encoder
    _perturb(enc, 12)
    src = save_content_encoder(enc, folder / release.files[0].name)
    x, y = _images(2, 32, 13), _images(2, 32, 14)
    tiny = {k: GPUNIT_TINY[k] for k in ("img_size", "discriminator", "style_nef", "style_dim", "noise_dim")}
    # the generator and sampler are not in the file: both builds draw them from the same seed
    return src, tiny, lambda model: model.translate(x, y), 15


def _deepi2i_release(folder: Path, release: Release):
    n = len(release.settings["class_map"])
    src = tiny_deepi2i(num_classes=1000, class_map=list(range(n)))  # BigGAN's 1000 rows, as the official networks
    for name in "GDEA":
        _perturb(getattr(src, name), 16)
    save_deepi2i_weights({"G": src.G, "D": src.D, "E": src.E, "A": src.A}, folder)
    x = _images(2, 64, 17)
    z = torch.randn(2, 120, generator=torch.Generator().manual_seed(18))
    return folder, {}, lambda model: torch.cat([model.translate(x, k, z) for k in (0, n // 2, n - 1)]), None


def _biggan(folder: Path, release: Release):
    folder.rmdir()  # _biggan_folder makes it
    _biggan_folder(folder)
    x = _images(2, 64, 19)
    z = torch.randn(2, 120, generator=torch.Generator().manual_seed(20))
    # the adaptor is not in the files (it starts from PyTorch's default init): both builds draw it from one seed
    return folder, {}, lambda model: torch.cat([model.translate(x, k, z) for k in (0, 2)]), 21


def _writer(release: Release) -> Writer:
    if release.method == "funit":
        return _funit
    if release.method == "gpunit":
        return _gpunit_task if "task" in release.settings else _gpunit_content_encoder
    return _deepi2i_release if "class_map" in release.settings else _biggan


@pytest.mark.parametrize("rid", [i for i in ALL_IDS if i not in USED_AS_IS])
def test_convert_of_each_release_translates_as_its_official_files(rid: str, tmp_path: Path, capsys) -> None:
    release = find_release(rid)
    root = tmp_path / "download"
    folder = root / (release.convert_from if release.convert_from and "." not in release.convert_from else "")
    folder.mkdir(parents=True, exist_ok=True)
    src, tiny, run, seed = _writer(release)(folder, release)
    assert src.name == (release.convert_from or release.files[0].name)  # the entry's convert command's source
    out = tmp_path / "exports" / rid.replace("/", "-")
    # The widths the files do not show (absent discriminators, GP-UNIT's training size) given tiny with --set.
    sets = [f"{k}={json.dumps(v)}" for k, v in tiny.items()]
    if seed is not None:
        torch.manual_seed(seed)
    assert cli_main(["convert", str(src), "--zoo", rid, "--out", str(out), *(["--set", *sets] if sets else [])]) == 0
    assert "wrote" in capsys.readouterr().out
    assert list(out.glob("*.safetensors")) and (out / "config.json").is_file()

    export = i2ikit.build(pretrained=out)
    if seed is not None:
        torch.manual_seed(seed)
    official = i2ikit.build(release.method, pretrained=src, **dict(release.settings), **tiny)
    assert export.method_name == release.method and not export.training
    torch.testing.assert_close(run(export), run(official), rtol=0, atol=0)
    for key, value in release.settings.items():  # the entry's settings are what the export was built with
        if key not in LOADER_OPTIONS[release.method]:
            assert export.config[key] == value, key

    config = json.loads((out / "config.json").read_text())
    assert config["converted"]["release"] == rid and config["converted"]["from"] == src.name
    assert config["converted"]["settings"] == {**dict(release.settings), **tiny}
    meta = yaml.safe_load((out / "README.md").read_text().split("---\n")[1])
    assert meta["license"] == release.licence and meta["i2ikit_release"] == rid and meta["source_url"] == release.source
    assert meta.get("license_name") == (release.licence_name or None) and release.method in meta["tags"]
    hashed = set(meta["source_sha256"])
    assert {f.name for f in release.files if f.name != "state_dict.pth"} <= hashed or hashed == {src.name}
    reported = {m["type"]: m["value"] for r in meta.get("model-index", [{}])[0].get("results", []) for m in r["metrics"]}
    assert reported == dict(release.reported)  # the authors' numbers, as Hugging Face eval results


def test_gpunit_task_folder_without_the_task_setting_is_ambiguous(tmp_path: Path, capsys) -> None:
    """Why the task entries carry task=<name>: a folder of several task files needs it."""
    release = find_release("gpunit/bird2car")
    src, tiny, _, _ = _gpunit_task(tmp_path, release)
    sets = [f"{k}={json.dumps(v)}" for k, v in tiny.items()]
    assert cli_main(["convert", str(src), "--method", "gpunit", "--out", str(tmp_path / "e"), "--set", *sets]) == 2
    assert "name it with task=" in capsys.readouterr().err
    # the task file alone, with the content encoder as a setting, as the entry's notes say
    assert cli_main(["convert", str(src / "bird2car.pt"), "--zoo", release.id, "--out", str(tmp_path / "e2"), "--set",
                     *sets, f"content_encoder={src / 'content_encoder.pt'}"]) == 0
    x = _images(2, 32, 22)
    a = i2ikit.build(pretrained=tmp_path / "e2").translate(x, x.flip(0))
    b = i2ikit.build("gpunit", pretrained=src, task="bird2car", **tiny).translate(x, x.flip(0))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
