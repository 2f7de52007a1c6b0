"""i2ikit exports on the Hugging Face Hub, without the network.

The cache is filled by huggingface_hub's own ``snapshot_download`` from a stand-in Hub on 127.0.0.1 (the few
routes it reads: revision info, tree, resolve), which is then shut down; every i2ikit call runs with
``HF_HUB_OFFLINE=1`` against that cache, so nothing can reach a server. Uploading is checked on the calls
i2ikit makes to ``HfApi`` (which files, the card), with HfApi replaced by a recorder."""
from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

import i2ikit
from i2ikit.cli import main as cli_main
from i2ikit.hub import looks_like_hub_id

from test_convert import _content, official_funit_file

REPO = "tester/tiny-funit"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class StandInHub:
    """Serves one model repo (the files of ``folder``) the way huggingface_hub's snapshot_download reads the Hub."""

    def __init__(self, repo_id: str, folder: Path) -> None:
        files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, code: int, body: bytes, headers: dict, head: bool) -> None:
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _route(self, head: bool) -> None:
                path = self.path.split("?")[0]
                hub.requests.append(f"{self.command} {path}")
                if path.startswith(f"/api/models/{repo_id}/tree/"):
                    tree = [{"type": "file", "path": n, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                            for n, b in files.items()]
                    return self._send(200, json.dumps(tree).encode(), {"Content-Type": "application/json"}, head)
                if path.startswith(f"/api/models/{repo_id}/revision/"):
                    info = {"id": repo_id, "sha": COMMIT, "siblings": [{"rfilename": n} for n in files]}
                    return self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, head)
                name = path.rpartition("/")[2]
                if path.startswith(f"/{repo_id}/resolve/") and name in files:
                    body = files[name]
                    return self._send(200, body, {"X-Repo-Commit": COMMIT,
                                                  "ETag": f'"{hashlib.sha256(body).hexdigest()}"'}, head)
                return self._send(404, b"{}", {"X-Error-Code": "RepoNotFound"}, head)

            def do_GET(self) -> None:
                self._route(False)

            def do_HEAD(self) -> None:
                self._route(True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cached_export(tmp_path: Path, monkeypatch):
    """A FUNIT export converted from an official-format file, put into a fresh Hugging Face cache by
    snapshot_download; then HF_HUB_OFFLINE=1. Yields (official file, cache folder, stand-in hub's requests)."""
    from huggingface_hub import constants, snapshot_download

    src = official_funit_file(tmp_path / "gen.pt")
    export = tmp_path / "export"
    assert cli_main(["convert", str(src), "--method", "funit", "--out", str(export), "--set", "discriminator={nf: 8}",
                     "num_classes=3"]) == 0
    torch.save({"not": "to be fetched"}, export / "latest_gen.pt")  # a pickle beside the export: never fetched
    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    hub = StandInHub(REPO, export)
    try:
        snapshot_download(REPO, endpoint=hub.url, cache_dir=str(cache))  # everything, as a careless client would
    finally:
        hub.close()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield src, cache, hub.requests


def test_build_loads_a_hub_export_from_the_cache_offline(cached_export, tmp_path: Path, monkeypatch) -> None:
    src, cache, requests = cached_export
    served = len(requests)
    model = i2ikit.build(pretrained=REPO)
    assert len(requests) == served  # offline: the stand-in hub (now closed) was not asked again
    official = i2ikit.build("funit", pretrained=src, discriminator={"nf": 8}, num_classes=3)
    content, shots = _content()
    torch.testing.assert_close(model.translate(content, shots), official.translate(content, shots), rtol=0, atol=0)
    assert i2ikit.build(pretrained=f"{REPO}@{COMMIT}").config == model.config  # a pinned revision
    snapshot = cache / "models--tester--tiny-funit" / "snapshots" / COMMIT
    assert (snapshot / "config.json").is_file()


def test_the_command_line_takes_a_hub_id_for_the_model(cached_export, tmp_path: Path) -> None:
    from PIL import Image

    for i in range(2):
        Image.new("RGB", (32, 32), (40 * i, 90, 200)).save(tmp_path / f"c{i}.png")
    classes = tmp_path / "classes"
    classes.mkdir()
    for i in range(2):
        Image.new("RGB", (32, 32), (200, 40 * i, 20)).save(classes / f"k{i}.png")
    out = tmp_path / "out"
    assert cli_main(["translate", "--model", REPO, "--content", str(tmp_path / "c0.png"), "--class-images", str(classes),
                     "--out", str(out), "--size", "32"]) == 0
    assert list(out.glob("*.png"))


def test_a_repo_that_was_never_fetched_is_named_offline(cached_export, capsys) -> None:
    assert cli_main(["translate", "--model", "tester/never-fetched", "--content", "x.png", "--out", "o"]) == 2
    err = capsys.readouterr().err
    assert "tester/never-fetched" in err and "HF_HUB_OFFLINE is set" in err and "Traceback" not in err


def test_only_an_exports_own_files_are_fetched(cached_export, monkeypatch) -> None:
    from huggingface_hub import snapshot_download

    _, cache, _ = cached_export
    path = Path(snapshot_download(REPO, cache_dir=str(cache), local_files_only=True))
    assert (path / "latest_gen.pt").is_file()  # the careless full download took the pickle too ...
    from i2ikit.hub import EXPORT_PATTERNS, download_export

    got = download_export(REPO)
    assert got == path and EXPORT_PATTERNS == ["config.json", "*.safetensors", "README.md"]
    # ... but i2ikit reads only config.json and the safetensors: building never opens the pickle
    opened: list[str] = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda f, *a, **k: opened.append(str(f)) or real_load(f, *a, **k))
    i2ikit.build(pretrained=REPO)
    assert opened == []


def test_local_paths_win_over_hub_ids(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert looks_like_hub_id("someone/model") and looks_like_hub_id("someone/model@v1")
    (tmp_path / "someone").mkdir()
    (tmp_path / "someone" / "model").mkdir()
    assert not looks_like_hub_id("someone/model")  # a local folder of that name is the local folder
    for spec in ("runs/x/export", "./a/b", "../a/b", "a/b/c", "/abs/path", "~/x/y", "model.pt"):
        assert not looks_like_hub_id(spec), spec


class RecordingApi:
    calls: list[tuple[str, dict]] = []

    def __init__(self, token=None) -> None:
        self.token = token

    def create_repo(self, repo_id, **kw):
        RecordingApi.calls.append(("create_repo", {"repo_id": repo_id, **kw}))

    def upload_file(self, **kw):
        RecordingApi.calls.append(("upload_file", kw))

    def upload_folder(self, **kw):
        files = sorted(p.name for p in Path(kw["folder_path"]).iterdir())
        RecordingApi.calls.append(("upload_folder", {**kw, "files_there": files}))

        class Info:
            commit_url = f"https://huggingface.co/{kw['repo_id']}/commit/abc"
        return Info()


def test_push_uploads_the_export_with_its_card(tmp_path: Path, monkeypatch, capsys) -> None:
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    RecordingApi.calls = []
    src = official_funit_file(tmp_path / "gen.pt")
    export = tmp_path / "export"
    assert cli_main(["convert", str(src), "--method", "funit", "--out", str(export), "--set", "discriminator={nf: 8}",
                     "num_classes=3"]) == 0
    assert cli_main(["push", str(export), "me/tiny", "--private"]) == 0
    assert "https://huggingface.co/me/tiny/commit/abc" in capsys.readouterr().out
    (name, create), (name2, folder) = RecordingApi.calls
    assert name == "create_repo" and create == {"repo_id": "me/tiny", "repo_type": "model", "private": True, "exist_ok": True}
    assert name2 == "upload_folder" and folder["allow_patterns"] == ["config.json", "*.safetensors", "README.md"]
    assert "README.md" in folder["files_there"]

    # model.push_to_hub: a card made from the method goes with it
    RecordingApi.calls = []
    model = i2ikit.build(pretrained=export)
    model.push_to_hub("me/other")
    (_, _), (_, folder) = RecordingApi.calls
    assert {"README.md", "config.json"} <= set(folder["files_there"])

    # mistakes are named
    (tmp_path / "empty").mkdir()
    assert cli_main(["push", str(tmp_path / "empty"), "me/tiny"]) == 2
    assert cli_main(["push", str(export), "not a repo id"]) == 2
    err = capsys.readouterr().err
    assert "not an i2ikit export" in err and "is not a Hub repo id" in err
