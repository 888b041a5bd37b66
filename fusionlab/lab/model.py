"""The lab's network: stem -> slot (any registered block, a plain conv, or yours) -> head."""
from __future__ import annotations

import statistics
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import fmt_shape, positive_int
from ..modes import eval_mode
from ..registry import BLOCKS, BlockSpec
from .data import NUM_CLASSES, SIZE

BATCH = "B"
SPATIAL = ("H", "W")
BASELINE = "baseline"  # the label of the run without a block
PLAIN = "plain_conv"  # the label of the parameter-matched plain convolution
CHANNELS = 16  # the stem's width (the slot's C)


def _spec(block: str | BlockSpec | None) -> BlockSpec | None:
    if block is None or block == BASELINE or isinstance(block, BlockSpec):
        return block if isinstance(block, BlockSpec) else None
    if block not in BLOCKS:
        raise ValueError(
            f"unknown block {block!r}; valid: None (the baseline), {PLAIN!r}, a callable channels -> nn.Module, "
            f"or a registry name: {', '.join(repr(n) for n in BLOCKS)}."
        )
    return BLOCKS[block]


def _check_block(block: Any) -> None:
    """Fail before any training on a name the lab cannot build."""
    if block == PLAIN or (callable(block) and not isinstance(block, (str, BlockSpec))):
        return
    _spec(block)


def _label(block: Any, name: str | None = None) -> str:
    """The row label of a run: the registry name, "baseline", "plain_conv", or a custom block's name."""
    if name is not None:
        return name
    if block is None or block == BASELINE:
        return BASELINE
    if isinstance(block, BlockSpec):
        return block.name
    if isinstance(block, str):
        return block
    return getattr(block, "__name__", type(block).__name__)


def _channel_name(spec: BlockSpec, input_name: str, names: Sequence[str]) -> str:
    """The one dimension of an input that is neither batch nor spatial: its channels."""
    others = [n for n in names if n != BATCH and n not in SPATIAL]
    if len(names) != 4 or set(SPATIAL) - set(names) or BATCH not in names or len(others) != 1:
        raise ValueError(
            f"the lab feeds image feature maps, so each input needs the dimensions B, H, W and one channel "
            f"dimension; {spec.name}'s input {input_name!r} has {' '.join(names)!r}."
        )
    return others[0]


def lab_sizes(spec: BlockSpec, channels: int, size: int) -> dict[str, int]:
    """The registry sizes the lab builds ``spec`` for: every channel dimension = ``channels``, H = W = ``size``."""
    sizes = {}
    for input_name, dims in spec.inputs.items():
        names = dims.split()
        sizes[_channel_name(spec, input_name, names)] = channels
    sizes.update({"H": size, "W": size})
    return {k: v for k, v in sizes.items() if k in spec.sizes}


def scale_views(f: torch.Tensor, count: int) -> list[torch.Tensor]:
    """``count`` views of ``f`` (B, C, H, W): view k is ``f`` average-pooled by 2^k, resized back to H×W.

    View 0 is ``f`` itself. Pooled sizes stop at 1×1, so any H, W work.
    """
    h, w = f.shape[-2:]
    views = [f]
    for k in range(1, count):
        coarse = F.adaptive_avg_pool2d(f, (max(1, h >> k), max(1, w >> k)))  # (B, C, H/2^k, W/2^k)
        views.append(F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False))  # back to (B, C, H, W)
    return views


def _combine(out: Any) -> torch.Tensor:
    """A block's output as one tensor: a tuple/list of equal-shape tensors is summed."""
    if isinstance(out, (tuple, list)):
        shapes = {tuple(t.shape) for t in out}
        if len(shapes) != 1:
            raise ValueError(f"the lab sums a block's tuple output, but its parts have shapes {sorted(shapes)}.")
        return torch.stack(tuple(out)).sum(0)
    return out


class Slot(nn.Module):
    """Feed one feature map ``(B, C, S, S)`` to a registered block; return ``(B, C', S', S')``.

    Args:
        spec: the registry entry (or its name).
        channels: C, the channel count of the feature map the slot receives.
        size: S, its height and width (the block is built for this S×S where it needs one).
        **hparams: hyperparameters for the block, over the registry's defaults.

    The adapters follow from ``spec.inputs`` alone: see the module docstring.
    """

    def __init__(self, spec: BlockSpec | str, channels: int, size: int, **hparams) -> None:
        super().__init__()
        spec = _spec(spec)
        if spec is None:
            raise ValueError("Slot needs a block; use nn.Identity() (or LabNet(None)) for the baseline.")
        self.name = spec.name
        self.channels = positive_int("Slot", "channels", channels)
        self.size = positive_int("Slot", "size", size)
        self.input_names = tuple(spec.inputs)
        # per input: the permutation from (B, C, H, W) to that input's layout, e.g. (0, 2, 3, 1) for "B H W C"
        self.permutations = []
        for input_name, dims in spec.inputs.items():
            names = dims.split()
            canonical = [BATCH, _channel_name(spec, input_name, names), *SPATIAL]
            self.permutations.append(tuple(canonical.index(n) for n in names))
        self.sizes = lab_sizes(spec, channels, size)
        self.hparams = {**spec.lab_hparams(channels), **hparams}
        self.block = spec.build(sizes=self.sizes, **self.hparams)
        self.out_channels, self.out_size = self._probe()

    def inputs(self, f: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The block's inputs made from ``f`` (B, C, H, W): scale views, each in its input's layout."""
        views = scale_views(f, len(self.permutations))
        return tuple(v.permute(*p) if p != (0, 1, 2, 3) else v for v, p in zip(views, self.permutations))

    def output(self, out: Any) -> torch.Tensor:
        """The block's output back to (B, C', H', W'): tuples summed, channels-last permuted back."""
        out = _combine(out)
        if out.dim() != 4:
            raise ValueError(f"the lab expects a 4-D output from {self.name}, got shape {fmt_shape(out.shape)}.")
        # assume the output is laid out like the first input; undo that input's permutation
        p = self.permutations[0]
        return out.permute(*[p.index(i) for i in range(4)]) if p != (0, 1, 2, 3) else out

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.output(self.block(*self.inputs(f)))

    @torch.no_grad()
    def _probe(self) -> tuple[int, tuple[int, int]]:
        # one small forward in eval mode (BatchNorm statistics untouched) to learn the output's shape
        with eval_mode(self.block):
            out = self(torch.zeros(2, self.channels, self.size, self.size))
        return out.shape[1], tuple(out.shape[-2:])

    def extra_repr(self) -> str:
        layouts = ", ".join(f"{n}: {p}" for n, p in zip(self.input_names, self.permutations))
        return f"block={self.name!r}, channels={self.channels}, size={self.size}, permutations=({layouts})"


class PlainConv(nn.Module):
    """The parameter-matched reference slot: ``x + conv3×3(ReLU(BN(conv3×3(x))))``, ``hidden`` middle channels.

    Plain local convolutions (a 5×5 receptive field, no gate, no pooling across scales) with a skip,
    so it starts as the identity like the other slots' baseline. Shapes: ``(B, C, H, W)`` → same.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        positive_int("PlainConv", "channels", channels)
        positive_int("PlainConv", "hidden", hidden)
        self.hidden = hidden
        self.body = nn.Sequential(
            nn.Conv2d(channels, hidden, 3, padding=1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, channels, 3, padding=1),
        )

    @staticmethod
    def hidden_for(channels: int, params: int) -> int:
        """The ``hidden`` width whose parameter count, 18·C·hidden + 2·hidden + C, is nearest ``params``."""
        positive_int("PlainConv.hidden_for", "params", params)
        return max(1, round((params - channels) / (18 * channels + 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def matched_params(channels: int = CHANNELS, size: int = SIZE, how: str = "median") -> int:
    """The parameter count the plain convolution is matched to: the ``how`` ("median" or "max") of the
    registered blocks' parameters in the lab's slot (read from ``BLOCKS`` at call time)."""
    from ..costs import count_params

    if how not in ("median", "max"):
        raise ValueError(f"matched_params: how must be 'median' or 'max', got {how!r}.")
    counts = [count_params(Slot(spec, channels, size).block) for spec in BLOCKS.values()]
    return int(statistics.median(counts) if how == "median" else max(counts))


class LabNet(nn.Module):
    """A small digit classifier with one slot: stem conv → slot → pool → linear.

    Args:
        block: a registry name or :class:`BlockSpec`; None (or ``"baseline"``) for the identity slot;
            ``"plain_conv"`` for :class:`PlainConv` (hyperparameter ``hidden``, or ``params`` to match;
            default: :func:`matched_params`); or a callable ``channels -> nn.Module`` (your block),
            which must map ``(B, C, H, W)`` to ``(B, C', H', W')``.
        channels: C, the stem's output channels (the slot's input channels).
        size: S, the input images' height and width.
        pool: P, the head average-pools to P×P before the linear layer (P = 1: global pooling).
        name: the run's label (default: the registry name, or the callable's ``__name__``).
        **hparams: hyperparameters for the block (over the registry's ``lab_hparams`` and defaults).

    Shapes: ``(B, 1, S, S)`` → logits ``(B, 10)``.
    """

    def __init__(
        self,
        block: Any = None,
        *,
        channels: int = CHANNELS,
        size: int = SIZE,
        pool: int = 1,
        name: str | None = None,
        **hparams,
    ) -> None:
        super().__init__()
        self.size = positive_int("LabNet", "size", size)
        positive_int("LabNet", "channels", channels)
        positive_int("LabNet", "pool", pool)
        self.block_name = _label(block, name)
        self.stem = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()
        )
        out_channels = channels
        if block is None or block == BASELINE:
            if hparams:
                raise ValueError(f"LabNet: the baseline has no block hyperparameters, got {sorted(hparams)}.")
            self.slot = nn.Identity()
        elif block == PLAIN:
            unknown = set(hparams) - {"hidden", "params"}
            if unknown:
                raise ValueError(f"LabNet: {PLAIN!r} takes the hyperparameters 'hidden' or 'params', got {sorted(unknown)}.")
            hidden = hparams.get("hidden") or PlainConv.hidden_for(channels, hparams.get("params") or matched_params(channels, size))
            self.slot = PlainConv(channels, hidden)
        elif isinstance(block, (str, BlockSpec)):
            self.slot = Slot(_spec(block), channels, size, **hparams)
            out_channels = self.slot.out_channels
        elif callable(block):
            module = block(channels, **hparams)
            if not isinstance(module, nn.Module):
                raise TypeError(f"LabNet: block must return an nn.Module when called with channels={channels}, "
                                f"got {type(module).__name__}.")
            self.slot = module
            with eval_mode(module), torch.no_grad():
                out = module(torch.zeros(2, channels, size, size))
            if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[0] != 2:
                shape = fmt_shape(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ValueError(f"LabNet: your block {self.block_name!r} must map (B, C, H, W) to (B, C', H', W'); "
                                 f"for (2, {channels}, {size}, {size}) it returned {shape}.")
            out_channels = out.shape[1]
        else:
            raise ValueError(f"LabNet: unknown block {block!r}; valid: None (the baseline), {PLAIN!r}, a callable "
                             f"channels -> nn.Module, or a registry name: {', '.join(repr(n) for n in BLOCKS)}.")
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(pool), nn.Flatten(), nn.Linear(out_channels * pool * pool, NUM_CLASSES))

    @property
    def block(self) -> nn.Module | None:
        """The module in the slot: the registered block, the plain conv or yours (None for the baseline)."""
        if isinstance(self.slot, Slot):
            return self.slot.block
        return None if isinstance(self.slot, nn.Identity) else self.slot

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.slot(self.stem(x)))


def build_model(block: Any = None, *, seed: int | None = 0, **kwargs) -> LabNet:
    """A fresh :class:`LabNet`, its initial weights fixed by ``seed``."""
    if seed is not None:
        torch.manual_seed(seed)
    return LabNet(block, **kwargs)
