"""Chapter 07 figures: the post's joint CBAM variant beside the original CBAM.

* :func:`attention_weights` gives the channel weights M_c and the spatial weights M_s of either
  block, from the block's own methods (``CBAMBlock.weights``; ``CBAM.channel_weights`` and
  ``CBAM.spatial_weights`` on the channel-refined map, as CBAM applies them).
* :func:`plot_attention_pair` draws M_c as bars and M_s on the photo, one row per block.
* :func:`plot_param_growth` draws parameters against H·W for several blocks: the joint MLP of
  ``CBAMBlock`` has (C + H·W)·C/r·2 weights, CBAM's parameters do not depend on H·W.
* :func:`striped_discs`, :class:`Spotlight`, :func:`train_spotlight`: a small task that gives both
  blocks something to attend to (keep a striped disc pasted at a random place on a photo, erase the
  rest); :func:`mask_reading` measures the trained masks, :func:`plot_masks_across` draws them on
  several pictures, :func:`position_templates` gives the maps the joint block's M_s is built from.
* :func:`play`: a :class:`fusionlab.play.Play` on the two trained nets (picture, reduction, kernel_size).

>>> import torch
>>> from fusionlab import CBAM
>>> mc, ms = attention_weights(CBAM(16, reduction=4).eval(), torch.randn(1, 16, 5, 5))
>>> tuple(mc.shape), tuple(ms.shape)
((1, 16, 1, 1), (1, 1, 5, 5))
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import i18n
from . import _pyplot, fit_cut_out, overlay, photo, to_numpy_image

__all__ = ["attention_weights", "plot_attention_pair", "plot_param_growth", "TRAIN_PHOTOS", "striped_discs",
           "Spotlight", "train_spotlight", "mask_reading", "plot_masks_across", "position_templates", "play",
           "PLAY_TEXT"]

# the play panel's words, per language (fusionlab.i18n); the matplotlib figures stay English
PLAY_TEXT = {
    "en": {
        "name": "Trained CBAM and the post's CBAMBlock: reduction and kernel_size → the masks",
        "picture": "picture {picture} (astronaut + disc)",
        "cbam": "CBAM: M_s",
        "joint": "the post's CBAMBlock: M_s",
        "strips": "M_c (top CBAM, bottom CBAMBlock)",
        "part": ("{label}: M_s {inside:.2f} on the disc, {outside:.2f} off it, "
                 "spread across the {count} pictures {spread:.3f}"),
        "sep": "; ",
        "caption": "{hidden} hidden unit(s) per MLP, {kernel}×{kernel} kernel — {parts}",
    },
    "zh": {
        "name": "训练好的 CBAM 与博文中的 CBAMBlock：reduction 和 kernel_size → 掩码",
        "picture": "图片 {picture}（宇航员 + 圆盘）",
        "cbam": "CBAM 的 M_s",
        "joint": "博文中 CBAMBlock 的 M_s",
        "strips": "M_c（上：CBAM，下：CBAMBlock）",
        "part": ("{label}：M_s 在圆盘内为 {inside:.2f}，圆盘外为 {outside:.2f}，"
                 "在 {count} 张图片之间的离散程度为 {spread:.3f}"),
        "sep": "；",
        "caption": "每个 MLP 保留 {hidden} 个隐藏单元，{kernel}×{kernel} 卷积核——{parts}。",
    },
}


def _gates(block: nn.Module, x: torch.Tensor, owner: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(M_c, M_s) with autograd (training needs it); :func:`attention_weights` is the same without."""
    from ..blocks.cbam import CBAM, CBAMBlock

    if isinstance(block, CBAMBlock):
        return block.weights(x)
    if isinstance(block, CBAM):
        mc = block.channel_weights(x)
        return mc, block.spatial_weights(x * mc)
    raise TypeError(f"{owner}: expected a fusionlab CBAMBlock or CBAM, got {type(block).__name__}.")


@torch.no_grad()
def attention_weights(block: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(M_c, M_s) of a ``CBAMBlock`` or a ``CBAM`` on ``x`` ``(B, C, H, W)``: ``(B, C, 1, 1)``, ``(B, 1, H, W)``.

    ``CBAMBlock`` computes both from x at once (its ``weights``); ``CBAM`` computes M_s on the
    channel-refined map M_c · x, which is what its forward multiplies.
    """
    return _gates(block, x, "attention_weights")


def plot_attention_pair(image: Any, weights: Mapping[str, tuple[torch.Tensor, torch.Tensor]], *, sample: int = 0,
                        title: str | None = None):
    """One row per block: its channel weights M_c as bars, its spatial weights M_s alone and on the photo.

    Args:
        image: the photograph the features came from, ``(3, H, W)`` or ``(1, 3, H, W)``; M_s is
            resized to it when smaller.
        weights: block label -> ``(M_c, M_s)`` as :func:`attention_weights` returns them.
        sample: which batch element to draw.
        title: a title over the figure.

    Each M_s is drawn on its own range (the colour bar says it), so small contrasts stay visible.
    """
    if not weights:
        raise ValueError("plot_attention_pair: weights is empty; pass {label: (M_c, M_s)} for at least one block.")
    for label, pair in weights.items():
        if len(pair) != 2 or pair[0].dim() != 4 or pair[1].dim() != 4 or pair[1].shape[1] != 1:
            raise ValueError(
                f"plot_attention_pair: weights[{label!r}] must be (M_c (B, C, 1, 1), M_s (B, 1, H, W)) as "
                f"attention_weights returns."
            )
        if not 0 <= sample < pair[0].shape[0]:
            raise ValueError(f"plot_attention_pair: sample must be in [0, {pair[0].shape[0] - 1}], got {sample}.")

    plt = _pyplot()
    rows = len(weights)
    fig, axes = plt.subplots(rows, 3, figsize=(11.0, 3.1 * rows), squeeze=False, layout="constrained",
                             gridspec_kw={"width_ratios": (1.6, 1, 1)})
    for (label, (mc, ms)), (ax_bar, ax_map, ax_over) in zip(weights.items(), axes):
        channel = mc[sample, :, 0, 0].detach().cpu()
        ax_bar.bar(range(len(channel)), channel.numpy(), color="C0", width=1.0)
        ax_bar.axhline(0.5, color="gray", linestyle="--", linewidth=1)
        ax_bar.set_ylim(0.0, 1.0)
        ax_bar.set_xlabel("channel")
        ax_bar.set_ylabel("M_c: weight in (0, 1)")
        ax_bar.set_title(f"{label}: channel weights M_c", fontsize=9)

        spatial = ms[sample, 0].detach().cpu()
        low, high = float(spatial.min()), float(spatial.max())
        shown = ax_map.imshow(to_numpy_image(spatial), cmap="viridis", vmin=low, vmax=high)
        ax_map.set_title(f"{label}: spatial weights M_s", fontsize=9)
        ax_map.set_axis_off()
        fig.colorbar(shown, ax=ax_map, fraction=0.046, pad=0.04)
        overlay(image, spatial, ax=ax_over, alpha=0.6, cmap="viridis", vmin=low, vmax=high, colorbar=False,
                title="M_s over the photo")
    if title:
        fig.suptitle(title)
    plt.close(fig)
    return fig


def plot_param_growth(growths: Mapping[str, Any], *, title: str | None = None):
    """Parameters against H·W (log–log), one line per block.

    Args:
        growths: label -> :func:`fusionlab.cost_growth`'s result (or a list of its row dicts with
            ``hw`` and ``params``).
        title: the figure's title.

    A block whose weights do not depend on the map size draws a flat line; the post's ``CBAMBlock``
    grows linearly with H·W (slope 1), because its joint MLP has C + H·W inputs and outputs.
    """
    if not growths:
        raise ValueError("plot_param_growth: growths is empty; pass {label: cost_growth(...)} for at least one block.")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.8, 3.8), layout="constrained")
    for i, (label, growth) in enumerate(growths.items()):
        rows = list(growth)
        if not rows:
            raise ValueError(f"plot_param_growth: growths[{label!r}] has no rows.")
        ax.plot([r["hw"] for r in rows], [r["params"] for r in rows], "os^vD"[i % 5] + "-", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("H·W (pixels the block is built for)")
    ax.set_ylabel("parameters")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    ax.set_title(title or "parameters as H·W grows")
    plt.close(fig)
    return fig


# --- a small task that gives the masks a meaning ------------------------------------------------------------------

TRAIN_PHOTOS = ("coffee", "chelsea", "camera")  # training backgrounds; the astronaut is held out for testing
STRIPE_PERIOD = 4.0  # pixels: a texture a 3×3 stem can see and a k×k spatial conv can gather


def striped_discs(n: int, size: int = 32, *, generator: torch.Generator,
                  backgrounds: Sequence[str] | torch.Tensor = TRAIN_PHOTOS) -> tuple[torch.Tensor, torch.Tensor]:
    """n pictures: a random ``size``×``size`` crop of a photo with one gray striped disc pasted at a random place.

    The disc's radius is 12–22 % of ``size``; its stripes (period :data:`STRIPE_PERIOD`) have a random angle
    and phase. ``backgrounds``: photo names (128×128 crops of :func:`fusionlab.plots.photo`) or a tensor
    ``(P, 3, h, w)``. Returns ``(x (n, 3, size, size) in [0, 1], mask (n, 1, size, size) in {0, 1})``.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"striped_discs: n must be an int ≥ 1, got {n!r}.")
    if not isinstance(backgrounds, torch.Tensor):
        backgrounds = torch.cat([photo(name, size=128) for name in backgrounds])
    p, _, h, w = backgrounds.shape
    if not isinstance(size, int) or not 8 <= size <= min(h, w):
        raise ValueError(f"striped_discs: size must be an int in [8, {min(h, w)}] (the backgrounds are {h}×{w}), "
                         f"got {size!r}.")
    which = torch.randint(p, (n,), generator=generator)
    tops = torch.randint(h - size + 1, (n,), generator=generator)
    lefts = torch.randint(w - size + 1, (n,), generator=generator)
    x = torch.stack([backgrounds[i, :, t:t + size, l:l + size]
                     for i, t, l in zip(which.tolist(), tops.tolist(), lefts.tolist())])
    radii = size * (0.12 + 0.10 * torch.rand(n, generator=generator))  # (n,)
    centres = radii[:, None] + (size - 2 * radii[:, None]) * torch.rand(n, 2, generator=generator)  # (n, 2) row, col
    rows, cols = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")  # (S, S)
    rows, cols = rows[None], cols[None]
    dist = ((rows - centres[:, 0, None, None]) ** 2 + (cols - centres[:, 1, None, None]) ** 2).sqrt()  # (n, S, S)
    mask = (dist <= radii[:, None, None]).float()[:, None]  # (n, 1, S, S)
    angle = math.pi * torch.rand(n, generator=generator)[:, None, None]
    phase = 2 * math.pi * torch.rand(n, generator=generator)[:, None, None]
    wave = rows * torch.cos(angle) + cols * torch.sin(angle)
    stripes = (0.5 + 0.5 * torch.sin(2 * math.pi * wave / STRIPE_PERIOD + phase))[:, None].expand(-1, 3, -1, -1)
    return x * (1 - mask) + stripes * mask, mask


class Spotlight(nn.Module):
    """stem (3×3 conv 3 → C, ReLU) → the block's gates → ``head`` (1×1 conv C → 3).

    ``x (B, 3, S, S)`` → features f ``(B, C, S, S)`` → ``head(f · M_c · M_s)`` ``(B, 3, S, S)``. For CBAM,
    ``f · M_c · M_s`` is its forward (M_s of the channel-refined map); for the post's ``CBAMBlock`` it is the
    "one output" its comment offers (both weights multiplied into x).
    """

    def __init__(self, block: nn.Module, channels: int) -> None:
        super().__init__()
        from ..blocks.cbam import CBAM, CBAMBlock

        if not isinstance(block, (CBAM, CBAMBlock)):
            raise TypeError(f"Spotlight: block must be a fusionlab CBAMBlock or CBAM, got {type(block).__name__}.")
        built_for = block.channel if isinstance(block, CBAMBlock) else block.channels
        if channels != built_for:
            raise ValueError(f"Spotlight: channels={channels!r}, but the block was built for {built_for} channels; "
                             f"pass channels={built_for}.")
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU())
        self.block = block
        self.head = nn.Conv2d(channels, 3, 1)

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(f, M_c, M_s) for pictures x: ``(B, C, S, S)``, ``(B, C, 1, 1)``, ``(B, 1, S, S)``."""
        f = self.stem(x)
        return (f, *_gates(self.block, f, "Spotlight"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f, mc, ms = self.gates(x)
        return self.head(f * mc * ms)




def train_spotlight(kind: str, *, channels: int = 16, reduction: int = 4, kernel_size: int = 7, size: int = 32,
                    steps: int = 150, batch: int = 16, lr: float = 2e-2,
                    seed: int = 0) -> tuple[Spotlight, list[float]]:
    """Train a :class:`Spotlight` around ``kind`` ("cbam_joint": the post's ``CBAMBlock`` built for size×size;
    "cbam": ``CBAM``) with Adam on ``mse(net(x), x · mask)`` over :func:`striped_discs` pictures: keep the disc,
    erase the rest. The global random state is left as it was. Returns ``(net in eval mode, loss per step)``.
    About 40 ms per step at the defaults on one CPU thread.
    """
    from ..blocks.cbam import CBAM, CBAMBlock

    if kind not in ("cbam_joint", "cbam"):
        raise ValueError(f"train_spotlight: kind must be 'cbam_joint' or 'cbam', got {kind!r}.")
    for name, value in (("steps", steps), ("batch", batch)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"train_spotlight: {name} must be an int ≥ 1, got {value!r}.")
    backgrounds = torch.cat([photo(name, size=128) for name in TRAIN_PHOTOS])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        block = (CBAMBlock(channels, reduction=reduction, kernel_size=kernel_size, HW=size * size)
                 if kind == "cbam_joint" else CBAM(channels, reduction=reduction, kernel_size=kernel_size))
        net = Spotlight(block, channels)
        data = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        losses = fit_cut_out(net, opt, lambda: striped_discs(batch, size, generator=data, backgrounds=backgrounds), steps)
    return net.eval(), losses


@torch.no_grad()
def mask_reading(net: Spotlight, x: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """What a trained :class:`Spotlight`'s masks do on pictures ``x`` with disc ``mask`` (as :func:`striped_discs`).

    ``inside`` / ``outside``: mean M_s on / off the disc; ``follows``: correlation of M_s with the disc mask over
    all pixels of all pictures; ``spread``: std of M_s across the pictures, averaged over the pixels (0: the same
    mask for every input); ``mc_spread``: the same for M_c; ``mc_min``, ``mc_max``: its range; ``error``: MSE of
    ``net(x)`` against ``x · mask``; ``error_open``: the same with M_s forced to 1; ``error_zero``: the MSE of
    returning 0 everywhere (the bar to beat).
    """
    f, mc, ms = net.gates(x)
    inside = mask.bool()
    corr = torch.corrcoef(torch.stack([ms.flatten(), mask.flatten()]))[0, 1]
    target = x * mask
    return {
        "inside": ms[inside].mean().item(), "outside": ms[~inside].mean().item(), "follows": corr.item(),
        "spread": ms.std(dim=0, unbiased=False).mean().item(),
        "mc_spread": mc.std(dim=0, unbiased=False).mean().item(),
        "mc_min": mc.min().item(), "mc_max": mc.max().item(),
        "error": F.mse_loss(net.head(f * mc * ms), target).item(),
        "error_open": F.mse_loss(net.head(f * mc), target).item(),
        "error_zero": target.pow(2).mean().item(),
    }


def position_templates(block: nn.Module, size: tuple[int, int]) -> torch.Tensor:
    """The post's ``CBAMBlock``: the maps its spatial logits are made of, ``(C/r, H, W)``.

    The joint MLP's second layer gives position p the logit ``Σ_j W2[C + p, j] · h_j`` with h = ReLU(W1 · [a_c; a_s])
    ``(C/r,)``: every M_s is σ of a non-negative mix of these C/r maps, one per hidden unit; the input only
    changes the mixing weights h.
    """
    from ..blocks.cbam import CBAMBlock

    if not isinstance(block, CBAMBlock):
        raise TypeError(f"position_templates: expected the post's CBAMBlock, got {type(block).__name__}.")
    h, w = size
    if h * w != block.HW:
        raise ValueError(f"position_templates: size {h}×{w} = {h * w} positions, but the block was built for "
                         f"HW={block.HW}.")
    c = block.channel
    return block.MLP[2].weight.detach()[c:, :, 0, 0].T.reshape(-1, h, w)  # (C + HW, m) -> (m, H, W)


def plot_masks_across(x: torch.Tensor, masks: Mapping[str, torch.Tensor], *, disc: torch.Tensor | None = None,
                      title: str | None = None):
    """Row 0: the pictures ``x`` ``(N, 3, S, S)``; then one row per block: its M_s ``(N, 1, S, S)`` on the fixed
    scale 0–1, with the disc's outline (``disc`` ``(N, 1, S, S)``) in white. Row labels give the spread of M_s
    across the N pictures (std per pixel, averaged), as :func:`mask_reading` measures it."""
    if not masks:
        raise ValueError("plot_masks_across: masks is empty; pass {label: M_s (N, 1, S, S)} for at least one block.")
    n = x.shape[0]
    for label, ms in masks.items():
        if ms.dim() != 4 or ms.shape[0] != n or ms.shape[1] != 1:
            raise ValueError(f"plot_masks_across: masks[{label!r}] must be (N, 1, H, W) with N = {n} (one per "
                             f"picture), got {tuple(ms.shape)}.")
    plt = _pyplot()
    rows = 1 + len(masks)
    fig, axes = plt.subplots(rows, n, figsize=(min(1.9 * n + 1.2, 11.0), 1.9 * rows + 0.4), squeeze=False,
                             layout="constrained")
    shown = None
    for j in range(n):
        axes[0, j].imshow(to_numpy_image(x[j]).clip(0, 1))
        axes[0, j].set_title(f"picture {j + 1}", fontsize=9)
        for i, ms in enumerate(masks.values(), start=1):
            shown = axes[i, j].imshow(to_numpy_image(ms[j, 0]), cmap="viridis", vmin=0.0, vmax=1.0)
            if disc is not None:
                axes[i, j].contour(to_numpy_image(disc[j, 0]), levels=[0.5], colors="white", linewidths=0.8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for i, (label, ms) in enumerate(masks.items(), start=1):
        spread = ms.detach().std(dim=0, unbiased=False).mean().item()
        axes[i, 0].set_ylabel(f"{label}\nM_s (spread {spread:.3f})", fontsize=8)
    fig.colorbar(shown, ax=axes[1:, :].ravel().tolist(), shrink=0.8, label="M_s")
    if title:
        fig.suptitle(title)
    plt.close(fig)
    return fig


# --- play: picture, reduction and kernel_size on the trained nets -------------------------------------------------

def _cut(weight: torch.Tensor, k: int) -> torch.Tensor:
    """The centre k×k of a conv kernel (…, K, K)."""
    start = (weight.shape[-1] - k) // 2
    return weight[..., start:start + k, start:start + k]


def _mlp2(v: torch.Tensor, first: nn.Module, second: nn.Module, keep: torch.Tensor) -> torch.Tensor:
    """Linear → ReLU → linear on (…, C) with only the hidden units ``keep`` (1×1 convs or Linears)."""
    w1, w2 = first.weight.flatten(1)[keep], second.weight.flatten(1)[:, keep]
    b1 = None if first.bias is None else first.bias[keep]
    return F.linear(F.relu(F.linear(v, w1, b1)), w2, second.bias)


def _ranked_units(v: torch.Tensor, first: nn.Module, second: nn.Module) -> torch.Tensor:
    """Hidden units ordered by their mean contribution |h_j| · ‖W2[:, j]‖ on the inputs v (…, C)."""
    hidden = F.relu(F.linear(v, first.weight.flatten(1), first.bias)).abs().flatten(0, -2).mean(0)
    return torch.argsort(hidden * second.weight.flatten(1).norm(dim=0), descending=True)


@torch.no_grad()
def _cut_gates(block: nn.Module, f: torch.Tensor, units: Mapping[str, torch.Tensor], k: int):
    """(M_c, M_s) of a trained block with only ``units`` kept in each MLP and its spatial kernel cut to k×k."""
    from ..blocks.cbam import CBAMBlock

    pooled_c = torch.stack([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))])  # (2, B, C)
    if isinstance(block, CBAMBlock):
        se = block.ChannelAttention.se
        a_c = _mlp2(pooled_c, se[0], se[2], units["channel"]).sum(0)  # (B, C)
        conv = block.SpatialAttention.conv
        pooled = torch.cat([f.amax(dim=1, keepdim=True), f.mean(dim=1, keepdim=True)], dim=1)  # (B, 2, H, W)
        a_s = F.conv2d(pooled, _cut(conv.weight, k), conv.bias, padding=k // 2).flatten(1)  # (B, HW)
        joint = torch.sigmoid(_mlp2(torch.cat([a_c, a_s], dim=1), block.MLP[0], block.MLP[2], units["joint"]))
        b, c, h, w = f.shape
        return joint[:, :c].reshape(b, c, 1, 1), joint[:, c:].reshape(b, 1, h, w)
    logits = _mlp2(pooled_c, block.channel_mlp[0], block.channel_mlp[2], units["channel"]).sum(0)  # (B, C)
    mc = torch.sigmoid(logits)[..., None, None]
    refined = f * mc
    pooled = torch.cat([refined.amax(dim=1, keepdim=True), refined.mean(dim=1, keepdim=True)], dim=1)
    weight, bn = block.spatial_conv.weight, block.spatial_bn
    s = F.conv2d(pooled, _cut(weight, k), padding=k // 2)  # (B, 1, H, W)
    mean, var = bn.running_mean, bn.running_var
    if k < weight.shape[-1]:  # BatchNorm's statistics belong to the whole kernel: move them as the cut moves s
        full = F.conv2d(pooled, weight, padding=weight.shape[-1] // 2)
        mean, var = mean + (s.mean() - full.mean()), var * s.var() / full.var().clamp_min(bn.eps)
    return mc, torch.sigmoid(F.batch_norm(s, mean, var, bn.weight, bn.bias, False, 0.0, bn.eps))


def play(nets: Mapping[str, Spotlight], x: torch.Tensor, mask: torch.Tensor):
    """A :class:`fusionlab.play.Play` on trained :class:`Spotlight` nets (``{"cbam": …, "cbam_joint": …}``).

    Controls: ``picture`` (which of ``x`` ``(N, 3, S, S)`` to show), ``reduction`` (keep only C / reduction
    hidden units of each trained MLP, the strongest on these pictures; the nets are trained with the smallest
    reduction offered) and ``kernel_size`` (the centre k×k of the trained spatial kernel; CBAM's BatchNorm
    statistics are shifted and scaled by how much the cut changes the conv's output on these pictures). Nothing is
    retrained: a move shows what the trained weights compute with less width or a smaller receptive field. Pictures: the
    picture, M_s of each block, and M_c of both as a strip (one row per block, one cell per channel). The
    caption measures M_s on all N pictures: on / off the disc and the spread across pictures.
    """
    from ..play import Picture, Play

    import matplotlib  # noqa: F401  (Picture's colour maps: imported here, not on the first move)

    if set(nets) != {"cbam", "cbam_joint"}:
        raise ValueError(f"play: nets must have the keys 'cbam' and 'cbam_joint' (from train_spotlight), got "
                         f"{sorted(nets)}.")
    cbam, joint = nets["cbam"], nets["cbam_joint"]
    channels, trained_r = cbam.block.channels, cbam.block.reduction
    kernel = cbam.block.kernel_size
    if joint.block.reduction != trained_r or joint.block.kernel_size != kernel:
        raise ValueError("play: both nets must be trained with the same reduction and kernel_size.")
    reductions = tuple(r for r in (trained_r, 2 * trained_r, 4 * trained_r, 8 * trained_r) if channels // r >= 1)
    kernels = tuple(range(kernel, 0, -2))
    with torch.no_grad():  # the stems do not depend on the controls: once, up front
        feats = {name: net.stem(x) for name, net in nets.items()}
        ranked = {}
        for name, net in nets.items():
            f, block = feats[name], net.block
            pooled_c = torch.stack([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))])
            if name == "cbam":
                ranked[name] = {"channel": _ranked_units(pooled_c, block.channel_mlp[0], block.channel_mlp[2])}
            else:
                se = block.ChannelAttention.se
                ranked[name] = {"channel": _ranked_units(pooled_c, se[0], se[2]),
                                "joint": _ranked_units(torch.cat([block.ChannelAttention.logits(f),
                                                                  block.SpatialAttention.logits(f).flatten(1)], 1),
                                                       block.MLP[0], block.MLP[2])}
    inside = mask.bool()
    cache: dict[tuple[int, int], dict[str, tuple[torch.Tensor, torch.Tensor]]] = {}

    def gates(reduction: int, kernel_size: int):
        key = (reduction, kernel_size)
        if key not in cache:
            keep = channels // reduction
            cache[key] = {name: _cut_gates(nets[name].block, feats[name],
                                           {part: order[:keep] for part, order in ranked[name].items()}, kernel_size)
                          for name in nets}
        return cache[key]

    def compute(picture, reduction, kernel_size):
        g = gates(reduction, kernel_size)
        i = picture - 1
        strips = torch.stack([g["cbam"][0][i, :, 0, 0], g["cbam_joint"][0][i, :, 0, 0]])  # (2, C)
        say = i18n.say
        pictures = [Picture(say(PLAY_TEXT, "picture", picture=picture), x[i]),
                    Picture(say(PLAY_TEXT, "cbam"), g["cbam"][1][i, 0], vmin=0.0, vmax=1.0),
                    Picture(say(PLAY_TEXT, "joint"), g["cbam_joint"][1][i, 0], vmin=0.0, vmax=1.0),
                    Picture(say(PLAY_TEXT, "strips"), strips.repeat_interleave(4, 0), vmin=0.0, vmax=1.0)]
        parts = []
        for name, label in (("cbam", "CBAM"), ("cbam_joint", "CBAMBlock")):
            ms = g[name][1]
            parts.append(say(PLAY_TEXT, "part", label=label, inside=ms[inside].mean(), outside=ms[~inside].mean(),
                             count=x.shape[0], spread=ms.std(0, unbiased=False).mean()))
        caption = say(PLAY_TEXT, "caption", hidden=channels // reduction, kernel=kernel_size,
                      parts=say(PLAY_TEXT, "sep").join(parts))
        return pictures, caption

    return Play(i18n.say(PLAY_TEXT, "name"),
                {"picture": tuple(range(1, x.shape[0] + 1)), "reduction": reductions, "kernel_size": kernels},
                compute, size=160)
