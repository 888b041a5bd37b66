"""Figures of chapter 05 (OSRA): the overlapping key grid, one query's attention, the matrix's size.

The geometry comes from the block's own reduction conv (``sr.0``: kernel r + 3, stride r, padding
⌊(r + 3)/2⌋) and the attention from :meth:`fusionlab.OSRAttention.attention`. Each plotting function
returns a closed matplotlib ``Figure`` (see :mod:`fusionlab.plots`).

An untrained block's attention says nothing about the picture. :func:`colour_similarity_block` sets
the weights of a small block by hand so that its attention follows colour similarity (a pixel looks
at the key windows whose colours are close to its own), which gives one query's map a meaning that
can be checked by eye.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from .. import i18n
from ..blocks.osra import DEFAULT_MAX_ATTN_BYTES, OSRAttention
from . import _pyplot, to_numpy_image

__all__ = ["key_windows", "window_coverage", "colour_features", "colour_similarity_block", "plot_reduction_grid", "play",
           "plot_query_attention", "attention_bytes", "plot_attention_memory", "PLAY_TEXT"]


def _reduction(block: OSRAttention) -> tuple[int, int, int]:
    """(kernel, stride, padding) of the key/value reduction; (1, 1, 0) when sr_ratio = 1 (no reduction)."""
    if block.sr_ratio == 1:
        return 1, 1, 0
    conv = block.sr[0]
    return conv.kernel_size[0], conv.stride[0], conv.padding[0]


def key_windows(block: OSRAttention, height: int, width: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The input span of each key's reduction window: ``(rows, cols)``, each a list of [start, stop).

    Key (a, b) of the H'×W' grid reads input rows ``rows[a]`` and columns ``cols[b]``; spans may
    start below 0 or end past the map (zero padding). Neighbouring spans overlap by kernel − stride
    = 3 pixels: that is the *overlapping* in OSRA. (The 3×3 ``local_conv`` on the key grid then
    mixes each key with its neighbours, which widens the window further.)
    """
    kernel, stride, padding = _reduction(block)
    h2, w2 = block.reduced_size(height, width)
    rows = [(a * stride - padding, a * stride - padding + kernel) for a in range(h2)]
    cols = [(b * stride - padding, b * stride - padding + kernel) for b in range(w2)]
    return rows, cols


def window_coverage(block: OSRAttention, height: int, width: int) -> torch.Tensor:
    """How many key windows read each input pixel, ``(H, W)`` (1 everywhere for non-overlapping windows).

    0 marks pixels that no window reads: the strided conv drops the last rows/columns when
    (H + 2·padding − kernel) is not a multiple of the stride (e.g. rows 62–63 of 64 for sr_ratio 8).
    """
    kernel, stride, padding = _reduction(block)
    h2, w2 = block.reduced_size(height, width)
    # the transposed conv of ones spreads each key's window back onto the pixels it reads
    # (no padding here: index i of the result is input pixel i − padding)
    count = F.conv_transpose2d(torch.ones(1, 1, h2, w2), torch.ones(1, 1, kernel, kernel), stride=stride)
    count = count[0, 0, padding:padding + height, padding:padding + width]
    return F.pad(count, (0, width - count.shape[1], 0, height - count.shape[0]))  # unread edge pixels: 0


def colour_features(image: torch.Tensor) -> torch.Tensor:
    """Each pixel's RGB colour c and its squared length |c|², ``(B, 4, H, W)``: the input of
    :func:`colour_similarity_block`."""
    return torch.cat([image, image.square().sum(dim=1, keepdim=True)], dim=1)


@torch.no_grad()
def colour_similarity_block(sr_ratio: int = 4, sharpness: float = 30.0, variant: str = "blog") -> OSRAttention:
    """An ``OSRAttention(4, num_heads=1)`` with weights set by hand so that attention follows colour.

    For x = :func:`colour_features` (c, |c|²) of a picture: each key is the mean of x over its
    reduction window (depthwise kernel 1/k², ``local_conv`` zero), so k = (mean c', mean |c'|²); the
    query is q = (c, −½). Then q·k = −½ · mean over the window of |c − c'|² + ½|c|², and the last
    term is the same for every key of a query, so softmax drops it: a pixel's attention is
    softmax(−sharpness/2 · mean squared colour distance to each key's window). v = k.
    BatchNorm 1 adds 4 so that the activation passes its input unchanged (exactly for ReLU, to
    within 1e-4 for GELU); BatchNorm 2 subtracts it again. Returned in eval mode.
    """
    block = OSRAttention(4, num_heads=1, qk_scale=sharpness, sr_ratio=sr_ratio, variant=variant)
    block.q.weight.copy_(torch.diag(torch.tensor([1.0, 1.0, 1.0, 0.0])).view(4, 4, 1, 1))
    block.q.bias.copy_(torch.tensor([0.0, 0.0, 0.0, -0.5]))
    eye = torch.eye(4).view(4, 4, 1, 1)
    block.kv.weight.copy_(torch.cat([eye, eye]))  # k = v = the reduced map
    block.kv.bias.zero_()
    block.local_conv.weight.zero_()
    block.local_conv.bias.zero_()
    if sr_ratio > 1:
        conv, norm1, _, pointwise, norm2 = block.sr
        conv.weight.fill_(1.0 / conv.weight[0].numel())  # the mean over the k×k window
        pointwise.weight.fill_(1.0)
        for norm, shift in ((norm1, 4.0), (norm2, 0.0)):
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0 - norm.eps)  # (v − mean) / sqrt(var + eps) = v − mean exactly
            norm.weight.fill_(1.0)
            norm.bias.fill_(shift)
        norm2.running_mean.fill_(4.0)  # undo norm1's shift
    return block.eval()


def _key_extent(block: OSRAttention, height: int, width: int) -> tuple[float, float, float, float]:
    """imshow extent that puts each key's cell (stride × stride) on its window's centre."""
    rows, cols = key_windows(block, height, width)
    _, stride, _ = _reduction(block)

    def centre(span):
        return (span[0] + span[1] - 1) / 2

    half = stride / 2
    return (centre(cols[0]) - half, centre(cols[-1]) + half, centre(rows[-1]) + half, centre(rows[0]) - half)


def plot_reduction_grid(block: OSRAttention, image: torch.Tensor, *, keys: Sequence[tuple[int, int]] | None = None,
                        title: str | None = None):
    """The overlapping key grid over a picture, and how many windows read each pixel.

    Left: the picture, every key's window centre (dots) and the windows of a few neighbouring keys
    (default a 2×2 block near the middle), each outlined in its own colour: they overlap. Right: the
    number of windows that read each pixel (:func:`window_coverage`), with a colour bar.

    Args:
        block: an :class:`~fusionlab.OSRAttention` (only its ``sr_ratio`` geometry is used).
        image: ``(1, 3, H, W)`` or ``(3, H, W)`` in [0, 1].
        keys: the (row, col) key indices whose windows are outlined.
    """
    from matplotlib.patches import Rectangle

    picture = to_numpy_image(image)
    height, width = picture.shape[:2]
    rows, cols = key_windows(block, height, width)
    kernel, stride, padding = _reduction(block)
    if keys is None:
        a, b = len(rows) // 2 - 1, len(cols) // 2 - 1
        keys = [(max(a, 0) + da, max(b, 0) + db) for da in (0, 1) for db in (0, 1)]
        keys = [(r, c) for r, c in keys if r < len(rows) and c < len(cols)]
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.2, 4.4), layout="constrained")
    left.imshow(picture)
    centres_y = [(r0 + r1 - 1) / 2 for r0, r1 in rows]
    centres_x = [(c0 + c1 - 1) / 2 for c0, c1 in cols]
    yy, xx = torch.meshgrid(torch.tensor(centres_y), torch.tensor(centres_x), indexing="ij")
    left.plot(xx.flatten().numpy(), yy.flatten().numpy(), ".", color="white", markersize=3,
              label=f"{len(rows)}×{len(cols)} key centres")
    for n, (r, c) in enumerate(keys):
        (r0, r1), (c0, c1) = rows[r], cols[c]
        left.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, linewidth=2,
                                 edgecolor=f"C{n}", label=f"key ({r}, {c}): {kernel}×{kernel} window"))
    left.set_xlim(-0.5, width - 0.5)
    left.set_ylim(height - 0.5, -0.5)
    left.set_xlabel("input column")
    left.set_ylabel("input row")
    left.legend(fontsize=7, loc="lower left", framealpha=0.8)
    left.set_title(f"keys: kernel {kernel}, stride {stride}, padding {padding}", fontsize=9)
    coverage = window_coverage(block, height, width)
    most = int(coverage.max())
    shown = right.imshow(coverage.numpy(), cmap=plt.get_cmap("magma", most + 1), vmin=-0.5, vmax=most + 0.5)
    fig.colorbar(shown, ax=right, fraction=0.046, pad=0.04, label="windows reading the pixel", ticks=range(most + 1))
    right.set_xlabel("input column")
    right.set_ylabel("input row")
    right.set_title("overlap: how many key windows read each pixel", fontsize=9)
    fig.suptitle(title or f"OSRA's reduction grid, sr_ratio = {block.sr_ratio}: {height}×{width} pixels → "
                          f"{len(rows)}×{len(cols)} keys")
    plt.close(fig)
    return fig


def plot_query_attention(blocks, x: torch.Tensor, query: tuple[int, int], image: torch.Tensor, *, head: int = 0,
                         sample: int = 0, shared_scale: bool = True, title: str | None = None):
    """Where one query pixel looks: its attention over the key grid, drawn on the picture.

    Args:
        blocks: an :class:`~fusionlab.OSRAttention`, or a mapping label -> block (one panel each).
        x: the blocks' input ``(B, C, H, W)``.
        query: (row, col) of the query pixel, marked with a star.
        image: the picture drawn underneath, ``(1, 3, H, W)`` or ``(3, H, W)``.
        head: which head's attention.
        shared_scale: one colour scale for all panels (so a flat map looks flat next to a peaked one).
    Each key's weight is drawn as a stride × stride cell centred on its window (not stretched to
    the picture's edges), with a colour bar; the weights of a panel sum to 1.
    """
    if isinstance(blocks, OSRAttention):
        blocks = {"": blocks}
    blocks = dict(blocks)
    height, width = x.shape[-2:]
    row, col = query
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(f"plot_query_attention: query must be a (row, col) inside the {height}×{width} input, "
                         f"got {tuple(query)}.")
    picture = to_numpy_image(image)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(blocks), figsize=(4.0 * len(blocks), 3.9), squeeze=False, layout="constrained")
    heats = []
    for block in blocks.values():
        with torch.no_grad():
            probs = block.attention(x)[sample, head, row * width + col]  # (H'W',): this query's row
        heats.append(probs.view(*block.reduced_size(height, width)).cpu().numpy())
    top = max(float(h.max()) for h in heats)
    for ax, (label, block), heat in zip(axes[0], blocks.items(), heats):
        h2, w2 = heat.shape
        vmax = top if shared_scale else float(heat.max())
        ax.imshow(picture)
        # opacity grows with the weight, so the picture stays visible where the query does not look
        opacity = 0.2 + 0.7 * (heat / max(vmax, 1e-12)).clip(0.0, 1.0)
        shown = ax.imshow(heat, cmap="inferno", alpha=opacity, extent=_key_extent(block, height, width),
                          interpolation="nearest", vmin=0.0, vmax=vmax)
        ax.plot([col], [row], marker="*", color="cyan", markersize=14, markeredgecolor="black")
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        ax.set_axis_off()
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
        ax.set_title((label + "\n" if label else "") + f"query ({row}, {col}) over {h2}×{w2} keys", fontsize=9)
    if title:
        fig.suptitle(title)
    plt.close(fig)
    return fig


def attention_bytes(height: int, width: int, sr_ratio: int, *, num_heads: int = 8, batch: int = 1,
                    bytes_per_value: int = 4) -> int:
    """Bytes of the attention matrix (B, h, HW, H'W') for an H×W input (float32 by default)."""
    with torch.device("meta"):
        h2, w2 = OSRAttention(num_heads, num_heads=num_heads, sr_ratio=sr_ratio).reduced_size(height, width)
    return batch * num_heads * height * width * h2 * w2 * bytes_per_value


def _bytes_label(n: float, _pos=None) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n:g} B"


def plot_attention_memory(sides: Sequence[int] = (7, 14, 28, 56, 112, 224, 448), sr_ratios: Sequence[int] = (1, 2, 4, 8),
                          *, num_heads: int = 8, batch: int = 1, budget: int | None = DEFAULT_MAX_ATTN_BYTES,
                          mark: Mapping[str, tuple[int, int]] | None = None, title: str | None = None):
    """Size of one float32 attention matrix against H·W, one line per sr_ratio (log–log).

    The matrix is (B, h, HW, H'W') with H' ≈ H / r: it grows as H·W·H'·W' ≈ (HW)² / r², so every line
    has slope 2 and a larger r only shifts it down by r². ``budget`` (default: fusionlab's
    ``max_attn_bytes``) is drawn as a horizontal line: above it, fusionlab's OSRA computes the
    attention in blocks of query rows and never holds the whole matrix. ``mark`` adds labelled
    points: label -> (side, sr_ratio).
    """
    from matplotlib.ticker import FuncFormatter, LogLocator

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.8, 4.2), layout="constrained")
    hw = [s * s for s in sides]
    for r in sr_ratios:
        ax.plot(hw, [attention_bytes(s, s, r, num_heads=num_heads, batch=batch) for s in sides], "o-",
                label=f"sr_ratio = {r}" + (" (no reduction)" if r == 1 else ""))
    if budget is not None:
        ax.axhline(budget, color="gray", linestyle="--",
                   label=f"max_attn_bytes = {_bytes_label(budget)}: above, fusionlab works in row blocks")
    for label, (side, r) in (mark or {}).items():
        y = attention_bytes(side, side, r, num_heads=num_heads, batch=batch)
        ax.plot([side * side], [y], "k*", markersize=11)
        ax.annotate(label, (side * side, y), textcoords="offset points", xytext=(6, -12), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(hw, [f"{s}×{s}" for s in sides], rotation=30, fontsize=8)
    ax.minorticks_off()
    ax.yaxis.set_major_locator(LogLocator(base=2**10))  # ticks at 1 KiB, 1 MiB, 1 GiB, …
    ax.yaxis.set_major_formatter(FuncFormatter(_bytes_label))
    ax.set_xlabel("input size H×W (log scale of H·W)")
    ax.set_ylabel("bytes of the float32 attention matrix")
    ax.legend(fontsize=7)
    ax.set_title(title or f"attention matrix (B={batch}, h={num_heads}, HW, H'W'): grows as H·W·H'·W'", fontsize=9)
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- the Play panel

_HAND_SET, _UNTRAINED = "set by hand: colour similarity", "untrained (random init)"

# the play panel's words, per language (fusionlab.i18n); the matplotlib figures stay English.
# "weights": the words for the values of the weights control, in its dropdown and in the caption (the values stay English).
PLAY_TEXT = {
    "en": {
        "name": "OSRA: sr_ratio → key grid and where one pixel looks",
        "grid": "photo, {h2}×{w2} key centres, query (red), its top key's window",
        "coverage": "windows reading each pixel (0 = unread)",
        "keys": "the keys: {h2}×{w2} window means",
        "looks": "where pixel ({row}, {col}) looks",
        "window": "each reading a {kernel}×{kernel} window, {shared} pixels shared with the next",
        "no_reduction": "one per pixel (no reduction)",
        "fewer": "({factor:.0f}× fewer than with every pixel as a key).",
        "full": "(the full matrix).",
        "unread": " Rows {rows} and columns {cols} are read by no window.",
        "caption": ("sr_ratio {sr_ratio}: {queries:,} queries attend to {h2}×{w2} = {keys:,} keys, {window}; "
                    "the attention matrix has {queries:,} × {keys:,} = {product:,} weights per head {size}{unread} "
                    "Query ({row}, {col}), weights {weights}: its top key ({top_row}, {top_col}) gets {top:.2%}; "
                    "the 10 % most-weighted keys hold {share:.0%} of its attention (uniform weights: 10 %)."),
        "weights": {},
    },
    "zh": {
        "name": "OSRA：sr_ratio → 键网格，以及一个像素看向哪里",
        "grid": "照片：{h2}×{w2} 个键的中心、查询（红）及其权重最大的键的窗口",
        "coverage": "读取每个像素的窗口数（0 = 没有被读取）",
        "keys": "键：{h2}×{w2} 个窗口的均值",
        "looks": "像素 ({row}, {col}) 看向哪里",
        "window": "每个键读取一个 {kernel}×{kernel} 的窗口，与相邻窗口共享 {shared} 个像素",
        "no_reduction": "每个像素一个键（不缩减）",
        "fewer": "（只有每个像素都作为键时的 1/{factor:.0f}）。",
        "full": "（完整的矩阵）。",
        "unread": "行号 {rows} 和列号 {cols} 没有被任何窗口读取。",
        "caption": ("sr_ratio {sr_ratio}：{queries:,} 个查询关注 {h2}×{w2} = {keys:,} 个键，{window}；"
                    "每个头的注意力矩阵有 {queries:,} × {keys:,} = {product:,} 个权重{size}{unread}"
                    "查询 ({row}, {col})（权重：{weights}）的权重最大的键是 ({top_row}, {top_col})，占 {top:.2%}；"
                    "权重最大的 10% 的键占它注意力的 {share:.0%}（均匀权重时为 10%）。"),
        "weights": {_HAND_SET: "手工设定的颜色相似度", _UNTRAINED: "未训练（随机初始化）"},
    },
}


def play(image: torch.Tensor | None = None, *, sr_ratios: Sequence[int] = (1, 2, 4, 8), step: int = 2,
         sharpness: float = 30.0, query: tuple[int, int] = (70, 20)):
    """Chapter 05's behaviour panel: ``sr_ratio`` → the key grid on the photo and where one pixel looks.

    Controls: ``sr_ratio``, the query pixel (``row``, ``col``, every ``step`` pixels) and the
    ``weights`` (:func:`colour_similarity_block`, or an untrained block with seed 0). Pictures: the
    photo with every key's window centre (white dots), the query (red) and the window of its
    most-weighted key (yellow); how many windows read each pixel (0: unread edge rows); what the
    keys summarise (each window's mean colour, the hand-set block's k); and the query's attention,
    each key's weight painted over its stride × stride cell. The caption gives the grid, the
    attention matrix's size and how concentrated this query's weights are.

    Per ``(sr_ratio, weights)`` the block, its k and q, the coverage and the pixel → key map are
    computed once (a few ms even on a first visit: the input is 96×96 with 4 channels); a move of
    the query then costs one row q·kᵀ (never the HW × H'W' matrix) and the PNG encoding.

    Args:
        image: ``(1, 3, H, W)`` in [0, 1]; default the astronaut, 96×96.
        sr_ratios: the values of the ``sr_ratio`` control.
        step: the query control moves by this many pixels.
        query: the default (row, col), rounded down to the control's grid.
    """
    import numpy as np
    import matplotlib

    from ..play import Picture, Play
    from . import photo

    if image is None:
        image = photo("astronaut", size=96)
    if image.dim() != 4 or image.shape[:2] != (1, 3):
        raise ValueError(f"osra.play: image must be one RGB picture of shape (1, 3, H, W), got shape {tuple(image.shape)}.")
    if not sr_ratios or any(not isinstance(r, int) or r < 1 for r in sr_ratios):
        raise ValueError(f"osra.play: sr_ratios must be positive ints, got {tuple(sr_ratios)}.")
    if not isinstance(step, int) or step < 1:
        raise ValueError(f"osra.play: step must be an int ≥ 1, got {step!r}.")
    image = image.detach().float().cpu()
    height, width = image.shape[-2:]
    features = colour_features(image)  # (1, 4, H, W)
    base = image[0].permute(1, 2, 0).numpy()  # (H, W, 3)
    rows, cols = list(range(0, height, step)), list(range(0, width, step))
    default = (rows[min(query[0] // step, len(rows) - 1)], cols[min(query[1] // step, len(cols) - 1)])
    inferno = matplotlib.colormaps["inferno"]
    cache: dict = {}

    def prepared(r: int, weights: str) -> dict:
        key = (r, weights)
        if key not in cache:
            if weights == _HAND_SET:
                block = colour_similarity_block(sr_ratio=r, sharpness=sharpness)
            else:
                torch.manual_seed(0)
                block = OSRAttention(4, num_heads=1, sr_ratio=r).eval()
            with torch.no_grad():
                q, k, _ = block.project(features)  # q (1, 1, HW, 4), k (1, 1, H'W', 4)
            h2, w2 = block.reduced_size(height, width)
            kernel, stride, padding = _reduction(block)
            spans_r, spans_c = key_windows(block, height, width)
            centre_r = np.array([(a + b - 1) / 2 for a, b in spans_r])
            centre_c = np.array([(a + b - 1) / 2 for a, b in spans_c])
            # each pixel's nearest key centre: the key's stride × stride cell that the heat map paints
            near_r = np.clip(np.rint((np.arange(height) - centre_r[0]) / stride), 0, h2 - 1).astype(int)
            near_c = np.clip(np.rint((np.arange(width) - centre_c[0]) / stride), 0, w2 - 1).astype(int)
            grid = base * 0.6
            if r > 1:  # with r = 1 every pixel is a key: dots would cover the photo
                ys = np.clip(np.rint(centre_r), 0, height - 1).astype(int)
                xs = np.clip(np.rint(centre_c), 0, width - 1).astype(int)
                grid[np.ix_(ys, xs)] = 1.0
            means = F.avg_pool2d(image, kernel, stride, padding, count_include_pad=True) if r > 1 else image
            cache[key] = dict(
                q=(q[0, 0] * block.scale), k=k[0, 0], h2=h2, w2=w2, kernel=kernel, stride=stride,
                spans=(spans_r, spans_c), cell=near_r[:, None] * w2 + near_c[None, :], grid=grid,
                coverage=window_coverage(block, height, width), means=means[0],
            )
        return cache[key]

    def compute(sr_ratio: int, row: int, col: int, weights: str):
        p = prepared(sr_ratio, weights)
        h2, w2 = p["h2"], p["w2"]
        with torch.no_grad():
            probs = (p["q"][row * width + col] @ p["k"].T).softmax(-1).numpy()  # (H'W',): this query's row
        top = int(probs.argmax())
        (r0, r1), (c0, c1) = p["spans"][0][top // w2], p["spans"][1][top % w2]
        grid = p["grid"].copy()
        yellow = np.array([1.0, 0.9, 0.0])
        r0c, r1c, c0c, c1c = max(r0, 0), min(r1, height) - 1, max(c0, 0), min(c1, width) - 1
        grid[r0c, c0c:c1c + 1] = grid[r1c, c0c:c1c + 1] = yellow  # the top key's window, clipped to the photo
        grid[r0c:r1c + 1, c0c] = grid[r0c:r1c + 1, c1c] = yellow
        heat = probs[p["cell"]] / max(float(probs.max()), 1e-12)  # (H, W) in [0, 1]
        painted = 0.35 * base + 0.65 * inferno(heat)[..., :3]
        for picture in (grid, painted):
            picture[max(row - 1, 0):row + 2, col] = picture[row, max(col - 1, 0):col + 2] = (1.0, 0.0, 0.0)
        keys, queries = h2 * w2, height * width
        share = np.sort(probs)[::-1][: max(1, round(keys / 10))].sum()
        covered = p["coverage"]
        unread_r = (covered.amax(dim=1) == 0).nonzero().flatten().tolist()
        unread_c = (covered.amax(dim=0) == 0).nonzero().flatten().tolist()
        say = i18n.say
        pictures = [
            Picture(say(PLAY_TEXT, "grid", h2=h2, w2=w2), grid),
            Picture(say(PLAY_TEXT, "coverage"), covered, cmap="magma", vmin=0, vmax=float(max(4, covered.max()))),
            Picture(say(PLAY_TEXT, "keys", h2=h2, w2=w2), p["means"].clamp(0, 1)),
            Picture(say(PLAY_TEXT, "looks", row=row, col=col), painted),
        ]
        window = (say(PLAY_TEXT, "window", kernel=p["kernel"], shared=p["kernel"] - p["stride"]) if sr_ratio > 1
                  else say(PLAY_TEXT, "no_reduction"))
        unread = say(PLAY_TEXT, "unread", rows=unread_r, cols=unread_c) if unread_r or unread_c else ""
        caption = say(PLAY_TEXT, "caption", sr_ratio=sr_ratio, queries=queries, h2=h2, w2=w2, keys=keys, window=window,
                      product=queries * keys, unread=unread, row=row, col=col,
                      size=say(PLAY_TEXT, "fewer", factor=queries / keys) if keys < queries else say(PLAY_TEXT, "full"),
                      weights=say(PLAY_TEXT, "weights").get(weights, weights), top_row=top // w2, top_col=top % w2,
                      top=probs[top], share=share)
        return pictures, caption

    controls = {"sr_ratio": tuple(sr_ratios), "row": tuple(rows), "col": tuple(cols), "weights": (_HAND_SET, _UNTRAINED)}
    defaults = {"sr_ratio": 4 if 4 in sr_ratios else sr_ratios[0], "row": default[0], "col": default[1]}
    return Play(i18n.say(PLAY_TEXT, "name"), controls, compute, defaults=defaults, size=200,
                labels={"weights": i18n.say(PLAY_TEXT, "weights")})
