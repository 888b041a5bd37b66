"""The block registry: one entry per block of the post, the single list that notebooks,
widget panels, tests and the benchmark iterate over.

An entry says how to build the block (class, default hyperparameters, the constructor
arguments that follow from the input sizes), how to make its inputs (their names, the
names of their dimensions, default sizes) and where it comes from (the post's section and
class, the paper, the chapter).

>>> from fusionlab import BLOCKS
>>> spec = BLOCKS["gated_fusion"]
>>> spec.shapes()
((1, 224, 224, 64), (1, 224, 224, 64))
>>> block = spec.build(sizes={"C": 8})
>>> out = block(*spec.example_inputs(sizes={"B": 2, "H": 4, "W": 4, "C": 8}))
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from .blocks.gated import GatedFusion

__all__ = ["BlockSpec", "BLOCKS", "register"]


@dataclass(frozen=True)
class BlockSpec:
    """Everything the course needs to know about one block."""

    name: str  # registry key, e.g. "gated_fusion"
    cls: type[nn.Module]
    title: str  # "Gated fusion"
    section: int  # section number in the post (1–7)
    heading: str  # the post's heading, e.g. "门控融合机制"
    paper: str  # short citation
    chapter: str  # notebook stem, e.g. "01_gated_fusion"
    post_class: str | None  # the post's class name, None where the post has no code
    fuses: str  # what it fuses: "two inputs", "several scales", "attention over space", …
    inputs: Mapping[str, str]  # input name -> its dimension names, e.g. {"x": "B C H W"}
    sizes: Mapping[str, int]  # default size per dimension name (the post's demo)
    hparams: Mapping[str, Any] = field(default_factory=dict)  # default hyperparameters
    choices: Mapping[str, Sequence] = field(default_factory=dict)  # values widgets/tests may pick, per dim or hparam
    tie: Callable[[Mapping[str, int]], dict] = lambda sizes: {}  # constructor args that follow from the sizes

    @property
    def dims(self) -> tuple[str, ...]:
        """Every dimension name, in first-seen order."""
        seen: dict[str, None] = {}
        for names in self.inputs.values():
            seen.update(dict.fromkeys(names.split()))
        return tuple(seen)

    def resolve(self, sizes: Mapping[str, int] | None = None) -> dict[str, int]:
        """Default sizes updated with ``sizes``; unknown names are an error."""
        sizes = dict(sizes or {})
        unknown = set(sizes) - set(self.sizes)
        if unknown:
            raise ValueError(
                f"{self.name}: unknown dimension name(s) {sorted(unknown)}; this block's dimensions are "
                f"{', '.join(self.sizes)}."
            )
        return {**self.sizes, **sizes}

    def config(self, sizes: Mapping[str, int] | None = None, **hparams) -> dict[str, Any]:
        """Constructor keyword arguments: defaults, then ``hparams``, then those tied to the sizes."""
        unknown = set(hparams) - set(self.hparams)
        if unknown:
            raise ValueError(
                f"{self.name}: unknown hyperparameter(s) {sorted(unknown)}; valid: {', '.join(self.hparams) or 'none'}."
            )
        return {**self.hparams, **hparams, **self.tie(self.resolve(sizes))}

    def build(self, sizes: Mapping[str, int] | None = None, **hparams) -> nn.Module:
        """A new block for inputs of these sizes (random init, train mode)."""
        return self.cls(**self.config(sizes, **hparams))

    def shapes(self, sizes: Mapping[str, int] | None = None) -> tuple[tuple[int, ...], ...]:
        """One shape tuple per input."""
        s = self.resolve(sizes)
        return tuple(tuple(s[d] for d in names.split()) for names in self.inputs.values())

    def example_inputs(
        self,
        sizes: Mapping[str, int] | None = None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        seed: int | None = 0,
    ) -> tuple[torch.Tensor, ...]:
        """Random normal inputs of the registered shapes (reproducible with ``seed``; any device, meta included)."""
        dtype = dtype or torch.get_default_dtype()
        shapes = self.shapes(sizes)
        if torch.device(device or "cpu").type == "meta":
            return tuple(torch.empty(s, device="meta", dtype=dtype) for s in shapes)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        return tuple(torch.randn(s, generator=gen, dtype=dtype).to(device or "cpu") for s in shapes)


BLOCKS: dict[str, BlockSpec] = {}


def register(spec: BlockSpec) -> BlockSpec:
    if spec.name in BLOCKS:
        raise ValueError(f"a block named {spec.name!r} is registered already")
    BLOCKS[spec.name] = spec
    return spec


register(
    BlockSpec(
        name="gated_fusion",
        cls=GatedFusion,
        title="Gated fusion",
        section=1,
        heading="门控融合机制",
        paper="GMAN (Zheng et al., AAAI 2020, arXiv 1911.08415)",
        chapter="01_gated_fusion",
        post_class="gatedFusion",
        fuses="two inputs, element by element",
        inputs={"x1": "B H W C", "x2": "B H W C"},
        sizes={"B": 1, "H": 224, "W": 224, "C": 64},
        hparams={"variant": "blog"},
        choices={"B": range(1, 9), "H": range(1, 257), "W": range(1, 257), "C": range(1, 257),
                 "variant": ("blog", "paper")},
        tie=lambda s: {"dim": s["C"]},
    )
)
