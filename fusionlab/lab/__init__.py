"""The stitching lab: a small CNN with one slot for any registered block, trained on cluttered digits.

The task (:func:`load_cluttered_digits`): each of scikit-learn's 1,797 bundled 8×8 digits (no
download) is resized to a random side of 8–10 pixels and pasted at a random place on an S×S canvas
(default 16×16) together with stroke fragments cut from other digits and Gaussian noise. The class
does not depend on where the digit is, and the clutter looks locally like digit strokes, so a
network must combine evidence across the picture and find where to look: the job that spatial
attention and multi-scale fusion are made for.

The network is ``stem → slot → head``::

    canvas (B, 1, S, S) ─ stem: 3×3 conv → BN → ReLU ─▶ f (B, C, S, S)
        ─ slot: adapters → block → adapters ─▶ (B, C', S, S)
        ─ head: adaptive average pool to P×P (default global, P = 1) → flatten → linear ─▶ logits (B, 10)

The stem sees 3×3 neighbourhoods and the head averages over the whole canvas, so whatever combines
information across positions and scales sits in the slot. The slot is built from the registry entry
alone (:class:`fusionlab.registry.BlockSpec`: ``inputs``, ``tie``, ``lab_hparams``), so a newly
registered block joins the lab with no edit here:

* **several inputs** (MSF's four, MSAA's three, GatedFusion's two): input *k* is the feature
  map seen at scale 2^k: average-pooled to (S/2^k)×(S/2^k) and resized back to S×S;
* **channels-last inputs** (``"B H W C"``): permuted from ``(B, C, H, W)`` and back;
* **a fixed H·W** (CBAMBlock is built for one H×W): the registry's ``tie`` receives the lab's sizes;
* **tuple outputs** (CBAMBlock returns ``(x·Mc, x·Ms)``): summed;
* **no block** (``None``, label ``"baseline"``): the slot is the identity;
* **a plain convolution** (``"plain_conv"``, :class:`PlainConv`): the parameter-matched reference;
* **your own block**: any callable ``channels -> nn.Module`` mapping ``(B, C, H, W)`` to ``(B, C', H, W)``.
"""
from __future__ import annotations

from .data import NUM_CLASSES, SIZE, Digits, load_cluttered_digits, load_digits_split
from .maps import MapReading, capture_maps, read_map
from .model import (BASELINE, BATCH, CHANNELS, PLAIN, SPATIAL, LabNet, PlainConv, Slot, build_model, lab_sizes,
                    matched_params, scale_views)
from .train import Comparison, LabResult, accuracy, compare, logistic_reference, torch_threads, train

__all__ = [
    "Digits",
    "load_digits_split",
    "load_cluttered_digits",
    "Slot",
    "PlainConv",
    "LabNet",
    "LabResult",
    "Comparison",
    "MapReading",
    "build_model",
    "train",
    "accuracy",
    "compare",
    "matched_params",
    "logistic_reference",
    "capture_maps",
    "read_map",
    "torch_threads",
    "lab_sizes",
    "scale_views",
    "BASELINE",
    "PLAIN",
    "BATCH",
    "SPATIAL",
    "CHANNELS",
    "SIZE",
    "NUM_CLASSES",
]
