"""The benchmark scripts run and print their table (one untimed-warmup-free step each, fp32 only, tiny widths):
they share benchmarks/throughput.py, so a change there must not break any of them."""
from __future__ import annotations

import re

import pytest

from conftest import ROOT, run_cli

SCRIPTS = {
    "bench_funit.py": ["--tiny", "--size", "32", "--batch", "2", "--classes", "2"],
    "bench_pix2pixhd.py": ["--tiny", "--height", "32", "--width", "32", "--batch", "2"],
    "bench_spade.py": ["--mode", "glyphs", "--batch", "2"],
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_benchmark_prints_its_table(script: str) -> None:
    args = [str(ROOT / "benchmarks" / script), *SCRIPTS[script], "--steps", "1", "--warmup", "0", "--precision", "no"]
    out = run_cli(args, cwd=ROOT / "benchmarks", timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| no |")]
    assert len(rows) == 1, out.stdout
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert float(cells[1]) > 0 and cells[2] == "1.00x" and float(cells[4]) > 0 and cells[5] == "1.00x"
    assert re.search(r"device: cpu", out.stdout)
