"""The stitching lab: a small CNN with one slot for any registered block, trained on digits.

The network is ``stem → slot → head``::

    digits (B, 1, S, S) ─ stem: 3×3 conv → BN → ReLU ─▶ f (B, C, S, S)
        ─ slot: adapters → block → adapters ─▶ (B, C', S', S')
        ─ head: adaptive average pool to P×P → flatten → linear ─▶ logits (B, 10)

The slot is built from the registry entry alone (:class:`fusionlab.registry.BlockSpec`): the
dimension names of the entry's ``inputs`` say how to feed the block, so one set of adapters
serves every block of the course:

* **several inputs** (MSF's four, MSAA's three, GatedFusion's two): input *k* is the feature
  map seen at scale 2^k: average-pooled to (S/2^k)×(S/2^k) and resized back to S×S, so a
  block that fuses scales gets genuinely different scales of one picture;
* **channels-last inputs** (``"B H W C"``): permuted from ``(B, C, H, W)`` and back;
* **a fixed H·W** (CBAMBlock is built for one H×W): the registry's ``tie`` receives the lab's
  sizes, so the block is built for the S×S it will see;
* **tuple outputs** (CBAMBlock returns ``(x·Mc, x·Ms)``): summed;
* **no block** (``block=None``): the slot is the identity, the plain baseline.

Data: scikit-learn's bundled ``load_digits`` (1,797 8×8 digits, no download), bilinearly
up-sampled to S×S (default 12: SAFM's four-level pyramid needs S ≥ 2^(n_levels−1) = 8, and 12 keeps
a CPU run of every block short; 16 or 32 work as well),
split once into stratified train/validation sets with a fixed seed.
"""
from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import fmt_shape, positive_int
from .registry import BLOCKS, BlockSpec, MapProbe

__all__ = [
    "Digits",
    "load_digits_split",
    "Slot",
    "LabNet",
    "LabResult",
    "Comparison",
    "build_model",
    "train",
    "evaluate",
    "compare",
    "capture_maps",
    "torch_threads",
    "BASELINE",
]

BATCH = "B"
SPATIAL = ("H", "W")
BASELINE = "baseline"  # the label of the run without a block
NUM_CLASSES = 10

# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Digits:
    """The up-sampled digits, split once: images ``(N, 1, S, S)`` (standardised), labels ``(N,)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    size: int
    mean: float  # the training pixels' mean and std used to standardise
    std: float

    def __repr__(self) -> str:
        return (
            f"Digits(train={fmt_shape(self.x_train.shape)}, val={fmt_shape(self.x_val.shape)}, "
            f"size={self.size}×{self.size})"
        )


@lru_cache(maxsize=8)
def load_digits_split(size: int = 12, val_fraction: float = 0.2, split_seed: int = 0) -> Digits:
    """scikit-learn's 8×8 digits, up-sampled to ``size``×``size``, stratified train/validation split.

    The split is fixed by ``split_seed`` (independent of the training seed, so that runs with
    different seeds see the same validation set). Cached: treat the tensors as read-only.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    positive_int("load_digits_split", "size", size, minimum=8)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"load_digits_split: val_fraction must lie in (0, 1), got {val_fraction!r}.")
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8) in [0, 1]
    labels = torch.tensor(digits.target, dtype=torch.long)
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    index = torch.arange(len(labels)).numpy()
    train_idx, val_idx = train_test_split(
        index, test_size=val_fraction, stratify=labels.numpy(), random_state=split_seed
    )
    train_idx, val_idx = torch.as_tensor(train_idx), torch.as_tensor(val_idx)
    mean, std = images[train_idx].mean().item(), images[train_idx].std().item()
    images = (images - mean) / std
    return Digits(images[train_idx], labels[train_idx], images[val_idx], labels[val_idx], size, mean, std)


# ----------------------------------------------------------------------------- the slot


def _spec(block: str | BlockSpec | None) -> BlockSpec | None:
    if block is None or block == BASELINE or isinstance(block, BlockSpec):
        return block if isinstance(block, BlockSpec) else None
    if block not in BLOCKS:
        raise ValueError(
            f"unknown block {block!r}; valid: None (the baseline), {', '.join(repr(n) for n in BLOCKS)}."
        )
    return BLOCKS[block]


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
        was_training = self.block.training
        self.block.eval()
        try:
            out = self(torch.zeros(2, self.channels, self.size, self.size))
        finally:
            self.block.train(was_training)
        return out.shape[1], tuple(out.shape[-2:])

    def extra_repr(self) -> str:
        layouts = ", ".join(f"{n}: {p}" for n, p in zip(self.input_names, self.permutations))
        return f"block={self.name!r}, channels={self.channels}, size={self.size}, permutations=({layouts})"


class LabNet(nn.Module):
    """A small digit classifier with one slot: stem conv → slot (a registered block or identity) → pool → linear.

    Args:
        block: a registry name, a :class:`BlockSpec`, or None for the plain baseline.
        channels: C, the stem's output channels (the slot's input channels).
        size: S, the input images' height and width.
        pool: P, the head average-pools to P×P before the linear layer (P = 1: global pooling).
        **hparams: hyperparameters for the block.

    Shapes: ``(B, 1, S, S)`` → logits ``(B, 10)``.
    """

    def __init__(
        self,
        block: str | BlockSpec | None = None,
        *,
        channels: int = 32,
        size: int = 12,
        pool: int = 2,
        **hparams,
    ) -> None:
        super().__init__()
        spec = _spec(block)
        self.block_name = spec.name if spec else BASELINE
        self.size = positive_int("LabNet", "size", size)
        positive_int("LabNet", "channels", channels)
        positive_int("LabNet", "pool", pool)
        if spec is None and hparams:
            raise ValueError(f"LabNet: the baseline has no block hyperparameters, got {sorted(hparams)}.")
        self.stem = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()
        )
        self.slot = Slot(spec, channels, size, **hparams) if spec else nn.Identity()
        out_channels = self.slot.out_channels if spec else channels
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(pool), nn.Flatten(), nn.Linear(out_channels * pool * pool, NUM_CLASSES))

    @property
    def block(self) -> nn.Module | None:
        """The block in the slot (None for the baseline)."""
        return self.slot.block if isinstance(self.slot, Slot) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.slot(self.stem(x)))


def build_model(block: str | BlockSpec | None = None, *, seed: int | None = 0, **kwargs) -> LabNet:
    """A fresh :class:`LabNet`, its initial weights fixed by ``seed``."""
    if seed is not None:
        torch.manual_seed(seed)
    return LabNet(block, **kwargs)


# ----------------------------------------------------------------------------- training


@dataclass
class LabResult:
    """One training run."""

    block: str  # registry name, or "baseline"
    seed: int
    epochs: int
    val_accuracy: float  # after the last epoch
    params: int  # the whole network's trainable parameters
    block_params: int  # those of the block in the slot (0 for the baseline)
    flops: int  # the whole network's FLOPs for one image (conv/matmul only)
    train_seconds: float  # wall time of the training steps (evaluation excluded)
    history: list[dict[str, float]]  # per epoch: epoch, train_loss, train_accuracy, val_accuracy
    model: LabNet = field(repr=False)
    n_train: int = 0

    def __str__(self) -> str:
        return (
            f"{self.block} (seed {self.seed}, {self.epochs} epoch{'s' if self.epochs != 1 else ''}, "
            f"{self.n_train} training digits): "
            f"validation accuracy {self.val_accuracy:.3f}, {self.params:,} parameters "
            f"({self.block_params:,} in the block), {_fmt_flops(self.flops)} FLOPs, {self.train_seconds:.1f} s"
        )


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 512) -> float:
    """Accuracy of ``model`` (eval mode) on ``x``, ``y``; the model's mode is restored."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(y), batch_size):
        logits = model(x[start : start + batch_size].to(device))
        correct += (logits.argmax(1).cpu() == y[start : start + batch_size]).sum().item()
    model.train(was_training)
    return correct / len(y)


def _count_params(module: nn.Module | None) -> int:
    from .cost import count_params

    return int(count_params(module)) if module is not None else 0


def _count_flops(model: LabNet) -> int:
    from .cost import count_flops

    return int(count_flops(model, (1, 1, model.size, model.size)))


@contextmanager
def torch_threads(threads: int | None):
    """Let torch use ``threads`` CPU threads inside the block, then restore its setting (None: leave it)."""
    if threads is None:
        yield
        return
    positive_int("torch_threads", "threads", threads)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(
    block: str | BlockSpec | None = None,
    *,
    epochs: int = 4,
    seed: int = 0,
    channels: int = 32,
    size: int = 12,
    pool: int = 2,
    batch_size: int = 64,
    lr: float = 1e-2,
    n_train: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    hparams: Mapping[str, Any] | None = None,
    threads: int | None = 1,
) -> LabResult:
    """Train a :class:`LabNet` with ``block`` in its slot on the digits; return a :class:`LabResult`.

    Args:
        block: a registry name, a spec, or None for the plain baseline.
        epochs: passes over the training digits.
        seed: fixes the initial weights and the order of the batches (the split is fixed separately).
        channels, size, pool: see :class:`LabNet`.
        batch_size, lr: Adam's mini-batch size and learning rate.
        n_train: train on a seeded random subset of this many digits (None: all 1,437).
        device: where to train (default CPU).
        progress: show a tqdm bar over the epochs.
        hparams: the block's hyperparameters, over the registry's defaults.
        threads: CPU threads torch may use during the run (its setting is restored afterwards); None
            leaves torch's setting. One by default: the network is so small that a second thread saves
            little, while on a shared or oversubscribed CPU (Binder, a busy laptop) the threads'
            synchronisation made training several times slower in our measurements.
    """
    with torch_threads(threads):
        return _train(block, epochs=epochs, seed=seed, channels=channels, size=size, pool=pool,
                      batch_size=batch_size, lr=lr, n_train=n_train, device=device, progress=progress,
                      hparams=hparams)


def _train(block, *, epochs, seed, channels, size, pool, batch_size, lr, n_train, device, progress, hparams) -> LabResult:
    from tqdm.auto import tqdm

    positive_int("train", "epochs", epochs)
    positive_int("train", "batch_size", batch_size, minimum=2)
    device = torch.device(device or "cpu")
    data = load_digits_split(size)
    x_train, y_train = data.x_train, data.y_train
    order = torch.Generator().manual_seed(seed)  # the batches' order, independent of the global RNG
    if n_train is not None:
        positive_int("train", "n_train", n_train, minimum=2)
        keep = torch.randperm(len(y_train), generator=order)[:n_train]
        x_train, y_train = x_train[keep], y_train[keep]
    x_train, y_train = x_train.to(device), y_train.to(device)

    model = build_model(block, seed=seed, channels=channels, size=size, pool=pool, **dict(hparams or {})).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict[str, float]] = []
    train_seconds = 0.0
    bar = tqdm(range(1, epochs + 1), desc=model.block_name, unit="epoch", disable=not progress, leave=True)
    for epoch in bar:
        model.train()
        start = time.perf_counter()
        perm = torch.randperm(len(y_train), generator=order).to(device)
        loss_sum, correct = 0.0, 0
        seen = 0
        for i in range(0, len(perm), batch_size):
            idx = perm[i : i + batch_size]
            if len(idx) < 2:  # BatchNorm cannot train on one example
                continue
            logits = model(x_train[idx])
            loss = F.cross_entropy(logits, y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y_train[idx]).sum().item()
            seen += len(idx)
        train_seconds += time.perf_counter() - start
        val_accuracy = evaluate(model, data.x_val, data.y_val)
        history.append(
            {"epoch": epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen, "val_accuracy": val_accuracy}
        )
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", val_acc=f"{val_accuracy:.3f}")
    bar.close()
    model.eval()
    return LabResult(
        block=model.block_name,
        seed=seed,
        epochs=epochs,
        val_accuracy=history[-1]["val_accuracy"],
        params=_count_params(model),
        block_params=_count_params(model.block),
        flops=_count_flops(model),
        train_seconds=train_seconds,
        history=history,
        model=model,
        n_train=len(y_train),
    )


# ----------------------------------------------------------------------------- comparison


def _fmt_flops(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f}"


@dataclass
class Comparison:
    """Every block × every seed: ``results`` (one :class:`LabResult` per run) and ``rows`` (one per block)."""

    results: list[LabResult]
    epochs: int
    seeds: tuple[int, ...]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Per block: accuracy mean and std over the seeds (std 0 for one seed), params, FLOPs, mean train time."""
        rows: dict[str, dict[str, Any]] = {}
        for r in self.results:
            row = rows.setdefault(
                r.block,
                {"block": r.block, "title": BLOCKS[r.block].title if r.block in BLOCKS else "no block (identity)",
                 "accuracies": [], "times": [], "params": r.params, "block_params": r.block_params, "flops": r.flops},
            )
            row["accuracies"].append(r.val_accuracy)
            row["times"].append(r.train_seconds)
        out = []
        for row in rows.values():
            accs, times = row.pop("accuracies"), row.pop("times")
            out.append(
                {
                    **row,
                    "accuracy_mean": statistics.fmean(accs),
                    "accuracy_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                    "accuracies": accs,
                    "seeds": len(accs),
                    "train_seconds": statistics.fmean(times),
                }
            )
        return out

    def table(self, *, timings: bool = True) -> list[list[str]]:
        """The rows as strings, header first (``timings=False`` leaves out the machine-dependent column)."""
        header = ["block", f"val. accuracy (mean ± std, {len(self.seeds)} seeds)", "params", "block params", "FLOPs"]
        if timings:
            header.append("train s / run")
        lines = [header]
        for row in self.rows:
            cells = [
                row["block"],
                f"{row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f}",
                f"{row['params']:,}",
                f"{row['block_params']:,}",
                _fmt_flops(row["flops"]),
            ]
            if timings:
                cells.append(f"{row['train_seconds']:.1f}")
            lines.append(cells)
        return lines

    def __repr__(self) -> str:
        return f"<Comparison: {len(self.results)} runs, {self.epochs} epochs each, seeds {self.seeds}>\n{self}"

    def __str__(self) -> str:
        lines = self.table()
        widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
        text = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
        text.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(text)

    def _repr_html_(self) -> str:
        import html

        lines = self.table()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in lines[0])
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:{'left' if i == 0 else 'right'}'>{html.escape(c)}</td>"
                             for i, c in enumerate(line)) + "</tr>"
            for line in lines[1:]
        )
        caption = f"{self.epochs} epochs per run, seeds {', '.join(map(str, self.seeds))}"
        return f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def plot(self):
        """Accuracy per block and against FLOPs: see :func:`fusionlab.plots.lab.plot_comparison`."""
        from .plots.lab import plot_comparison

        return plot_comparison(self)


def compare(
    blocks: Iterable[str | None] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    epochs: int = 4,
    progress: bool = True,
    **train_kwargs,
) -> Comparison:
    """Train every block (default: the baseline and every registered block) with every seed.

    One tqdm bar counts the runs; ``train_kwargs`` go to :func:`train`.
    """
    from tqdm.auto import tqdm

    names = [None, *BLOCKS] if blocks is None else list(blocks)
    for name in names:
        _spec(name)  # fail on a bad name before any training
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("compare: seeds must name at least one seed, got an empty sequence.")
    runs = [(name, seed) for name in names for seed in seeds]
    results = []
    bar = tqdm(runs, desc="runs", unit="run", disable=not progress)
    for name, seed in bar:
        bar.set_postfix(block=name or BASELINE, seed=seed)
        results.append(train(name, epochs=epochs, seed=seed, progress=False, **train_kwargs))
    bar.close()
    return Comparison(results, epochs, seeds)


# ----------------------------------------------------------------------------- maps


@torch.no_grad()
def capture_maps(model: LabNet, images: torch.Tensor) -> tuple[MapProbe, torch.Tensor] | None:
    """Run ``model`` (eval mode) on ``images`` (B, 1, S, S) and read its block's map with a forward hook.

    Returns ``(probe, map)`` with map ``(B, H, W)`` (spatial) or ``(B, S)`` (one weight per scale),
    on the CPU; None when the block's registry entry has no ``map_probe`` (or the model is the baseline).
    """
    spec = BLOCKS.get(model.block_name)
    probe = spec.map_probe if spec is not None else None
    if probe is None or model.block is None:
        return None
    target = model.block.get_submodule(probe.module) if probe.module else model.block
    captured: list[torch.Tensor] = []
    handle = target.register_forward_hook(
        lambda module, args, output: captured.append(probe.read(module, args, output).detach().cpu())
    )
    was_training = model.training
    model.eval()
    try:
        model(images.to(next(model.parameters()).device))
    finally:
        handle.remove()
        model.train(was_training)
    return probe, torch.cat(captured)
