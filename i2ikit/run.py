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
    from .train.trainer import Trainer

    try:
        trainer = Trainer(recipe)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {args.recipe}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"recipe {args.recipe} is valid: {len(trainer.train_source)} training images in {len(trainer.train_source.classes)} classes")
        return 0
    run_dir = trainer.fit()
    trainer.accelerator.print(f"done: {run_dir} (samples/, export/, state/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
