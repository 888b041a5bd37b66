"""Figures of chapter 03 (MFE): what each branch of the dilated cascade sees on the image grid.

:class:`fusionlab.MFEBlock` computes y_0 = L_1(x) and y_i = L_{i+1}(y_{i−1} + x), each L a 3×3
conv with dilation d_i (1, then the block's ``atrous_rates``). Two views of branch i's receptive
field at one output pixel:

* :func:`tap_counts`: the number of paths from each input pixel to that output pixel if every
  weight were 1 (BN and ReLU ignored) — the geometry of the dilated taps and of the ``+ x`` skips;
* :func:`effective_receptive_fields`: |∂ y_i[centre] / ∂ x| of the block itself, averaged over
  random inputs (Luo et al., NeurIPS 2016) — what its actual weights make of that geometry.

A small task where scale matters, trained in seconds (:func:`train_stripe_periods`): a photo
covered with four striped patches of period 2, 4, 8 and 16 pixels, and the period to be told at
every pixel. :func:`probe_branches` then asks each branch alone which period it sees (a linear
probe), :func:`plot_stripe_periods` draws the answers, :func:`plot_fields_on_photo` each
branch's field on the photo, and :func:`play` lets a learner swap the dilation rates of the
trained block.

Each figure function returns a matplotlib ``Figure`` that is already closed in pyplot.

>>> from fusionlab import MFEBlock
>>> receptive_field_sizes(MFEBlock(4, atrous_rates=(2, 4, 8)))
(3, 7, 15, 31)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import i18n
from ..blocks.mfe import MFEBlock
from ..modes import eval_mode
from . import _pyplot, photo
from .mfe_stripes import (PERIODS, TRAIN_PHOTOS, Probes, _period_rgb, StripePeriodNet, StripeRun, plot_scale_weights,
                          plot_stripe_periods, probe_branches, stripe_scenes, stripes, train_stripe_periods)

__all__ = ["branch_dilations", "receptive_field_sizes", "tap_counts", "effective_receptive_fields",
           "plot_receptive_fields", "field_overlay", "plot_fields_on_photo", "PERIODS", "stripes",
           "stripe_scenes", "StripePeriodNet", "StripeRun", "train_stripe_periods", "Probes", "probe_branches",
           "plot_stripe_periods", "plot_scale_weights", "play", "PLAY_TEXT"]

# the play panel's words, per language (fusionlab.i18n); the matplotlib figures stay English.
# "pixels": the words for the values of the pixel control, in its dropdown and in a title (the values stay English).
PLAY_TEXT = {
    "en": {
        "name": "MFE: atrous_rates -> each branch's field and what the trained network reads",
        "field": "{branch}: field {size}×{size} at the {pixel} pixel",
        "truth": "true period",
        "answer": "the network's answer, rates {rates}",
        "weights": "fusion weights: rows y0–y3, columns channels",
        "period": "{period} px {recall:.0%}",
        "sep": ", ",
        "caption": ("rates ({rates}): fields {fields} px. Pixels read right: "
                    "{accuracy:.0%} ({per_period}); with the trained rates {trained}: {reference:.0%}. "
                    "Weights of y0–y3 on test scene {index}, mean over channels: {mean_w}."),
        "pixels": {},
    },
    "zh": {
        "name": "MFE：atrous_rates → 各分支的感受野，以及训练好的网络读出了什么",
        "field": "{branch}：{pixel}像素处的感受野 {size}×{size}",
        "truth": "真实周期",
        "answer": "网络的判断，空洞率 {rates}",
        "weights": "融合权重：行为 y0–y3，列为通道",
        "period": "{period} px {recall:.0%}",
        "sep": "，",
        "caption": ("空洞率（{rates}）：感受野 {fields} px。判断正确的像素：{accuracy:.0%}（{per_period}）；"
                    "用训练时的空洞率 {trained}：{reference:.0%}。测试场景 {index} 上 y0–y3 的权重"
                    "（对通道取均值）：{mean_w}。"),
        "pixels": {"top left": "左上", "top right": "右上", "bottom left": "左下", "bottom right": "右下"},
    },
}

_LAYERS = ("layer1", "layer2", "layer3", "layer4")


def _check_block(owner: str, block: nn.Module) -> None:
    layers = all(isinstance(getattr(block, name, None), nn.Sequential) for name in _LAYERS)
    if not layers or not hasattr(block, "scales"):
        raise TypeError(f"{owner}: block must be an MFEBlock (with layer1–layer4 and scales()), "
                        f"got {type(block).__name__}.")


def branch_dilations(block: nn.Module) -> tuple[int, int, int, int]:
    """The dilation of each branch's 3×3 conv, read from the block: (1, *atrous_rates)."""
    _check_block("branch_dilations", block)
    return tuple(int(getattr(block, name)[0].dilation[0]) for name in _LAYERS)


def receptive_field_sizes(block: nn.Module) -> tuple[int, int, int, int]:
    """Side of each branch's (square) receptive field: 1 + 2·(d_1 + … + d_i) for branch i.

    A 3×3 conv with dilation d widens the field by 2d; the cascade adds the widths up, and the
    ``+ x`` skips add nothing wider.
    """
    sizes, width = [], 1
    for d in branch_dilations(block):
        width += 2 * d
        sizes.append(width)
    return tuple(sizes)


def _default_size(block: nn.Module) -> int:
    return receptive_field_sizes(block)[-1] + 6  # the widest field, a 3-pixel margin each side


def tap_counts(block: nn.Module, size: int | None = None) -> torch.Tensor:
    """Paths from each input pixel to the centre output pixel of each branch, all weights 1.

    Returns ``(4, size, size)`` (default size: the widest receptive field + 6). Branch 0 is one
    3×3 kernel (9 taps of 1); branch i convolves (branch i−1 + the input itself, the skip) with a
    3×3 kernel of dilation d_i — the same paddings and dilations as the block's convs.
    """
    _check_block("tap_counts", block)
    size = _default_size(block) if size is None else size
    if isinstance(size, bool) or not isinstance(size, int) or size < 3:
        raise ValueError(f"tap_counts: size must be an int ≥ 3, got {size!r}.")
    delta = torch.zeros(1, 1, size, size)
    delta[..., size // 2, size // 2] = 1.0  # one output pixel; by symmetry paths to it = paths from it
    ones = torch.ones(1, 1, 3, 3)
    counts, previous = [], None
    for name in _LAYERS:
        conv = getattr(block, name)[0]
        source = delta if previous is None else previous + delta  # the cascade: y_{i-1} + x
        previous = F.conv2d(source, ones, padding=conv.padding, dilation=conv.dilation)
        counts.append(previous[0, 0])
    return torch.stack(counts)


def effective_receptive_fields(block: nn.Module, size: int | None = None, *, samples: int = 8,
                               seed: int = 0) -> torch.Tensor:
    """|∂ y_i[centre] / ∂ x|, summed over the input channels and averaged over random inputs.

    ``y_i[centre]`` is the sum over channels of branch i's output at the centre pixel; inputs are
    ``samples`` maps x ~ N(0, 1) of shape (C, size, size). The block runs in eval mode (BatchNorm
    uses its running statistics) and is left as it was: its mode is restored and its parameters'
    ``.grad`` is not touched. Returns ``(4, size, size)``.
    """
    _check_block("effective_receptive_fields", block)
    size = _default_size(block) if size is None else size
    if isinstance(size, bool) or not isinstance(size, int) or size < 3:
        raise ValueError(f"effective_receptive_fields: size must be an int ≥ 3, got {size!r}.")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"effective_receptive_fields: samples must be an int ≥ 1, got {samples!r}.")
    param = next(block.parameters())
    gen = torch.Generator().manual_seed(seed)
    channels = block.layer1[0].in_channels
    # one batch per branch, stacked: (4 · samples, C, size, size)
    x = torch.randn(4 * samples, channels, size, size, generator=gen).to(param.device, param.dtype)
    x.requires_grad_(True)
    with eval_mode(block), torch.enable_grad():
        ys = block.scales(x)
        mid = size // 2
        # branch i is read on its own slice of the batch, so one backward pass serves all four
        total = sum(y[i * samples:(i + 1) * samples, :, mid, mid].sum() for i, y in enumerate(ys))
        (grad,) = torch.autograd.grad(total, x)
    return grad.abs().sum(1).view(4, samples, size, size).mean(1).cpu()


def plot_receptive_fields(block: nn.Module, *, size: int | None = None, samples: int = 8, seed: int = 0,
                          erf: torch.Tensor | None = None):
    """Each branch's receptive field on the image grid: the taps (top) and the effective field (bottom).

    Top row: :func:`tap_counts`, each branch scaled to its own maximum (square-root colour scale);
    the 9 taps of the branch's own dilated kernel are marked with red dots, the receptive field's
    border with a dashed square. Bottom row: :func:`effective_receptive_fields` of ``block`` (or
    ``erf``, if given: ``(4, S, S)`` as that function returns), each scaled to its maximum, log
    colour scale (darkest: 10⁻³ of the maximum or less).
    """
    import matplotlib.colors as mcolors
    import matplotlib.patches as mpatches

    counts = tap_counts(block, size)
    n = counts.shape[-1]
    if erf is None:
        erf = effective_receptive_fields(block, n, samples=samples, seed=seed)
    elif tuple(erf.shape) != (4, n, n):
        raise ValueError(f"plot_receptive_fields: erf must have shape (4, {n}, {n}) to match the tap counts, "
                         f"got {tuple(erf.shape)}; pass the same size to both.")
    dilations = branch_dilations(block)
    fields = receptive_field_sizes(block)
    mid = n // 2

    plt = _pyplot()
    # one colour bar per row and shared axes: constrained layout stays quick
    fig, axes = plt.subplots(2, 4, figsize=(11.0, 5.8), sharex=True, sharey=True, layout="constrained")
    inputs = ("x", "y0 + x", "y1 + x", "y2 + x")
    extent = (-mid - 0.5, n - mid - 0.5, n - mid - 0.5, -mid - 0.5)  # axes in pixels from the centre
    cmap = plt.get_cmap("viridis").with_extremes(bad="black")
    reach = fields[-1] // 2
    for i in range(4):
        top, bottom = axes[0, i], axes[1, i]
        share = counts[i] / counts[i].max()
        paths = torch.where(counts[i] > 0, share, torch.nan).numpy()  # no path: NaN, drawn black
        shown_counts = top.imshow(paths, cmap=cmap, extent=extent, norm=mcolors.PowerNorm(0.5, vmin=0.0, vmax=1.0))
        d = dilations[i]
        top.plot([dx * d for dy in (-1, 0, 1) for dx in (-1, 0, 1)],
                 [dy * d for dy in (-1, 0, 1) for dx in (-1, 0, 1)], "o", color="red", markersize=3)
        relative = (erf[i] / erf[i].max()).clamp(min=1e-3).numpy()
        shown_erf = bottom.imshow(relative, cmap="magma", extent=extent, norm=mcolors.LogNorm(vmin=1e-3, vmax=1.0))
        half = fields[i] / 2
        for ax in (top, bottom):
            ax.add_patch(mpatches.Rectangle((-half, -half), fields[i], fields[i], fill=False, edgecolor="white",
                                            linestyle="--", linewidth=1))
        top.set_title(f"y{i} = L{i + 1}({inputs[i]}), 3×3, dilation {d}\nfield {fields[i]}×{fields[i]}, "
                      f"{int(counts[i].sum()):,} paths (max {int(counts[i].max())})", fontsize=9)
        bottom.set_title(f"y{i}: effective field, |∂y{i}[centre]/∂x|", fontsize=9)
        bottom.set_xlabel("pixels from the centre", fontsize=8)
    ticks = sorted({-reach, -dilations[-1], 0, dilations[-1], reach})  # the field's edge and the last taps
    axes[0, 0].set_xticks(ticks)
    axes[0, 0].set_yticks(ticks)
    for ax in axes.flat:
        ax.tick_params(labelsize=7)
    fig.colorbar(shown_counts, ax=axes[0, :], shrink=0.9, label="paths / the branch's maximum")
    fig.colorbar(shown_erf, ax=axes[1, :], shrink=0.9, label="gradient / its maximum")
    axes[0, 0].set_ylabel("paths if every weight were 1\n(red: this layer's 9 taps)", fontsize=9)
    axes[1, 0].set_ylabel(f"this block's weights,\nmean over {samples} random inputs", fontsize=9)
    fig.suptitle("MFE: the receptive field of each branch at the centre pixel (pixels of the input grid)")
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- the fields on a photo

def _gray(image: torch.Tensor) -> torch.Tensor:
    """``(1, C, H, W)``, ``(C, H, W)`` or ``(H, W)`` -> ``(H, W)`` (mean over the channels)."""
    if not isinstance(image, torch.Tensor) or image.dim() not in (2, 3, 4) or (image.dim() == 4 and image.shape[0] != 1):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be a tensor (H, W), (C, H, W) or (1, C, H, W), got {shape}.")
    image = image.detach().float().cpu()
    return image.reshape(-1, *image.shape[-2:]).mean(0)


def field_overlay(image: torch.Tensor, counts: torch.Tensor, pixel: tuple[int, int]) -> torch.Tensor:
    """The photo in gray with one branch's paths (:func:`tap_counts`, ``(n, n)``) laid over it in red,
    centred on ``pixel`` (row, column); the brighter the red, the more paths (square-root scale).
    Returns an RGB picture ``(H, W, 3)`` in [0, 1]; the parts of the field beyond the border are cut."""
    gray = _gray(image)
    h, w = gray.shape
    r, c = pixel
    if not (0 <= r < h and 0 <= c < w):
        raise ValueError(f"field_overlay: pixel must lie inside the {h}×{w} image, got {pixel!r}.")
    n = counts.shape[-1]
    mid = n // 2
    alpha = torch.zeros(h, w)
    top, left = r - mid, c - mid  # where the count map's corner falls on the photo
    rows = slice(max(top, 0), min(top + n, h))
    cols = slice(max(left, 0), min(left + n, w))
    share = (counts / counts.max()).sqrt()
    alpha[rows, cols] = share[rows.start - top:rows.stop - top, cols.start - left:cols.stop - left]
    alpha = (0.15 + 0.85 * alpha) * (alpha > 0)  # every reached pixel visible, the busiest opaque
    rgb = (0.35 + 0.5 * gray.clamp(0, 1)).unsqueeze(-1).expand(h, w, 3).clone()  # a dimmed photo
    red = torch.tensor([1.0, 0.1, 0.1])
    return (1 - alpha[..., None]) * rgb + alpha[..., None] * red


def plot_fields_on_photo(block: nn.Module, image: torch.Tensor, pixel: tuple[int, int] | None = None):
    """What each branch reads of a photo at one output pixel (default: the centre): its paths
    (:func:`tap_counts`) drawn in red on the photo, the field's border dashed."""
    import matplotlib.patches as mpatches

    counts = tap_counts(block)
    gray = _gray(image)
    h, w = gray.shape
    pixel = (h // 2, w // 2) if pixel is None else tuple(pixel)
    fields, dilations = receptive_field_sizes(block), branch_dilations(block)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(10.4, 3.0), layout="constrained")
    for i, ax in enumerate(axes):
        ax.imshow(field_overlay(gray, counts[i], pixel).numpy())
        half = fields[i] / 2
        ax.add_patch(mpatches.Rectangle((pixel[1] - half, pixel[0] - half), fields[i], fields[i], fill=False,
                                        edgecolor="yellow", linestyle="--", linewidth=1))
        ax.set_title(f"y{i}: dilation {dilations[i]}, field {fields[i]}×{fields[i]}", fontsize=9)
        ax.set_axis_off()
    fig.suptitle("what each branch reads at one pixel (red: paths from the input, brighter = more)", fontsize=10)
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- a task where scale matters


def _with_rates(model: StripePeriodNet, rates: tuple[int, int, int]) -> StripePeriodNet:
    """The trained network with other dilation rates: the same weights (a dilation changes no shape)."""
    other = StripePeriodNet(model.mfe.in_channels, atrous_rates=rates)
    other.load_state_dict(model.state_dict())
    return other.eval()


def play(model: StripePeriodNet, scenes: tuple[torch.Tensor, torch.Tensor], *, rates=None, index: int = 0):
    """A behaviour panel: choose MFE's ``atrous_rates`` for the trained network (same filters, other
    dilations), a branch and a pixel; see that branch's field on the test scene, the period the
    network now reads at every pixel, and its fusion weights (4 × C). ``scenes`` are test scenes
    ``(images, labels)``; the accuracy in the caption is over all of them."""
    from ..play import Picture, Play
    from ..registry import BLOCKS
    from .msf import squeeze_bounds

    rates = tuple(BLOCKS["mfe"].choices["atrous_rates"]) if rates is None else tuple(rates)
    images, truth = scenes
    trained = tuple(model.mfe.atrous_rates)
    if trained not in rates:
        rates = (trained, *rates)
    names = {", ".join(map(str, r)): tuple(r) for r in rates}
    size = images.shape[-1]
    quarter, three = size // 4, (3 * size) // 4
    pixels = {"top left": (quarter, quarter), "top right": (quarter, three), "bottom left": (three, quarter),
              "bottom right": (three, three)}
    lo, hi = squeeze_bounds(4)
    cache: dict = {}

    def configuration(key):
        if key not in cache:
            net = _with_rates(model, names[key])
            with torch.no_grad():
                answer = net(images).argmax(1)
                weights = net.mfe.weights(net.stem(images[index:index + 1]))[0]  # (4, C)
            recall = [float((answer[truth == k] == k).float().mean()) for k in range(len(PERIODS))]
            cache[key] = (net, answer, weights, float((answer == truth).float().mean()), recall, tap_counts(net.mfe))
        return cache[key]

    for key in names:  # every configuration up front (a few hundred ms), so that no first visit waits
        configuration(key)
    reference = configuration(", ".join(map(str, trained)))[3]

    def compute(atrous_rates, branch, pixel):
        net, answer, weights, accuracy, recall, counts = configuration(atrous_rates)
        i = int(branch[1])
        fields = receptive_field_sizes(net.mfe)
        say = i18n.say
        pixel_word = say(PLAY_TEXT, "pixels").get(pixel, pixel)
        pictures = [
            Picture(say(PLAY_TEXT, "field", branch=branch, size=fields[i], pixel=pixel_word),
                    field_overlay(images[index], counts[i], pixels[pixel])),
            Picture(say(PLAY_TEXT, "truth"), _period_rgb(truth[index])),
            Picture(say(PLAY_TEXT, "answer", rates=atrous_rates), _period_rgb(answer[index])),
            Picture(say(PLAY_TEXT, "weights"), weights, vmin=lo, vmax=hi),
        ]
        per_period = say(PLAY_TEXT, "sep").join(say(PLAY_TEXT, "period", period=p, recall=r)
                                                for p, r in zip(PERIODS, recall))
        mean_w = " ".join(f"{float(v):.2f}" for v in weights.mean(-1))
        caption = say(PLAY_TEXT, "caption", rates=atrous_rates, fields=", ".join(map(str, fields)), accuracy=accuracy,
                      per_period=per_period, trained=trained, reference=reference, index=index, mean_w=mean_w)
        return pictures, caption

    panel = Play(i18n.say(PLAY_TEXT, "name"),
                 {"atrous_rates": tuple(names), "branch": ("y0", "y1", "y2", "y3"), "pixel": tuple(pixels)},
                 compute, defaults={"atrous_rates": ", ".join(map(str, trained)), "branch": "y3"},
                 labels={"pixel": i18n.say(PLAY_TEXT, "pixels")})
    for picture in panel.render()[0]:  # loads the colour maps and the PNG encoder once, here
        picture.png()
    return panel
