"""The course's glossary, 中英术语对照表: every term the chapters use, in English and Chinese.

One table for both editions (chapter 09 shows it; :func:`glossary_markdown` follows
:mod:`fusionlab.i18n`). :mod:`fusionlab.guide` re-exports every name.

>>> all(t.zh for t in GLOSSARY)
True
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from . import i18n

__all__ = ["GLOSSARY", "Term", "glossary_markdown"]

# the table's column titles, per language
TEXT = {
    "en": {"glossary": ("term", "中文", "definition", "introduced in")},
    "zh": {"glossary": ("术语", "英文", "释义", "讲解章节")},
}


def _say(key: str, lang: str | None = None):
    return i18n.say(TEXT, key, lang)


def _local(obj, name: str, lang: str | None) -> str:
    """``obj.<name>_zh`` in Chinese where it is filled in, else ``obj.<name>``."""
    if i18n.resolve(lang) == "zh":
        return getattr(obj, f"{name}_zh", "") or getattr(obj, name)
    return getattr(obj, name)


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
         definition_zh="采样点彼此相隔 d 个像素的卷积核：空洞率为 d 的 3×3 卷积核用 9 个权重覆盖 (2d + 1)² 个像素"),
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
         definition_zh="修正线性单元：max(0, x)"),
    Term("residual (skip) connection", "x + f(x): the block adds its input back; needs f(x) of x's shape",
         "00_reading_shapes", ("residual", "skip connection"),
         zh="残差连接（跳跃连接）",
         definition_zh="x + f(x)：模块把输入加回来；要求 f(x) 与 x 形状相同"),
    Term("SE (squeeze-and-excitation)", "SENet's channel attention: GAP ('squeeze'), a small layer and a "
         "sigmoid ('excitation') give one weight per channel; the post names its 1×1 squeezes SE",
         "02_msf_selective_fusion", ("SE",),
         zh="挤压-激励",
         definition_zh="SENet 的通道注意力：GAP（“挤压”）、一个小型层和 sigmoid（“激励”）给出每个通道一个权重；原文把它那些 1×1 的挤压卷积称为 SE"),
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


def glossary_markdown(terms: Sequence[Term] = GLOSSARY, link: bool = True, lang: str | None = None) -> str:
    """The glossary as a Markdown table in ``lang`` (default: the current language).

    English: term, definition, chapter, and a 中文 column once any entry has a Chinese term besides the
    Chinese-named ones. Chinese (the 中英术语对照表): the Chinese term, the English term, the Chinese
    definition, the chapter; an entry without Chinese shows its English words.
    """
    lang = i18n.resolve(lang)
    if lang == "zh":
        header = list(_say("glossary", lang))
    else:
        zh = any(t.zh and t.zh not in t.term for t in terms)
        title, chinese, definition, where = _say("glossary", lang)
        header = [title] + ([chinese] if zh else []) + [definition, where]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for t in terms:
        where = f"[{t.chapter[:2]}]({t.chapter}.ipynb)" if link else t.chapter[:2]
        if lang == "zh":
            cells = [f"**{t.zh or t.term}**", t.term, _local(t, "definition", lang), where]
        else:
            cells = [f"**{t.term}**"] + ([t.zh] if zh else []) + [t.definition, where]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
