"""One mechanism for handing the trainer (and so DDP) part of a network, or one forward that runs several
calls of it.

DDP wants each wrapped module to (a) register exactly the parameters that receive gradients and (b) be
called once per backward. A method whose network has parts that never get a gradient (heads kept only
so official files load strictly) or whose step calls the network several times gives the trainer a
:class:`NetworkView` instead of the network.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from torch import nn


class NetworkView(nn.Module):
    """A module sharing some children of ``owner`` under the same names and forwarding to ``owner``.

    Its parameters, buffers and state-dict keys are the owner's, restricted to ``children`` (names of the
    owner's children, or a mapping of name to module for a subset deeper down); it owns nothing itself and
    is not a child of the method, so weights are never saved twice. ``forward(*args, **kwargs)`` is
    ``fn(owner, *args, **kwargs)``, or ``owner(*args, **kwargs)`` without ``fn``.

    ``owner``: the network; ``children``: what the view registers (default: all the owner's children);
    ``fn``: the computation one call of the view runs.
    """

    def __init__(self, owner: nn.Module, children: Sequence[str] | Mapping[str, nn.Module] | None = None,
                 fn: Callable[..., Any] | None = None) -> None:
        super().__init__()
        object.__setattr__(self, "owner", owner)  # not registered: the view must not own the rest
        object.__setattr__(self, "fn", fn)
        if children is None:
            children = [name for name, _ in owner.named_children()]
        items = children.items() if isinstance(children, Mapping) else ((n, getattr(owner, n)) for n in children)
        for name, child in items:
            self.add_module(name, child)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.fn is None:
            return self.owner(*args, **kwargs)
        return self.fn(self.owner, *args, **kwargs)

    def extra_repr(self) -> str:
        what = getattr(self.fn, "__name__", None) or "call"
        return f"view of {type(self.owner).__name__}, forward={what}"
