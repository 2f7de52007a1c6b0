"""Training/eval mode for the span of a block, restored exactly afterwards."""
from __future__ import annotations

import contextlib
from typing import Iterator

from torch import nn


@contextlib.contextmanager
def train_mode(*modules: nn.Module, training: bool = True) -> Iterator[None]:
    """Switch ``modules`` to training (or, with ``training=False``, eval) mode inside the block, then
    give every submodule back the mode it had, so frozen parts kept in eval stay there. Switching goes
    through each module's own ``train()``, as a method may override it."""
    saved = [(m, m.training) for module in modules for m in module.modules()]
    for module in modules:
        module.train(training)
    try:
        yield
    finally:
        for m, was in saved:
            m.training = was


def eval_mode(*modules: nn.Module) -> contextlib.AbstractContextManager[None]:
    """``with eval_mode(net): ...``: inference or a probe without changing batch statistics, dropout or
    spectral-norm vectors, and the previous modes restored after (see :func:`train_mode`)."""
    return train_mode(*modules, training=False)
