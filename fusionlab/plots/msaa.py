"""Chapter 06 figures and the chapter's small task: what MSAA's two paths compute on a picture.

MSAA (CM-UNet, arXiv 2405.10530) splits its fused map f into a *channel path* (one weight per
channel, CA(f)) and a *spatial path* (3×3 + 5×5 + 7×7 convs summed, then one weight per pixel,
SA(s)). :func:`msaa_internals` records those intermediate tensors from the block itself with
forward hooks (nothing is recomputed here); :func:`plot_msaa_paths` draws them side by side.

Untrained gates sit near 0.5 and show nothing, so the chapter trains MSAA on a small task first:
:class:`CutOut` (an encoder at strides 1, 2, 4, the caller's resizing, MSAA and a 1×1 head) learns
to copy a striped disc pasted on a photograph and to erase everything else (:func:`disc_batch`,
:func:`train_cutout`). Erasing is a multiplication by ≈ 0, which the spatial gate can do per pixel:
trained, SA(s) opens more on the disc than around it (a soft mask, not a 0/1 one). :func:`msaa_parts` recomputes the block
with kernel branches, input scales or gates switched off; :func:`play` turns that into a panel.

>>> import torch
>>> from fusionlab import MSAA
>>> block = MSAA(6, 16)
>>> xs = [torch.randn(1, 2, 8, 8) for _ in range(3)]
>>> parts = msaa_internals(block, *xs)
>>> tuple(parts["channel_weights"].shape), tuple(parts["spatial_weights"].shape)
((1, 4, 1, 1), (1, 1, 8, 8))
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import i18n
from ..blocks.msaa import MSAA
from . import _pyplot, fit_cut_out, overlay, photo, to_numpy_image

__all__ = ["msaa_internals", "plot_msaa_paths", "disc_batch", "place_discs", "CutOut", "train_cutout",
           "msaa_parts", "gate_reading", "play", "TRAIN_PHOTOS", "DISC_SPOTS", "KERNEL_CHOICES",
           "SCALE_CHOICES", "GATE_CHOICES", "PLAY_TEXT"]

# the play panel's words, per language (fusionlab.i18n); the matplotlib figures stay English
PLAY_TEXT = {
    "en": {
        "name": "MSAA trained to cut out the striped disc",
        "input": "input: astronaut + disc",
        "sa": "SA(s): dark {lo:.2f}, bright {hi:.2f}",
        "ca": "CA(f): 0 dark … 1 bright",
        "output": "output: the cut-out",
        "caption": ("SA mean on the disc {sa_in:.2f}, off it {sa_out:.2f}; "
                    "CA in [{ca_lo:.2f}, {ca_hi:.2f}]; squared error on the disc {err_in:.3f} "
                    "(copying), off it {err_out:.4f} (erasing)"),
        "labels": {},  # control -> value -> the words its dropdown shows (the values stay English)
    },
    "zh": {
        "name": "训练好的 MSAA：抠出条纹圆盘",
        "input": "输入：宇航员 + 圆盘",
        "sa": "SA(s)：最暗 {lo:.2f}，最亮 {hi:.2f}",
        "ca": "CA(f)：0 暗 … 1 亮",
        "output": "输出：抠出的结果",
        "caption": ("SA 的均值：圆盘内 {sa_in:.2f}，圆盘外 {sa_out:.2f}；"
                    "CA 位于 [{ca_lo:.2f}, {ca_hi:.2f}]；平方误差：圆盘内 {err_in:.3f}"
                    "（复制），圆盘外 {err_out:.4f}（擦除）。"),
        "labels": {
            "disc": {"helmet": "头盔", "face": "脸", "suit": "宇航服", "flag": "旗帜", "rocket": "火箭"},
            "kernels": {"3×3 + 5×5 + 7×7": "3×3 + 5×5 + 7×7（全部）", "3×3 only": "仅 3×3", "5×5 only": "仅 5×5",
                        "7×7 only": "仅 7×7"},
            "scales": {"x1 + x2 + x4": "x1 + x2 + x4（全部）", "without x1": "去掉 x1", "without x2": "去掉 x2",
                       "without x4": "去掉 x4"},
            "gates": {"learned": "学到的门控", "SA = 1 (spatial gate open)": "SA = 1（空间门控全开）",
                      "CA = 0.5 (channel gate neutral)": "CA = 0.5（通道门控取中性值）"},
        },
    },
}

# internals key -> (sub-module of MSAA.fusion_conv, what the hook keeps: its input or its output)
_HOOKED = {
    "f": ("down", "output"),
    "channel_weights": ("channel_attention", "output"),
    "conv_3x3": ("conv_3x3", "output"),
    "conv_5x5": ("conv_5x5", "output"),
    "conv_7x7": ("conv_7x7", "output"),
    "spatial_response": ("spatial_attention", "input"),
    "spatial_weights": ("spatial_attention", "output"),
}


@torch.no_grad()
def msaa_internals(block: nn.Module, x1: torch.Tensor, x2: torch.Tensor, x4: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run ``block(x1, x2, x4)`` once and return its intermediate tensors (detached).

    Keys and shapes (d = ``block.inner_channels``):

    * ``f`` ``(B, d, H, W)``: the fused map, ``down(cat(x1, x2, x4))``;
    * ``channel_weights`` ``(B, d, 1, 1)``: CA(f), one weight in (0, 1) per channel;
    * ``conv_3x3``, ``conv_5x5``, ``conv_7x7`` ``(B, d, H, W)``: the three spatial branches;
    * ``spatial_response`` ``(B, d, H, W)``: their sum s, the input of the spatial attention;
    * ``spatial_weights`` ``(B, 1, H, W)``: SA(s), one weight in (0, 1) per pixel;
    * ``out`` ``(B, out_channels, H, W)``: the block's output.
    """
    fusion = getattr(block, "fusion_conv", None)
    if fusion is None:
        raise TypeError(f"msaa_internals: expected a fusionlab MSAA block, got {type(block).__name__}.")
    kept: dict[str, torch.Tensor] = {}
    handles = []
    for key, (name, which) in _HOOKED.items():
        def hook(module, inputs, output, key=key, which=which):
            kept[key] = (inputs[0] if which == "input" else output).detach()

        handles.append(getattr(fusion, name).register_forward_hook(hook))
    try:
        kept["out"] = block(x1, x2, x4).detach()
    finally:
        for h in handles:
            h.remove()
    return kept


def _channel_energy(t: torch.Tensor, sample: int) -> torch.Tensor:
    """(B, d, H, W) -> (H, W): mean |value| over channels, how strongly a branch responds at each pixel."""
    return t[sample].abs().mean(dim=0)


def plot_msaa_paths(image: Any, internals: dict[str, torch.Tensor], *, sample: int = 0, title: str | None = None):
    """MSAA's channel path beside its spatial path, for one sample of a batch.

    Left: the channel weights CA(f) as bars (one per inner channel; 0.5, dashed, is neutral).
    Top row: mean |value| over channels of the 3×3, 5×5 and 7×7 branches and of their sum s, on one
    colour scale. Bottom row: ``image`` (the photo the inputs were computed from, ``(3, H, W)`` or
    ``(1, 3, H, W)``), the spatial weights SA(s), and SA(s) over the photo (resized when smaller),
    both on SA's own range.

    Args:
        image: the photograph, for the overlay.
        internals: :func:`msaa_internals`'s result.
        sample: which batch element to draw.
        title: a title over the figure.
    """
    missing = {"channel_weights", "conv_3x3", "conv_5x5", "conv_7x7", "spatial_response", "spatial_weights"} - set(internals)
    if missing:
        raise ValueError(f"plot_msaa_paths: internals lacks {sorted(missing)}; pass msaa_internals(...)'s result.")
    batch = internals["channel_weights"].shape[0]
    if not 0 <= sample < batch:
        raise ValueError(f"plot_msaa_paths: sample must be in [0, {batch - 1}], got {sample}.")

    plt = _pyplot()
    fig = plt.figure(figsize=(11.0, 4.6), layout="constrained")
    grid = fig.add_gridspec(2, 5, width_ratios=(1.2, 1, 1, 1, 1))

    # channel path: one bar per inner channel
    ax = fig.add_subplot(grid[:, 0])
    weights = internals["channel_weights"][sample, :, 0, 0].cpu()
    ax.bar(range(len(weights)), weights.numpy(), color="C0")
    if len(weights) <= 16:  # channel indices are integers: one tick per bar, not matplotlib's 2.5, 7.5
        ax.set_xticks(range(len(weights)))
    else:
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.axhline(0.5, color="gray", linestyle="--", linewidth=1)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("inner channel of f")
    ax.set_ylabel("CA(f): weight in (0, 1)")
    ax.set_title("channel path: c = f · CA(f)", fontsize=10)

    # spatial path, top row: the three branches and their sum s, on one colour scale
    maps = [
        ("3×3 branch", internals["conv_3x3"]),
        ("5×5 branch", internals["conv_5x5"]),
        ("7×7 branch", internals["conv_7x7"]),
        ("s = their sum", internals["spatial_response"]),
    ]
    energies = [_channel_energy(t, sample).cpu() for _, t in maps]
    top = max(float(e.max()) for e in energies)
    for col, ((label, _), energy) in enumerate(zip(maps, energies), start=1):
        ax = fig.add_subplot(grid[0, col])
        shown = ax.imshow(to_numpy_image(energy), cmap="magma", vmin=0.0, vmax=top)
        ax.set_title(f"{label}: mean |value|", fontsize=9)
        ax.set_axis_off()
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)

    # spatial path, bottom row: the photo, SA(s) alone and over the photo (one colour scale)
    ax = fig.add_subplot(grid[1, 1])
    ax.imshow(to_numpy_image(image).clip(0.0, 1.0))
    ax.set_title("the photo", fontsize=9)
    ax.set_axis_off()
    sa = internals["spatial_weights"][sample, 0].cpu()
    low, high = float(sa.min()), float(sa.max())
    ax = fig.add_subplot(grid[1, 2])
    shown = ax.imshow(to_numpy_image(sa), cmap="viridis", vmin=low, vmax=high)
    ax.set_title("SA(s): one weight per pixel", fontsize=9)
    ax.set_axis_off()
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    ax = fig.add_subplot(grid[1, 3])
    overlay(image, sa, ax=ax, alpha=0.6, cmap="viridis", vmin=low, vmax=high, title="SA(s) over the photo")
    fig.suptitle(title or "MSAA: the channel path and the multi-kernel spatial path")
    plt.close(fig)
    return fig


# ---------------------------------------------------------------------------------------------
# The chapter's task: copy a striped disc, erase the rest of the photo
# ---------------------------------------------------------------------------------------------

TRAIN_PHOTOS = ("coffee", "chelsea", "camera")  # training backgrounds; the astronaut is held out for testing
PERIOD = 4.0  # pixels per stripe period of the disc's grating
# where the chapter's play puts the disc on the 80×80 astronaut: (row, column) of its centre
DISC_SPOTS = {"helmet": (64, 60), "face": (24, 38), "suit": (56, 24), "flag": (26, 9), "rocket": (22, 66)}


def _gratings(n: int, side: int, angle: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """n grey stripe patterns ``(n, 1, side, side)`` in [0.05, 0.95], period :data:`PERIOD`, at ``angle`` radians."""
    yy, xx = torch.meshgrid(torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32),
                            indexing="ij")
    along = xx * angle.cos()[:, None, None] + yy * angle.sin()[:, None, None]
    return (0.5 + 0.45 * torch.sin(2 * math.pi * along / PERIOD + phase[:, None, None]))[:, None]


def _discs(side: int, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Masks ``(n, 1, side, side)``: 1 inside the disc of centre (row, col) and radius r, in pixel units."""
    yy, xx = torch.meshgrid(torch.arange(side, dtype=torch.float32) + 0.5,
                            torch.arange(side, dtype=torch.float32) + 0.5, indexing="ij")
    d2 = (yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2
    return (d2 <= radii[:, None, None] ** 2).float()[:, None]


def disc_batch(n: int, size: int = 40, *, generator: torch.Generator, backgrounds: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """n training pictures: a random ``size``×``size`` crop of a photo with one striped disc pasted on it.

    The disc's radius is 10–22 % of ``size``, its stripes have period :data:`PERIOD` at a random angle
    and phase. ``backgrounds`` ``(P, 3, H, W)`` defaults to :data:`TRAIN_PHOTOS` at 128×128.
    Returns ``(x (n, 3, size, size) in [0, 1], mask (n, 1, size, size) in {0, 1})``.
    """
    if backgrounds is None:
        backgrounds = torch.cat([photo(name, size=128) for name in TRAIN_PHOTOS])
    p, _, h, w = backgrounds.shape
    if size > min(h, w):
        raise ValueError(f"disc_batch: size={size} is larger than the backgrounds ({h}×{w}); use size ≤ {min(h, w)}.")
    which = torch.randint(p, (n,), generator=generator)
    tops = torch.randint(h - size + 1, (n,), generator=generator)
    lefts = torch.randint(w - size + 1, (n,), generator=generator)
    x = torch.stack([backgrounds[i, :, t:t + size, l:l + size] for i, t, l in zip(which.tolist(), tops.tolist(), lefts.tolist())])
    radii = size * (0.10 + 0.12 * torch.rand(n, generator=generator))
    centres = radii[:, None] + (size - 2 * radii[:, None]) * torch.rand(n, 2, generator=generator)
    mask = _discs(size, centres, radii)
    stripes = _gratings(n, size, math.pi * torch.rand(n, generator=generator), 2 * math.pi * torch.rand(n, generator=generator))
    return x * (1 - mask) + stripes * mask, mask


def place_discs(image: torch.Tensor, centres: Sequence[tuple[float, float]], radius: float = 7.0, *,
                angle: float = 0.6) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste striped discs on ``image`` ``(1, 3, H, W)`` at ``centres`` (row, column); ``(x, mask)`` as :func:`disc_batch`."""
    if image.dim() != 4 or image.shape[:2] != (1, 3) or image.shape[-1] != image.shape[-2]:
        raise ValueError(f"place_discs: image must be one square RGB picture (1, 3, S, S), got {tuple(image.shape)}.")
    side = image.shape[-1]
    mask = torch.zeros(1, 1, side, side)
    for row, col in centres:
        mask = torch.maximum(mask, _discs(side, torch.tensor([[float(row), float(col)]]), torch.tensor([float(radius)])))
    stripes = _gratings(1, side, torch.tensor([angle]), torch.zeros(1))
    return image * (1 - mask) + stripes * mask, mask


class CutOut(nn.Module):
    """A small network around MSAA: encoder at strides 1, 2, 4 → the caller's resizing → MSAA → 1×1 head.

    ``x (B, 3, H, W)`` → ``scales(x)`` = (x1, x2, x4), each ``(B, C_k, H, W)`` (x2 and x4 resized with
    bilinear ``align_corners=True`` and a 1×1 conv, as CM-UNet's caller does) → ``msaa`` →
    ``head`` → ``(B, 3, H, W)``, the picture with everything but the disc erased. H, W divisible by 4.
    """

    def __init__(self, channels: tuple[int, int, int] = (8, 8, 8), out_channels: int = 32, factor: float = 4.0) -> None:
        super().__init__()
        self.stems = nn.ModuleList(
            nn.Sequential(nn.Conv2d(3, c, 3, stride=stride, padding=1), nn.ReLU()) for c, stride in zip(channels, (1, 2, 4))
        )
        self.lifts = nn.ModuleList(nn.Conv2d(c, c, 1) for c in channels[1:])  # the caller's 1×1 convs
        self.msaa = MSAA(sum(channels), out_channels, factor=factor)
        self.head = nn.Conv2d(out_channels, 3, 1)

    def scales(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x1, x2, x4 = (stem(x) for stem in self.stems)  # (B, C_k, H/k, W/k)
        size = x1.shape[-2:]
        x2, x4 = (lift(F.interpolate(t, size=size, mode="bilinear", align_corners=True))
                  for lift, t in zip(self.lifts, (x2, x4)))
        return x1, x2, x4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.msaa(*self.scales(x)))


def train_cutout(*, steps: int = 90, size: int = 40, batch: int = 16, lr: float = 1e-2, gate_lr: float | None = 3e-3,
                 seed: int = 0, out_channels: int = 32, factor: float = 4.0) -> tuple[CutOut, list[float]]:
    """Train :class:`CutOut` with Adam on ``mse(net(x), x · mask)`` over :func:`disc_batch` pictures.

    Target: the disc's pixels kept, everything else 0. ``gate_lr`` is the learning rate of the
    spatial gate's 7×7 conv (``None``: the same ``lr`` as the rest). Adam moves every weight by about
    its learning rate per step, and this conv's 98 weights act on unnormalised [mean_c s, max_c s], so at
    ``lr`` = 1e-2 its logits turn strongly negative within a few steps — most pixels are background, to
    be erased — and σ′ ≈ 0 keeps the gate shut on the disc as well (the collapse). The global random
    state is left as it was (the seed drives the weights and the pictures). Returns
    ``(net in eval mode, loss per step)``. About 0.1 s per step at the defaults on one CPU thread.
    """
    for name, value in (("steps", steps), ("size", size), ("batch", batch)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"train_cutout: {name} must be an int ≥ 1, got {value!r}.")
    if size % 4:
        raise ValueError(f"train_cutout: size must be divisible by 4 (the encoder's stride-4 scale), got {size}.")
    backgrounds = torch.cat([photo(name, size=128) for name in TRAIN_PHOTOS])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = CutOut(out_channels=out_channels, factor=factor)
        data = torch.Generator().manual_seed(seed)
        gate = list(net.msaa.fusion_conv.spatial_attention.parameters())
        rest = [p for p in net.parameters() if all(p is not g for g in gate)]
        opt = torch.optim.Adam([{"params": rest}, {"params": gate, "lr": lr if gate_lr is None else gate_lr}], lr=lr)
        losses = fit_cut_out(net, opt, lambda: disc_batch(batch, size, generator=data, backgrounds=backgrounds), steps)
    return net.eval(), losses


KERNEL_CHOICES = {"3×3 + 5×5 + 7×7": (3, 5, 7), "3×3 only": (3,), "5×5 only": (5,), "7×7 only": (7,)}
SCALE_CHOICES = {"x1 + x2 + x4": ("x1", "x2", "x4"), "without x1": ("x2", "x4"), "without x2": ("x1", "x4"),
                 "without x4": ("x1", "x2")}
GATE_CHOICES = ("learned", "SA = 1 (spatial gate open)", "CA = 0.5 (channel gate neutral)")


@torch.no_grad()
def msaa_parts(block: nn.Module, x1: torch.Tensor, x2: torch.Tensor, x4: torch.Tensor, *,
               kernels: Sequence[int] = (3, 5, 7), scales: Sequence[str] = ("x1", "x2", "x4"),
               gates: str = "learned") -> dict[str, torch.Tensor]:
    """MSAA's equations with parts switched off, using the block's own sub-modules.

    ``kernels``: which of the 3×3, 5×5, 7×7 branches s sums (a dropped branch's bias goes too);
    ``scales``: which inputs reach ``down`` (a dropped one is replaced by zeros); ``gates``: one of
    :data:`GATE_CHOICES` (SA forced to 1, or CA to 0.5). With the defaults the result equals the
    block's forward. Keys: ``f``, ``channel_weights``, ``spatial_response``, ``spatial_weights``, ``out``.
    """
    fc = getattr(block, "fusion_conv", None)
    if fc is None:
        raise TypeError(f"msaa_parts: expected a fusionlab MSAA block, got {type(block).__name__}.")
    if not kernels or set(kernels) - {3, 5, 7}:
        raise ValueError(f"msaa_parts: kernels must be a non-empty subset of (3, 5, 7), got {tuple(kernels)}.")
    if set(scales) - {"x1", "x2", "x4"}:
        raise ValueError(f"msaa_parts: scales must name some of 'x1', 'x2', 'x4', got {tuple(scales)}.")
    if gates not in GATE_CHOICES:
        raise ValueError(f"msaa_parts: gates must be one of {', '.join(map(repr, GATE_CHOICES))}; got {gates!r}.")
    kept = [x if name in scales else torch.zeros_like(x) for name, x in zip(("x1", "x2", "x4"), (x1, x2, x4))]
    f = fc.down(torch.cat(kept, dim=1))
    ca = fc.channel_attention(f)
    if gates == GATE_CHOICES[2]:
        ca = torch.full_like(ca, 0.5)
    s = sum(getattr(fc, f"conv_{k}x{k}")(f) for k in kernels)
    sa = torch.ones_like(s[:, :1]) if gates == GATE_CHOICES[1] else fc.spatial_attention(s)
    return {"f": f, "channel_weights": ca, "spatial_response": s, "spatial_weights": sa, "out": fc.up(s * sa + f * ca)}


@torch.no_grad()
def gate_reading(net: CutOut, x: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """Numbers that say what the trained gates do on pictures ``x`` with disc ``mask`` (as :func:`disc_batch`).

    ``sa_inside`` / ``sa_outside``: mean SA(s) on / off the disc; ``s_inside`` / ``s_outside``: mean
    |s| (the gate's input, over channels and pixels) on / off the disc; ``closed_outside``, ``closed_inside``:
    fraction of those pixels with SA < 0.02; ``ca_min``, ``ca_max``: range of CA(f) over channels and
    images; ``ca_spread``: its mean standard deviation across images; ``error``: the net's MSE
    against ``x · mask``; ``error_sa_open``, ``error_ca_neutral``: the same with SA forced to 1 or CA
    to 0.5; ``error_erase_nothing``: the MSE of returning 0 everywhere (the bar to beat).
    """
    with_parts = {}
    for gates in GATE_CHOICES:
        parts = msaa_parts(net.msaa, *net.scales(x), gates=gates)
        with_parts[gates] = parts, F.mse_loss(net.head(parts["out"]), x * mask).item()
    parts = with_parts["learned"][0]
    sa, ca = parts["spatial_weights"], parts["channel_weights"][:, :, 0, 0]
    inside, outside = mask.bool(), ~mask.bool()
    s_energy = parts["spatial_response"].abs().mean(dim=1, keepdim=True)  # (B, 1, H, W)
    return {
        "s_inside": s_energy[inside].mean().item(), "s_outside": s_energy[outside].mean().item(),
        "sa_inside": sa[inside].mean().item(), "sa_outside": sa[outside].mean().item(),
        "closed_inside": (sa[inside] < 0.02).float().mean().item(),
        "closed_outside": (sa[outside] < 0.02).float().mean().item(),
        "ca_min": ca.min().item(), "ca_max": ca.max().item(),
        "ca_spread": ca.std(dim=0).mean().item() if ca.shape[0] > 1 else 0.0,
        "error": with_parts["learned"][1], "error_sa_open": with_parts[GATE_CHOICES[1]][1],
        "error_ca_neutral": with_parts[GATE_CHOICES[2]][1],
        "error_erase_nothing": F.mse_loss(torch.zeros_like(x), x * mask).item(),
    }


def play(net: CutOut, *, side: int = 80, radius: float = 7.0):
    """A :class:`fusionlab.play.Play` on the trained net: move the disc, drop kernel branches or input scales,
    force a gate; see the input, SA(s) (on its own range, named in the title), CA(f) (a strip, one cell
    per channel, 0 to 1) and the cut-out; the caption gives SA on and off the disc and the error of
    copying (on the disc) and of erasing (off it).

    The astronaut (held out from training) at ``side``×``side``, one disc at a :data:`DISC_SPOTS` spot.
    The encoder's three scales are computed once per spot when the panel is built; each move runs
    MSAA and the head once (a few ms).
    """
    from ..play import Picture, Play

    import matplotlib  # noqa: F401  (Picture's colour maps: imported here, not on the first move)

    image = photo("astronaut", size=side)
    pasted = {spot: place_discs(image, [centre], radius) for spot, centre in DISC_SPOTS.items()}
    with torch.no_grad():  # the encoder does not depend on the other controls: once per spot, up front
        scales_of = {spot: net.scales(x) for spot, (x, _) in pasted.items()}

    def compute(disc, kernels, scales, gates):
        x, mask = pasted[disc]
        parts = msaa_parts(net.msaa, *scales_of[disc], kernels=KERNEL_CHOICES[kernels], scales=SCALE_CHOICES[scales],
                           gates=gates)
        with torch.no_grad():
            out = net.head(parts["out"])
        sa, ca = parts["spatial_weights"][0, 0], parts["channel_weights"][0, :, 0]  # (H, W), (d, 1)
        inside = mask[0, 0].bool()
        err = (out - x * mask)[0].pow(2).mean(dim=0)  # (H, W) squared error per pixel
        lo, hi = sa.min().item(), sa.max().item()
        say = i18n.say
        pictures = [
            Picture(say(PLAY_TEXT, "input"), x[0]),
            Picture(say(PLAY_TEXT, "sa", lo=lo, hi=hi), sa),  # its own range: small contrasts show
            Picture(say(PLAY_TEXT, "ca"), ca.T, vmin=0.0, vmax=1.0),
            Picture(say(PLAY_TEXT, "output"), out[0].clamp(0, 1)),
        ]
        caption = say(PLAY_TEXT, "caption", sa_in=sa[inside].mean(), sa_out=sa[~inside].mean(), ca_lo=ca.min(),
                      ca_hi=ca.max(), err_in=err[inside].mean(), err_out=err[~inside].mean())
        return pictures, caption

    return Play(i18n.say(PLAY_TEXT, "name"),
                {"disc": tuple(DISC_SPOTS), "kernels": tuple(KERNEL_CHOICES), "scales": tuple(SCALE_CHOICES),
                 "gates": GATE_CHOICES}, compute, size=160, labels=i18n.say(PLAY_TEXT, "labels"))
