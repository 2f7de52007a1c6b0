"""bf16 autocast tracks fp32 for each focus method: the same seeded iterations through the Trainer at tiny
widths, once with ``mixed_precision: no`` and once with ``bf16``, give losses within a stated tolerance, and
the numbers that must stay fp32 do (losses, R1, the optimiser state, the weights).

Tolerance: every logged loss of the first ``STEPS`` iterations within ``RTOL`` times that loss's scale, the
largest ``|fp32|`` it takes over those iterations (at least ``FLOOR``). bf16 keeps 8 bits of mantissa (a
relative rounding of 2^-9 = 0.2% per operation); over a network's depth and a few GAN steps the gaps measured
here stay under 10% of the scale (worst seen: DeepI2I 3.1%, FUNIT 5.8%, GP-UNIT 6.4%), with a loss near zero (a hinge term, a sum of terms of both signs) compared
against its scale rather than its own value. A wrong cast (a loss summed in bf16, a bf16 optimiser state, a
step that diverges) breaks the bound. The ``*_acc`` logs (fractions of patches on the right side
of zero) are discrete and left out. FUNIT's tiny model runs at lr 1e-5 here: at its default 1e-4 one RMSprop
step moves it so far (d_fake 12.7, then 0, then 11) that any perturbation, bf16 or another thread count,
changes the next iterations by tens of percent; at 1e-5 the trajectory is smooth enough to compare.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from i2ikit.recipe import validate
from i2ikit.train.trainer import Trainer

from test_deepi2i_method import TINY as DEEPI2I_TINY
from test_funit import TINY as FUNIT_TINY
from test_gpunit_method import TINY as GPUNIT_TINY

STEPS = 3
RTOL, FLOOR = 0.1, 0.05
METHODS = {
    "funit": ({"name": "funit", **{k: v for k, v in FUNIT_TINY.items() if k != "num_classes"}, "num_classes": "auto",
               "lr_gen": 1e-5, "lr_dis": 1e-5}, 32),
    "deepi2i": ({"name": "deepi2i", **{k: v for k, v in DEEPI2I_TINY.items() if k != "num_classes"},
                 "num_classes": "auto", "phase_one_iters": 1}, 64),
    "gpunit": ({"name": "gpunit", **GPUNIT_TINY, "content_encoder": None, "source_classes": 0, "target_classes": None},
               64),
}

pytestmark = [pytest.mark.filterwarnings("ignore:DeepI2I is training without BigGAN weights"),
              pytest.mark.filterwarnings("ignore:GP-UNIT")]


def _folder(root: Path, classes: int = 3) -> Path:
    g = torch.Generator().manual_seed(0)
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True)
        arr = (torch.rand(32, 32, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(root / f"c{c}" / "x.png")
    return root


def _train(method: dict, size: int, precision: str, tmp: Path) -> tuple[list[dict[str, float]], Trainer]:
    """``STEPS`` seeded iterations on fixed random batches (each stream two images of classes 0 and 1)."""
    from accelerate.state import AcceleratorState, GradientState, PartialState

    AcceleratorState._reset_state(True)  # a second Trainer in one process with another precision
    GradientState._reset_state()
    PartialState._reset_state()
    torch.manual_seed(0)
    trainer = Trainer(validate({
        "name": "bf16", "method": method,
        "data": {"train": {"type": "image_folder", "root": str(_folder(tmp / "data"))}, "new_size": size, "crop": size,
                 "num_workers": 0},
        "train": {"batch_size": 2, "mixed_precision": precision, "trackers": "none", "progress": False,
                  "run_dir": str(tmp / "run"), "seed": 0},
    }))
    g = torch.Generator().manual_seed(1)
    logs = []
    for i in range(STEPS):
        batch = {s: (torch.rand(2, 3, size, size, generator=g) * 2 - 1, torch.tensor([0, 1]))
                 for s in trainer.method.data_streams}
        torch.manual_seed(100 + i)  # the methods' own noise (DeepI2I's z, GP-UNIT's styles) drawn alike
        row: dict[str, float] = {}
        for step in trainer.method.training_steps(i):
            row.update(trainer._run_step(step, [batch]))
        logs.append(row)
    return logs, trainer


@pytest.mark.parametrize("name", sorted(METHODS))
def test_bf16_losses_track_fp32(name: str, tmp_path: Path) -> None:
    method, size = METHODS[name]
    fp32, _ = _train(method, size, "no", tmp_path / "fp32")
    bf16, trainer = _train(method, size, "bf16", tmp_path / "bf16")
    assert trainer.accelerator.mixed_precision == "bf16"
    keys = [k for k in fp32[0] if not k.endswith("_acc")]
    scale = {k: max(max(abs(row[k]) for row in fp32), FLOOR) for k in keys}
    worst = 0.0
    for i, (a, b) in enumerate(zip(fp32, bf16)):
        assert a.keys() == b.keys() and a, f"iteration {i}: {sorted(a)} vs {sorted(b)}"
        for key in keys:
            gap = abs(a[key] - b[key]) / scale[key]
            assert gap <= RTOL, f"{name} iteration {i} {key}: fp32 {a[key]:.5g}, bf16 {b[key]:.5g} (scale {scale[key]:.4g})"
            worst = max(worst, gap)
    # what must stay fp32 under autocast does: weights, gradients' optimiser state
    for net in trainer.raw_nets.values():
        assert all(p.dtype == torch.float32 for p in net.parameters())
    for opt in trainer.optimizers.values():
        for state in opt.state.values():
            assert all(v.dtype == torch.float32 for v in state.values() if torch.is_tensor(v) and v.is_floating_point())
    # and the two runs do differ (the autocast is on): bf16 is no fp32 copy
    assert any(a[k] != b[k] for a, b in zip(fp32, bf16) for k in a)
    print(f"{name}: worst gap {worst:.4f} of the scale")


@pytest.mark.parametrize("name", sorted(METHODS))
def test_losses_and_r1_are_fp32_under_bf16_autocast(name: str, tmp_path: Path) -> None:
    """Every step's returned losses (the "loss" that is back-propagated, R1 included) come out in fp32."""
    method, size = METHODS[name]
    _, trainer = _train(method, size, "bf16", tmp_path)
    g = torch.Generator().manual_seed(2)
    batch = {s: (torch.rand(2, 3, size, size, generator=g) * 2 - 1, torch.tensor([0, 1])) for s in trainer.method.data_streams}
    for step in trainer.method.training_steps(STEPS):
        trainer._set_trainable(step.trains)
        with trainer.accelerator.autocast():
            losses = step.fn(batch, trainer.raw_nets)
        bad = {k: v.dtype for k, v in losses.items() if v.is_floating_point() and v.dtype != torch.float32}
        assert not bad, f"{name} step {step.name}: {bad}"
