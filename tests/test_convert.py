"""The zoo's machinery and `i2ikit convert`: a third party's release appears in `i2ikit zoo` through the hook, an
official file converts into an export (config.json + safetensors + a model card with the Hugging Face metadata
block) that translates exactly as the official file does, and mistakes are named in one paragraph."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
import yaml

import i2ikit
from i2ikit.cli import main as cli_main
from i2ikit.errors import ConfigError
from i2ikit.plugins import get_plugin_manager
from i2ikit.zoo import Release, ReleaseFile, zoo_entries

from test_funit import _official_gen_random

TINY = {"nf": 8, "latent_dim": 16, "nf_mlp": 32}


def official_funit_file(path: Path, seed: int = 1) -> Path:
    """An official FUNIT checkpoint ({'gen', 'gen_test'}) of tiny widths, written from random tensors."""
    torch.save({"gen": _official_gen_random(8, 16, 32, seed=seed), "gen_test": _official_gen_random(8, 16, 32, seed=seed + 1)},
               path)
    return path


def tiny_release(sha256: str | None = None, **kw) -> Release:
    return Release(id="thirdparty/tiny_animals", method="funit", title="A tiny FUNIT release for the tests",
                   task="few_shot", dataset="Tiny Animals", licence="cc-by-nc-sa-4.0",
                   source="https://example.org/tiny", paper="https://arxiv.org/abs/0000.00000",
                   files=(ReleaseFile("tiny_gen.pt", sha256=sha256),),
                   settings={"discriminator": {"nf": 8}, "num_classes": 3},
                   reported={"fid": 12.5, "top1": 0.42}, reported_source="paper Table 9", hf_datasets=("tiny/animals",),
                   **kw)


class ThirdPartyZoo:
    """A plugin object with the hook, registered as a third party's would be (through pluggy)."""

    def __init__(self, releases: list[Release]) -> None:
        self.releases = releases

    @i2ikit.hookimpl
    def i2ikit_zoo_entries(self) -> list:
        return list(self.releases)


@pytest.fixture
def third_party_release(request):
    releases = [getattr(request, "param", None) or tiny_release()]
    plugin = ThirdPartyZoo(releases)
    get_plugin_manager().register(plugin, name="thirdparty_zoo")
    yield releases[0]
    get_plugin_manager().unregister(name="thirdparty_zoo")


def _content(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, 32, 32, generator=g) * 2 - 1, torch.rand(3, 3, 32, 32, generator=g) * 2 - 1


def test_a_third_partys_release_is_listed_by_the_zoo(third_party_release, capsys) -> None:
    assert third_party_release in zoo_entries()
    assert zoo_entries("*tiny*") == [third_party_release] and zoo_entries("Tiny Animals") == [third_party_release]
    assert cli_main(["zoo", "thirdparty/*"]) == 0
    out = capsys.readouterr().out
    assert "thirdparty/tiny_animals" in out and "cc-by-nc-sa-4.0" in out and "fid 12.5" in out
    assert "i2ikit convert tiny_gen.pt --zoo thirdparty/tiny_animals --out exports/thirdparty-tiny_animals" in out
    assert cli_main(["zoo", "thirdparty/*", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["files"] == [{"name": "tiny_gen.pt", "sha256": None, "url": None, "note": ""}]
    assert entry["settings"] == {"discriminator": {"nf": 8}, "num_classes": 3} and entry["reported"]["top1"] == 0.42
    assert cli_main(["zoo", "no-such-*"]) == 1
    assert "no release matches" in capsys.readouterr().err


def test_convert_writes_an_export_that_translates_as_the_official_file(tmp_path: Path, third_party_release, capsys) -> None:
    src = official_funit_file(tmp_path / "tiny_gen.pt")
    out = tmp_path / "exports" / "tiny"
    assert cli_main(["convert", str(src), "--zoo", third_party_release.id, "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir() if p.suffix in (".json", ".md")) == ["README.md", "config.json"]
    assert list(out.glob("*.safetensors")) and not list(out.glob("*.pt"))  # nothing to unpickle in the export

    official = i2ikit.build("funit", pretrained=src, discriminator={"nf": 8}, num_classes=3)
    export = i2ikit.build(pretrained=out)
    content, shots = _content()
    torch.testing.assert_close(export.translate(content, shots), official.translate(content, shots), rtol=0, atol=0)
    assert (export.config["nf"], export.config["latent_dim"], export.config["nf_mlp"]) == (8, 16, 32)

    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    config = json.loads((out / "config.json").read_text())
    assert config["converted"] == {"from": "tiny_gen.pt", "sha256": {"tiny_gen.pt": digest},
                                   "release": "thirdparty/tiny_animals",
                                   "settings": {"discriminator": {"nf": 8}, "num_classes": 3}}

    card = (out / "README.md").read_text()
    assert card.startswith("---\n")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["library_name"] == "i2ikit" and meta["license"] == "cc-by-nc-sa-4.0"
    assert meta["datasets"] == ["tiny/animals"] and {"i2ikit", "image-to-image", "funit", "few-shot"} <= set(meta["tags"])
    assert meta["source_sha256"] == {"tiny_gen.pt": digest} and meta["i2ikit_release"] == "thirdparty/tiny_animals"
    [result] = meta["model-index"][0]["results"]
    assert {(m["type"], m["value"]) for m in result["metrics"]} == {("fid", 12.5), ("top1", 0.42)}
    assert result["source"] == {"name": "paper Table 9", "url": "https://arxiv.org/abs/0000.00000"}
    assert "Reported by the authors (paper Table 9)" in card and f"`tiny_gen.pt`: `{digest}`" in card
    # the card is what huggingface_hub reads as one
    from huggingface_hub import ModelCard

    assert ModelCard.load(out / "README.md").data.library_name == "i2ikit"


def test_convert_with_a_method_and_settings_and_no_release(tmp_path: Path) -> None:
    src = official_funit_file(tmp_path / "gen.pt")
    out = tmp_path / "export"
    assert cli_main(["convert", str(src), "--method", "funit", "--out", str(out), "--set", "discriminator={nf: 8}",
                     "num_classes=3"]) == 0
    meta = yaml.safe_load((out / "README.md").read_text().split("---\n")[1])
    assert meta["library_name"] == "i2ikit" and "license" not in meta and "model-index" not in meta
    assert json.loads((out / "config.json").read_text())["converted"]["release"] is None


@pytest.mark.parametrize("third_party_release", [tiny_release(sha256="0" * 64)], indirect=True)
def test_a_file_that_is_not_the_releases_is_converted_with_a_warning(tmp_path: Path, third_party_release, capsys) -> None:
    src = official_funit_file(tmp_path / "tiny_gen.pt")
    assert cli_main(["convert", str(src), "--zoo", third_party_release.id, "--out", str(tmp_path / "e")]) == 0
    err = capsys.readouterr().err
    assert "tiny_gen.pt: sha256" in err and "is not the release's 000000" in err


def test_mistakes_are_named_in_one_paragraph(tmp_path: Path, third_party_release, capsys) -> None:
    src = official_funit_file(tmp_path / "gen.pt")
    cases = [
        (["convert", str(tmp_path / "missing.pt"), "--method", "funit", "--out", str(tmp_path / "o")], "missing.pt: no such file"),
        (["convert", str(src), "--out", str(tmp_path / "o")], "say which method"),
        (["convert", str(src), "--zoo", "nobody/nothing", "--out", str(tmp_path / "o")], "no such release"),
        (["convert", str(src), "--zoo", third_party_release.id, "--method", "munit", "--out", str(tmp_path / "o")],
         "disagrees with --zoo"),
        (["convert", str(src), "--method", "funit", "--out", str(tmp_path / "o"), "--set", "nf"], "not of the form key=value"),
    ]
    for argv, message in cases:
        assert cli_main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "o").exists()


def test_release_entries_are_checked() -> None:
    with pytest.raises(ConfigError, match="licence 'gpl'"):
        Release(**{**tiny_release().__dict__, "licence": "gpl"})
    with pytest.raises(ConfigError, match="needs licence_name"):
        Release(**{**tiny_release().__dict__, "licence": "other"})
    with pytest.raises(ConfigError, match="<method>/<name>"):
        Release(**{**tiny_release().__dict__, "id": "tiny"})
    with pytest.raises(ConfigError, match="64 lower-case hex"):
        Release(**{**tiny_release().__dict__, "files": (ReleaseFile("x.pt", sha256="abc"),)})


def test_a_broken_zoo_hook_does_not_hide_the_others(third_party_release, capsys) -> None:
    class Broken:
        @i2ikit.hookimpl
        def i2ikit_zoo_entries(self) -> list:
            raise RuntimeError("boom")

    get_plugin_manager().register(Broken(), name="broken_zoo")
    try:
        assert third_party_release in zoo_entries()
        assert "plugin broken_zoo: i2ikit_zoo_entries failed: boom" in capsys.readouterr().err
    finally:
        get_plugin_manager().unregister(name="broken_zoo")
