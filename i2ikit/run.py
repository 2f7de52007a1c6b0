"""Train from a recipe: ``python -m i2ikit.run recipes/x.yaml key=value ...`` or, on any number of
devices, ``accelerate launch -m i2ikit.run recipes/x.yaml key=value ...``."""
from __future__ import annotations

import argparse
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

    # Every stage's data and files are checked before the first one trains, so a missing dataset of the
    # last stage does not surface after hours of the first. One process checks (datasets may build a
    # cache on first use) and tells the others.
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list, parse_flag_from_env

    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))  # as Accelerator() reads it
    failed = [False]
    if state.is_main_process:
        produced = [s.run_dir for s in recipe.stages.values()]
        try:
            for stage in [*recipe.stages.values(), recipe]:
                print(f"{stage.name}: {check_inputs(stage, produced_by_stages=produced)}")
        except (FileNotFoundError, ValueError, KeyError) as exc:
            print(f"error: {args.recipe}: {exc}\n(nothing was trained. What a recipe needs is listed at the top of "
                  "the recipe file; datasets: docs/datasets.md, weights: docs/weights.md)", file=sys.stderr)
            failed = [True]
    if state.num_processes > 1:
        broadcast_object_list(failed)
    if failed[0]:
        return 2
    if args.check:
        print(f"recipe {args.recipe} is valid" + (f" ({len(recipe.stages)} stage(s) before it)" if recipe.stages else ""))
        return 0
    for name, stage in recipe.stages.items():
        done = finished_export(stage)
        if done is not None:
            if state.is_main_process:
                print(f"stage {name}: {done} already holds step {stage.train.steps}; skipped")
            continue
        if state.is_main_process:
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
