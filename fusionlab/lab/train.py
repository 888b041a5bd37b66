"""Training the lab's networks, and the comparison table over blocks and seeds."""
from __future__ import annotations

import math
import statistics
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import i18n
from .._checks import positive_int
from ..modes import eval_mode
from ..registry import BLOCKS
from .data import SIZE, Digits, load_cluttered_digits
from .model import BASELINE, CHANNELS, PLAIN, LabNet, PlainConv, _check_block, _label, build_model, matched_params

LOGISTIC = "logistic regression on the pixels"  # the reference's row label (logistic_reference)

# the sentences and table words a result or comparison prints, per language (fusionlab.i18n)
TEXT = {
    "en": {
        "result": ("{block} (seed {seed}, {epochs} epoch{plural}, {n_train} training canvases): "
                   "validation accuracy {accuracy:.3f}, {params:,} parameters ({block_params:,} in the slot), "
                   "{flops} FLOPs, {seconds:.1f} s"),
        "block": "block",
        "accuracy": "val. accuracy (mean ± std, {seeds} seeds)",
        "params": "params",
        "slot_params": "slot params",
        "flops": "FLOPs",
        "seconds": "train s / run",
        "no_seed": "{accuracy:.3f} (no seed)",
        LOGISTIC: LOGISTIC,
        "repr": "<Comparison: {runs} runs, {epochs} epochs each, seeds {seeds}>",
        "caption": "{epochs} epochs per run, seeds {seeds}",
    },
    "zh": {
        "result": ("{block}（随机种子 {seed}，{epochs} 个轮次，{n_train} 张训练画布）："
                   "验证准确率 {accuracy:.3f}，参数量 {params:,}（插槽中 {block_params:,}），"
                   "{flops} FLOPs，耗时 {seconds:.1f} s"),
        "block": "模块",
        "accuracy": "验证准确率（均值 ± 标准差，{seeds} 个种子）",
        "params": "参数量",
        "slot_params": "插槽参数量",
        "flops": "FLOPs",
        "seconds": "每次训练耗时 (s)",
        "no_seed": "{accuracy:.3f}（无种子）",
        LOGISTIC: "像素上的逻辑回归",
        "repr": "<Comparison：{runs} 次训练，每次 {epochs} 个轮次，随机种子 {seeds}>",
        "caption": "每次训练 {epochs} 个轮次，随机种子 {seeds}",
    },
}


def _width(text: str) -> int:
    """Columns ``text`` takes in a monospaced font: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


@dataclass
class LabResult:
    """One training run."""

    block: str  # the row label: registry name, "baseline", "plain_conv" or your block's name
    seed: int
    epochs: int
    val_accuracy: float  # after the last epoch
    params: int  # the whole network's trainable parameters
    block_params: int  # those of the module in the slot (0 for the baseline)
    flops: int  # the whole network's FLOPs for one image (conv/matmul only)
    train_seconds: float  # wall time of the training steps (evaluation excluded)
    history: list[dict[str, float]]  # per epoch: epoch, train_loss, train_accuracy, val_accuracy
    model: LabNet = field(repr=False)
    n_train: int = 0

    def __str__(self) -> str:
        return i18n.say(TEXT, "result", block=self.block, seed=self.seed, epochs=self.epochs,
                        plural="s" if self.epochs != 1 else "", n_train=self.n_train, accuracy=self.val_accuracy,
                        params=self.params, block_params=self.block_params, flops=_fmt_flops(self.flops),
                        seconds=self.train_seconds)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 512) -> float:
    """Accuracy of ``model`` (in eval mode) on ``x``, ``y``; every submodule's mode is restored."""
    device = next(model.parameters()).device
    correct = 0
    with eval_mode(model):
        for start in range(0, len(y), batch_size):
            logits = model(x[start : start + batch_size].to(device))
            correct += (logits.argmax(1).cpu() == y[start : start + batch_size]).sum().item()
    return correct / len(y)


def _count_params(module: nn.Module | None) -> int:
    from ..costs import count_params

    return int(count_params(module)) if module is not None else 0


def _count_flops(model: LabNet) -> int:
    from ..costs import count_flops

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
    block: Any = None,
    *,
    epochs: int = 3,
    seed: int = 0,
    channels: int = CHANNELS,
    size: int = SIZE,
    pool: int = 1,
    batch_size: int = 64,
    lr: float = 1e-2,
    n_train: int | None = None,
    data: Digits | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    hparams: Mapping[str, Any] | None = None,
    name: str | None = None,
    threads: int | None = 1,
) -> LabResult:
    """Train a :class:`LabNet` with ``block`` in its slot; return a :class:`LabResult`.

    Args:
        block: see :class:`LabNet` (registry name, spec, None, ``"plain_conv"`` or your callable).
        epochs: passes over the training canvases.
        seed: fixes the initial weights and the order of the batches (the data are fixed separately).
        channels, size, pool, name: see :class:`LabNet`.
        batch_size, lr: Adam's mini-batch size and learning rate.
        n_train: train on a seeded random subset of this many canvases (None: all 1,437).
        data: the task (default: :func:`load_cluttered_digits` at ``size``).
        device: where to train (default CPU).
        progress: show a tqdm bar over the epochs.
        hparams: the block's hyperparameters, over the registry's defaults.
        threads: CPU threads torch may use during the run (its setting is restored afterwards); None
            leaves torch's setting. One by default: the network is so small that a second thread saves
            little, while on a shared CPU (Binder, a busy laptop) the threads' synchronisation made
            training several times slower in our measurements.
    """
    _check_block(block)
    with torch_threads(threads):
        return _train(block, epochs=epochs, seed=seed, channels=channels, size=size, pool=pool,
                      batch_size=batch_size, lr=lr, n_train=n_train, data=data, device=device, progress=progress,
                      hparams=hparams, name=name)


def _train(block, *, epochs, seed, channels, size, pool, batch_size, lr, n_train, data, device, progress, hparams,
           name) -> LabResult:
    from tqdm.auto import tqdm

    positive_int("train", "epochs", epochs)
    positive_int("train", "batch_size", batch_size, minimum=2)
    device = torch.device(device or "cpu")
    data = load_cluttered_digits(size) if data is None else data
    if data.size != size:
        raise ValueError(f"train: size={size} but the data's canvases are {data.size}×{data.size}; pass size={data.size}.")
    x_train, y_train = data.x_train, data.y_train
    order = torch.Generator().manual_seed(seed)  # the batches' order, independent of the global RNG
    if n_train is not None:
        positive_int("train", "n_train", n_train, minimum=2)
        keep = torch.randperm(len(y_train), generator=order)[:n_train]
        x_train, y_train = x_train[keep], y_train[keep]
    x_train, y_train = x_train.to(device), y_train.to(device)

    model = build_model(block, seed=seed, channels=channels, size=size, pool=pool, name=name,
                        **dict(hparams or {})).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict[str, float]] = []
    train_seconds = 0.0
    bar = tqdm(range(1, epochs + 1), desc=model.block_name, unit="epoch", disable=not progress, leave=True)
    for epoch in bar:
        model.train()
        start = time.perf_counter()
        perm = torch.randperm(len(y_train), generator=order).to(device)
        loss_sum, correct, seen = 0.0, 0, 0
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
        val_accuracy = accuracy(model, data.x_val, data.y_val)
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


def logistic_reference(data: Digits | None = None) -> dict[str, Any]:
    """The classical reference: multinomial logistic regression on the raw pixels of ``data``'s
    canvases (default :func:`load_cluttered_digits`), same split. Returns its name, validation
    accuracy and parameter count. Deterministic (one BLAS thread)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    data = load_cluttered_digits() if data is None else data
    x_train, x_val = data.x_train.flatten(1).numpy(), data.x_val.flatten(1).numpy()
    with threadpool_limits(1):  # one BLAS thread: on a problem this small, more threads only wait for each other
        model = LogisticRegression(max_iter=2000).fit(x_train, data.y_train.numpy())
    return {"block": LOGISTIC, "accuracy": float(model.score(x_val, data.y_val.numpy())),
            "params": int(model.coef_.size + model.intercept_.size)}


# ----------------------------------------------------------------------------- comparison


def _fmt_flops(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f}"


def _title(name: str, model: LabNet | None) -> str:
    if name in BLOCKS:
        return BLOCKS[name].title
    if name == BASELINE:
        return "no block (identity)"
    if model is not None and isinstance(model.block, PlainConv):
        return f"plain 3×3 convolutions, {model.block.hidden} hidden channels (parameter-matched)"
    return "your block"


@dataclass
class Comparison:
    """Every block × every seed: ``results`` (one :class:`LabResult` per run), ``rows`` (one per block)
    and ``references`` (models that need no seed, e.g. :func:`logistic_reference`)."""

    results: list[LabResult]
    epochs: int
    seeds: tuple[int, ...]
    references: list[dict[str, Any]] = field(default_factory=list)
    train_kwargs: dict[str, Any] = field(default_factory=dict, repr=False)  # what :meth:`add` reuses

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Per block: accuracy mean and std over the seeds (std 0 for one seed), params, FLOPs, mean train time."""
        rows: dict[str, dict[str, Any]] = {}
        for r in self.results:
            row = rows.setdefault(
                r.block,
                {"block": r.block, "title": _title(r.block, r.model), "accuracies": [], "times": [],
                 "params": r.params, "block_params": r.block_params, "flops": r.flops},
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

    def row(self, block: str) -> dict[str, Any]:
        """The row of ``block`` (its label: a registry name, "baseline", "plain_conv" or your block's name)."""
        for row in self.rows:
            if row["block"] == block:
                return row
        raise KeyError(f"no row {block!r} in this comparison; rows: {', '.join(r['block'] for r in self.rows)}.")

    def margin(self, block: str, over: str = PLAIN) -> float:
        """How many standard deviations ``block``'s mean accuracy lies above ``over``'s: the gap in
        means divided by the larger of the two stds (inf when both stds are 0 and the gap is not)."""
        a, b = self.row(block), self.row(over)
        gap, spread = a["accuracy_mean"] - b["accuracy_mean"], max(a["accuracy_std"], b["accuracy_std"])
        return gap / spread if spread > 0 else (math.copysign(math.inf, gap) if gap else 0.0)

    def add(self, block: Any, *, name: str | None = None, progress: bool = True, **hparams) -> "Comparison":
        """Train ``block`` with this comparison's seeds, epochs and settings; return the comparison with its row added."""
        label = _label(block, name)
        if any(r.block == label for r in self.results):
            raise ValueError(f"Comparison.add: the table already has a row {label!r}; pass another name=.")
        kwargs = {**self.train_kwargs, "hparams": hparams or None, "name": name}
        added = [train(block, epochs=self.epochs, seed=s, progress=progress, **kwargs) for s in self.seeds]
        return Comparison([*self.results, *added], self.epochs, self.seeds, list(self.references), dict(self.train_kwargs))

    def table(self, *, timings: bool = True) -> list[list[str]]:
        """The rows as strings, header first (``timings=False`` leaves out the machine-dependent column), in
        the course's language (:mod:`fusionlab.i18n`; the rows' labels stay the blocks' names)."""
        say = lambda key, **fields: i18n.say(TEXT, key, **fields)  # noqa: E731
        header = [say("block"), say("accuracy", seeds=len(self.seeds)), say("params"), say("slot_params"), say("flops")]
        if timings:
            header.append(say("seconds"))
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
        for ref in self.references:
            label = say(ref["block"]) if ref["block"] == LOGISTIC else ref["block"]
            lines.append([label, say("no_seed", accuracy=ref["accuracy"]), f"{ref['params']:,}", "–", "–"]
                         + (["–"] if timings else []))
        return lines

    def __repr__(self) -> str:
        return i18n.say(TEXT, "repr", runs=len(self.results), epochs=self.epochs, seeds=self.seeds) + f"\n{self}"

    def __str__(self) -> str:
        lines = self.table()
        widths = [max(_width(line[i]) for line in lines) for i in range(len(lines[0]))]
        text = ["  ".join(c + " " * (w - _width(c)) for c, w in zip(line, widths)).rstrip() for line in lines]
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
        caption = i18n.say(TEXT, "caption", epochs=self.epochs, seeds=", ".join(map(str, self.seeds)))
        return f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def plot(self):
        """Accuracy per block and against FLOPs: see :func:`fusionlab.plots.lab.plot_comparison`."""
        from ..plots.lab import plot_comparison

        return plot_comparison(self)


def compare(
    blocks: Iterable[Any] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    epochs: int = 3,
    progress: bool = True,
    reference: bool = True,
    matched: str = "median",
    **train_kwargs,
) -> Comparison:
    """Train every block (default: the baseline, the parameter-matched plain conv and every registered
    block) with every seed; add :func:`logistic_reference` unless ``reference=False``.

    ``matched`` ("median" or "max") sets the plain conv's parameter count (:func:`matched_params`).
    One tqdm bar counts the runs; ``train_kwargs`` go to :func:`train`.
    """
    from tqdm.auto import tqdm

    names = [None, PLAIN, *BLOCKS] if blocks is None else list(blocks)
    for name in names:
        _check_block(name)  # fail on a bad name before any training
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("compare: seeds must name at least one seed, got an empty sequence.")
    channels, size = train_kwargs.get("channels", CHANNELS), train_kwargs.get("size", SIZE)
    plain = {"hidden": PlainConv.hidden_for(channels, matched_params(channels, size, matched))} if PLAIN in names else {}
    runs = [(name, seed) for name in names for seed in seeds]
    results = []
    bar = tqdm(runs, desc="runs", unit="run", disable=not progress)
    for name, seed in bar:
        bar.set_postfix(block=_label(name), seed=seed)
        kwargs = {**train_kwargs, "hparams": plain} if name == PLAIN and "hparams" not in train_kwargs else train_kwargs
        results.append(train(name, epochs=epochs, seed=seed, progress=False, **kwargs))
    bar.close()
    refs = [logistic_reference(train_kwargs.get("data") or load_cluttered_digits(size))] if reference else []
    return Comparison(results, epochs, seeds, refs, dict(train_kwargs))
