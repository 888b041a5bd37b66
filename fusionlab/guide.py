"""Which block when (chapter 09): the comparison table, the decision guide and the glossary.

The table is built from the registry (:data:`fusionlab.BLOCKS`), so a newly registered block gets a row
without an edit here. Per block it reads the registry's facts (``weighs``, ``scope``, ``limits``,
``placement``, the inputs) and measures the rest on the ``meta`` device (no memory, no arithmetic):
parameters and FLOPs at one common size, and how FLOPs grow with H·W, the exponent k in
FLOPs ∝ (H·W)^k between two sizes.

>>> from fusionlab import BLOCKS
>>> from fusionlab.guide import comparison
>>> table = comparison()
>>> [row.name for row in table.rows] == list(BLOCKS)
True
>>> round(table["gated_fusion"].growth, 2)  # two Linear layers per pixel: FLOPs exactly ∝ H·W
1.0
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import torch

from .costs import FLOPS_NOTE, count_flops, count_params
from .registry import BLOCKS, BlockSpec

__all__ = [
    "CHANNELS",
    "DECISIONS",
    "GLOSSARY",
    "SIDE",
    "Comparison",
    "Decision",
    "Row",
    "Term",
    "chapters",
    "common_sizes",
    "comparison",
    "cost_at",
    "decisions_markdown",
    "glossary_markdown",
    "growth_exponent",
    "plot_flops_growth",
]

SIDE = 32  # the common size: B = 1, H = W = SIDE, every channel dimension CHANNELS (chapter 00's course map)
CHANNELS = 64


# ----------------------------------------------------------------------------------------
# measuring on the meta device
# ----------------------------------------------------------------------------------------


def common_sizes(spec: BlockSpec, side: int = SIDE, channels: int = CHANNELS) -> dict[str, int]:
    """B = 1, H = W = ``side``, every other dimension (the channel counts) ``channels``."""
    return {d: 1 if d == "B" else side if d in ("H", "W") else channels for d in spec.sizes}


def _meta_block(spec: BlockSpec, sizes: Mapping[str, int]):
    with torch.device("meta"):  # shapes only: a block of any size costs nothing to build
        return spec.build(sizes=sizes)


def cost_at(spec: BlockSpec, side: int, channels: int = CHANNELS) -> tuple[int, int]:
    """(parameters, FLOPs) of ``spec``'s block at :func:`common_sizes` (counted on ``meta``)."""
    sizes = common_sizes(spec, side, channels)
    block = _meta_block(spec, sizes)
    return count_params(block), count_flops(block, *spec.shapes(sizes))


def _has_map(spec: BlockSpec) -> bool:
    return {"H", "W"} <= set(spec.sizes)


def growth_exponent(
    spec: BlockSpec, sides: tuple[int, int] = (SIDE, 2 * SIDE), channels: int = CHANNELS
) -> float | None:
    """k in FLOPs ∝ (H·W)^k, from the FLOPs at H = W = ``sides[0]`` and ``sides[1]``.

    1: cost proportional to the number of pixels (convolutions, per-pixel layers); 2: to the number
    of pixel pairs (attention over all positions). A cost per image (an MLP on pooled vectors) pulls
    k a little below 1. None for a block without H and W, or with no counted FLOPs.
    """
    if not _has_map(spec):
        return None
    (_, f0), (_, f1) = (cost_at(spec, s, channels) for s in sides)
    if f0 <= 0 or f1 <= 0:
        return None
    return math.log(f1 / f0) / math.log((sides[1] / sides[0]) ** 2)


# ----------------------------------------------------------------------------------------
# the comparison table
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One block's line of the comparison: the registry's facts and the measured costs."""

    name: str
    title: str
    chapter: str
    section: int
    in_post: bool
    weighs: tuple[str, ...]
    scope: str
    inputs: Mapping[str, str]  # input name -> dimension names, as in the registry
    params: int | None  # at the common size; None for a block without H and W
    flops: int | None
    growth: float | None  # k in FLOPs ∝ (H·W)^k
    limits: str
    placement: str


def _inputs_text(inputs: Mapping[str, str]) -> str:
    """``x1, x2 (B, H, W, C)``: inputs of the same dimensions share one shape."""
    groups: dict[str, list[str]] = {}
    for name, dims in inputs.items():
        groups.setdefault(dims, []).append(name)
    return "; ".join(f"{', '.join(names)} ({', '.join(dims.split())})" for dims, names in groups.items())


def _section_text(row: Row) -> str:
    return f"§{row.section}" if row.in_post else f"beside §{row.section}"


COLUMNS = (
    "block",
    "weighs",
    "looks",
    "inputs",
    "parameters",
    "MFLOPs*",
    "growth k",
    "limits",
    "where its paper puts it",
)


@dataclass(frozen=True)
class Comparison:
    """The comparison table: ``rows`` (data, one per registered block) and a Markdown/HTML renderer."""

    rows: tuple[Row, ...]
    side: int
    channels: int
    sides: tuple[int, int]

    def __getitem__(self, name: str) -> Row:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no row {name!r}; the rows are {', '.join(r.name for r in self.rows)}")

    @property
    def caption(self) -> str:
        return (f"Every registered block at B = 1, H = W = {self.side}, every channel dimension {self.channels}, "
                f"the hyperparameters of the post's demo blocks. growth k: FLOPs ∝ (H·W)^k between H = W = {self.sides[0]} and "
                f"{self.sides[1]}. * {FLOPS_NOTE}")

    def _cells(self, row: Row, link: bool) -> list[str]:
        name = f"[{row.name}]({row.chapter}.ipynb)" if link else row.name
        return [
            f"{name} ({_section_text(row)})",
            ", ".join(row.weighs),
            row.scope,
            _inputs_text(row.inputs),
            "—" if row.params is None else f"{row.params:,}",
            "—" if row.flops is None else f"{row.flops / 1e6:,.1f}",
            "—" if row.growth is None else f"{row.growth:.2f}",
            row.limits or "none known",
            row.placement,
        ]

    def markdown(self, link: bool = True) -> str:
        """A Markdown table; ``link`` makes each block a link to its chapter (``NN_name.ipynb``)."""
        def line(cells: Iterable[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        align = ["---", "---", "---", "---", "---:", "---:", "---:", "---", "---"]
        body = [line(self._cells(r, link)) for r in self.rows]
        return "\n".join([line(COLUMNS), line(align), *body, "", self.caption])

    def html(self, link: bool = True) -> str:
        e = html.escape
        head = "".join(f"<th style='text-align:left'>{e(c)}</th>" for c in COLUMNS)
        body = []
        for row in self.rows:
            cells = self._cells(row, link=False)
            if link:
                cells[0] = f"<a href='{e(row.chapter)}.ipynb'>{e(row.name)}</a> ({e(_section_text(row))})"
            else:
                cells[0] = e(cells[0])
            tds = [cells[0]] + [e(c) for c in cells[1:]]
            body.append("<tr>" + "".join(
                f"<td style='text-align:{'right' if 4 <= i <= 6 else 'left'}; vertical-align:top'>{c}</td>"
                for i, c in enumerate(tds)) + "</tr>")
        return (f"<table style='font-size:smaller'><tr>{head}</tr>{''.join(body)}</table>"
                f"<div style='font-size:smaller'>{e(self.caption)}</div>")

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        return f"Comparison({len(self.rows)} blocks at H = W = {self.side}, {self.channels} channels)"

    def __str__(self) -> str:
        return self.markdown(link=False)


def comparison(
    blocks: Mapping[str, BlockSpec] | None = None,
    *,
    side: int = SIDE,
    channels: int = CHANNELS,
    sides: tuple[int, int] | None = None,
) -> Comparison:
    """One :class:`Row` per block of ``blocks`` (the registry by default), costs counted on ``meta``.

    Args:
        side, channels: the common size (B = 1, H = W = side, every channel dimension ``channels``).
        sides: the two values of H = W between which the growth exponent is measured; (side, 2·side)
            by default.
    """
    blocks = BLOCKS if blocks is None else blocks
    sides = tuple(sides or (side, 2 * side))
    rows = []
    for name, spec in blocks.items():
        params = flops = growth = None
        if _has_map(spec):
            params, flops = cost_at(spec, side, channels)
            growth = growth_exponent(spec, sides, channels)
        rows.append(Row(name=name, title=spec.title, chapter=spec.chapter, section=spec.section,
                        in_post=spec.in_post, weighs=tuple(spec.weighs), scope=spec.scope, inputs=dict(spec.inputs),
                        params=params, flops=flops, growth=growth, limits=spec.limits, placement=spec.placement))
    return Comparison(rows=tuple(rows), side=side, channels=channels, sides=sides)


# ----------------------------------------------------------------------------------------
# the decision guide
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """One step of the guide: a question about your network, the blocks it leads to, and why."""

    question: str
    blocks: tuple[str, ...]  # registry names
    why: str


# tests/test_guide.py checks each answer against the registry's facts and the measured costs
DECISIONS = (
    Decision("Two feature maps of the same shape to merge (two branches, two sensors or modalities, a skip "
             "and a decoder map)?", ("gated_fusion",),
             "a sigmoid gate picks, per position and channel, how much of each input to keep; channels last"),
    Decision("Several maps of one shape, each a different scale or receptive field, to merge?", ("msf",),
             "one softmax weight per scale and channel, from each map's global average (GAP)"),
    Decision("One map, and you want several receptive fields of it at full resolution?", ("mfe",),
             "chained dilated 3×3 convs see 3×3 to 31×31 windows; MSF's weights then fuse them"),
    Decision("Three encoder scales with different channel counts, resized to one H×W (a U-Net decoder)?",
             ("msaa",), "concatenates them, then weighs channels from global pooling and pixels from a 7×7 "
             "conv over the sum of 3×3, 5×5 and 7×7 convs"),
    Decision("Long-range context at high resolution, where attention over all pixel pairs is too big?",
             ("osra",), "every pixel attends to a grid shrunk r times per side: about r² fewer pairs, still "
             "global, still growing with (H·W)²"),
    Decision("A cheap, wide spatial modulation of one map, no attention matrix?", ("safm",),
             "channel groups pooled to 1, ½, ¼, ⅛ of the side and a GELU map that multiplies the input; "
             "FLOPs grow only with H·W"),
    Decision("Reweight the channels and the positions of one map, at any size?", ("cbam",),
             "channel weights from global pooling, then spatial weights from a 7×7 conv; its "
             "parameters do not depend on H×W"),
    Decision("The same for a small map whose H×W never changes?", ("cbam_joint",),
             "the post's joint MLP sees all positions at once, but it is built for one H×W and its parameters "
             "grow with it"),
)


def decisions_markdown(decisions: Sequence[Decision] = DECISIONS, link: bool = True) -> str:
    """The guide as a numbered Markdown list: question → block (chapter link): why."""
    lines = []
    for i, d in enumerate(decisions, 1):
        names = []
        for name in d.blocks:
            chapter = BLOCKS[name].chapter
            names.append(f"[**{name}**]({chapter}.ipynb)" if link else f"**{name}**")
        lines.append(f"{i}. {d.question} → {' or '.join(names)}: {d.why}.")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# the glossary and the chapters
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One glossary entry: the term, a one-line definition, the chapter that introduces it."""

    term: str
    definition: str
    chapter: str  # notebook stem
    aliases: tuple[str, ...] = ()  # how the chapters also write it (tests find the term in its chapter by these)
    zh: str = ""  # the Chinese term, for a later column


GLOSSARY = (
    Term("1×1 conv", "a convolution with a 1×1 kernel: mixes the channels at each pixel, like a linear layer "
         "applied per pixel", "02_msf_selective_fusion"),
    Term("adaptive max pooling", "max pooling to a given output size (h, w): each output pixel is the maximum of a "
         "window of about H/h × W/w input pixels", "04_safm"),
    Term("attention", "weights computed from the input itself that say how much each position, channel or input "
         "counts; in query–key attention, softmax(q kᵀ · scale) weighs the values", "05_osra_attention"),
    Term("BatchNorm", "normalises each channel with the batch's mean and variance in training mode and with running "
         "averages in eval mode; it needs more than one value per channel to train", "02_msf_selective_fusion",
         ("BN",)),
    Term("broadcast", "a size-1 axis is repeated to match the other tensor: a (B, C, 1, 1) weight scales every pixel "
         "of a (B, C, H, W) map", "00_reading_shapes"),
    Term("channel attention", "one weight per channel, computed from pooled statistics of the whole map",
         "06_msaa_aggregation"),
    Term("channels last", "the layout (B, H, W, C) (or (…, C)): nn.Linear mixes the last axis, so it mixes channels "
         "only in this layout", "00_reading_shapes", ("channels-last",)),
    Term("contiguous", "a tensor whose entries lie in memory in the order its shape lists them; a permuted view "
         "is not, so view raises an error on it where reshape copies", "00_reading_shapes"),
    Term("depthwise conv", "a convolution with groups = channels: each channel is filtered by its own kernel, "
         "without mixing channels", "04_safm", ("depthwise",)),
    Term("dilation (atrous)", "a kernel whose taps are d pixels apart: a 3×3 kernel with dilation d covers "
         "(2d + 1)² pixels with 9 weights", "03_mfe_feature_extraction", ("dilation", "atrous")),
    Term("effective receptive field (ERF)", "the input pixels that actually move an output pixel, weighted by "
         "|∂ out / ∂ in|: usually far smaller than the receptive field", "03_mfe_feature_extraction", ("ERF",)),
    Term("equivariance (translation)", "shift the input and the output shifts the same way; convolutions have it, "
         "an MLP over all positions does not", "07_cbam_joint_attention", ("equivariant",)),
    Term("FLOPs", "floating-point operations of one forward pass; here 2 × multiply–accumulates of matrix products, "
         "convolutions and attention only, counted, not timed", "00_reading_shapes"),
    Term("fused kernel", "one GPU/CPU routine doing several steps at once (e.g. attention without storing its "
         "matrix), so intermediate tensors are never kept", "01_gated_fusion"),
    Term("GAP (global average pooling)", "the mean of each channel over all H × W pixels: (B, C, H, W) → "
         "(B, C, 1, 1)", "00_reading_shapes", ("GAP",)),
    Term("gate", "a sigmoid output in (0, 1) that multiplies a signal: a soft switch between keeping and "
         "dropping it", "01_gated_fusion"),
    Term("GELU", "a smooth ReLU, x · Φ(x) (Φ the normal CDF): negative inputs give small negative outputs, "
         "positive ones pass almost unchanged", "04_safm"),
    Term("gridding", "the holes of a large dilation: a dilation-8 3×3 kernel reads 9 pixels 8 apart and skips "
         "those between", "03_mfe_feature_extraction"),
    Term("head", "attention splits C channels into h groups of d = C / h; each head computes its own attention "
         "over its d features", "00_reading_shapes", ("heads",)),
    Term("LayerNorm", "normalises each position's features with their own mean and variance (no batch "
         "statistics)", "04_safm"),
    Term("logits", "scores before a sigmoid or softmax turns them into weights", "02_msf_selective_fusion",
         ("logit",)),
    Term("meta device", "torch's device of tensors with a shape and no data: runs a block for its shapes and "
         "FLOPs at any size, free", "00_reading_shapes", ("meta",)),
    Term("MLP", "a small multi-layer perceptron: linear (or 1×1 conv) → ReLU → linear", "06_msaa_aggregation"),
    Term("modulation", "multiplying a map by an input-dependent map of gains (not limited to (0, 1)): "
         "y = m(x) ⊙ x", "04_safm", ("modulates",)),
    Term("multiply–accumulate (MAC)", "one multiplication and one addition; FLOPs = 2 × MACs (papers often "
         "quote MACs as FLOPs)", "00_reading_shapes", ("multiply–accumulates",)),
    Term("NCHW", "PyTorch's usual image layout (B, C, H, W): batch, channels, height, width",
         "00_reading_shapes", ("(B, C, H, W)",)),
    Term("nearest up-sampling", "enlarges a map by copying each pixel into a block (2^i × 2^i back to H × W)",
         "04_safm"),
    Term("permute", "reorders a tensor's axes without copying a number: x.permute(0, 2, 3, 1) turns (B, C, H, W) "
         "into (B, H, W, C); reshape instead re-cuts the numbers in memory order", "00_reading_shapes"),
    Term("PVT", "Pyramid Vision Transformer (Wang et al. 2021): introduced spatial-reduction attention with "
         "side-by-side (non-overlapping) patches", "05_osra_attention"),
    Term("query, key, value", "in attention each position asks with a query, is matched by keys, and hands over "
         "its value; weights softmax(q kᵀ) mix the values", "05_osra_attention", ("query", "key", "value")),
    Term("receptive field", "the input pixels one output pixel depends on", "03_mfe_feature_extraction"),
    Term("registry", "fusionlab.BLOCKS, the course's one list of blocks with their inputs, sizes, hyperparameters "
         "and facts; every chapter, test, widget and table reads it", "00_reading_shapes"),
    Term("relative position bias", "a learned term added to the attention logits that depends on where a key lies "
         "relative to a query", "05_osra_attention", ("relative position",)),
    Term("ReLU", "max(0, x)", "02_msf_selective_fusion"),
    Term("residual (skip) connection", "x + f(x): the block adds its input back; needs f(x) of x's shape",
         "00_reading_shapes", ("residual", "skip connection")),
    Term("SE (squeeze-and-excitation)", "SENet's channel attention: GAP ('squeeze'), a small layer and a "
         "sigmoid ('excitation') give one weight per channel; the post names its 1×1 squeezes SE",
         "02_msf_selective_fusion", ("SE",)),
    Term("sigmoid", "σ(a) = 1 / (1 + e^(−a)): squashes any number into (0, 1)", "01_gated_fusion", ("σ",)),
    Term("softmax", "exponentiates scores and divides by their sum: positive weights that sum to 1 over an axis",
         "02_msf_selective_fusion"),
    Term("spatial attention", "one weight per position (B, 1, H, W), shared by every channel", "06_msaa_aggregation"),
    Term("spatial-reduction attention", "attention whose keys and values come from a map shrunk by a strided conv: "
         "H·W × H′·W′ pairs instead of (H·W)²", "05_osra_attention", ("spatial reduction", "spatial-reduction")),
    Term("state_dict", "a module's named weights and buffers; equal keys let one model load another's weights",
         "01_gated_fusion"),
    Term("stride", "how far a conv or pooling window moves per output pixel: stride r shrinks each side r times",
         "00_reading_shapes"),
    Term("token", "one item an attention layer compares with the others; in a vision block one pixel (or patch) "
         "with its C features, N = H·W of them", "00_reading_shapes", ("tokens",)),
    Term("token mixer", "the layer through which positions (tokens) exchange information: attention, a large "
         "conv, pooling", "05_osra_attention"),
    Term("view", "a tensor that shares another's memory and reads it in another shape or order (permute, "
         "transpose, view); x.view(...) needs a contiguous tensor", "00_reading_shapes"),
    Term("增删改查 (add, remove, modify, look up)", "the post's method for adapting blocks: 增 add attention or skips, "
         "删 remove parts, 改 modify convs and pooling, 查 look up how papers connect a block",
         "00_reading_shapes", ("增删改查",), zh="增删改查"),
)


def glossary_markdown(terms: Sequence[Term] = GLOSSARY, link: bool = True) -> str:
    """The glossary as a Markdown table (term, definition, chapter; a Chinese column once any entry has one
    besides the Chinese-named terms)."""
    zh = any(t.zh and t.zh not in t.term for t in terms)
    header = ["term"] + (["中文"] if zh else []) + ["definition", "introduced in"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for t in terms:
        where = f"[{t.chapter[:2]}]({t.chapter}.ipynb)" if link else t.chapter[:2]
        cells = [f"**{t.term}**"] + ([t.zh] if zh else []) + [t.definition, where]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


# the chapters that are not one block's chapter, and chapter 07, which teaches two blocks under one title
_OTHER_CHAPTERS = {
    "00_reading_shapes": "Reading shapes, 增删改查, the course map",
    "07_cbam_joint_attention": "Joint channel-and-spatial attention: the post's CBAMBlock beside the paper's CBAM",
    "08_capstone_stitching_lab": "Capstone: stitch every block into a network and train it",
    "09_which_block_when": "Which block when",
}


def chapters() -> list[tuple[str, str]]:
    """(notebook stem, title) of every chapter, in order: the block chapters from the registry (a chapter
    of several blocks takes its own title from ``_OTHER_CHAPTERS``)."""
    titles: dict[str, list[str]] = {}
    for spec in BLOCKS.values():
        titles.setdefault(spec.chapter, []).append(spec.title)
    found = {**{stem: " · ".join(t) for stem, t in titles.items()}, **_OTHER_CHAPTERS}
    return sorted(found.items())


# ----------------------------------------------------------------------------------------
# the figure
# ----------------------------------------------------------------------------------------


def _si(n: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:g}{unit}"
    return f"{n:g}"


def plot_flops_growth(
    blocks: Mapping[str, BlockSpec] | None = None,
    sides: Sequence[int] = (8, 16, 32, 64, 128, 256),
    channels: int = CHANNELS,
):
    """FLOPs (counted on ``meta``, not timed) of every block against the map size, on log–log axes.

    Grey dashed lines show slope 1 (∝ H·W) and slope 2 (∝ (H·W)²) for reference. Returns a closed
    matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    blocks = BLOCKS if blocks is None else blocks
    fig, ax = plt.subplots(figsize=(8.0, 4.6), layout="constrained")
    hw = [s * s for s in sides]
    markers = "os^vD<>ph*"
    firsts = []
    for i, (name, spec) in enumerate(blocks.items()):
        if not _has_map(spec):
            continue
        flops = [cost_at(spec, s, channels)[1] for s in sides]
        firsts.append(flops[0])
        ax.plot(hw, flops, "-", marker=markers[i % len(markers)], color=f"C{i % 10}", markersize=4, label=name)
    if firsts:
        anchor = math.exp(sum(math.log(f) for f in firsts) / len(firsts)) / 4
        for k, label in ((1, "∝ H·W"), (2, "∝ (H·W)²")):
            ref = [anchor * (h / hw[0]) ** k for h in hw]
            ax.plot(hw, ref, "--", color="0.6", linewidth=1)
            ax.annotate(label, (hw[-1], ref[-1]), textcoords="offset points", xytext=(-4, 2), ha="right",
                        fontsize=8, color="0.4")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(hw, [f"{s}×{s}" for s in sides])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_locator(LogLocator(base=10))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _si(v)))
    ax.set_xlabel(f"map size H × W (log scale of H·W; B = 1, channels {channels})")
    ax.set_ylabel("FLOPs per forward pass (counted, not timed)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title("FLOPs against resolution, every registered block")
    fig.text(0.01, -0.01, FLOPS_NOTE, fontsize=7, ha="left", va="top", wrap=True)
    plt.close(fig)
    return fig
