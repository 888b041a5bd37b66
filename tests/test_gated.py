"""GatedFusion against the post's ``gatedFusion`` and GMAN's equations."""
import pytest
import torch

from fusionlab import BLOCKS, GatedFusion
from fusionlab.original import original_class

SHAPES = {
    "image (B,H,W,C)": (2, 7, 5, 16),
    "time series (B,N,T,C)": (3, 10, 24, 8),
    "tokens (B,L,C)": (4, 9, 32),
    "one vector (C,)": (12,),
}


@pytest.fixture(scope="module")
def post_class():
    return original_class("gated_fusion")


def test_state_dict_keys_equal_the_posts(post_class):
    assert list(GatedFusion(32).state_dict()) == list(post_class(32).state_dict()) == [
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_equal_to_the_post_with_its_weights(post_class, shape):
    torch.manual_seed(0)
    post = post_class(shape[-1])
    ours = GatedFusion(shape[-1])
    ours.load_state_dict(post.state_dict(), strict=True)
    x1, x2 = torch.randn(shape), torch.randn(shape)
    for mode in (True, False):
        post.train(mode), ours.train(mode)
        torch.testing.assert_close(ours(x1, x2), post(x1, x2))


def test_gate_is_the_sigmoid_of_both_projections():
    torch.manual_seed(1)
    block = GatedFusion(6)
    x1, x2 = torch.randn(2, 3, 6), torch.randn(2, 3, 6)
    z = block.gate(x1, x2)
    expected = torch.sigmoid(x1 @ block.fc1.weight.T + block.fc1.bias + x2 @ block.fc2.weight.T + block.fc2.bias)
    torch.testing.assert_close(z, expected)
    assert ((z > 0) & (z < 1)).all()
    # the output lies between the two inputs, element by element
    out = block(x1, x2)
    assert ((out - torch.minimum(x1, x2) >= -1e-6) & (torch.maximum(x1, x2) - out >= -1e-6)).all()


def test_paper_variant_follows_gman():
    torch.manual_seed(2)
    block = GatedFusion(8, variant="paper")
    assert block.fc1.bias is None and block.fc2.bias is not None
    assert all(float(b.detach().abs().sum()) == 0.0 for n, b in block.named_parameters() if n.endswith("bias"))
    hs, ht = torch.randn(5, 8), torch.randn(5, 8)
    z = torch.sigmoid(hs @ block.fc1.weight.T + ht @ block.fc2.weight.T + block.fc2.bias)
    h = z * hs + (1 - z) * ht
    p = block.proj
    expected = torch.relu(h @ p[0].weight.T + p[0].bias) @ p[2].weight.T + p[2].bias
    torch.testing.assert_close(block(hs, ht), expected)


def test_every_parameter_gets_a_gradient():
    for variant in ("blog", "paper"):
        block = GatedFusion(4, variant=variant)
        block(torch.randn(2, 3, 4), torch.randn(2, 3, 4)).square().sum().backward()
        for name, p in block.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, (variant, name)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"dim": 0}, ValueError, ["dim", "≥ 1", "got 0"]),
        ({"dim": -3}, ValueError, ["dim", "got -3"]),
        ({"dim": 2.5}, TypeError, ["dim", "int", "2.5"]),
        ({"dim": 4, "variant": "gman"}, ValueError, ["variant", "'blog'", "'paper'", "'gman'"]),
    ],
)
def test_bad_construction_is_one_clear_sentence(kwargs, error, words):
    with pytest.raises(error) as info:
        GatedFusion(**kwargs)
    message = str(info.value)
    assert all(w in message for w in words), message
    assert message.count(".") <= 3 and "\n" not in message


def test_nchw_input_is_explained_with_the_permute():
    block = GatedFusion(64)
    x = torch.randn(1, 64, 7, 9)
    with pytest.raises(ValueError, match=r"channels-last.*\(1, 64, 7, 9\).*last dimension is 9.*permute\(0, 2, 3, 1\)"):
        block(x, x)
    # the permuted tensor is what the block expects
    assert block(x.permute(0, 2, 3, 1), x.permute(0, 2, 3, 1)).shape == (1, 7, 9, 64)


def test_mismatched_inputs_and_dtypes_are_named():
    block = GatedFusion(8)
    with pytest.raises(ValueError, match=r"x1 and x2 must have the same shape, got \(2, 3, 8\) and \(2, 4, 8\)"):
        block(torch.randn(2, 3, 8), torch.randn(2, 4, 8))
    with pytest.raises(TypeError, match=r"x2 must be a floating-point tensor, got dtype torch.int64"):
        block(torch.randn(2, 8), torch.ones(2, 8, dtype=torch.long))


def test_registry_entry_builds_a_block_for_its_inputs():
    spec = BLOCKS["gated_fusion"]
    sizes = {"B": 2, "H": 3, "W": 5, "C": 12}
    block = spec.build(sizes)
    inputs = spec.example_inputs(sizes)
    assert [tuple(x.shape) for x in inputs] == [(2, 3, 5, 12)] * 2
    assert block(*inputs).shape == (2, 3, 5, 12)
    with pytest.raises(ValueError, match="unknown dimension"):
        spec.shapes({"Q": 3})


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("kwargs", [{}, {"variant": "paper", "batch_norm": True}], ids=["blog", "paper-bn"])
def test_autocast_runs_the_blend_forward_and_backward(kwargs, dtype):
    """The gate comes out of autocast's Linears in low precision; the blend must still run (torch.lerp
    refused a half-precision weight beside float inputs)."""
    torch.manual_seed(3)
    block = GatedFusion(8, **kwargs)
    x1, x2 = torch.randn(2, 2, 5, 8, requires_grad=True).unbind(0)
    with torch.autocast("cpu", dtype=dtype):
        out = block(x1, x2)
    out.float().sum().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in block.parameters())


def test_inputs_of_two_dtypes_are_named():
    with pytest.raises(TypeError, match=r"x1 and x2 must have the same dtype, got torch.float32 and torch.bfloat16"):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            GatedFusion(4)(torch.randn(3, 4), torch.randn(3, 4, dtype=torch.bfloat16))


def test_paper_batch_norm_on_one_position_is_a_clear_error():
    block = GatedFusion(4, variant="paper", batch_norm=True)
    with pytest.raises(ValueError, match=r"GatedFusion: in training mode the BatchNorm in proj sees one value"):
        block(torch.randn(1, 4), torch.randn(1, 4))
    assert block.eval()(torch.randn(1, 4), torch.randn(1, 4)).shape == (1, 4)
