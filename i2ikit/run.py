"""Train from a recipe: ``python -m i2ikit.run recipes/x.yaml key=value ...`` or, on any number of
devices, ``accelerate launch -q -m i2ikit.run recipes/x.yaml key=value ...``.

A mistake in the recipe, the data, a weight file or the run folder is printed as one paragraph and the
command exits with status 2 (``--debug`` or ``I2IKIT_DEBUG=1`` adds the traceback); a traceback on its
own means a bug. ``accelerate launch`` adds a report of its own after a failed run unless it is given
``-q``."""
from __future__ import annotations

import argparse
import sys

from .errors import UserError, report, run_main, with_context
from .recipe import find_recipe, load_recipe


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m i2ikit.run", description=__doc__)
    p.add_argument("recipe", help="path to a YAML recipe, or the name of a shipped one (i2ikit recipes)")
    p.add_argument("overrides", nargs="*", help="dotted overrides such as train.steps=100 method.nf=32")
    p.add_argument("--check", action="store_true",
                   help="validate the recipe, open the data and decode every image once (i2ikit data check), then stop")
    p.add_argument("--debug", action="store_true", help="show tracebacks for user errors too (or I2IKIT_DEBUG=1)")
    return p


def _main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    args.recipe = find_recipe(args.recipe)  # a bare name: the shipped recipe of that name
    recipe = load_recipe(args.recipe, args.overrides)
    from .train.trainer import Trainer, check_inputs, check_run_folder, finished_export

    # Every stage's data, files and run folder are checked before the first one trains, so a missing
    # dataset of the last stage does not surface after hours of the first. One process checks (datasets
    # may build a cache on first use) and tells the others.
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list, parse_flag_from_env

    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))  # as Accelerator() reads it
    status = [0]
    if state.is_main_process:
        produced = [s.run_dir for s in recipe.stages.values()]
        try:
            for stage in [*recipe.stages.values(), recipe]:
                try:
                    print(f"{stage.name}: {check_inputs(stage, produced_by_stages=produced)}")
                    check_run_folder(stage.run_dir)
                except UserError as exc:
                    raise with_context(exc, f"{stage.source or args.recipe}: ") from None
            if args.check:
                from .data.check import check_recipe

                found = check_recipe(recipe)
                print(found.format())
                status = [0 if found.ok else 1]
        except (UserError, OSError) as exc:
            exc.add_note("(nothing was trained. What a recipe needs is listed at the top of the recipe file; "
                         "datasets: docs/datasets.md, weights: docs/weights.md)")
            status = [report(exc)]
    if state.num_processes > 1:
        broadcast_object_list(status)
    if status[0] or args.check:
        if args.check and not status[0] and state.is_main_process:
            print(f"recipe {args.recipe} is valid" + (f" ({len(recipe.stages)} stage(s) before it)" if recipe.stages else ""))
        return status[0]
    for name, stage in recipe.stages.items():
        done = finished_export(stage)
        if done is not None:
            if state.is_main_process:
                print(f"stage {name}: {done} already holds step {stage.train.steps}; skipped")
            continue
        if state.is_main_process:
            print(f"stage {name}: training {stage.name} into {stage.run_dir}")
        Trainer(stage).fit(last=False)
    trainer = Trainer(recipe)
    run_dir = trainer.fit()
    trainer.accelerator.print(f"done: {run_dir} (samples/, export/, state/)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(_main, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
