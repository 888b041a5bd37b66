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

from . import i18n
from . import costs
from .costs import FLOPS_NOTE, count_flops, count_params
from .registry import BLOCKS, TRANSLATED, BlockSpec, label

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
        "glossary": ("term", "中文", "definition", "introduced in"),
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
        "glossary": ("术语", "英文", "释义", "首次出现"),
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
             why_zh="sigmoid 门控在每个位置、每个通道上决定各保留多少输入；要求通道在最后"),
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


@dataclass(frozen=True)
class Term:
    """One glossary entry: the term, a one-line definition, the chapter that introduces it, and the
    Chinese edition's term and definition (the course's 中英术语对照表)."""

    term: str
    definition: str
    chapter: str  # notebook stem
    aliases: tuple[str, ...] = ()  # how the chapters also write it (tests find the term in its chapter by these)
    zh: str = ""  # the standard Chinese term (the English glossary shows it in its 中文 column)
    definition_zh: str = ""  # the definition in Chinese ("" falls back to English)


GLOSSARY = (
    Term("1×1 conv", "a convolution with a 1×1 kernel: mixes the channels at each pixel, like a linear layer "
         "applied per pixel", "02_msf_selective_fusion",
         zh="1×1 卷积",
         definition_zh="卷积核为 1×1 的卷积：在每个像素上混合各通道，相当于逐像素应用的线性层"),
    Term("adaptive max pooling", "max pooling to a given output size (h, w): each output pixel is the maximum of a "
         "window of about H/h × W/w input pixels", "04_safm",
         zh="自适应最大池化",
         definition_zh="池化到给定输出尺寸 (h, w) 的最大池化：每个输出像素是约 H/h × W/w 个输入像素的窗口中的最大值"),
    Term("attention", "weights computed from the input itself that say how much each position, channel or input "
         "counts; in query–key attention, softmax(q kᵀ · scale) weighs the values", "05_osra_attention",
         zh="注意力",
         definition_zh="由输入本身算出的权重，表示每个位置、通道或输入有多重要；在查询–键注意力中，softmax(q kᵀ · scale) 对值加权"),
    Term("BatchNorm", "normalises each channel with the batch's mean and variance in training mode and with running "
         "averages in eval mode; it needs more than one value per channel to train", "02_msf_selective_fusion",
         ("BN",),
         zh="批量归一化",
         definition_zh="训练模式下用当前批量的均值和方差归一化每个通道，评估模式下改用滑动平均；训练时每个通道需要不止一个值"),
    Term("broadcast", "a size-1 axis is repeated to match the other tensor: a (B, C, 1, 1) weight scales every pixel "
         "of a (B, C, H, W) map", "00_reading_shapes",
         zh="广播",
         definition_zh="大小为 1 的轴被重复，以匹配另一个张量：(B, C, 1, 1) 的权重缩放 (B, C, H, W) 特征图的每个像素"),
    Term("channel attention", "one weight per channel, computed from pooled statistics of the whole map",
         "06_msaa_aggregation",
         zh="通道注意力",
         definition_zh="每个通道一个权重，由整张特征图的池化统计量算出"),
    Term("channels last", "the layout (B, H, W, C) (or (…, C)): nn.Linear mixes the last axis, so it mixes channels "
         "only in this layout", "00_reading_shapes", ("channels-last",),
         zh="通道在最后",
         definition_zh="布局 (B, H, W, C)（或 (…, C)）：nn.Linear 混合的是最后一个轴，所以只有在这种布局下它混合的才是通道"),
    Term("contiguous", "a tensor whose entries lie in memory in the order its shape lists them; a permuted view "
         "is not, so view raises an error on it where reshape copies", "00_reading_shapes",
         zh="内存连续",
         definition_zh="元素在内存中的顺序与其形状列出的顺序一致的张量；permute 得到的视图不满足这一点，所以 view 会对它报错，而 reshape 会复制"),
    Term("depthwise conv", "a convolution with groups = channels: each channel is filtered by its own kernel, "
         "without mixing channels", "04_safm", ("depthwise",),
         zh="深度卷积",
         definition_zh="groups = channels 的卷积：每个通道由自己的卷积核滤波，通道之间不混合"),
    Term("dilation (atrous)", "a kernel whose taps are d pixels apart: a 3×3 kernel with dilation d covers "
         "(2d + 1)² pixels with 9 weights", "03_mfe_feature_extraction", ("dilation", "atrous"),
         zh="空洞率（空洞卷积）",
         definition_zh="抽头彼此相隔 d 个像素的卷积核：空洞率为 d 的 3×3 卷积核用 9 个权重覆盖 (2d + 1)² 个像素"),
    Term("effective receptive field (ERF)", "the input pixels that actually move an output pixel, weighted by "
         "|∂ out / ∂ in|: usually far smaller than the receptive field", "03_mfe_feature_extraction", ("ERF",),
         zh="有效感受野",
         definition_zh="真正能影响一个输出像素的输入像素，按 |∂ out / ∂ in| 加权：通常远小于感受野"),
    Term("equivariance (translation)", "shift the input and the output shifts the same way; convolutions have it, "
         "an MLP over all positions does not", "07_cbam_joint_attention", ("equivariant",),
         zh="平移等变性",
         definition_zh="输入平移，输出也以同样的方式平移；卷积具有这一性质，作用于所有位置的 MLP 则没有"),
    Term("FLOPs", "floating-point operations of one forward pass; here 2 × multiply–accumulates of matrix products, "
         "convolutions and attention only, counted, not timed", "00_reading_shapes",
         zh="浮点运算量",
         definition_zh="一次前向传播的浮点运算次数；这里只计矩阵乘法、卷积和注意力，为乘加次数的 2 倍，是计数而非计时"),
    Term("fused kernel", "one GPU/CPU routine doing several steps at once (e.g. attention without storing its "
         "matrix), so intermediate tensors are never kept", "01_gated_fusion",
         zh="融合算子",
         definition_zh="一次完成多个步骤的 GPU/CPU 例程（例如不存储注意力矩阵的注意力），因此中间张量从不保留"),
    Term("GAP (global average pooling)", "the mean of each channel over all H × W pixels: (B, C, H, W) → "
         "(B, C, 1, 1)", "00_reading_shapes", ("GAP",),
         zh="全局平均池化",
         definition_zh="每个通道在全部 H × W 个像素上的均值：(B, C, H, W) → (B, C, 1, 1)"),
    Term("gate", "a sigmoid output in (0, 1) that multiplies a signal: a soft switch between keeping and "
         "dropping it", "01_gated_fusion",
         zh="门控（门控值）",
         definition_zh="乘到某个信号上的 sigmoid 输出，取值在 (0, 1) 内：在保留与丢弃该信号之间的软开关"),
    Term("GELU", "a smooth ReLU, x · Φ(x) (Φ the normal CDF): negative inputs give small negative outputs, "
         "positive ones pass almost unchanged", "04_safm",
         zh="GELU",
         definition_zh="平滑版的 ReLU，x · Φ(x)（Φ 为标准正态分布的累积分布函数）：负输入给出很小的负输出，正输入几乎原样通过"),
    Term("gridding", "the holes of a large dilation: a dilation-8 3×3 kernel reads 9 pixels 8 apart and skips "
         "those between", "03_mfe_feature_extraction",
         zh="网格效应",
         definition_zh="大空洞率留下的空洞：空洞率为 8 的 3×3 卷积核读取彼此相隔 8 个像素的 9 个像素，跳过其间的像素"),
    Term("head", "attention splits C channels into h groups of d = C / h; each head computes its own attention "
         "over its d features", "00_reading_shapes", ("heads",),
         zh="头（注意力头）",
         definition_zh="注意力把 C 个通道分成 h 组，每组 d = C / h 个；每个头在自己的 d 个特征上计算各自的注意力"),
    Term("LayerNorm", "normalises each position's features with their own mean and variance (no batch "
         "statistics)", "04_safm",
         zh="层归一化",
         definition_zh="用每个位置自身特征的均值和方差做归一化（不用批量统计量）"),
    Term("logits", "scores before a sigmoid or softmax turns them into weights", "02_msf_selective_fusion",
         ("logit",),
         zh="logits（未归一化得分）",
         definition_zh="sigmoid 或 softmax 把它们变成权重之前的分数"),
    Term("meta device", "torch's device of tensors with a shape and no data: runs a block for its shapes and "
         "FLOPs at any size, free", "00_reading_shapes", ("meta",),
         zh="meta 设备",
         definition_zh="torch 中只有形状、没有数据的张量所在的设备：可以在任意尺寸下运行模块，得到形状和 FLOPs，不耗任何资源"),
    Term("MLP", "a small multi-layer perceptron: linear (or 1×1 conv) → ReLU → linear", "06_msaa_aggregation",
         zh="多层感知机",
         definition_zh="小型多层感知机：线性层（或 1×1 卷积）→ ReLU → 线性层"),
    Term("modulation", "multiplying a map by an input-dependent map of gains (not limited to (0, 1)): "
         "y = m(x) ⊙ x", "04_safm", ("modulates",),
         zh="调制",
         definition_zh="把特征图乘以一张依赖输入的增益图（不限于 (0, 1)）：y = m(x) ⊙ x"),
    Term("multiply–accumulate (MAC)", "one multiplication and one addition; FLOPs = 2 × MACs (papers often "
         "quote MACs as FLOPs)", "00_reading_shapes", ("multiply–accumulates",),
         zh="乘加运算",
         definition_zh="一次乘法加一次加法；FLOPs = 2 × MACs（论文常把 MACs 当作 FLOPs 报告）"),
    Term("NCHW", "PyTorch's usual image layout (B, C, H, W): batch, channels, height, width",
         "00_reading_shapes", ("(B, C, H, W)",),
         zh="NCHW 布局",
         definition_zh="PyTorch 常用的图像布局 (B, C, H, W)：批量、通道、高、宽"),
    Term("nearest up-sampling", "enlarges a map by copying each pixel into a block (2^i × 2^i back to H × W)",
         "04_safm",
         zh="最近邻上采样",
         definition_zh="把每个像素复制成一个块来放大特征图（2^i × 2^i，恢复到 H × W）"),
    Term("permute", "reorders a tensor's axes without copying a number: x.permute(0, 2, 3, 1) turns (B, C, H, W) "
         "into (B, H, W, C); reshape instead re-cuts the numbers in memory order", "00_reading_shapes",
         zh="维度重排",
         definition_zh=("重排张量的轴，不复制任何数：x.permute(0, 2, 3, 1) 把 (B, C, H, W) 变成 (B, H, W, C)；"
                        "reshape 则按内存顺序重新切分这些数")),
    Term("PVT", "Pyramid Vision Transformer (Wang et al. 2021): introduced spatial-reduction attention with "
         "side-by-side (non-overlapping) patches", "05_osra_attention",
         zh="金字塔视觉 Transformer",
         definition_zh="Pyramid Vision Transformer（Wang et al. 2021）：提出了空间缩减注意力，使用并排（不重叠）的图块"),
    Term("query, key, value", "in attention each position asks with a query, is matched by keys, and hands over "
         "its value; weights softmax(q kᵀ) mix the values", "05_osra_attention", ("query", "key", "value"),
         zh="查询、键、值",
         definition_zh="在注意力中，每个位置用查询发问，由键来匹配，并交出自己的值；权重 softmax(q kᵀ) 对这些值做混合"),
    Term("receptive field", "the input pixels one output pixel depends on", "03_mfe_feature_extraction",
         zh="感受野",
         definition_zh="一个输出像素所依赖的输入像素"),
    Term("registry", "fusionlab.BLOCKS, the course's one list of blocks with their inputs, sizes, hyperparameters "
         "and facts; every chapter, test, widget and table reads it", "00_reading_shapes",
         zh="注册表",
         definition_zh="fusionlab.BLOCKS，课程中唯一的模块清单，记录每个模块的输入、尺寸、超参数和相关事实；每一章、每个测试、交互控件和表格都读取它"),
    Term("relative position bias", "a learned term added to the attention logits that depends on where a key lies "
         "relative to a query", "05_osra_attention", ("relative position",),
         zh="相对位置偏置",
         definition_zh="加到注意力 logits 上的可学习项，取决于键相对于查询的位置"),
    Term("ReLU", "max(0, x)", "02_msf_selective_fusion",
         zh="ReLU",
         definition_zh="max(0, x)"),
    Term("residual (skip) connection", "x + f(x): the block adds its input back; needs f(x) of x's shape",
         "00_reading_shapes", ("residual", "skip connection"),
         zh="残差连接（跳跃连接）",
         definition_zh="x + f(x)：模块把输入加回来；要求 f(x) 与 x 形状相同"),
    Term("SE (squeeze-and-excitation)", "SENet's channel attention: GAP ('squeeze'), a small layer and a "
         "sigmoid ('excitation') give one weight per channel; the post names its 1×1 squeezes SE",
         "02_msf_selective_fusion", ("SE",),
         zh="挤压-激励",
         definition_zh="SENet 的通道注意力：GAP（“挤压”）、一个小型层和 sigmoid（“激励”）给出每个通道一个权重；原文把它的 1×1 压缩层称为 SE"),
    Term("sigmoid", "σ(a) = 1 / (1 + e^(−a)): squashes any number into (0, 1)", "01_gated_fusion", ("σ",),
         zh="sigmoid",
         definition_zh="σ(a) = 1 / (1 + e^(−a))：把任意数压缩到 (0, 1) 内"),
    Term("softmax", "exponentiates scores and divides by their sum: positive weights that sum to 1 over an axis",
         "02_msf_selective_fusion",
         zh="softmax",
         definition_zh="对分数取指数再除以它们的和：沿一个轴得到和为 1 的正权重"),
    Term("spatial attention", "one weight per position (B, 1, H, W), shared by every channel", "06_msaa_aggregation",
         zh="空间注意力",
         definition_zh="每个位置一个权重 (B, 1, H, W)，所有通道共用"),
    Term("spatial-reduction attention", "attention whose keys and values come from a map shrunk by a strided conv: "
         "H·W × H′·W′ pairs instead of (H·W)²", "05_osra_attention", ("spatial reduction", "spatial-reduction"),
         zh="空间缩减注意力",
         definition_zh="键和值来自经步幅卷积缩小的特征图的注意力：H·W × H′·W′ 个像素对，而不是 (H·W)²"),
    Term("state_dict", "a module's named weights and buffers; equal keys let one model load another's weights",
         "01_gated_fusion",
         zh="状态字典",
         definition_zh="模块带名字的权重和缓冲区；键相同，一个模型就能加载另一个模型的权重"),
    Term("stride", "how far a conv or pooling window moves per output pixel: stride r shrinks each side r times",
         "00_reading_shapes",
         zh="步幅",
         definition_zh="卷积或池化窗口每产生一个输出像素移动的距离：步幅 r 使每边缩小 r 倍"),
    Term("token", "one item an attention layer compares with the others; in a vision block one pixel (or patch) "
         "with its C features, N = H·W of them", "00_reading_shapes", ("tokens",),
         zh="词元",
         definition_zh="注意力层中与其他项相互比较的一项；在视觉模块中是一个像素（或图块）及其 C 个特征，共 N = H·W 个"),
    Term("token mixer", "the layer through which positions (tokens) exchange information: attention, a large "
         "conv, pooling", "05_osra_attention",
         zh="词元混合器",
         definition_zh="让各位置（词元）交换信息的层：注意力、大卷积核的卷积、池化"),
    Term("view", "a tensor that shares another's memory and reads it in another shape or order (permute, "
         "transpose, view); x.view(...) needs a contiguous tensor", "00_reading_shapes",
         zh="视图",
         definition_zh="与另一个张量共享内存、以另一种形状或顺序读取它的张量（permute、transpose、view）；x.view(...) 需要内存连续的张量"),
    Term("增删改查 (add, remove, modify, look up)", "the post's method for adapting blocks: 增 add attention or skips, "
         "删 remove parts, 改 modify convs and pooling, 查 look up how papers connect a block",
         "00_reading_shapes", ("增删改查",),
         zh="增删改查",
         definition_zh="原文改造模块的方法：增，加入注意力或跳跃连接；删，去掉部分结构；改，修改卷积和池化；查，查阅论文如何连接一个模块"),
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
