"""The method-agnostic GAN trainer on Accelerate.

Per iteration it runs the method's steps in order (e.g. FUNIT: discriminator, then generator). For each
step only the networks the step trains get gradients; those are handed to the step wrapped for DDP,
the others unwrapped (so DDP never sees a forward whose parameters get no gradient). Gradient
accumulation runs all micro-batches of one step before the next step starts, so the discriminator's
gradients are never polluted by the generator step. The EMA copies live outside DDP and are saved
with the run state.
"""
from __future__ import annotations

import contextlib
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from torch.utils.data import DataLoader, Dataset

from ..api import build
from ..data import DataSourceError, EvalTransform, TrainTransform, build_dataset, make_stream_loader, stable_hash
from ..data.sampling import DataReporter, load_item_noted
from ..errors import ConfigError, MissingFileError, TrainingDiverged, UserError, with_context
from ..method import ExportData, Method
from ..nn.modes import eval_mode
from ..plugins import get_registry
from ..recipe import Recipe, dump_recipe
from . import checkpoint as ckpt
from .allocator import keep_freed_memory
from .cpu_bf16 import slow_bf16_warning
from .ema import update_ema
from .report import write_index
from .samples import save_grid


def _trackers(value: str | list[str] | None) -> list[str] | None:
    if value in (None, "none", []):
        return None
    if value == "auto":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            return None
        return ["tensorboard"]
    return [value] if isinstance(value, str) else list(value)


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v if isinstance(v, (int, float, str, bool)) else str(v)
    return out


def open_dataset(spec: Mapping[str, Any], where: str) -> Any:
    """A recipe's dataset (:func:`i2ikit.data.build_dataset`), the recipe key (``data.train``, ...) named in its errors."""
    return build_dataset(spec, where)


def stream_sources(recipe: Recipe, train: Any, streams: tuple[str, ...]) -> dict[str, Any]:
    """Each data stream's images: data.train, the classes data.streams names, or the stream's own dataset."""
    out = {stream: train for stream in streams}
    for stream, spec in (recipe.data.streams or {}).items():
        where = f"data.streams.{stream}"
        if "type" in spec:
            out[stream] = open_dataset(spec, where)
        else:
            try:
                out[stream] = train.subset(spec["classes"], relabel=False)
            except UserError as exc:
                raise with_context(exc, f"{where}.classes: ") from None
    return out


def _layout_hint(source: Any) -> str:
    """Why a folder dataset may have fewer classes than expected: its root is one level above the classes."""
    root = getattr(source, "root", None)
    classes = getattr(source, "classes", [])
    if root is None or len(classes) != 1 or not (Path(root) / classes[0]).is_dir():
        return ""
    inner = sorted(d.name for d in (Path(root) / classes[0]).iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(inner) < 2:
        return ""
    return (f" Its only class folder {Path(root) / classes[0]} holds {len(inner)} sub-folders ({', '.join(inner[:3])}"
            f"{', ...' if len(inner) > 3 else ''}): if those are the classes, the root is one level too high; use "
            f"root: {Path(root) / classes[0]}.")


def check_classes(method_cls: Any, sources: Mapping[str, Any], where: str) -> None:
    """Each stream has at least the classes the method needs (``Method.min_classes``)."""
    for stream, source in sources.items():
        need = int((method_cls.min_classes or {}).get(stream, 1))
        present = len(set(source.labels))
        if present < need:
            stream_note = f"its {stream!r} stream" if len(sources) > 1 else "its training data"
            raise DataSourceError(
                f"{where}: method {method_cls.method_name!r} needs at least {need} classes in {stream_note}, but "
                f"{source.name} has {present} ({', '.join(map(str, sorted({source.classes[i] for i in set(source.labels)})[:5]))})."
                + (_layout_hint(source) or " Add classes (one sub-folder per class), or check data.train / data.streams."))


def check_run_folder(run_dir: Path) -> None:
    """Fail before anything is built when the run folder cannot be created or written."""
    run_dir = Path(run_dir)
    existing = run_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"run folder {run_dir}: {existing} is a file, not a folder; choose another folder with "
                          "train.run_dir=<folder>")
    for folder in [existing] + [run_dir / sub for sub in ("state", "export") if (run_dir / sub).is_dir()]:
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
                pass
        except OSError as exc:
            raise ConfigError(f"cannot write to {folder} ({exc.strerror or exc}), where run {run_dir} keeps its "
                              "checkpoints, logs and export. Fix its permissions, free disk space, or choose another "
                              "folder with train.run_dir=<folder>.") from None


def check_resume(recipe: Recipe) -> None:
    """``train.resume`` names a checkpoint folder (unless it is ``auto`` or null)."""
    resume = recipe.train.resume
    if resume not in (None, "auto", "never", "none") and not Path(resume).is_dir():
        raise MissingFileError(f"train.resume={resume!r}: {resume} is not a checkpoint folder (expected "
                               "<run>/state/step_XXXXXXXX, `auto` or null)")


def check_inputs(recipe: Recipe, *, produced_by_stages: list[Path] = ()) -> str:
    """Open the recipe's datasets and check the files its method names, without building the model.
    Paths inside an earlier stage's run folder are made by that stage and are not checked. Returns a
    one-line summary; raises with a message that says what to prepare."""
    data = recipe.data
    train = open_dataset(data.train, "data.train")
    counts = [f"{len(train)} training images in {len(train.classes)} classes"]
    cls = get_registry().get("method", recipe.method["name"]).obj
    sources = stream_sources(recipe, train, cls.data_streams)
    for stream in data.streams or {}:
        counts.append(f"stream {stream}: {len(sources[stream])} images")
    check_classes(cls, sources, "data")
    check_resume(recipe)
    if data.samples:
        open_dataset(data.samples, "data.samples")
    produced = [Path(p).resolve() for p in produced_by_stages]
    kwargs = {k: v for k, v in recipe.method.items() if k != "name"
              if not (isinstance(v, str) and any(Path(v).resolve().is_relative_to(p) for p in produced))}
    cls.check_inputs(kwargs)
    return "; ".join(counts)


def finished_export(recipe: Recipe) -> Path | None:
    """The run's export if it already holds the recipe's last step (a finished stage), else None."""
    config = recipe.run_dir / "export" / "config.json"
    try:
        step = json.loads(config.read_text()).get("step")
    except (OSError, ValueError):
        return None
    return config.parent if isinstance(step, int) and step >= recipe.train.steps else None


class _OnePass(Dataset):
    """Every item of a source once, augmented with a per-item seed (so workers change nothing)."""

    def __init__(self, source: Any, transform: Any, key: tuple, on_bad_image: str) -> None:
        self.source, self.transform, self.key, self.on_bad_image = source, transform, key, on_bad_image

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, Any]:
        return load_item_noted(self.source, i, self.transform, stable_hash(*self.key, i), on_bad_image=self.on_bad_image)


def _stack_items(items: list[tuple[torch.Tensor, Any, list]]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack([t for t, _, _ in items]), torch.stack([torch.as_tensor(lab) for _, lab, _ in items])


class Trainer:
    def __init__(self, recipe: Recipe, *, accelerator: Accelerator | None = None) -> None:
        self.recipe = recipe
        cfg = recipe.train
        self.run_dir = recipe.run_dir
        self.accelerator = accelerator or Accelerator(
            mixed_precision=cfg.mixed_precision,
            gradient_accumulation_steps=cfg.grad_accum or 1,
            log_with=_trackers(cfg.trackers),
            project_dir=str(self.run_dir),
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=cfg.find_unused_parameters)],
        )
        acc = self.accelerator
        if acc.device.type == "cpu":
            keep_freed_memory()  # no page faults on the same large buffers every iteration (allocator.py)
        # Identical seeds on every rank give identical initial weights; data order is sharded separately.
        set_seed(cfg.seed)

        data = recipe.data
        # Built-in data may be rendered on first use: let the main process do it while the others wait.
        with acc.main_process_first():
            self.train_source = open_dataset(data.train, "data.train")
            self.sample_source = open_dataset(data.samples, "data.samples") if data.samples else self.train_source
        # Each stream of the method draws from data.train, or from the classes data.streams names.
        cls = get_registry().get("method", recipe.method["name"]).obj
        with acc.main_process_first():
            self.stream_sources = stream_sources(recipe, self.train_source, cls.data_streams)
        check_classes(cls, self.stream_sources, recipe.source or recipe.name)
        if acc.is_main_process:
            check_run_folder(self.run_dir)
        self.data_reporter = DataReporter(crop=data.crop)
        self.train_transform = TrainTransform(new_size=data.new_size, crop=data.crop, flip=data.flip)
        self.eval_transform = EvalTransform(new_size=data.new_size, crop=data.crop)

        method_kwargs = {k: v for k, v in recipe.method.items() if k != "name"}
        from_data = cls.values_from_data(num_classes=len(self.train_source.classes))
        method_kwargs.update({k: from_data[k] for k, v in method_kwargs.items() if v == "auto" and k in from_data})
        self.method: Method = build(recipe.method["name"], **method_kwargs).to(acc.device)
        # The resolved recipe records every method default, so the run is reproducible from it alone.
        recipe.method = {"name": recipe.method["name"], **self.method.config}

        self.raw_nets = self.method.networks()
        self.nets = {name: acc.prepare_model(net) for name, net in self.raw_nets.items()}
        self.optimizers = {name: acc.prepare_optimizer(opt) for name, opt in self.method.make_optimizers().items()}
        for optimizer in self.optimizers.values():  # what Method.lr_factor scales (saved with the optimiser state)
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        self.ema_specs = self.method.ema_specs()
        self.step = 0
        # What a checkpoint holds; i2ikit writes it itself (safetensors + JSON), never Accelerate's pickles.
        self.state_parts = ckpt.StateParts(
            networks=self.raw_nets, optimizers=self.optimizers,
            ema={spec.target: getattr(self.method, spec.target) for spec in self.ema_specs},
            extra=self.method.extra_state_modules(), scaler=acc.scaler, method=recipe.method["name"])
        # Same weights everywhere (seeded above), but per-process randomness from here on, so that
        # methods drawing noise or target classes do not repeat the same draws on every rank.
        set_seed(cfg.seed, device_specific=True)
        acc.print(f"{recipe.name}: {acc.num_processes} process(es) on {acc.device}, "
                  f"mixed precision {acc.mixed_precision}, gradient accumulation {acc.gradient_accumulation_steps}")
        warning = slow_bf16_warning(acc.device.type, acc.mixed_precision)
        if warning:
            acc.print(warning)

    # ---- state ------------------------------------------------------------------------------------
    def _resume(self) -> None:
        acc = self.accelerator
        resume = self.recipe.train.resume
        if resume in (None, "never", "none"):
            return
        if resume == "auto":
            point = ckpt.find_resume_point(self.run_dir)
            for note in point.notes:
                acc.print(f"warning: {note}")
            path = point.path
            if path is None:
                return
        else:
            check_resume(self.recipe)
            path = Path(resume)
        self.step, notes = ckpt.load_run_state(path, self.state_parts, rank=acc.process_index,
                                               num_processes=acc.num_processes)
        for note in notes:
            acc.print(f"warning: {note}")
        acc.print(f"resumed from {path} at step {self.step}")

    def save_checkpoint(self) -> Path:
        acc = self.accelerator
        step = self.step
        tmp = ckpt.temp_dir_for(self.run_dir, step)
        acc.wait_for_everyone()
        ckpt.save_run_state(tmp, step, self.state_parts, rank=acc.process_index, num_processes=acc.num_processes,
                            is_main=acc.is_main_process)
        acc.wait_for_everyone()
        final = ckpt.state_root(self.run_dir) / f"step_{step:08d}"
        if acc.is_main_process:
            ckpt.finish_run_state(tmp, step, self.state_parts, num_processes=acc.num_processes)
            final = ckpt.publish(self.run_dir, step, self.recipe.train.keep_checkpoints)
            self.export()
        acc.wait_for_everyone()
        return final

    def export_data(self) -> ExportData:
        """One augmented pass over a stream's images, for methods that fit something before an export."""
        device, cfg = self.accelerator.device, self.recipe.train
        step = self.step

        def one_pass(stream: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            items = _OnePass(self.stream_sources[stream], self.train_transform, (cfg.seed, "export", step, stream),
                             self.recipe.data.on_bad_image)
            loader = DataLoader(items, batch_size=cfg.batch_size, num_workers=self.recipe.data.num_workers,
                                collate_fn=_stack_items)
            for images, labels in loader:
                yield images.to(device), labels.to(device)

        return ExportData(step=step, seed=cfg.seed, device=device, batch_size=cfg.batch_size, one_pass=one_pass)

    def prepare_inference(self) -> None:
        """Run the method's post-hoc fitting (:meth:`Method.before_export`, e.g. GP-UNIT's latent sampler)
        once per step, before the model is exported or evaluated, so neither sees a stale fit."""
        if getattr(self, "_prepared_at", None) != self.step:
            self.method.before_export(self.export_data())
            self._prepared_at = self.step

    def export(self) -> Path:
        self.prepare_inference()
        return self.method.save_pretrained(self.run_dir / "export", extra={"recipe": self.recipe.to_dict(), "step": self.step})

    # ---- data -------------------------------------------------------------------------------------
    def _loaders(self, start_iteration: int, accum: int) -> dict[str, Iterator]:
        acc = self.accelerator
        cfg = self.recipe.train
        return {
            stream: make_stream_loader(
                self.stream_sources[stream], self.train_transform, batch_size=cfg.batch_size, seed=cfg.seed, stream=stream,
                rank=acc.process_index, world_size=acc.num_processes, start_batch=start_iteration * accum,
                num_workers=self.recipe.data.num_workers, on_bad_image=self.recipe.data.on_bad_image,
                warn_below=self.recipe.data.crop // 2, reporter=self.data_reporter,
            )
            for stream in self.method.data_streams
        }

    def _fixed_sample_batch(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        n = self.recipe.train.sample_count
        batch = {}
        for i, stream in enumerate(self.method.data_streams):
            if stream in (self.recipe.data.streams or {}):
                source = self.stream_sources[stream]
            else:
                source = self.train_source if i == 0 else self.sample_source
            # Evenly spaced over the source (so several classes appear), offset per stream so that the
            # class images do not line up with the content images.
            step = len(source) / n
            idx = [int((j + 0.5 * i / len(self.method.data_streams)) * step) % len(source) for j in range(n)]
            if i > 0:
                idx = idx[::-1]
            items = [load_item_noted(source, j, self.eval_transform, None, on_bad_image=self.recipe.data.on_bad_image)
                     for j in idx]
            images, labels = _stack_items(items)
            batch[stream] = (images.to(self.accelerator.device), labels.to(self.accelerator.device))
            self.data_reporter([note for item in items for note in item[2]])
        return batch

    def write_samples(self, batch: Mapping[str, Any]) -> Path | None:
        if not self.accelerator.is_main_process:
            return None
        columns = self.method.sample_columns(batch)
        path = save_grid(columns, self.run_dir / "samples" / f"step_{self.step:08d}.png")
        write_index(self.run_dir, title=self.recipe.name)  # the run's page of grids, newest first
        return path

    def run_eval(self) -> dict[str, dict[str, float]] | None:
        """Evaluate the EMA model as the recipe's ``eval:`` section says; log and save the numbers."""
        spec = self.recipe.eval
        if spec is None or not self.accelerator.is_main_process:
            return None
        from ..eval.runner import EvalSettings, evaluate

        if not hasattr(self, "_eval_sources"):
            targets = build_dataset(spec.targets, "eval.targets")
            content = build_dataset(spec.content, "eval.content") if spec.content else self.train_source
            self._eval_sources = (content, targets)
        content, targets = self._eval_sources
        self.prepare_inference()
        settings = EvalSettings(protocol=spec.protocol, ks=spec.k, metrics=spec.metrics, num_content=spec.num_content,
                                styles_per_input=spec.styles_per_input, diversity_samples=spec.diversity_samples,
                                max_real_per_class=spec.max_real_per_class, seed=spec.seed)
        with eval_mode(self.method):
            results = evaluate(self.method, content=content, targets=targets, settings=settings, metric_options=spec.metric_options,
                               image_size=self.recipe.data.crop, new_size=self.recipe.data.new_size,
                               device=self.accelerator.device, progress=False)
        step = self.step
        self.accelerator.log({f"eval/{k}/{m}": v for k, row in results.items() for m, v in row.items()}, step=step)
        out = self.run_dir / "eval"
        out.mkdir(parents=True, exist_ok=True)
        (out / f"step_{step:08d}.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        return results

    # ---- training ---------------------------------------------------------------------------------
    def _set_trainable(self, trains: tuple[str, ...]) -> None:
        for name, net in self.raw_nets.items():
            net.requires_grad_(name in trains)

    def _set_learning_rates(self, iteration: int) -> None:
        for name, optimizer in self.optimizers.items():
            factor = float(self.method.lr_factor(name, iteration))
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] * factor

    def _run_step(self, step, micro_batches: list[dict]) -> dict[str, float]:
        acc = self.accelerator
        self._set_trainable(step.trains)
        nets = {name: (self.nets[name] if name in step.trains else self.raw_nets[name]) for name in self.raw_nets}
        logged: dict[str, float] = {}
        for k, batch in enumerate(micro_batches):
            last = k == len(micro_batches) - 1
            with contextlib.ExitStack() as stack:
                if not last:
                    for name in step.trains:
                        stack.enter_context(acc.no_sync(self.nets[name]))
                with acc.autocast():
                    losses = step.fn(batch, nets)
                acc.backward(losses["loss"])
            for key, value in losses.items():
                logged[f"{step.name}/{key}"] = logged.get(f"{step.name}/{key}", 0.0) + float(value.detach()) / len(micro_batches)
        if self.recipe.train.max_grad_norm:
            for name in step.trains:
                acc.clip_grad_norm_(self.raw_nets[name].parameters(), self.recipe.train.max_grad_norm)
        for name in step.optimizers:
            self.optimizers[name].step()
            self.optimizers[name].zero_grad(set_to_none=True)
        for spec in self.ema_specs:
            if spec.source in step.trains:
                update_ema(getattr(self.method, spec.target), self.raw_nets[spec.source], spec.decay, buffers=spec.buffers)
        return logged

    def fit(self, *, last: bool = True) -> Path:
        """Train to ``train.steps`` (resuming as the recipe says). ``last=False`` (an earlier stage of a
        staged recipe) keeps the process group and Accelerate's state alive for the next stage."""
        with contextlib.ExitStack() as stack:
            if self.accelerator.is_main_process:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                stack.enter_context(ckpt.run_folder_lock(self.run_dir))
            return self._fit(last=last)

    def _start(self) -> int:
        """Resume, then leave the run folder as an uninterrupted run to this step would have: leftovers of a
        kill removed, ``losses.jsonl`` cut back to the step resumed from, tracker logs told to drop later
        steps. Returns the step training starts from."""
        acc = self.accelerator
        if acc.is_main_process:
            removed = ckpt.remove_leftovers(self.run_dir)
            if removed:
                acc.print(f"removed {len(removed)} leftover(s) of an interrupted run: {', '.join(p.name for p in removed[:4])}"
                          + (" ..." if len(removed) > 4 else ""))
        acc.wait_for_everyone()
        self._resume()
        start = self.step
        if acc.is_main_process:
            dropped = ckpt.trim_log(self.run_dir / "losses.jsonl", start)
            if dropped:
                acc.print(f"losses.jsonl: dropped {dropped} line(s) after step {start}, written before the interruption")
            dump_recipe(self.recipe, self.run_dir / "recipe.yaml")
        if _trackers(self.recipe.train.trackers):
            # TensorBoard drops the events of steps after ``start`` that an interrupted run had written.
            init = {"tensorboard": {"purge_step": start + 1}} if start else {}
            acc.init_trackers(self.recipe.name, config=_flat(self.recipe.to_dict()), init_kwargs=init)
        return start

    def _check_finite(self, logged: Mapping[str, float]) -> None:
        """Stop when a loss is NaN/inf, on every process at once (one scalar all-reduce when there are several)."""
        acc = self.accelerator
        bad = [k for k, v in logged.items() if not math.isfinite(v)]
        flag = len(bad)
        if acc.num_processes > 1:
            flag = int(acc.reduce(torch.tensor([flag], device=acc.device), reduction="sum").item())
        if not flag:
            return
        last = ckpt.latest_checkpoint(self.run_dir)
        resume = (f"Resuming continues from {last.name}." if last is not None else "No checkpoint was written yet.")
        what = (f"{bad[0]} is {logged[bad[0]]}" if bad else "a loss on another process is NaN or infinite")
        raise TrainingDiverged(
            f"step {self.step}: {what}, so training stopped before logging or saving this step. {resume} Lower the "
            "learning rates (method.lr_*), use bf16 or fp32 instead of fp16 (train.mixed_precision), or set "
            "train.max_grad_norm; check the data for blank or corrupt images (i2ikit data check <recipe>).")

    def _fit(self, *, last: bool) -> Path:
        acc = self.accelerator
        cfg = self.recipe.train
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        start = self._start()
        accum = acc.gradient_accumulation_steps
        loaders = self._loaders(start, accum)
        sample_batch = self._fixed_sample_batch()
        images_per_iter = cfg.batch_size * accum * acc.num_processes
        log_file = self.run_dir / "losses.jsonl"
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=start, disable=not (acc.is_local_main_process and cfg.progress), desc=self.recipe.name, dynamic_ncols=True)
        self.method.train()
        tic, seen = time.perf_counter(), 0
        for iteration in range(start, cfg.steps):
            micro = []
            for _ in range(accum):
                micro.append({s: tuple(t.to(acc.device, non_blocking=True) for t in next(it)) for s, it in loaders.items()})
            logged: dict[str, float] = {}
            self._set_learning_rates(iteration)
            for step in self.method.training_steps(iteration):
                logged.update(self._run_step(step, micro))
            self._set_trainable(tuple(self.raw_nets))
            self.step = iteration + 1
            seen += images_per_iter
            self._check_finite(logged)
            if acc.is_main_process:
                with log_file.open("a") as fh:
                    fh.write(json.dumps({"step": self.step, **logged}) + "\n")
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                elapsed = time.perf_counter() - tic
                rate = seen / elapsed if elapsed > 0 else 0.0
                acc.log({**logged, "images_per_second": rate}, step=self.step)
                bar.set_postfix({**{k.split("/")[-1]: f"{v:.3g}" for k, v in logged.items() if not k.endswith("_acc")}, "img/s": f"{rate:.1f}"}, refresh=False)
                tic, seen = time.perf_counter(), 0
            bar.update(1)
            if self.step % cfg.sample_every == 0 or self.step == cfg.steps:
                self.write_samples(sample_batch)
            if cfg.eval_every and (self.step % cfg.eval_every == 0 or self.step == cfg.steps):
                self.run_eval()
                acc.wait_for_everyone()
            if self.step % cfg.save_every == 0 or self.step == cfg.steps:
                self.save_checkpoint()
        bar.close()
        for loader in loaders.values():
            loader.close()
        if self.step >= cfg.steps and start >= cfg.steps:
            acc.print(f"nothing to do: the run in {self.run_dir} already reached {cfg.steps} steps")
            if finished_export(self.recipe) is None:  # interrupted while exporting its last step
                if acc.is_main_process:
                    self.export()
                acc.wait_for_everyone()
        if last:
            acc.end_training()
        else:
            for tracker in acc.trackers:
                tracker.finish()
            acc.wait_for_everyone()
            from accelerate.state import AcceleratorState, GradientState

            # The next stage builds its own Accelerator (its precision and accumulation may differ); the
            # process group (PartialState) stays.
            AcceleratorState._reset_state(reset_partial_state=False)
            GradientState._reset_state()
        return self.run_dir
