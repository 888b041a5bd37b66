"""The block registry: one entry per block of the post, the single list that notebooks,
widget panels, tests and the benchmark iterate over.

An entry says how to build the block (class, default hyperparameters, the constructor
arguments that follow from the input sizes), how to make its inputs (their names, the
names of their dimensions, default sizes), the shapes of its outputs, and where it comes from
(the post's section and class, the paper, the chapter). CONTRIBUTING.md lists every field.

>>> from fusionlab import BLOCKS
>>> spec = BLOCKS["gated_fusion"]
>>> spec.shapes()
((1, 224, 224, 64), (1, 224, 224, 64))
>>> block = spec.build(sizes={"C": 8})
>>> out = block(*spec.example_inputs(sizes={"B": 2, "H": 4, "W": 4, "C": 8}))
>>> spec.output_shapes({"B": 2, "H": 4, "W": 4, "C": 8}) == (tuple(out.shape),)
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from . import i18n
from .blocks.cbam import CBAM, CBAMBlock
from .blocks.gated import GatedFusion
from .blocks.mfe import MFEBlock
from .blocks.msaa import MSAA
from .blocks.msf import MSFBlock
from .blocks.osra import OSRAttention
from .blocks.safm import SAFM

__all__ = ["BlockSpec", "BLOCKS", "LABELS", "MapProbe", "SCOPES", "TRANSLATED", "WEIGHS", "label", "register"]

# what a block's input-dependent weights vary over: a weight per channel, per position, per scale
# (or receptive field), per input source ("modality": two branches or sensors of one scene)
WEIGHS = ("channel", "space", "scale", "modality")
# how far the block looks from one position: that position only, a window (convs, pooling), the whole
# map (GAP, attention, an MLP over all positions); "local + global" where one part looks at a window and
# another at the whole map (e.g. a k×k conv path beside weights from global pooling)
SCOPES = ("pointwise", "local", "global", "local + global")

# the words of WEIGHS and SCOPES as a table or a widget shows them, per language (fusionlab.i18n)
LABELS = {
    "en": {word: word for word in WEIGHS + SCOPES},
    "zh": {"channel": "通道", "space": "空间", "scale": "尺度", "modality": "模态",
           "pointwise": "逐点", "local": "局部", "global": "全局", "local + global": "局部 + 全局"},
}

# the prose fields of a BlockSpec that its ``zh`` mapping may translate (BlockSpec.text)
TRANSLATED = ("title", "fuses", "limits", "placement", "paper")


def label(word: str, lang: str | None = None) -> str:
    """A word of :data:`WEIGHS` or :data:`SCOPES` in ``lang`` (default: the current language);
    a word the table does not know is returned as it is.

    >>> label("local + global"), label("space", "zh")
    ('local + global', '空间')
    """
    return LABELS.get(i18n.resolve(lang), {}).get(word) or word


@dataclass(frozen=True)
class MapProbe:
    """Where a block's gate or attention map is read: a forward hook on ``module`` (a path inside
    the block, "" for the block itself) and a function of the hook's (module, inputs, output)."""

    label: str  # what the map is (English; the figures show it)
    module: str
    read: Callable  # (module, args, output) -> (B, H, W) spatial map, or (B, S) weights per scale
    kind: str = "spatial"  # "spatial" or "scales"
    bounds: tuple[float, float] | None = None  # (lo, hi): the values lie strictly between (sigmoid, softmax)
    label_zh: str = ""  # the Chinese edition's label ("": the English one)

    def text(self, lang: str | None = None) -> str:
        """The label in ``lang`` (default: the current language, ``fusionlab.i18n.current()``); English
        where the probe has no Chinese label.

        >>> probe = BLOCKS["msf"].map_probe
        >>> probe.text("en"), probe.text("zh")
        ('weight of each input scale, mean over channels', '每个输入尺度的权重，对通道取均值')
        """
        return self.label_zh if i18n.resolve(lang) == "zh" and self.label_zh else self.label


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
    # output name -> its dimension names, in forward's return order; a name is a dimension of the
    # inputs or a constructor argument (e.g. "B out_channels H W"); None: one output shaped like the first input
    outputs: Mapping[str, str] | None = None
    hparams: Mapping[str, Any] = field(default_factory=dict)  # default hyperparameters
    choices: Mapping[str, Sequence] = field(default_factory=dict)  # values widgets/tests may pick, per dim or hparam
    tie: Callable[[Mapping[str, int]], dict] = lambda sizes: {}  # constructor args that follow from the sizes
    # one realistic size for the benchmark beside the post's demo size; None: the demo is realistic already
    realistic: Mapping[str, int] | None = None
    # hyperparameters the capstone lab sets, as a function of its slot's channel count C
    lab_hparams: Callable[[int], dict] = lambda channels: {}
    # the gate or attention map the lab and chapters draw; None where it stays inside a fused kernel
    map_probe: MapProbe | None = None
    # False for the course's own additions beside the post's blocks (plain CBAM); the post's sections
    # without code (section 6) are in the post, with post_class None
    in_post: bool = True
    # choices narrower than ``choices`` under which the post's own class runs (its code assumes them)
    post_choices: Mapping[str, Sequence] = field(default_factory=dict)
    # chapter 09's comparison ("which block when"); the completeness test requires all four
    weighs: tuple[str, ...] = ()  # what its input-dependent weights vary over: a subset of WEIGHS
    scope: str = ""  # how far one weight looks, one of SCOPES
    limits: str = ""  # size and shape limits, one phrase ("" none known)
    placement: str = ""  # where its paper puts it in a network (chapter 00's 查 table)
    # the Chinese edition's words for the prose fields (TRANSLATED: title, fuses, limits, placement, paper);
    # a field left out falls back to English. Read them through text(), which follows fusionlab.i18n
    zh: Mapping[str, str] = field(default_factory=dict)

    def text(self, name: str, lang: str | None = None) -> str:
        """The prose field ``name`` (one of :data:`TRANSLATED`) in ``lang`` (default: the current language,
        ``fusionlab.i18n.current()``); English where the entry has no translation.

        >>> spec = BLOCKS["safm"]
        >>> spec.text("title"), spec.text("title", "zh")
        ('Spatially-adaptive feature modulation (SAFM)', '空间自适应特征调制（SAFM）')
        """
        if name not in TRANSLATED:
            raise ValueError(f"{self.name}: text() reads one of {', '.join(TRANSLATED)}, got {name!r}.")
        lang = i18n.resolve(lang)
        translations = {"zh": self.zh}.get(lang, {})
        return translations.get(name) or getattr(self, name)

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

    def output_shapes(self, sizes: Mapping[str, int] | None = None, **hparams) -> tuple[tuple[int, ...], ...]:
        """One shape tuple per output of ``forward`` (see ``outputs``), for these sizes and hyperparameters."""
        s = self.resolve(sizes)
        values = {**self.config(s, **hparams), **s}
        outputs = self.outputs or {"out": next(iter(self.inputs.values()))}
        return tuple(tuple(values[d] for d in names.split()) for names in outputs.values())

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
    unknown = set(spec.zh) - set(TRANSLATED)
    if unknown:
        raise ValueError(f"{spec.name}: zh translates {sorted(unknown)}; it may translate {', '.join(TRANSLATED)}.")
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
        outputs={"y": "B H W C"},
        hparams={"variant": "blog"},
        choices={"B": range(1, 9), "H": range(1, 257), "W": range(1, 257), "C": range(1, 257),
                 "variant": ("blog", "paper")},
        tie=lambda s: {"dim": s["C"]},
        # GMAN's traffic setting, (B, T, N, C): batch 16, 12 time steps of PeMS-Bay's 325 sensors, D = 64
        realistic={"B": 16, "H": 12, "W": 325, "C": 64},
        map_probe=MapProbe("gate z, mean over channels (1: the full-resolution view x1, 0: the pooled view x2)",
                           "", lambda m, args, out: m.gate(*args).mean(-1), bounds=(0, 1),  # (B, H, W, C) -> (B, H, W)
                           label_zh="门控 z，对通道取均值；1 取全分辨率视图 x1，0 取池化后的视图 x2"),
        weighs=("modality", "channel", "space"),
        scope="pointwise",
        limits=("channels last (…, C): permute an NCHW map first; no size limit (variant='paper', batch_norm=True "
                "trains on ≥ 2 positions: BatchNorm)"),
        placement=("GMAN: blends its spatial- and temporal-attention outputs, (B, T, N, C) each, in every block; "
                   "a two-layer projection follows and a residual goes around the block"),
        zh={
            "title": "门控融合",
            "fuses": "两个输入，逐元素融合",
            "limits": ("通道在最后 (…, C)：NCHW 特征图需先 permute；无尺寸限制（variant='paper' 且 batch_norm=True 时，"
                       "训练需要 ≥ 2 个位置：BatchNorm）"),
            "placement": ("GMAN：在每个块中融合其空间注意力与时间注意力的输出（各为 (B, T, N, C)）；"
                          "其后接一个两层投影，并有一条残差绕过整个块"),
        },
    )
)

_IMAGE = {"B": range(1, 9), "H": range(1, 257), "W": range(1, 257)}  # batch and map sizes any block accepts

register(
    BlockSpec(
        name="msf",
        cls=MSFBlock,
        title="Multi-scale selective fusion (MSF)",
        section=2,
        heading="多尺度选择性融合",
        paper="SHISRCNet (MICCAI 2023, arXiv 2306.14119)",
        chapter="02_msf_selective_fusion",
        post_class="MSFblock",
        fuses="four same-shaped maps, with a softmax weight per scale and channel",
        inputs={"x0": "B C H W", "x1": "B C H W", "x2": "B C H W", "x3": "B C H W"},
        sizes={"B": 4, "C": 3, "H": 2, "W": 2},
        outputs={"y": "B C H W"},
        hparams={"variant": "blog"},
        choices={**_IMAGE, "C": range(1, 257), "variant": ("blog", "paper")},
        tie=lambda s: {"in_channels": s["C"]},
        # the post's 4×3×2×2 demo is a toy; four 64-channel maps at 96×96, a mid-level decoder scale
        realistic={"B": 1, "C": 64, "H": 96, "W": 96},
        map_probe=MapProbe("weight of each input scale, mean over channels", "",  # (B, 4, C) -> (B, 4)
                           lambda m, args, out: m.weights(*args).mean(-1), kind="scales", bounds=(0, 1),
                           label_zh="每个输入尺度的权重，对通道取均值"),
        weighs=("scale", "channel"),
        scope="global",
        limits="four inputs of one shape; training needs B·H·W ≥ 2 (BatchNorm), and B ≥ 2 for variant='paper'",
        placement="SHISRCNet has no MSF: it is the fusion tail of MFE, which the post cut out and gave four inputs",
        zh={
            "title": "多尺度选择性融合（MSF）",
            "fuses": "四个形状相同的特征图，每个尺度、每个通道一个 softmax 权重",
            "limits": "四个形状相同的输入；训练需要 B·H·W ≥ 2（BatchNorm），variant='paper' 还需要 B ≥ 2",
            "placement": "SHISRCNet 中并没有 MSF：它是 MFE 的融合尾部，原文把它单独截出，改成了四个输入",
        },
    )
)

register(
    BlockSpec(
        name="mfe",
        cls=MFEBlock,
        title="Multi-scale feature extraction (MFE)",
        section=3,
        heading="多尺度空间特征提取",
        paper="SHISRCNet (MICCAI 2023, arXiv 2306.14119)",
        chapter="03_mfe_feature_extraction",
        post_class="MFEblock",
        fuses="four receptive fields of one map (chained dilated convs), weighted per scale and channel",
        inputs={"x": "B C H W"},
        sizes={"B": 1, "C": 64, "H": 192, "W": 192},
        outputs={"y": "B C H W"},
        hparams={"atrous_rates": (2, 4, 8), "variant": "blog"},
        choices={**_IMAGE, "C": range(1, 257), "atrous_rates": ((2, 4, 8), (1, 2, 3), (1, 2, 4), (6, 12, 18)),
                 "variant": ("blog", "paper")},
        tie=lambda s: {"in_channels": s["C"]},
        # realistic: the post's demo, (1, 64, 192, 192), is already a realistic feature map
        map_probe=MapProbe("weight of each extracted scale, mean over channels", "",
                           lambda m, args, out: m.weights(*args).mean(-1), kind="scales", bounds=(0, 1),
                           label_zh="每个提取尺度的权重，对通道取均值"),
        weighs=("scale", "channel"),
        scope="local + global",
        limits="none on H×W (padding = dilation keeps it); training needs B·H·W ≥ 2, and B ≥ 2 for variant='paper'",
        placement="SHISRCNet's super-resolution network, on a map that keeps its resolution",
        zh={
            "title": "多尺度特征提取（MFE）",
            "fuses": "一个特征图的四种感受野（串联的空洞卷积），按尺度和通道加权",
            "limits": "H×W 不受限（padding = dilation 保持尺寸）；训练需要 B·H·W ≥ 2，variant='paper' 还需要 B ≥ 2",
            "placement": "SHISRCNet 的超分辨率网络中，作用在保持分辨率的特征图上",
        },
    )
)

register(
    BlockSpec(
        name="safm",
        cls=SAFM,
        title="Spatially-adaptive feature modulation (SAFM)",
        section=4,
        heading="多尺度空间特征提取",
        paper="SAFMN (Sun et al., ICCV 2023, arXiv 2302.13800)",
        chapter="04_safm",
        post_class="SAFM",
        fuses="channel groups pooled to different scales, as one modulation map",
        inputs={"x": "B C H W"},
        sizes={"B": 1, "C": 36, "H": 224, "W": 224},
        outputs={"y": "B C H W"},
        # the post's forward evaluates print(xc[3].shape): its class needs four levels
        post_choices={"n_levels": (4,)},
        hparams={"n_levels": 4},
        # C a multiple of 12 splits into any of the level counts; 8×8 is the smallest map for 4 levels
        choices={**_IMAGE, "C": range(12, 257, 12), "H": range(8, 257), "W": range(8, 257), "n_levels": (1, 2, 3, 4)},
        tie=lambda s: {"dim": s["C"]},
        # realistic: the post's demo, (1, 36, 224, 224), is SAFMN's width at an image-sized map
        map_probe=MapProbe("modulation map GELU(aggr(·)), mean over channels", "act",
                           lambda m, args, out: out.mean(1),  # read before forward's in-place product
                           label_zh="调制图 GELU(aggr(·))，对通道取均值"),
        weighs=("channel", "space"),
        scope="local",
        limits="C divisible by n_levels; H, W ≥ 2^(n_levels−1) (8 for 4 levels)",
        placement="SAFMN: x + SAFM(LayerNorm(x)) in every layer, followed by a convolutional feed-forward (CCM)",
        zh={
            "title": "空间自适应特征调制（SAFM）",
            "fuses": "通道分组后各自池化到不同尺度，合成一张调制图",
            "limits": "C 能被 n_levels 整除；H、W ≥ 2^(n_levels−1)（4 级时为 8）",
            "placement": "SAFMN：每一层都是 x + SAFM(LayerNorm(x))，其后接一个卷积前馈网络（CCM）",
        },
    )
)

register(
    BlockSpec(
        name="osra",
        cls=OSRAttention,
        title="Overlapping spatial-reduction attention (OSRA)",
        section=5,
        heading="重叠空间缩减注意力",
        paper="TransXNet (Lou et al., arXiv 2310.19380, IEEE TNNLS)",
        chapter="05_osra_attention",
        post_class="OSRAttention",
        fuses="every pixel with a reduced, overlapping grid of keys and values (attention over space)",
        inputs={"x": "B C H W"},
        sizes={"B": 1, "C": 64, "H": 7, "W": 7},
        outputs={"y": "B C H W"},
        hparams={"num_heads": 8, "qk_scale": None, "attn_drop": 0.0, "sr_ratio": 2, "variant": "blog"},
        # C a multiple of 8 splits into any of the head counts
        choices={**_IMAGE, "C": range(8, 257, 8), "num_heads": (1, 2, 4, 8), "qk_scale": (None, 0.125, 0.25, 0.5, 1.0),
                 "attn_drop": (0.0, 0.1, 0.2, 0.5), "sr_ratio": (1, 2, 4, 8), "variant": ("blog", "paper")},
        tie=lambda s: {"dim": s["C"]},
        # a stage-1 map of an ImageNet backbone at 224² (56×56), the post's 64 channels and sr_ratio=2;
        # no map_probe: the attention probabilities stay inside the fused kernel (chapter 05 draws them)
        realistic={"B": 1, "C": 64, "H": 56, "W": 56},
        weighs=("space",),
        scope="global",
        limits=("C divisible by num_heads; H·W × H′·W′ attention entries per head (≈ (H·W)²/r²); training needs "
                "B·H′·W′ ≥ 2 (BatchNorm)"),
        placement=("TransXNet: the global (attention) branch of its token mixer beside an input-dependent "
                   "depthwise conv, with a relative position bias; r = 8, 4, 2, 1 from stage 1 to 4"),
        zh={
            "title": "重叠空间缩减注意力（OSRA）",
            "fuses": "每个像素与一个缩减的、相互重叠的键和值网格做注意力（空间上的注意力）",
            "limits": ("C 能被 num_heads 整除；每个头有 H·W × H′·W′ 个注意力项（≈ (H·W)²/r²）；"
                       "训练需要 B·H′·W′ ≥ 2（BatchNorm）"),
            "placement": ("TransXNet：其词元混合器（token mixer）的全局（注意力）分支，旁边是一个依赖输入的深度卷积，"
                          "并带相对位置偏置；从第 1 到第 4 阶段 r = 8, 4, 2, 1"),
        },
    )
)

register(
    BlockSpec(
        name="msaa",
        cls=MSAA,
        title="Multi-scale attention aggregation (MSAA)",
        section=6,
        heading="多尺度注意力聚合",
        paper="CM-UNet (arXiv 2405.10530), the module published under this heading; the post has no code",
        chapter="06_msaa_aggregation",
        post_class=None,
        fuses="three encoder scales resized to one H×W, with channel and multi-kernel spatial attention",
        inputs={"x1": "B C1 H W", "x2": "B C2 H W", "x4": "B C4 H W"},
        sizes={"B": 1, "C1": 32, "C2": 64, "C4": 128, "H": 64, "W": 64},
        outputs={"y": "B out_channels H W"},
        hparams={"out_channels": 64, "factor": 4.0},
        # out_channels ≥ 16 keeps the channel attention's hidden width ≥ 1 for every factor here
        choices={**_IMAGE, "C1": range(1, 257), "C2": range(1, 257), "C4": range(1, 257),
                 "out_channels": range(16, 257), "factor": (1.0, 2.0, 4.0)},
        tie=lambda s: {"in_channels": s["C1"] + s["C2"] + s["C4"]},
        # realistic: the default (three scales at 64×64) is CM-UNet-like already
        lab_hparams=lambda channels: {"out_channels": channels},  # C in, C out, like every other block
        map_probe=MapProbe("spatial attention SA(s)", "fusion_conv.spatial_attention",
                           lambda m, args, out: out[:, 0], bounds=(0, 1), label_zh="空间注意力 SA(s)"),
        weighs=("channel", "space"),
        scope="local + global",
        limits="three inputs at one H×W (the caller resizes them); out_channels ≥ 16 at factor 4",
        placement="CM-UNet: three encoder scales resized to one H×W (bilinear, then 1×1 convs) before the block",
        zh={
            "title": "多尺度注意力聚合（MSAA）",
            "paper": "CM-UNet (arXiv 2405.10530)，以这一标题发表的模块；原文没有代码",
            "fuses": "三个缩放到同一 H×W 的编码器尺度，配合通道注意力和多卷积核的空间注意力",
            "limits": "三个输入须为同一 H×W（由调用方缩放）；factor 为 4 时 out_channels ≥ 16",
            "placement": "CM-UNet：三个编码器尺度先缩放到同一 H×W（双线性插值，再接 1×1 卷积），然后进入该模块",
        },
    )
)

register(
    BlockSpec(
        name="cbam_joint",
        cls=CBAMBlock,
        title="Joint channel-and-spatial attention (the post's CBAMBlock)",
        section=7,
        heading="融合通道表示的空间注意力",
        paper="a CBAM variant without a paper of its own (CBAM: Woo et al., ECCV 2018, arXiv 1807.06521)",
        chapter="07_cbam_joint_attention",
        post_class="CBAMBlock",
        fuses="channel and spatial attention logits, through one joint MLP",
        inputs={"x": "B C H W"},
        sizes={"B": 1, "C": 64, "H": 7, "W": 7},
        outputs={"x_channel": "B C H W", "x_spatial": "B C H W"},  # (x · M_c, x · M_s)
        hparams={"reduction": 8, "kernel_size": 7},
        # C ≥ 16 keeps C // reduction ≥ 1; H×W is capped because the joint MLP has (C + H·W)·C/r·2 weights
        choices={**_IMAGE, "H": range(1, 65), "W": range(1, 65), "C": range(16, 257),
                 "reduction": (1, 2, 4, 8, 16), "kernel_size": tuple(range(1, 50, 2))},
        tie=lambda s: {"channel": s["C"], "HW": s["H"] * s["W"]},
        # 256 channels at 14×14 (a late backbone stage); the joint MLP grows with H·W, so the post keeps maps small
        realistic={"B": 1, "C": 256, "H": 14, "W": 14},
        map_probe=MapProbe("spatial weights M_s", "", lambda m, args, out: m.weights(*args)[1][:, 0], bounds=(0, 1),
                           label_zh="空间权重 M_s"),
        weighs=("channel", "space"),
        scope="global",
        limits=("built for one H×W (its MLP takes C + H·W inputs, so its parameters grow with H·W); odd "
                "kernel_size; C ≥ reduction"),
        placement="no paper: a variant from the External-Attention-pytorch collection; it returns two maps, uncombined",
        zh={
            "title": "通道与空间联合注意力（原文的 CBAMBlock）",
            "paper": "一个没有独立论文的 CBAM 变体（CBAM: Woo et al., ECCV 2018, arXiv 1807.06521）",
            "fuses": "通道注意力和空间注意力的 logits，经过同一个联合 MLP",
            "limits": ("只为一种 H×W 构建（其 MLP 有 C + H·W 个输入，参数量随 H·W 增长）；"
                       "kernel_size 为奇数；C ≥ reduction"),
            "placement": "没有论文：来自 External-Attention-pytorch 代码集的一个变体；它返回两张特征图，不做合并",
        },
    )
)

register(
    BlockSpec(
        name="cbam",
        cls=CBAM,
        title="CBAM: channel, then spatial attention",
        section=7,
        heading="融合通道表示的空间注意力",
        paper="CBAM (Woo et al., ECCV 2018, arXiv 1807.06521)",
        chapter="07_cbam_joint_attention",
        post_class=None,
        fuses="channel attention, then spatial attention on the refined map, in sequence",
        inputs={"x": "B C H W"},
        sizes={"B": 1, "C": 64, "H": 56, "W": 56},
        outputs={"y": "B C H W"},
        in_post=False,  # the paper's CBAM, the course's reference beside the post's variant
        hparams={"reduction": 16, "kernel_size": 7},
        choices={**_IMAGE, "C": range(16, 257), "reduction": (1, 2, 4, 8, 16), "kernel_size": (1, 3, 5, 7, 9)},
        tie=lambda s: {"channels": s["C"]},
        # CBAM in a ResNet-50 bottleneck of stage 1: 256 channels at 56×56
        realistic={"B": 1, "C": 256, "H": 56, "W": 56},
        map_probe=MapProbe("spatial weights M_s (on the channel-refined map)", "spatial_bn",
                           lambda m, args, out: torch.sigmoid(out)[:, 0], bounds=(0, 1),
                           label_zh="经通道细化后特征图上的空间权重 M_s"),
        weighs=("channel", "space"),
        scope="local + global",
        limits="odd kernel_size; C ≥ reduction; training needs B·H·W ≥ 2 (BatchNorm)",
        placement="CBAM: on the residual branch of each ResNet block, before the addition",
        zh={
            "title": "CBAM：先通道注意力，再空间注意力",
            "fuses": "先做通道注意力，再在细化后的特征图上做空间注意力，依次进行",
            "limits": "kernel_size 为奇数；C ≥ reduction；训练需要 B·H·W ≥ 2（BatchNorm）",
            "placement": "CBAM：放在每个 ResNet 块的残差分支上，在相加之前",
        },
    )
)
