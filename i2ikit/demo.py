"""``i2ikit demo``: a Gradio web app around one model, fitted to how it translates (``Method.translate_modes``).

FUNIT's GANimal page is what made few-shot translation known; this is that page for any i2ikit model. The app
shows one tab per way the model translates: *class images* (few-shot: a content image and K images of a class
it has never seen), *target class* (many-class: pick classes), *style image* (exemplar-guided), *random styles*
(latent-guided) and plain *translate* (one fixed mapping); a two-domain model also gets the direction, and a
label-map model (pix2pixHD, SPADE) takes a label map of ids with its optional instance map. The output is the
grid ``i2ikit translate`` writes (one row per input), shown and offered as a PNG download.

Uploads are read here, not by Gradio: anything that is not an image, is huge, is grayscale or in a mode that is
not colour gets one sentence in the page naming the file and what to do, never a stack trace. Gradio is an
optional extra (``pip install -e ".[demo]"``); the app listens on 127.0.0.1 unless told otherwise, and nothing
it shows is fetched from the internet (the theme uses the system's fonts).
"""
from __future__ import annotations

import inspect
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .errors import ConfigError, UserError

__all__ = ["UploadError", "MAX_PIXELS", "MAX_UPLOAD_BYTES", "read_upload", "image_size_of", "DemoModel",
           "build_app", "launch"]

MAX_PIXELS = 4096 * 4096
"""The most pixels an uploaded image may have (a 16-megapixel photo); larger ones are refused, not resized."""
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
"""The largest upload the server accepts (Gradio's ``max_file_size``) and the demo reads."""
MAX_CLASS_IMAGES = 32
"""Few-shot: at most this many class images (the papers use K <= 20)."""

_COLOUR_MODES = {"RGB", "RGBA", "P", "PA", "RGBa", "RGBX"}  # colour, possibly with alpha (put on white)
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


class UploadError(UserError):
    """An upload the demo cannot use; the message is shown in the page as it is."""


# ---- reading uploads ---------------------------------------------------------------------------------------
def _upload_path(upload: Any) -> Path:
    """The server-side path of a Gradio upload (a path string, or an object / dict with ``name`` / ``path``)."""
    if isinstance(upload, dict):
        upload = upload.get("path") or upload.get("name")
    elif not isinstance(upload, (str, os.PathLike)):
        upload = getattr(upload, "path", None) or getattr(upload, "name", None)
    if not upload:
        raise UploadError("an upload arrived without a file; upload it again")
    return Path(upload)


def _shown_name(path: Path, what: str) -> str:
    return f"{what} '{path.name}'"


def read_upload(upload: Any, what: str, *, label_map: bool = False) -> Any:
    """Check an uploaded file and open it: a colour image as 8-bit RGB (``label_map=False``), or a label map as
    the paired data reads one (ids; ``label_map=True``). Refused, with an :class:`UploadError` naming the file:
    a file that is not an image, one over :data:`MAX_UPLOAD_BYTES` or :data:`MAX_PIXELS`, and for colour input a
    grayscale image (``L``, ``1``, 16-bit, float) or one in a non-RGB mode (CMYK, YCbCr, LAB, HSV)."""
    from PIL import Image, UnidentifiedImageError

    path = _upload_path(upload)
    name = _shown_name(path, what)
    if not path.is_file():
        raise UploadError(f"{name}: the upload did not reach the server; upload it again")
    size = path.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise UploadError(f"{name} is {size / 2**20:.1f} MB; the demo takes images up to {MAX_UPLOAD_BYTES // 2**20} MB. "
                          "Upload a smaller or more compressed copy")
    try:
        with Image.open(path) as probe:  # reads the header only: size and mode before any decoding
            width, height, mode = probe.width, probe.height, probe.mode
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, Image.DecompressionBombError):
            raise UploadError(f"{name} is far too large to decode ({exc}); upload one of at most "
                              f"{MAX_PIXELS // 10**6} megapixels") from None
        raise UploadError(f"{name} is not an image Pillow can read (PNG, JPEG, WebP, BMP, ...). "
                          "Upload a picture file") from None
    if width * height > MAX_PIXELS:
        raise UploadError(f"{name} is {width}x{height} pixels; the demo takes at most {MAX_PIXELS // 10**6} megapixels "
                          "(it resizes every input to the model's size anyway). Upload a downscaled copy")
    if label_map:
        from .cli import _read_label_map

        return _read_label_map(path, f"{what} {path.name}")
    if mode in _GRAY_MODES:
        raise UploadError(f"{name} is a grayscale image (mode {mode}); this model translates colour images. "
                          "Upload an RGB image (or save this one as RGB first)")
    if mode not in _COLOUR_MODES:
        raise UploadError(f"{name} is in colour mode {mode}, not RGB; save it as an RGB PNG or JPEG and upload that")
    from .data import open_image

    return open_image(path, description=f"{what} {path.name}")


# ---- the model ---------------------------------------------------------------------------------------------
def image_size_of(export: str | os.PathLike | None, default: int = 128) -> int:
    """The square size the model was trained at: its export recipe's ``data.crop`` (or ``data.size``), else
    ``default`` (the size ``i2ikit translate`` uses)."""
    from .method import read_export_config

    if export is None or not Path(export).is_dir():
        return default
    try:
        data = (read_export_config(export).get("recipe") or {}).get("data") or {}
    except UserError:
        return default
    size = data.get("crop") or data.get("size")
    return int(size) if isinstance(size, int) and size > 0 else default


@dataclass
class DemoModel:
    """A loaded model with what the app needs to know about it.

    ``model``: the method instance. ``name``: how the page names it (the ``--model`` value). ``size``: the square
    size input images are resized to. ``out_dir``: where result grids are written for download.
    """

    model: Any
    name: str
    size: int = 128
    out_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="i2ikit-demo-")))

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(getattr(self.model, "translate_modes", ()) or ())

    @property
    def method_name(self) -> str:
        return getattr(self.model, "method_name", "") or type(self.model).__name__

    @property
    def label_maps(self) -> bool:
        """Whether inputs are label maps of ids (paired methods) rather than photos."""
        return "paired" in tuple(getattr(self.model, "tasks", ()) or ())

    @property
    def directions(self) -> tuple[str, ...]:
        """``("a2b", "b2a")`` for a two-domain model that translates both ways, else ``()``."""
        return ("a2b", "b2a") if "direction" in inspect.signature(self.model.translate).parameters else ()

    @property
    def num_classes(self) -> int:
        """Many-class: how many target classes the model knows."""
        return int(getattr(self.model, "num_target_classes", None) or self.model.config["num_classes"])

    # one function per way of translating; each returns the grid's columns [(name, N x 3 x H x W in [-1, 1])]
    def _tensor(self, image: Any) -> Any:
        from .data import TestTransform

        return TestTransform(size=self.size)(image, None)[None]

    def _kw(self, direction: str | None) -> dict[str, Any]:
        return {"direction": direction} if direction and self.directions else {}

    def translate(self, mode: str, content: Any, *, class_images: Sequence[Any] = (), style: Any = None,
                  num_styles: int = 4, targets: Sequence[int] = (), seed: int = 0, direction: str | None = None,
                  instance: Any = None) -> tuple[Path, list[str]]:
        """Translate the uploads (paths or Gradio file objects) as ``mode`` says and write the grid; returns the
        PNG's path and its column names. A problem with the uploads or the choices raises a :class:`UserError`
        (mostly :class:`UploadError`)."""
        import torch

        from .train.samples import save_grid

        if mode not in self.modes:
            raise UploadError(f"a {self.method_name} model does not translate with {mode!r}")
        if content is None:
            raise UploadError("upload a label map first" if self.label_maps else "upload a content image first")
        gen = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            if self.label_maps:
                columns = self._label_map_columns(mode, content, instance, style, int(num_styles), gen)
            else:
                x = self._tensor(read_upload(content, "content image"))
                columns = [("content", x)]
                kw = self._kw(direction)
                if mode == "class_images":
                    if not class_images:
                        raise UploadError("upload one or more images of the target class (K-shot: the more, the steadier)")
                    if len(class_images) > MAX_CLASS_IMAGES:
                        raise UploadError(f"{len(class_images)} class images; the demo takes at most {MAX_CLASS_IMAGES}")
                    shots = torch.cat([self._tensor(read_upload(f, "class image")) for f in class_images])
                    columns += [(f"class image {k}", shots[k:k + 1]) for k in range(min(len(shots), 5))]
                    columns.append(("translation", self.model.translate(x, shots)))
                elif mode == "target_class":
                    chosen = sorted({int(t) for t in targets})
                    if not chosen:
                        raise UploadError(f"choose one or more target classes (0 to {self.num_classes - 1})")
                    wrong = [t for t in chosen if not 0 <= t < self.num_classes]
                    if wrong:
                        raise UploadError(f"class {wrong[0]}: the model knows classes 0 to {self.num_classes - 1}")
                    columns += [(f"class {t}", self.model.translate(x, t)) for t in chosen]
                elif mode == "style":
                    if style is None:
                        raise UploadError("upload a style image (an image of the target domain)")
                    s = self._tensor(read_upload(style, "style image"))
                    columns += [("style", s), ("translation", self.model.translate(x, s, **kw))]
                elif mode == "num_styles":
                    out = self.model.translate(x, num_styles=int(num_styles), generator=gen, **kw)
                    columns += [(f"style {k}", out[k:k + 1]) for k in range(out.shape[0])]
                else:  # direct
                    columns.append(("translation", self.model.translate(x, **kw)))
        stem = Path(getattr(content, "name", None) or str(_upload_path(content))).stem
        path = save_grid(columns, self.out_dir / f"{stem}_{mode}_{next(_COUNTER):04d}.png")
        return path, [name for name, _ in columns]

    def _label_map_columns(self, mode: str, label_upload: Any, instance_upload: Any, style: Any, num_styles: int,
                           gen: Any) -> list[tuple[str, Any]]:
        from PIL import Image

        from .cli import _label_size, _resized_ids
        from .data.transforms import _to_unit_range

        ids = read_upload(label_upload, "label map", label_map=True)
        hw = _label_size(self.model, self.size, *ids.shape[2:])
        label = _resized_ids(ids, hw)
        inst = None
        if instance_upload is not None:
            inst = read_upload(instance_upload, "instance map", label_map=True)
            if inst.shape != ids.shape:
                raise UploadError(f"the instance map is {inst.shape[3]}x{inst.shape[2]} and the label map "
                                  f"{ids.shape[3]}x{ids.shape[2]}; upload the pair of one size")
            inst = _resized_ids(inst, hw)
        if mode == "style":
            if style is None:
                raise UploadError("upload a style image")
            picture = read_upload(style, "style image").resize((hw[1], hw[0]), Image.Resampling.BICUBIC)
            out = self.model.translate(label, instance=inst, style_image=_to_unit_range(picture)[None])
        elif mode == "num_styles":
            out = self.model.translate(label, instance=inst, num_styles=num_styles, generator=gen)
        else:
            out = self.model.translate(label, instance=inst)
        show = getattr(self.model, "label_image", None)
        shown = show(label) if callable(show) else label.repeat(1, 3, 1, 1) / max(1.0, float(label.max())) * 2 - 1
        shown = torch_resize_like(shown, out)
        return [("label", shown)] + [(f"output {k}", out[k:k + 1]) for k in range(out.shape[0])]


def torch_resize_like(image: Any, like: Any) -> Any:
    """``image`` (1 x 3 x h x w) at the spatial size of ``like`` (nearest: a label picture keeps its colours)."""
    import torch.nn.functional as F

    if tuple(image.shape[2:]) == tuple(like.shape[2:]):
        return image
    return F.interpolate(image, size=tuple(like.shape[2:]), mode="nearest")


def _counter():
    n = 0
    while True:
        n += 1
        yield n


_COUNTER = _counter()


# ---- the page ----------------------------------------------------------------------------------------------
_TAB_TITLES = {"class_images": "Class images (few-shot)", "target_class": "Target class",
               "style": "Style image", "num_styles": "Random styles", "direct": "Translate"}
_TAB_HELP = {
    "class_images": "Upload a few images of a class the model may never have seen; the translation keeps the "
                    "content image's structure and takes the class's appearance (the mean class code of the K images).",
    "target_class": "Choose the classes to translate into; one column per class.",
    "style": "Upload an image of the target domain; the translation takes its style.",
    "num_styles": "Each column is one random style drawn by the model; change the seed for others.",
    "direct": "The model's one mapping, source to target.",
}


def _gradio():
    try:
        import gradio as gr
    except ImportError:
        raise ConfigError('i2ikit demo needs Gradio, an optional extra: pip install -e ".[demo]" '
                          '(or pip install "i2ikit[demo]")') from None
    return gr


def page_theme(gr: Any) -> Any:
    """Gradio's default theme on the system's fonts, so the page fetches nothing from the internet."""
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def build_app(demo: DemoModel) -> Any:
    """The Gradio ``Blocks`` page for ``demo``: a content upload, one tab per translate mode with its inputs and
    button, and the result grid with a download. Upload errors are shown in the status line (``#status``)."""
    gr = _gradio()
    what = "label map (a PNG of class ids)" if demo.label_maps else "content image"
    with gr.Blocks(title=f"i2ikit demo: {demo.method_name}") as app:
        gr.Markdown(f"## i2ikit: {demo.method_name}\n`{demo.name}` translates {what}s at {demo.size} px. "
                    "Uploads stay on this machine.")
        # the outputs are made first (laid out on the right, below) so every tab's button can write to them
        status = gr.Markdown("", elem_id="status", render=False)
        grid = gr.Image(label="Result (one row per input)", show_label=False, type="filepath", interactive=False,
                        elem_id="grid", render=False)  # no label over the grid's top row; the status names columns
        download = gr.File(label="Download the grid (PNG)", interactive=False, elem_id="download", render=False)
        with gr.Row():
            with gr.Column():
                content = gr.File(label=what.capitalize(), file_count="single", elem_id="content")
                shared = []
                if demo.label_maps:
                    shared.append(gr.File(label="Instance map (optional, ids)", file_count="single", elem_id="instance"))
                if demo.directions:
                    shared.append(gr.Radio(list(demo.directions), value="a2b", label="Direction (A to B or B to A)",
                                           elem_id="direction"))
                for mode in demo.modes:
                    with gr.Tab(_TAB_TITLES.get(mode, mode), elem_id=f"tab-{mode}"):
                        gr.Markdown(_TAB_HELP.get(mode, ""))
                        inputs = _mode_inputs(gr, demo, mode)
                        button = gr.Button("Translate", variant="primary", elem_id=f"run-{mode}")
                        button.click(_handler(demo, mode, list(inputs)), [content, *shared, *inputs.values()],
                                     [status, grid, download])
            with gr.Column():
                status.render()
                grid.render()
                download.render()
    return app


def _mode_inputs(gr: Any, demo: DemoModel, mode: str) -> dict[str, Any]:
    """The inputs of one mode's tab, by :meth:`DemoModel.translate` keyword."""
    if mode == "class_images":
        return {"class_images": gr.File(label="Class images (K of them)", file_count="multiple",
                                        elem_id="class-images")}
    if mode == "target_class":
        choices = [str(k) for k in range(demo.num_classes)]
        return {"targets": gr.Dropdown(choices, value=choices[:min(4, len(choices))], multiselect=True,
                                       label=f"Target classes (0 to {demo.num_classes - 1})", elem_id="targets")}
    if mode == "style":
        return {"style": gr.File(label="Style image", file_count="single", elem_id="style")}
    if mode == "num_styles":
        return {"num_styles": gr.Slider(1, 8, value=4, step=1, label="Number of random styles", elem_id="num-styles"),
                "seed": gr.Number(value=0, precision=0, label="Seed", elem_id="seed")}
    return {}


def _handler(demo: DemoModel, mode: str, names: list[str]):
    """The click handler of one tab: (content, [instance], [direction], *inputs) -> (status, grid, download)."""
    def run(content: Any, *values: Any) -> tuple[str, str | None, str | None]:
        values = list(values)
        instance = values.pop(0) if demo.label_maps else None
        direction = values.pop(0) if demo.directions else None
        try:
            path, columns = demo.translate(mode, content, instance=instance, direction=direction,
                                           **dict(zip(names, values)))
        except UserError as exc:  # a bad upload or choice: its sentence in the page, never a traceback
            return f"**Cannot translate:** {exc}", None, None
        return f"Done. Columns: {' | '.join(columns)}", str(path), str(path)

    return run


def launch(spec: str, *, method: str | None = None, host: str = "127.0.0.1", port: int = 7860, size: int | None = None,
           share: bool = False, block: bool = True) -> Any:
    """Load ``spec`` (an export folder, a Hub id ``<user>/<repo>`` or, with ``method``, an official file) and serve
    its demo on ``host:port``; ``block=False`` returns the running app (tests close it with ``app.close()``)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    gr = _gradio()
    from .api import load_model
    from .hub import download_export, looks_like_hub_id

    local = download_export(spec) if looks_like_hub_id(spec) else Path(spec)
    model = load_model(spec, method)
    demo = DemoModel(model, name=spec, size=size or image_size_of(local))
    if not demo.modes:
        raise ConfigError(f"--model {spec}: method {demo.method_name!r} does not translate images (it declares no "
                          "translate_modes); the demo needs a translation model's export")
    app = build_app(demo)
    app.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=True, quiet=True,
               max_file_size=MAX_UPLOAD_BYTES, show_error=False, theme=page_theme(gr),
               footer_links=[], allowed_paths=[str(demo.out_dir)])
    print(f"i2ikit demo of {spec} ({demo.method_name}: {', '.join(demo.modes)}) on http://{host}:{port} "
          "(Ctrl+C stops it)", flush=True)
    if not block:
        return app
    try:
        app.block_thread()
    finally:
        app.close()
    return app
