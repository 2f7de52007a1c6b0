"""Train from a recipe: ``python -m i2ikit.run recipes/x.yaml key=value ...`` or, on any number of
devices, ``accelerate launch -m i2ikit.run recipes/x.yaml key=value ...``."""
from __future__ import annotations

import argparse
import os
import sys

from .recipe import RecipeError, load_recipe


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m i2ikit.run", description=__doc__)
    p.add_argument("recipe", help="path to a YAML recipe")
    p.add_argument("overrides", nargs="*", help="dotted overrides such as train.steps=100 method.nf=32")
    p.add_argument("--check", action="store_true", help="validate the recipe and open the data, then stop")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        recipe = load_recipe(args.recipe, args.overrides)
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from .train.trainer import Trainer, check_inputs, finished_export

    main_process = int(os.environ.get("RANK", "0")) == 0  # set by torchrun / accelerate launch

    # Every stage's data and files are checked before the first one trains, so a missing dataset of the
    # last stage does not surface after hours of the first.
    try:
        for stage in [*recipe.stages.values(), recipe]:
            later = [s.run_dir for s in recipe.stages.values()]
            summary = check_inputs(stage, produced_by_stages=later)
            if main_process:
                print(f"{stage.name}: {summary}")
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {args.recipe}: {exc}\n(nothing was trained. What a recipe needs is listed at the top of the "
              "recipe file; datasets: docs/datasets.md, weights: docs/weights.md)", file=sys.stderr)
        return 2
    if args.check:
        print(f"recipe {args.recipe} is valid" + (f" ({len(recipe.stages)} stage(s) before it)" if recipe.stages else ""))
        return 0
    for name, stage in recipe.stages.items():
        done = finished_export(stage)
        if done is not None:
            if main_process:
                print(f"stage {name}: {done} already holds step {stage.train.steps}; skipped")
            continue
        if main_process:
            print(f"stage {name}: training {stage.name} into {stage.run_dir}")
        Trainer(stage).fit(last=False)
    try:
        trainer = Trainer(recipe)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {args.recipe}: {exc}", file=sys.stderr)
        return 2
    run_dir = trainer.fit()
    trainer.accelerator.print(f"done: {run_dir} (samples/, export/, state/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
