"""The benchmark scripts run and print their table (one untimed-warmup-free step each, fp32 only, tiny widths):
they share benchmarks/throughput.py, so a change there must not break any of them."""
from __future__ import annotations

import json
import re

import pytest
import torch

from conftest import ROOT, run_cli

SCRIPTS = {
    "bench_funit.py": ["--tiny", "--size", "32", "--batch", "2", "--classes", "2"],
    "bench_pix2pixhd.py": ["--tiny", "--height", "32", "--width", "32", "--batch", "2"],
    "bench_spade.py": ["--mode", "glyphs", "--batch", "2"],
}


def _table(stdout: str) -> list[dict[str, str]]:
    """The Markdown table's rows as {header: cell}; a repeated header gets " (2)"."""
    lines = [line for line in stdout.splitlines() if line.startswith("|") and not line.startswith("|---")]
    header: list[str] = []
    for c in (c.strip() for c in lines[0].strip("|").split("|")):  # the second "vs base" / "% of peak": translate's
        header.append(f"{c} (2)" if c in header else c)
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[1:]]


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_benchmark_prints_its_table(script: str, tmp_path) -> None:
    out_json = tmp_path / "rows.json"
    args = [str(ROOT / "benchmarks" / script), *SCRIPTS[script], "--steps", "1", "--warmup", "0", "--precision", "no",
            "--json", str(out_json)]
    out = run_cli(args, cwd=ROOT / "benchmarks", timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = _table(out.stdout)
    assert len(rows) == 1 and rows[0]["precision"] == "no", out.stdout
    row = rows[0]
    assert float(row["train img/s"]) > 0 and row["vs base"] == "1.00x"
    assert float(row["train GFLOP/img"]) > 0 and row["% of peak"].endswith("%")
    assert re.search(r"device: cpu", out.stdout) and "matmul peak measured in this run: fp32" in out.stdout
    saved = json.loads(out_json.read_text())
    assert saved["peaks"]["no"] > 0 and len(saved["rows"]) == 1
    assert saved["rows"][0]["train_flops_per_image"] > saved["rows"][0]["translate_flops_per_image"] > 0


def test_a_sweep_gives_a_row_per_size_and_batch_and_flops_grow_with_the_pixels() -> None:
    args = [str(ROOT / "benchmarks" / "bench_funit.py"), "--tiny", "--size", "32", "64", "--batch", "1", "2",
            "--classes", "2", "--steps", "1", "--warmup", "0", "--precision", "no"]
    out = run_cli(args, cwd=ROOT / "benchmarks", timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = _table(out.stdout)
    assert [(r["size"], r["batch"]) for r in rows] == [("32", "1"), ("32", "2"), ("64", "1"), ("64", "2")]
    flops = {(r["size"], r["batch"]): float(r["train GFLOP/img"]) for r in rows}
    assert flops[("32", "1")] == flops[("32", "2")]  # per image: the batch does not change it
    assert 3.5 < flops[("64", "1")] / flops[("32", "1")] <= 4.0  # convolutions: 4x the pixels


def test_flop_count_of_a_convolution_with_a_double_backward() -> None:
    """The counter's numbers: a 3x3 convolution forward is 2*Cin*Cout*9*H*W per image; R1's double backward is
    counted too (the stock FlopCounterMode fails on autograd.grad there)."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from throughput import count_flops

    conv = torch.nn.Conv2d(4, 8, 3, padding=1, bias=False)
    x = torch.randn(2, 4, 16, 16, requires_grad=True)
    forward = 2 * 4 * 8 * 9 * 16 * 16 * 2
    assert count_flops(lambda: conv(x)) == forward

    def r1() -> None:
        (g,) = torch.autograd.grad(conv(x).sum(), x, create_graph=True)
        g.pow(2).sum().backward()

    assert count_flops(r1) > 2 * forward


def test_an_out_of_memory_row_is_printed_and_the_next_precision_becomes_the_baseline(capsys) -> None:
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from throughput import print_table

    ok = {"train_ips": 10.0, "train_mem": 1.0, "train_flops_per_image": 1e9, "translate_ips": 5.0, "translate_mem": 1.0,
          "translate_flops_per_image": 1e8, "device": "cuda"}
    print_table("t", [{"precision": "no", "size": 128, "batch": 64, "accumulate": 1, "error": "out of memory", "device": "cuda"},
                      {"precision": "bf16", "size": 128, "batch": 64, "accumulate": 1, **ok}], {"no": 1e12, "bf16": 2e12})
    rows = _table(capsys.readouterr().out)
    assert rows[0]["train img/s"] == "out of memory"
    assert rows[1]["vs base"] == "1.00x" and rows[1]["% of peak"] == "0.5%"  # 1 GFLOP x 10 img/s of 2 TFLOP/s
