"""Which block when (chapter 09): the comparison table, the decision guide and the glossary.

Every learner-facing word follows :mod:`fusionlab.i18n` (``setup(lang="zh")`` for the Chinese edition):
column titles, captions, the decision guide, the glossary and the chapter names; English is the default.
The figure stays English.

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
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import torch

from . import costs, i18n
from .costs import FLOPS_NOTE, count_flops, count_params
from .glossary import GLOSSARY, Term, glossary_markdown
from .registry import BLOCKS, TRANSLATED, BlockSpec, label

__all__ = [
    "CHANNELS",
    "CHAPTER_TITLES",
    "COLUMNS",
    "DECISIONS",
    "GLOSSARY",
    "SIDE",
    "Comparison",
    "Decision",
    "Row",
    "Term",
    "chapters",
    "course_map_markdown",
    "columns",
    "common_sizes",
    "comparison",
    "cost_at",
    "decisions_markdown",
    "glossary_markdown",
    "growth_exponent",
    "plot_flops_growth",
]

# the guide's words, per language (fusionlab.i18n); block prose lives in the registry (BlockSpec.text)
TEXT = {
    "en": {
        "columns": ("block", "weighs", "looks", "inputs", "parameters", "MFLOPs*", "growth k", "limits",
                    "where its paper puts it"),
        "name_cell": "{name} ({section})",
        "in_post": "§{n}",
        "beside": "beside §{n}",
        "list": ", ",
        "none_known": "none known",
        "caption": ("Every registered block at B = 1, H = W = {side}, every channel dimension {channels}, "
                    "the hyperparameters of the post's demo blocks. growth k: FLOPs ∝ (H·W)^k between H = W = {s0} and "
                    "{s1}. * {note}"),
        "or": " or ",
        "decision": "{i}. {question} → {names}: {why}.",
        "map_columns": ("§", "block", "fuses", "inputs → output", "parameters", "MFLOPs (32×32)", "growth"),
        "map_more": {"08_capstone_stitching_lab": "every block above, trained on cluttered digits",
                     "09_which_block_when": "a side-by-side comparison, a decision guide, the glossary"},
        "map_titles": {"08_capstone_stitching_lab": "capstone: the stitching lab",
                       "09_which_block_when": "which block when"},
    },
    "zh": {
        "columns": ("模块", "加权对象", "视野", "输入", "参数量", "MFLOPs*", "增长指数 k", "限制", "论文中的位置"),
        "name_cell": "{name}（{section}）",
        "in_post": "§{n}",
        "beside": "附于 §{n}",
        "list": "、",
        "none_known": "无已知限制",
        "caption": ("所有已注册模块，B = 1，H = W = {side}，所有通道维度均为 {channels}，超参数取原文演示模块的设置。"
                    "增长指数 k：在 H = W = {s0} 与 {s1} 之间，FLOPs ∝ (H·W)^k。* {note}"),
        "or": " 或 ",
        "decision": "{i}. {question} → {names}：{why}。",
        "map_columns": ("§", "模块", "融合什么", "输入 → 输出", "参数量", "MFLOPs（32×32）", "增长指数"),
        "map_more": {"08_capstone_stitching_lab": "上面所有模块，在带干扰的手写数字上训练",
                     "09_which_block_when": "并排对比、选型指南、中英术语对照表"},
        "map_titles": {"08_capstone_stitching_lab": "综合实验：缝合实验室", "09_which_block_when": "何时用哪个模块"},
    },
}


def _say(key: str, lang: str | None = None):
    """The guide's entry ``key`` in ``lang`` (unformatted: each caller fills it in)."""
    return i18n.say(TEXT, key, lang)


def _local(obj, name: str, lang: str | None) -> str:
    """``obj.<name>_zh`` in Chinese where it is filled in, else ``obj.<name>`` (Decision, Term)."""
    if i18n.resolve(lang) == "zh":
        return getattr(obj, f"{name}_zh", "") or getattr(obj, name)
    return getattr(obj, name)


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
    zh: Mapping[str, str] = field(default_factory=dict)  # the registry's Chinese prose (BlockSpec.zh)

    def text(self, name: str, lang: str | None = None) -> str:
        """``title``, ``limits`` or ``placement`` in ``lang`` (default: the current language), like
        :meth:`fusionlab.registry.BlockSpec.text`; English where the block has no translation."""
        if name not in TRANSLATED or not hasattr(self, name):
            raise ValueError(f"Row.text reads title, limits or placement, got {name!r}.")
        return ({"zh": self.zh}.get(i18n.resolve(lang), {})).get(name) or getattr(self, name)


def _inputs_text(inputs: Mapping[str, str]) -> str:
    """``x1, x2 (B, H, W, C)``: inputs of the same dimensions share one shape."""
    groups: dict[str, list[str]] = {}
    for name, dims in inputs.items():
        groups.setdefault(dims, []).append(name)
    return "; ".join(f"{', '.join(names)} ({', '.join(dims.split())})" for dims, names in groups.items())


def _section_text(row: Row, lang: str | None = None) -> str:
    return _say("in_post" if row.in_post else "beside", lang).format(n=row.section)


COLUMNS = TEXT["en"]["columns"]  # the English column titles; columns(lang) for the current language


def columns(lang: str | None = None) -> tuple[str, ...]:
    """The comparison table's column titles in ``lang`` (default: the current language)."""
    return _say("columns", lang)


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
        """The caption in the current language (:meth:`caption_in` for another)."""
        return self.caption_in()

    def caption_in(self, lang: str | None = None) -> str:
        note = FLOPS_NOTE if i18n.resolve(lang) == "en" else i18n.say(costs.TEXT, "flops_note", lang)
        return _say("caption", lang).format(side=self.side, channels=self.channels, s0=self.sides[0],
                                            s1=self.sides[1], note=note)

    def _cells(self, row: Row, link: bool, lang: str | None = None) -> list[str]:
        name = f"[{row.name}]({row.chapter}.ipynb)" if link else row.name
        return [
            _say("name_cell", lang).format(name=name, section=_section_text(row, lang)),
            _say("list", lang).join(label(w, lang) for w in row.weighs),
            label(row.scope, lang),
            _inputs_text(row.inputs),
            "—" if row.params is None else f"{row.params:,}",
            "—" if row.flops is None else f"{row.flops / 1e6:,.1f}",
            "—" if row.growth is None else f"{row.growth:.2f}",
            row.text("limits", lang) or _say("none_known", lang),
            row.text("placement", lang),
        ]

    def markdown(self, link: bool = True, lang: str | None = None) -> str:
        """A Markdown table; ``link`` makes each block a link to its chapter (``NN_name.ipynb``); its words
        in ``lang`` (default: the current language)."""
        def line(cells: Iterable[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        align = ["---", "---", "---", "---", "---:", "---:", "---:", "---", "---"]
        body = [line(self._cells(r, link, lang)) for r in self.rows]
        return "\n".join([line(columns(lang)), line(align), *body, "", self.caption_in(lang)])

    def html(self, link: bool = True, lang: str | None = None) -> str:
        e = html.escape
        head = "".join(f"<th style='text-align:left'>{e(c)}</th>" for c in columns(lang))
        body = []
        for row in self.rows:
            cells = self._cells(row, False, lang)
            if link:
                cells[0] = _say("name_cell", lang).format(name=f"<a href='{e(row.chapter)}.ipynb'>{e(row.name)}</a>",
                                                          section=e(_section_text(row, lang)))
            else:
                cells[0] = e(cells[0])
            tds = [cells[0]] + [e(c) for c in cells[1:]]
            body.append("<tr>" + "".join(
                f"<td style='text-align:{'right' if 4 <= i <= 6 else 'left'}; vertical-align:top'>{c}</td>"
                for i, c in enumerate(tds)) + "</tr>")
        return (f"<table style='font-size:smaller'><tr>{head}</tr>{''.join(body)}</table>"
                f"<div style='font-size:smaller'>{e(self.caption_in(lang))}</div>")

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
                        params=params, flops=flops, growth=growth, limits=spec.limits, placement=spec.placement,
                        zh=dict(spec.zh)))
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
    question_zh: str = ""  # the Chinese edition's words ("" falls back to English)
    why_zh: str = ""


# tests/test_guide.py checks each answer against the registry's facts and the measured costs
DECISIONS = (
    Decision("Two feature maps of the same shape to merge (two branches, two sensors or modalities, a skip "
             "and a decoder map)?", ("gated_fusion",),
             "a sigmoid gate picks, per position and channel, how much of each input to keep; channels last",
             question_zh="要合并两个形状相同的特征图（两条分支、两种传感器或模态、一条跳跃连接与一张解码器特征图）？",
             why_zh="sigmoid 门控按位置、按通道决定每个输入各保留多少；要求通道在最后"),
    Decision("Several maps of one shape, each a different scale or receptive field, to merge?", ("msf",),
             "one softmax weight per scale and channel, from each map's global average (GAP)",
             question_zh="要合并几个形状相同、但各自尺度或感受野不同的特征图？",
             why_zh="每个尺度、每个通道一个 softmax 权重，由各特征图的全局平均（GAP）算出"),
    Decision("One map, and you want several receptive fields of it at full resolution?", ("mfe",),
             "chained dilated 3×3 convs see 3×3 to 31×31 windows; MSF's weights then fuse them",
             question_zh="只有一个特征图，想在全分辨率下得到它的多种感受野？",
             why_zh="串联的 3×3 空洞卷积看到 3×3 到 31×31 的窗口，再由 MSF 的权重把它们融合"),
    Decision("Three encoder scales with different channel counts, resized to one H×W (a U-Net decoder)?",
             ("msaa",), "concatenates them, then weighs channels from global pooling and pixels from a 7×7 "
             "conv over the sum of 3×3, 5×5 and 7×7 convs",
             question_zh="有三个通道数不同的编码器尺度，已缩放到同一 H×W（U-Net 解码器）？",
             why_zh="先把它们拼接，再由全局池化给通道加权，由作用在 3×3、5×5 和 7×7 卷积之和上的 7×7 卷积给像素加权"),
    Decision("Long-range context at high resolution, where attention over all pixel pairs is too big?",
             ("osra",), "every pixel attends to a grid shrunk r times per side: about r² fewer pairs, still "
             "global, still growing with (H·W)²",
             question_zh="要在高分辨率下获取长程上下文，而对所有像素对做注意力开销太大？",
             why_zh="每个像素关注一个每边缩小 r 倍的网格：像素对约少 r² 倍，仍是全局的，仍随 (H·W)² 增长"),
    Decision("A cheap, wide spatial modulation of one map, no attention matrix?", ("safm",),
             "channel groups pooled to 1, ½, ¼, ⅛ of the side and a GELU map that multiplies the input; "
             "FLOPs grow only with H·W",
             question_zh="要对一个特征图做廉价、大范围的空间调制，不要注意力矩阵？",
             why_zh="通道分组后分别池化到边长的 1、½、¼、⅛，得到一张与输入相乘的 GELU 图；FLOPs 只随 H·W 增长"),
    Decision("Reweight the channels and the positions of one map, at any size?", ("cbam",),
             "channel weights from global pooling, then spatial weights from a 7×7 conv; its "
             "parameters do not depend on H×W",
             question_zh="要在任意尺寸下对一个特征图的通道和位置重新加权？",
             why_zh="通道权重来自全局池化，空间权重来自 7×7 卷积；它的参数量与 H×W 无关"),
    Decision("The same for a small map whose H×W never changes?", ("cbam_joint",),
             "the post's joint MLP sees all positions at once, but it is built for one H×W and its parameters "
             "grow with it",
             question_zh="同样的需求，但特征图很小且 H×W 固定不变？",
             why_zh="原文的联合 MLP 一次看到所有位置，但它只为一种 H×W 构建，参数量随 H×W 增长"),
)


def decisions_markdown(decisions: Sequence[Decision] = DECISIONS, link: bool = True, lang: str | None = None) -> str:
    """The guide as a numbered Markdown list: question → block (chapter link): why; in ``lang`` (default:
    the current language)."""
    lines = []
    for i, d in enumerate(decisions, 1):
        names = []
        for name in d.blocks:
            chapter = BLOCKS[name].chapter
            names.append(f"[**{name}**]({chapter}.ipynb)" if link else f"**{name}**")
        lines.append(_say("decision", lang).format(i=i, question=_local(d, "question", lang),
                                                   names=_say("or", lang).join(names), why=_local(d, "why", lang)))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# the glossary and the chapters
# ----------------------------------------------------------------------------------------


# the chapters that are not one block's chapter, and chapter 07, which teaches two blocks under one title,
# per language (fusionlab.i18n); the block chapters take their titles from the registry (BlockSpec.text)
CHAPTER_TITLES = {
    "en": {
        "00_reading_shapes": "Reading shapes, 增删改查, the course map",
        "07_cbam_joint_attention": "Joint channel-and-spatial attention: the post's CBAMBlock beside the paper's CBAM",
        "08_capstone_stitching_lab": "Capstone: stitch every block into a network and train it",
        "09_which_block_when": "Which block when",
    },
    "zh": {
        "00_reading_shapes": "读懂形状、增删改查与课程地图",
        "07_cbam_joint_attention": "通道与空间联合注意力：原文的 CBAMBlock 与论文的 CBAM 对照",
        "08_capstone_stitching_lab": "综合实验：把所有模块缝合进一个网络并训练",
        "09_which_block_when": "何时用哪个模块",
    },
}
_OTHER_CHAPTERS = CHAPTER_TITLES["en"]


def course_map_markdown(rows: Sequence[Mapping], lang: str | None = None) -> str:
    """Chapter 00's course map as a Markdown table in ``lang`` (default: the current language): one row per
    block (``section``, ``block``, ``chapter``, ``fuses``, ``inputs``, ``output``, ``params``, ``flops``,
    ``growth``, as chapter 00 computes them), then the capstone and chapter 09."""
    lines = ["| " + " | ".join(_say("map_columns", lang)) + " |", "|---|---|---|---|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['section']} | [{row['block']}]({row['chapter']}.ipynb) | {row['fuses']} "
                     f"| {row['inputs']} → {row['output']} | {row['params']:,} | {row['flops'] / 1e6:,.1f} "
                     f"| {row['growth']:.2f} |")
    titles, more = _say("map_titles", lang), _say("map_more", lang)
    for number, stem in ((8, "08_capstone_stitching_lab"), (9, "09_which_block_when")):
        lines.append(f"| {number} | [{titles[stem]}]({stem}.ipynb) | {more[stem]} | | | | |")
    return "\n".join(lines)


def chapters(lang: str | None = None) -> list[tuple[str, str]]:
    """(notebook stem, title) of every chapter, in order, titles in ``lang`` (default: the current
    language): the block chapters from the registry (a chapter of several blocks takes its own title
    from ``CHAPTER_TITLES``)."""
    lang = i18n.resolve(lang)
    others = {**CHAPTER_TITLES["en"], **CHAPTER_TITLES.get(lang, {})}
    titles: dict[str, list[str]] = {}
    for spec in BLOCKS.values():
        titles.setdefault(spec.chapter, []).append(spec.text("title", lang))
    found = {**{stem: " · ".join(t) for stem, t in titles.items()}, **others}
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
            # below the line's end: the steeper line ends at the top of the axes, where a label above is cut off
            ax.annotate(label, (hw[-1], ref[-1]), textcoords="offset points", xytext=(-6, -4), ha="right", va="top",
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
