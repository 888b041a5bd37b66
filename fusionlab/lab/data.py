"""The lab's data: scikit-learn's bundled digits, plain or pasted on cluttered canvases (no download)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from .._checks import fmt_shape, positive_int

NUM_CLASSES = 10
SIZE = 16  # the lab's canvas side


@dataclass(frozen=True)
class Digits:
    """Digits split once: images ``(N, 1, S, S)`` (standardised), labels ``(N,)``.

    For the cluttered canvases, ``box_train``/``box_val`` hold each digit's box ``(top, left, side)``
    (``(N, 3)``; None for the plain up-sampled digits): where a network should look.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    size: int
    mean: float  # the training pixels' mean and std used to standardise
    std: float
    box_train: torch.Tensor | None = None
    box_val: torch.Tensor | None = None

    def __repr__(self) -> str:
        kind = "cluttered canvases" if self.box_train is not None else "digits"
        return (
            f"Digits({kind}, train={fmt_shape(self.x_train.shape)}, val={fmt_shape(self.x_val.shape)}, "
            f"size={self.size}×{self.size})"
        )

    def box_masks(self, split: str = "val") -> torch.Tensor:
        """``(N, S, S)`` booleans, True inside each digit's box (``split``: "train" or "val")."""
        boxes = {"train": self.box_train, "val": self.box_val}.get(split)
        if split not in ("train", "val"):
            raise ValueError(f"box_masks: split must be 'train' or 'val', got {split!r}.")
        if boxes is None:
            raise ValueError("box_masks: these digits have no boxes (only load_cluttered_digits records them).")
        rows = torch.arange(self.size)
        top, left, side = boxes[:, 0, None], boxes[:, 1, None], boxes[:, 2, None]
        inside_r = (rows >= top) & (rows < top + side)  # (N, S)
        inside_c = (rows >= left) & (rows < left + side)
        return inside_r[:, :, None] & inside_c[:, None, :]


def _split(labels, val_fraction: float, split_seed: int):
    from sklearn.model_selection import train_test_split

    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction!r}.")
    index = torch.arange(len(labels)).numpy()
    train_idx, val_idx = train_test_split(index, test_size=val_fraction, stratify=labels, random_state=split_seed)
    return torch.as_tensor(train_idx), torch.as_tensor(val_idx)


@lru_cache(maxsize=8)
def load_digits_split(size: int = 12, val_fraction: float = 0.2, split_seed: int = 0) -> Digits:
    """scikit-learn's 8×8 digits, up-sampled to ``size``×``size``, stratified train/validation split.

    The split is fixed by ``split_seed`` (independent of the training seed, so that runs with
    different seeds see the same validation set). Cached: treat the tensors as read-only.
    """
    from sklearn.datasets import load_digits

    positive_int("load_digits_split", "size", size, minimum=8)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"load_digits_split: val_fraction must lie in (0, 1), got {val_fraction!r}.")
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8) in [0, 1]
    labels = torch.tensor(digits.target, dtype=torch.long)
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    train_idx, val_idx = _split(digits.target, val_fraction, split_seed)
    mean, std = images[train_idx].mean().item(), images[train_idx].std().item()
    images = (images - mean) / std
    return Digits(images[train_idx], labels[train_idx], images[val_idx], labels[val_idx], size, mean, std)


def _canvases(images: torch.Tensor, size: int, clutter: int, noise: float, sides: tuple[int, int], seed: int):
    """Each digit (N, 8, 8) in [0, 1] at a random side and place on a size×size canvas, over clutter and noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(images)
    # every digit resized once to every side (bilinear); the canvas takes the one its draw asks for
    resized = {s: F.interpolate(images[:, None], size=(s, s), mode="bilinear", align_corners=False)[:, 0].clamp(0, 1).numpy()
               for s in range(sides[0], sides[1] + 1)}
    small = images.numpy()
    out = np.zeros((n, size, size), dtype=np.float32)
    boxes = np.zeros((n, 3), dtype=np.int64)
    fragment = 4  # clutter: 4×4 crops of other digits, stroke pieces that look locally like a digit
    for i in range(n):
        canvas = out[i]
        for _ in range(clutter):
            j = rng.integers(n)
            r, c = rng.integers(0, 8 - fragment + 1, 2)
            y, x = rng.integers(0, size - fragment + 1, 2)
            patch = canvas[y : y + fragment, x : x + fragment]
            np.maximum(patch, small[j, r : r + fragment, c : c + fragment], out=patch)
        side = int(rng.integers(sides[0], sides[1] + 1))
        y, x = rng.integers(0, size - side + 1, 2)
        patch = canvas[y : y + side, x : x + side]
        np.maximum(patch, resized[side][i], out=patch)  # the digit's strokes drawn over the clutter
        boxes[i] = (y, x, side)
    out += noise * rng.standard_normal(out.shape, dtype=np.float32)
    return torch.from_numpy(out).unsqueeze(1), torch.from_numpy(boxes)


@lru_cache(maxsize=8)
def load_cluttered_digits(
    size: int = SIZE,
    *,
    clutter: int = 2,
    noise: float = 0.1,
    sides: tuple[int, int] = (8, 10),
    val_fraction: float = 0.2,
    split_seed: int = 0,
) -> Digits:
    """The lab's task: each digit at a random side in ``sides`` and a random place on a ``size``×``size``
    canvas, with ``clutter`` 4×4 stroke fragments of other digits and Gaussian noise of std ``noise``.

    The stratified split and the canvases are fixed by ``split_seed`` (validation canvases are drawn
    with a different stream from training ones); the training seed does not change them. Pixels are
    standardised with the training canvases' mean and std. Cached: treat the tensors as read-only.
    """
    from sklearn.datasets import load_digits

    owner = "load_cluttered_digits"
    positive_int(owner, "size", size, minimum=8)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"{owner}: val_fraction must lie in (0, 1), got {val_fraction!r}.")
    if clutter < 0 or clutter != int(clutter):
        raise ValueError(f"{owner}: clutter must be an int ≥ 0 (fragments per canvas), got {clutter!r}.")
    if not noise >= 0:
        raise ValueError(f"{owner}: noise must be a number ≥ 0 (the noise's std), got {noise!r}.")
    if len(sides) != 2 or not 4 <= sides[0] <= sides[1] <= size:
        raise ValueError(f"{owner}: sides must be (smallest, largest) digit sides with 4 ≤ smallest ≤ largest ≤ "
                         f"size = {size}, got {sides!r}.")
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32) / 16.0  # (1797, 8, 8) in [0, 1]
    labels = torch.tensor(digits.target, dtype=torch.long)
    train_idx, val_idx = _split(digits.target, val_fraction, split_seed)
    x_train, box_train = _canvases(images[train_idx], size, clutter, noise, sides, seed=2 * split_seed + 1)
    x_val, box_val = _canvases(images[val_idx], size, clutter, noise, sides, seed=2 * split_seed + 2)
    mean, std = x_train.mean().item(), x_train.std().item()
    return Digits((x_train - mean) / std, labels[train_idx], (x_val - mean) / std, labels[val_idx], size, mean, std,
                  box_train, box_val)
