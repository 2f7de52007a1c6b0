"""Run ``python -m i2ikit.run`` and kill it with SIGKILL at a chosen moment (for tests/test_resume_logs.py).

    python tests/kill_harness.py <moment> <step> <recipe> [overrides...]

Moments: ``step`` (at the start of iteration <step>, after the steps before it were logged),
``checkpoint`` (while the checkpoint of <step> is being written, after three of its files),
``export`` (while the export after the checkpoint of <step> is being written, after its first network).
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    moment, at, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if moment == "step":
        from i2ikit_funit import FUNIT

        original = FUNIT.training_steps

        def training_steps(self, iteration):
            if iteration == at:
                die()
            return original(self, iteration)

        FUNIT.training_steps = training_steps
    elif moment == "checkpoint":
        from i2ikit.train import checkpoint

        original, written = checkpoint.save_tree, []

        def save_tree(obj, directory, name):
            original(obj, directory, name)
            if Path(directory).name == f".tmp-step_{at:08d}":
                written.append(name)
                if len(written) == 3:
                    die()

        checkpoint.save_tree = save_tree
    elif moment == "export":
        import i2ikit.method

        original = i2ikit.method.save_file

        def save_file(tensors, filename, metadata=None):
            original(tensors, filename, metadata=metadata)
            latest = Path(filename).parent.parent / "state" / "latest"
            if ".export.tmp-" in str(filename) and latest.exists() and latest.read_text().strip() == f"step_{at:08d}":
                die()

        i2ikit.method.save_file = save_file
    else:
        raise SystemExit(f"unknown moment {moment!r}")
    from i2ikit.run import main as run_main

    return run_main(argv)


if __name__ == "__main__":
    sys.exit(main())
