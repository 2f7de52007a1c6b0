"""The zoo entries of the UNIT, MUNIT, DRIT, pix2pixHD and SPADE plugins: each is listed by ``i2ikit zoo`` with
a licence, a source, its files and a convert command, its settings are keyword arguments of its method, and
``i2ikit convert --zoo <id>`` turns an official-format file of that release (random tensors, tiny widths)
into an export that translates exactly as the model built from the official file with the entry's settings."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
import torch
import torch.nn.functional as F
import yaml

import i2ikit
from i2ikit.api import method_class
from i2ikit.cli import main as cli_main
from i2ikit.recipe import check_method_kwargs
from i2ikit.zoo import LICENCES, Release, find_release, zoo_entries

from test_drit import TINY as DRIT_TINY
from test_drit import tiny as tiny_drit
from test_munit import TINY_DIS as MUNIT_FAMILY_TINY_DIS
from test_munit import TINY_GEN as MUNIT_TINY_GEN
from test_munit import official_weights
from test_spade import seeded_model as seeded_spade
from test_unit import TINY_GEN as UNIT_TINY_GEN

IDS = {
    "unit": ["unit/gta2city"],
    "munit": ["munit/edges2shoes", "munit/housecat2dog"],
    "drit": ["drit/example"],
    "pix2pixhd": ["pix2pixhd/label2city_1024p"],
    "spade": ["spade/coco_pretrained", "spade/ade20k_pretrained", "spade/cityscapes_pretrained"],
}
ALL_IDS = [i for ids in IDS.values() for i in ids]


# Small convolutions: one thread (conftest) avoids OpenMP contention.
pytestmark = pytest.mark.usefixtures("one_thread")


# ---- (1) the entries ------------------------------------------------------------------------------------
def test_every_entry_is_listed_with_a_licence_a_source_files_and_a_convert_command(capsys) -> None:
    entries = {e.id: e for e in zoo_entries()}
    for method, ids in IDS.items():
        assert sorted(e.id for e in zoo_entries() if e.method == method) == sorted(ids), method
        assert method in i2ikit.list_models()  # a registered method's name
    for rid in ALL_IDS:
        e = entries[rid]
        assert isinstance(e, Release) and find_release(rid) is e
        assert e.id.split("/")[0] == e.method and e.task in ("two_domain", "paired") and e.title and e.dataset
        assert e.licence in LICENCES and (e.licence != "other" or e.licence_name)
        assert e.source.startswith("https://github.com/") and e.files and all(f.name for f in e.files)
        assert all(f.sha256 is None for f in e.files)  # none is published
        # numbers only where the authors report them for the released model's data (SPADE's Table 1)
        assert bool(e.reported) == (e.method == "spade") and (not e.reported or e.reported_source)
        src = e.convert_from or e.files[0].name
        assert e.convert_command == f"i2ikit convert {src} --zoo {rid} --out exports/{rid.replace('/', '-')}"
        # the settings are keyword arguments of the method, valid for i2ikit.build
        assert check_method_kwargs(method_class(e.method), dict(e.settings), rid, allow_auto=()) == dict(e.settings)
    assert entries["drit/example"].licence == "other"  # the repository has no LICENSE file
    assert entries["pix2pixhd/label2city_1024p"].settings == {"label_nc": 35, "no_instance": False,
                                                              "instance_feat": False, "netG": "local"}
    assert {entries[f"spade/{m}_pretrained"].settings["dataset_mode"] for m in ("coco", "ade20k", "cityscapes")} == {
        "coco", "ade20k", "cityscapes"}
    assert all(not entries[i].settings["use_vae"] for i in IDS["spade"])

    assert cli_main(["zoo", "--json"]) == 0
    listed = {d["id"]: d for d in json.loads(capsys.readouterr().out)}
    for rid in ALL_IDS:
        assert listed[rid]["licence"] == entries[rid].licence and listed[rid]["files"]
        assert listed[rid]["convert_command"] == entries[rid].convert_command
    assert cli_main(["zoo", "spade/*"]) == 0
    out = capsys.readouterr().out
    assert "3 release(s)" in out and "i2ikit convert checkpoints/ade20k_pretrained/latest_net_G.pth" in out


# ---- (2) official-format files of each release at tiny widths ---------------------------------------------
def _images(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def _labels(label_values: int, h: int, w: int, seed: int, dontcare: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Label ids in 4x4 blocks (255 = don't care where the encoding has it) and instance ids in 8x8 blocks."""
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, label_values, (2, 1, h // 4, w // 4), generator=g).float()
    if dontcare:
        label[:, :, 0, 0] = 255
    inst = torch.randint(0, 5, (2, 1, max(1, h // 8), max(1, w // 8)), generator=g).float()
    return F.interpolate(label, size=(h, w), mode="nearest"), F.interpolate(inst, size=(h, w), mode="nearest")


def _unit_file(folder: Path, release: Release) -> tuple[Path, dict, Callable]:
    m = i2ikit.build("unit", generator=UNIT_TINY_GEN, discriminator=MUNIT_FAMILY_TINY_DIS)
    path = folder / release.files[0].name
    torch.save({"a": official_weights(m.gen_a, 1), "b": official_weights(m.gen_b, 2)}, path)
    x = _images(2, 32, 3)
    return path, {"discriminator": MUNIT_FAMILY_TINY_DIS}, lambda model: torch.cat(
        [model.translate(x), model.translate(x, direction="b2a")])


def _munit_file(folder: Path, release: Release) -> tuple[Path, dict, Callable]:
    m = i2ikit.build("munit", generator=MUNIT_TINY_GEN, discriminator=MUNIT_FAMILY_TINY_DIS)
    path = folder / release.files[0].name
    torch.save({"a": official_weights(m.gen_a, 4), "b": official_weights(m.gen_b, 5)}, path)
    x, y = _images(2, 32, 6), _images(2, 32, 7)
    return path, {"discriminator": MUNIT_FAMILY_TINY_DIS}, lambda model: torch.cat(
        [model.translate(x, y), model.translate(x, generator=torch.Generator().manual_seed(8)),
         model.translate(y, x, direction="b2a")])


def _drit_file(folder: Path, release: Release) -> tuple[Path, dict, Callable]:
    """E/G only, as test.py reads them (whether example.pth holds the discriminators is not documented)."""
    m = tiny_drit()
    path = folder / release.files[0].name
    torch.save({"enc_c": m.enc_c.state_dict(), "enc_a": m.enc_a.state_dict(), "gen": m.gen.state_dict(),
                "ep": 1199, "total_it": 10}, path)
    x, y = _images(2, 32, 9), _images(2, 32, 10)
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(11))
    tiny_dis = {k: DRIT_TINY[k] for k in ("discriminator", "content_discriminator")}
    return path, tiny_dis, lambda model: torch.cat(
        [model.translate(x, z=z), model.translate(x, y, generator=torch.Generator().manual_seed(12)),
         model.translate(y, direction="b2a", generator=torch.Generator().manual_seed(13))])


def _pix2pixhd_file(folder: Path, release: Release) -> tuple[Path, dict, Callable]:
    """A LocalEnhancer G with the release's 36 input channels (35 labels + instance edges) at tiny widths."""
    from i2ikit_pix2pixhd import save_official

    torch.manual_seed(14)
    m = i2ikit.build("pix2pixhd", no_vgg_loss=True, **dict(release.settings), ngf=4, n_downsample_global=2,
                     n_blocks_global=1, n_blocks_local=1, ndf=8)
    path = save_official(m.netG, folder / release.files[0].name)
    label, inst = _labels(35, 32, 32, 15, dontcare=False)
    return path, {"ndf": 8, "num_D": 1, "n_layers_D": 1}, lambda model: model.translate(label, inst)


SPADE_CROPS = {"coco": 32, "ade20k": 32, "cityscapes": 128}  # cityscapes: 128 x 64 with `more` (sw 2, sh 1)


def _spade_file(folder: Path, release: Release) -> tuple[Path, dict, Callable]:
    from i2ikit_spade import save_official
    from i2ikit_spade.official import DATASET_MODES

    mode = release.settings["dataset_mode"]
    crop = SPADE_CROPS[mode]
    m = seeded_spade(**dict(release.settings), crop_size=crop, ngf=4, ndf=4, no_vgg_loss=True)
    path = save_official(m.netG, folder / release.files[0].name)
    preset = DATASET_MODES[mode]
    h, w = m.label_size
    label, inst = _labels(preset["label_nc"], h, w, 16, dontcare=preset["contain_dontcare_label"])
    inst = inst if preset["instance"] else None
    return path, {"crop_size": crop, "ndf": 4, "num_D": 1}, lambda model: model.translate(label, inst)


WRITERS = {"unit": _unit_file, "munit": _munit_file, "drit": _drit_file, "pix2pixhd": _pix2pixhd_file,
           "spade": _spade_file}


@pytest.mark.parametrize("rid", ALL_IDS)
def test_convert_of_each_release_translates_as_its_official_file(rid: str, tmp_path: Path, capsys) -> None:
    release = find_release(rid)
    folder = tmp_path / "download"
    (folder / release.files[0].name).parent.mkdir(parents=True, exist_ok=True)
    src, tiny, run = WRITERS[release.method](folder, release)
    out = tmp_path / "exports" / rid.replace("/", "-")
    # The widths the files do not show (discriminators absent from the releases, SPADE's crop) given tiny with --set.
    sets = [f"{k}={json.dumps(v)}" for k, v in tiny.items()]
    assert cli_main(["convert", str(src), "--zoo", rid, "--out", str(out), "--set", *sets]) == 0
    assert "wrote" in capsys.readouterr().out
    assert list(out.glob("*.safetensors")) and (out / "config.json").is_file()

    export = i2ikit.build(pretrained=out)
    official = i2ikit.build(release.method, pretrained=src, **dict(release.settings), **tiny)
    assert export.method_name == release.method and not export.training
    torch.testing.assert_close(run(export), run(official), rtol=0, atol=0)
    for key, value in release.settings.items():  # the entry's settings are what the export was built with
        assert export.config[key] == value, key

    config = json.loads((out / "config.json").read_text())
    assert config["converted"]["release"] == rid and config["converted"]["from"] == src.name
    assert config["converted"]["settings"] == {**dict(release.settings), **tiny}
    meta = yaml.safe_load((out / "README.md").read_text().split("---\n")[1])
    assert meta["license"] == release.licence and meta["i2ikit_release"] == rid and meta["source_url"] == release.source
    assert meta.get("license_name") == (release.licence_name or None) and release.method in meta["tags"]
    assert list(meta["source_sha256"]) == [src.name]
    reported = {m["type"]: m["value"] for r in meta.get("model-index", [{}])[0].get("results", []) for m in r["metrics"]}
    assert reported == dict(release.reported)  # the authors' numbers, as Hugging Face eval results
