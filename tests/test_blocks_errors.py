"""Bad arguments and bad inputs fail with one clear sentence from fusionlab, never deep inside PyTorch."""
from __future__ import annotations

import pytest
import torch

from fusionlab import (BLOCKS, CBAM, MSAA, SAFM, CBAMBlock, ChannelAttention, MFEBlock, MSFBlock, OSRAttention,
                       SpatialAttention)

pytestmark = pytest.mark.usefixtures("single_thread")


def assert_clear(excinfo, owner: str, *fragments: str) -> None:
    """The message names its block first, mentions every fragment, and is one sentence (one line)."""
    message = str(excinfo.value)
    assert message.startswith(owner), message
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


# ------------------------------------------------------------------------------ construction

CONSTRUCTION = [
    # (build, exception, owner, fragments the message must contain)
    (lambda: MSFBlock(0), ValueError, "MSFBlock", ["in_channels", "0"]),
    (lambda: MSFBlock(4.0), TypeError, "MSFBlock", ["in_channels", "4.0"]),
    (lambda: MSFBlock(4, variant="official"), ValueError, "MSFBlock", ["variant", "'official'", "'paper'"]),
    (lambda: MFEBlock(8, atrous_rates=(2, 4)), ValueError, "MFEBlock", ["atrous_rates", "(2, 4)", "three positive ints"]),
    (lambda: MFEBlock(8, atrous_rates=(2, 4, 0)), ValueError, "MFEBlock", ["atrous_rates", "(2, 4, 0)"]),
    (lambda: MFEBlock(8, atrous_rates=(2, 4, 8.0)), ValueError, "MFEBlock", ["atrous_rates", "8.0"]),
    (lambda: MFEBlock(8, atrous_rates="248"), ValueError, "MFEBlock", ["atrous_rates", "'248'"]),
    (lambda: MFEBlock(8, atrous_rates=(True, 2, 3)), ValueError, "MFEBlock", ["atrous_rates"]),
    (lambda: SAFM(10, n_levels=4), ValueError, "SAFM", ["dim=10", "n_levels=4", "8 or 12"]),
    (lambda: SAFM(8, n_levels=0), ValueError, "SAFM", ["n_levels", "0"]),
    (lambda: OSRAttention(60, num_heads=8), ValueError, "OSRAttention", ["dim=60", "num_heads=8", "56 or 64"]),
    (lambda: OSRAttention(64, qk_scale=0), ValueError, "OSRAttention", ["qk_scale", "0"]),
    (lambda: OSRAttention(64, qk_scale=-0.5), ValueError, "OSRAttention", ["qk_scale", "-0.5"]),
    (lambda: OSRAttention(64, attn_drop=1.0), ValueError, "OSRAttention", ["attn_drop", "1.0", "[0, 1)"]),
    (lambda: OSRAttention(64, sr_ratio=0), ValueError, "OSRAttention", ["sr_ratio", "0"]),
    (lambda: OSRAttention(64, max_attn_bytes=0), ValueError, "OSRAttention", ["max_attn_bytes", "0"]),
    (lambda: OSRAttention(64, variant="transxnet"), ValueError, "OSRAttention", ["variant", "'transxnet'"]),
    (lambda: CBAMBlock(channel=64), TypeError, "CBAMBlock", ["HW=None", "H * W"]),
    (lambda: CBAMBlock(channel=64, HW=0), ValueError, "CBAMBlock", ["HW", "0"]),
    (lambda: CBAMBlock(channel=8, reduction=16, HW=49), ValueError, "CBAMBlock", ["8 // 16", "reduction ≤ 8"]),
    (lambda: CBAMBlock(channel=64, kernel_size=6, HW=49), ValueError, "CBAMBlock", ["kernel_size", "6", "5 or 7"]),
    (lambda: ChannelAttention(8, reduction=16), ValueError, "ChannelAttention", ["8 // 16", "reduction"]),
    (lambda: SpatialAttention(kernel_size=4), ValueError, "SpatialAttention", ["kernel_size", "4", "odd"]),
    (lambda: CBAM(8, reduction=16), ValueError, "CBAM", ["channels // reduction", "8 // 16"]),
    (lambda: CBAM(64, kernel_size=4), ValueError, "CBAM", ["kernel_size", "4"]),
    (lambda: MSAA(96, 8), ValueError, "MSAA", ["out_channels=8", "factor=4.0", "out_channels ≥ 16"]),
    (lambda: MSAA(96, 12, factor=4), ValueError, "MSAA", ["out_channels=12", "out_channels ≥ 16"]),
    (lambda: MSAA(96, 9, factor=2.5), ValueError, "MSAA", ["d = 3", "out_channels ≥ 10"]),
    (lambda: MSAA(96, 64, factor=0), ValueError, "MSAA", ["factor", "0"]),
    (lambda: MSAA(0, 64), ValueError, "MSAA", ["in_channels", "0"]),
]


@pytest.mark.parametrize("build,error,owner,fragments", CONSTRUCTION, ids=[f"{c[2]}-{i}" for i, c in enumerate(CONSTRUCTION)])
def test_invalid_arguments_fail_at_construction(build, error, owner, fragments):
    with pytest.raises(error) as excinfo:
        build()
    assert_clear(excinfo, owner, *fragments)


# ------------------------------------------------------------------------------ inputs, every block


def small_block(name):
    spec = BLOCKS[name]
    # maps of at most 6×6, or the smallest the block accepts (SAFM's four levels need 8×8)
    sizes = {d: max(min(v, 6), min(spec.choices.get(d, [1]))) if d in ("H", "W") else v for d, v in spec.sizes.items()}
    return spec, sizes, spec.build(sizes).eval()


@pytest.mark.parametrize("name", BLOCKS)
def test_an_input_of_the_wrong_rank_is_named(name):
    spec, sizes, block = small_block(name)
    inputs = list(spec.example_inputs(sizes))
    inputs[0] = inputs[0][0]  # drop the batch dimension
    with pytest.raises(ValueError) as excinfo:
        block(*inputs)
    assert_clear(excinfo, spec.cls.__name__, "shape")


@pytest.mark.parametrize("name", BLOCKS)
def test_an_integer_input_is_refused(name):
    spec, sizes, block = small_block(name)
    inputs = list(spec.example_inputs(sizes))
    first = next(iter(spec.inputs))
    inputs[0] = (inputs[0] * 10).long()
    with pytest.raises(TypeError) as excinfo:
        block(*inputs)
    assert_clear(excinfo, spec.cls.__name__, first, "torch.int64", "floating")


@pytest.mark.parametrize("name", BLOCKS)
def test_a_wrong_channel_count_is_named(name):
    spec, sizes, block = small_block(name)
    dims = next(iter(spec.inputs.values())).split()
    channel_dim = next(d for d in dims if d.startswith("C"))
    shapes = list(spec.shapes(sizes))
    shapes[0] = tuple(s + 1 if d == channel_dim else s for d, s in zip(dims, shapes[0]))
    with pytest.raises(ValueError) as excinfo:
        block(*[torch.randn(s) for s in shapes])
    assert_clear(excinfo, spec.cls.__name__, str(sizes[channel_dim] + 1))


@pytest.mark.parametrize("name", [n for n, s in BLOCKS.items() if len(s.inputs) > 1])
def test_inputs_of_different_sizes_are_named(name):
    spec, sizes, block = small_block(name)
    shapes = list(spec.shapes(sizes))
    dims = list(spec.inputs.values())[1].split()
    shapes[1] = tuple(s + 1 if d == "H" else s for d, s in zip(dims, shapes[1]))
    with pytest.raises(ValueError) as excinfo:
        block(*[torch.randn(s) for s in shapes])
    names = list(spec.inputs)
    assert_clear(excinfo, spec.cls.__name__, names[1])


def test_safm_names_the_smallest_map_for_its_levels():
    with pytest.raises(ValueError) as excinfo:
        SAFM(36)(torch.randn(1, 36, 7, 7))
    assert_clear(excinfo, "SAFM", "7×7", "H and W ≥ 8")
    SAFM(36, n_levels=3)(torch.randn(1, 36, 4, 4))  # three levels need only 4×4


def test_cbam_block_accepts_only_its_own_number_of_positions():
    block = CBAMBlock(channel=16, reduction=4, kernel_size=3, HW=49)
    block(torch.randn(2, 16, 7, 7))
    with pytest.raises(ValueError) as excinfo:
        block(torch.randn(2, 16, 8, 8))
    assert_clear(excinfo, "CBAMBlock", "8×8 = 64", "HW=49", "HW=64")


def test_msaa_names_the_channel_sum():
    block = MSAA(16 + 32 + 48, 32)
    with pytest.raises(ValueError) as excinfo:
        block(torch.randn(1, 16, 8, 8), torch.randn(1, 32, 8, 8), torch.randn(1, 40, 8, 8))
    assert_clear(excinfo, "MSAA", "16 + 32 + 40 = 88", "in_channels=96")


@pytest.mark.parametrize("bias,error,fragment", [
    (torch.zeros(1, 4, 49, 16, dtype=torch.long), TypeError, "relative_pos_enc"),
    (torch.zeros(4, 49, 16), ValueError, "(4, 49, 16)"),
    (torch.zeros(1, 3, 49, 16), ValueError, "heads = 4"),
    (torch.zeros(5, 4, 49, 16), ValueError, "B = 2"),
])
def test_osra_checks_the_position_bias(bias, error, fragment):
    block = OSRAttention(16, num_heads=4)
    with pytest.raises(error) as excinfo:
        block(torch.randn(2, 16, 7, 7), bias)
    assert_clear(excinfo, "OSRAttention", fragment)


# ------------------------------------------------------------------------------ BatchNorm, batch of one


@pytest.mark.parametrize("build,shape", [
    (lambda: MSFBlock(4), (1, 4, 1, 1)),
    (lambda: MSFBlock(4, variant="paper"), (1, 4, 5, 5)),  # its SE layers normalise pooled 1×1 maps
    (lambda: MFEBlock(4), (1, 4, 1, 1)),
    (lambda: MFEBlock(4, variant="paper"), (1, 4, 6, 6)),
    (lambda: OSRAttention(16, num_heads=4, sr_ratio=2), (1, 16, 2, 2)),  # reduced to one 1×1 key map
    (lambda: OSRAttention(16, num_heads=4, sr_ratio=8), (1, 16, 8, 5)),
    (lambda: CBAM(16, reduction=4), (1, 16, 1, 1)),
], ids=["msf", "msf-paper", "mfe", "mfe-paper", "osra-sr2", "osra-sr8", "cbam"])
def test_training_batchnorm_on_one_value_per_channel_is_a_clear_error(build, shape):
    block = build()
    x = [torch.randn(shape) for _ in range(4)] if isinstance(block, MSFBlock) else [torch.randn(shape)]
    with pytest.raises(ValueError) as excinfo:
        block.train()(*x)
    assert_clear(excinfo, type(block).__name__, "training mode", "one value per channel", ".eval()")
    out = block.eval()(*x)  # the documented way out: eval mode uses the running statistics
    assert out.shape == shape and torch.isfinite(out).all()
    bigger = [torch.cat([t, t]) for t in x]  # and a batch of two trains
    assert block.train()(*bigger).shape == (2 * shape[0],) + shape[1:]


def test_checks_only_read_shapes_so_they_work_on_meta_tensors():
    with pytest.raises(ValueError) as excinfo:
        SAFM(36).to("meta")(torch.empty(1, 36, 4, 4, device="meta"))
    assert_clear(excinfo, "SAFM", "4×4")


# ------------------------------------------------------------------------------ NumPy numbers, dtypes, extras


def numpy_numbers(config: dict) -> dict:
    """The same arguments as NumPy scalars: ints as np.int64, floats as np.float64, inside tuples too."""
    import numpy as np

    def convert(v):
        if isinstance(v, bool) or isinstance(v, str) or v is None:
            return v
        if isinstance(v, int):
            return np.int64(v)
        if isinstance(v, float):
            return np.float64(v)
        if isinstance(v, tuple):
            return tuple(convert(x) for x in v)
        return v

    return {k: convert(v) for k, v in config.items()}


@pytest.mark.parametrize("name", BLOCKS)
def test_numpy_integers_and_reals_are_accepted(name):
    spec, sizes, block = small_block(name)
    config = spec.config(sizes)
    if name == "osra":
        config.update(qk_scale=0.25, attn_drop=0.1)  # reals, beside the ints
    from_numpy = spec.cls(**numpy_numbers(config))
    expected = spec.cls(**config)
    assert from_numpy.extra_repr() == expected.extra_repr()  # plain ints and floats stored, not NumPy scalars
    assert {k: v.shape for k, v in from_numpy.state_dict().items()} == {k: v.shape for k, v in expected.state_dict().items()}


@pytest.mark.parametrize("build,error,owner,fragments", [
    (lambda np: MSFBlock(np.float64(4.0)), TypeError, "MSFBlock", ["in_channels", "4.0"]),
    (lambda np: MSFBlock(np.bool_(True)), TypeError, "MSFBlock", ["in_channels", "True"]),
    (lambda np: MFEBlock(8, atrous_rates=(np.int64(2), 4, np.float64(8.0))), ValueError, "MFEBlock", ["atrous_rates"]),
    (lambda np: OSRAttention(64, attn_drop=np.float64(1.0)), ValueError, "OSRAttention", ["attn_drop", "[0, 1)"]),
], ids=["float64-channels", "bool_-channels", "float64-rate", "float64-probability"])
def test_numpy_non_integers_and_bools_are_still_refused(build, error, owner, fragments):
    np = pytest.importorskip("numpy")
    with pytest.raises(error) as excinfo:
        build(np)
    assert_clear(excinfo, owner, *fragments)


@pytest.mark.parametrize("name", BLOCKS)
def test_an_input_of_another_float_dtype_than_the_weights_is_named(name):
    spec, sizes, block = small_block(name)
    inputs = [x.double() for x in spec.example_inputs(sizes)]
    with pytest.raises(TypeError) as excinfo:
        block(*inputs)
    assert_clear(excinfo, spec.cls.__name__, next(iter(spec.inputs)), "torch.float64", "torch.float32",
                 "block.to(torch.float64)")
    block.double()(*inputs)  # the fix named in the message


def test_photo_without_scikit_image_says_how_to_install(monkeypatch):
    import sys

    from fusionlab.plots import photo
    monkeypatch.setitem(sys.modules, "skimage", None)  # an import of it now fails, as without the extras
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(ImportError) as excinfo:
        photo("camera", size=8)
    assert_clear(excinfo, "photo", "scikit-image", "pip install", "fusionlab[course]")
