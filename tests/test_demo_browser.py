"""``i2ikit demo`` in a real browser: the command serves the page, headless Chromium (Debian's ``chromium``, driven by
Playwright) uploads a content image and class images, clicks Translate and sees the output grid and its download;
uploads that are not colour images get their sentence in the page, never a stack trace.

Needs the ``[demo]`` extra, Playwright and Chromium (``.ci/run`` installs them); without them the test is skipped,
except under CI, where a missing browser is a failure. The README's screenshot is taken by the same code:
``python tests/test_demo_browser.py --model runs/quickstart/export --content A.png --class-images DIR --out docs/images/demo.png``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import pytest

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # a closed network: no background connections


def chromium_path() -> str | None:
    return os.environ.get("I2IKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _missing() -> str | None:
    for module in ("gradio", "playwright"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -e \".[demo,browser]\")"
    if chromium_path() is None:
        return "no Chromium (apt-get install chromium, or set I2IKIT_CHROMIUM)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(model: str | Path, *extra: str, timeout: float = 180) -> Iterator[str]:
    """``i2ikit demo --model MODEL`` in a child process; yields its address once it listens, stops it after."""
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "i2ikit.cli", "demo", "--model", str(model), "--port", str(port), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise AssertionError("i2ikit demo exited:\n" + "".join(lines))
            lines.append(line)
            if f"http://127.0.0.1:{port}" in line:
                break
        else:
            raise AssertionError("i2ikit demo did not start in time:\n" + "".join(lines))
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def browser_page(width: int = 1200, height: int = 820):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def translate_in_page(page, url: str, content: Path, class_images: Sequence[Path], *, expect_grid: bool) -> str:
    """Open the page, upload the content image and class images, click Translate; returns the status line."""
    page.goto(url)
    page.wait_for_selector("#content input[type=file]", state="attached", timeout=60_000)
    page.set_input_files("#content input[type=file]", str(content))
    page.set_input_files("#class-images input[type=file]", [str(p) for p in class_images])
    # the uploads reached the server once the components list the files
    page.wait_for_selector(f'#content td.filename[aria-label="{content.name}"]', timeout=30_000)
    page.wait_for_selector(f'#class-images td.filename[aria-label="{class_images[-1].name}"]', timeout=30_000)
    page.click("#run-class_images")
    if expect_grid:
        page.wait_for_selector("#grid img", timeout=120_000)
    # the status line shows a timer while the request runs, then "Done. ..." or "Cannot translate: ..."
    page.wait_for_function("/^(Done|Cannot)/.test(document.querySelector('#status').innerText.trim())",
                           timeout=120_000)
    return page.inner_text("#status").strip()


def screenshot(model: str | Path, content: Path, class_images: Sequence[Path], out: Path) -> str:
    """Serve ``model``, translate ``content`` with ``class_images`` in Chromium and save a screenshot to ``out``."""
    with served(model) as url, browser_page() as page:
        status = translate_in_page(page, url, content, class_images, expect_grid=True)
        page.wait_for_function("document.querySelector('#grid img').naturalWidth > 0", timeout=30_000)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
    return status


# ---- the test ----------------------------------------------------------------------------------------------------
def test_the_demo_translates_uploads_in_chromium_and_names_bad_ones(tmp_path: Path) -> None:
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run in CI: {missing}")
        pytest.skip(missing)
    import numpy as np
    import torch
    from PIL import Image

    import i2ikit
    from conftest import TINY_FUNIT

    torch.manual_seed(0)
    i2ikit.build("funit", num_classes=3, **TINY_FUNIT).save_pretrained(tmp_path / "export",
                                                                       extra={"recipe": {"data": {"crop": 64}}})
    rng = np.random.default_rng(0)
    pictures = []
    for k in range(4):
        pictures.append(tmp_path / f"picture_{k}.png")
        Image.fromarray(rng.integers(0, 255, (48, 56, 3), dtype=np.uint8)).save(pictures[-1])
    (tmp_path / "notes.png").write_text("a text file with an image's name")
    Image.fromarray(rng.integers(0, 255, (48, 56), dtype=np.uint8), mode="L").save(tmp_path / "gray.png")

    with served(tmp_path / "export") as url, browser_page() as page:
        status = translate_in_page(page, url, pictures[0], pictures[1:], expect_grid=True)
        assert status.startswith("Done. Columns: content | class image 0 | class image 1 | class image 2 | translation")
        size = page.evaluate("(() => { const i = document.querySelector('#grid img'); "
                             "return [i.naturalWidth, i.naturalHeight]; })()")
        assert size == [5 * 66 + 2, 66 + 2]  # five 64 px tiles with the grid's 2 px padding
        href = page.get_attribute("#download a.download-link", "href")
        png = page.request.get(href if href.startswith("http") else url.rstrip("/") + href).body()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)

        for bad, words in ((tmp_path / "notes.png", "is not an image Pillow can read"),
                           (tmp_path / "gray.png", "is a grayscale image (mode L)")):
            status = translate_in_page(page, url, bad, pictures[1:], expect_grid=False)
            assert status.startswith(f"Cannot translate: content image '{bad.name}' {words}"), status
            assert page.locator("#grid img").count() == 0
            assert "Traceback" not in page.content()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Take the README's demo screenshot in headless Chromium")
    parser.add_argument("--model", required=True)
    parser.add_argument("--content", required=True, type=Path)
    parser.add_argument("--class-images", required=True, type=Path, help="a folder of K images")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    shots = sorted(p for p in args.class_images.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    print(screenshot(args.model, args.content, shots, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
