"""A run folder made easy to look at: loss and metric curves as PNG, and an ``index.html`` of the sample grids.

- :func:`plot_run` reads ``losses.jsonl`` (one line per step, ``{"step": N, "<step>/<loss>": value}``) and draws
  ``plots/losses.png``: one panel per training step (``G``, ``D``, ...), each loss over the iterations, raw and
  smoothed; and, when the run evaluated during training, ``plots/eval.png`` from ``eval/step_*.json``: one panel
  per metric over the steps.
- :func:`write_index` writes ``index.html`` (as the CycleGAN repo's ``web/index.html``): the curves at the top,
  then every sample grid of ``samples/``, newest first, under its step and the column names. The trainer
  refreshes it whenever it writes a grid; ``i2ikit plot <run>`` redraws the curves and the page.

Both only read the run folder and write into it (atomically), so they are safe on a run still training.
"""
from __future__ import annotations

import html
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from ..errors import MissingFileError

__all__ = ["read_losses", "read_eval", "plot_run", "write_index"]

_STEP_PNG = re.compile(r"step_(\d+)\.png")


def read_losses(run_dir: str | os.PathLike) -> list[dict[str, float]]:
    """The rows of ``losses.jsonl`` in step order, one per step (a repeated step keeps its last line, as a resumed
    run logs it; unreadable lines, e.g. a line cut by a kill, are skipped)."""
    file = Path(run_dir) / "losses.jsonl"
    if not file.is_file():
        return []
    by_step: dict[int, dict[str, float]] = {}
    for line in file.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            by_step[row["step"]] = row
    return [by_step[s] for s in sorted(by_step)]


def read_eval(run_dir: str | os.PathLike) -> list[tuple[int, dict[str, dict[str, float]]]]:
    """``[(step, {row: {metric: value}})]`` of ``eval/step_*.json`` in step order."""
    out = []
    for file in sorted((Path(run_dir) / "eval").glob("step_*.json")):
        m = re.fullmatch(r"step_(\d+)\.json", file.name)
        try:
            data = json.loads(file.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if m and isinstance(data, dict):
            out.append((int(m.group(1)), data))
    return out


def _smooth(values: list[float], window: int) -> list[float]:
    out, total, queue = [], 0.0, []
    for v in values:
        queue.append(v)
        total += v
        if len(queue) > window:
            total -= queue.pop(0)
        out.append(total / len(queue))
    return out


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def plot_run(run_dir: str | os.PathLike, *, smooth: int | None = None) -> list[Path]:
    """Draw ``plots/losses.png`` (and ``plots/eval.png`` when the run evaluated) for the run in ``run_dir``;
    ``smooth``: the moving-average window (default: 1/50 of the steps, at least 1). Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MissingFileError(f"{run_dir}: no such run folder")
    rows = read_losses(run_dir)
    evals = read_eval(run_dir)
    if not rows and not evals:
        raise MissingFileError(f"{run_dir} holds no losses.jsonl with any step (nor eval/step_*.json): is it a run "
                               "folder (runs/<name>) that has trained at least one step?")
    written = []
    if rows:
        keys = sorted({k for r in rows for k in r if k != "step"})
        groups: dict[str, list[str]] = {}
        for key in keys:
            groups.setdefault(key.split("/", 1)[0] if "/" in key else "", []).append(key)
        window = smooth or max(1, len(rows) // 50)
        fig, axes = plt.subplots(len(groups), 1, figsize=(9, 2.8 * len(groups)), squeeze=False, layout="constrained")
        for ax, (group, members) in zip(axes[:, 0], groups.items()):
            for key in members:
                pts = [(r["step"], float(r[key])) for r in rows if key in r and math.isfinite(float(r[key]))]
                if not pts:
                    continue
                steps, values = zip(*pts)
                line, = ax.plot(steps, values, alpha=0.25, linewidth=0.8)
                ax.plot(steps, _smooth(list(values), window), color=line.get_color(), linewidth=1.5,
                        label=key.split("/", 1)[-1])
            ax.set_title(f"{group} step" if group else "losses", fontsize=10)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, ncol=min(4, len(members)), loc="upper right")
        fig.suptitle(f"{run_dir.name}: losses (light: every step; dark: mean of {window})", fontsize=11)
        written.append(_save(fig, run_dir / "plots" / "losses.png"))
        plt.close(fig)
    if evals:
        series: dict[str, list[tuple[int, float]]] = {}
        for step, data in evals:
            for row, metrics in data.items():
                for metric, value in (metrics or {}).items():
                    if metric.startswith("num_") or not isinstance(value, (int, float)) or not math.isfinite(value):
                        continue
                    series.setdefault(f"{metric} ({row})" if len(data) > 1 else metric, []).append((step, float(value)))
        if series:
            fig, axes = plt.subplots(len(series), 1, figsize=(9, 2.4 * len(series)), squeeze=False, layout="constrained")
            for ax, (name, pts) in zip(axes[:, 0], sorted(series.items())):
                steps, values = zip(*pts)
                ax.plot(steps, values, marker="o")
                ax.set_title(name, fontsize=10)
                ax.set_xlabel("step")
                ax.grid(alpha=0.3)
            fig.suptitle(f"{run_dir.name}: evaluation during training", fontsize=11)
            written.append(_save(fig, run_dir / "plots" / "eval.png"))
            plt.close(fig)
    write_index(run_dir)
    return written


def write_index(run_dir: str | os.PathLike, *, title: str | None = None) -> Path:
    """Write ``<run_dir>/index.html``: the curves (``plots/*.png``, when drawn) and every sample grid, newest
    first, each under its step. Paths in the page are relative, so the folder can be copied or served as is."""
    run_dir = Path(run_dir)
    title = title or run_dir.name
    grids = sorted(((int(m.group(1)), p) for p in (run_dir / "samples").glob("step_*.png")
                    if (m := _STEP_PNG.fullmatch(p.name))), reverse=True)
    columns_file = run_dir / "samples" / "columns.txt"
    columns = columns_file.read_text().strip() if columns_file.is_file() else ""
    rows = read_losses(run_dir)
    last = rows[-1] if rows else None
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{esc(title)} - i2ikit run</title>",
             "<style>body{font-family:sans-serif;margin:1.5em;max-width:1200px}img{max-width:100%;"
             "image-rendering:pixelated;border:1px solid #ccc}h2{margin-top:1.5em}.meta{color:#555}</style>",
             "</head><body>", f"<h1>{esc(title)}</h1>"]
    facts = []
    if last:
        facts.append(f"{len(rows)} logged steps, last step {last['step']}")
    if (run_dir / "export" / "config.json").is_file():
        facts.append('export: <a href="export/">export/</a>')
    if (run_dir / "recipe.yaml").is_file():
        facts.append('recipe: <a href="recipe.yaml">recipe.yaml</a>')
    if facts:
        parts.append(f'<p class="meta">{" &middot; ".join(facts)}</p>')
    for name, what in (("losses.png", "Losses"), ("eval.png", "Evaluation")):
        if (run_dir / "plots" / name).is_file():
            parts += [f"<h2>{what}</h2>", f'<img src="plots/{name}" alt="{what.lower()} over steps">']
    if not (run_dir / "plots").is_dir():
        parts.append('<p class="meta">No curves yet: <code>i2ikit plot ' + esc(str(run_dir)) + "</code> draws them.</p>")
    parts.append("<h2>Samples</h2>")
    if columns:
        parts.append(f'<p class="meta">Columns: {esc(columns)}</p>')
    if not grids:
        parts.append('<p class="meta">No sample grids yet.</p>')
    for step, path in grids:
        parts += [f'<h3 id="step{step}">step {step}</h3>',
                  f'<img src="samples/{esc(path.name)}" alt="samples at step {step}" loading="lazy">']
    parts.append("</body></html>")
    out = run_dir / "index.html"
    tmp = run_dir / ".index.html.tmp"
    tmp.write_text("\n".join(parts) + "\n")
    os.replace(tmp, out)
    return out
