"""The blocks against the post's classes (same weights, strict loading) and against the papers'
equations written out in plain torch."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusionlab import BLOCKS, CBAM, MSAA, SAFM, ChannelAttention, MFEBlock, MSFBlock, OSRAttention, SpatialAttention
from fusionlab.original import original_class

pytestmark = pytest.mark.usefixtures("single_thread")

POST_BLOCKS = [name for name, spec in BLOCKS.items() if spec.post_class]


def post_kwargs(config: dict) -> dict:
    """The post's classes take the same arguments, minus fusionlab's keyword-only ``variant``."""
    return {k: v for k, v in config.items() if k != "variant"}


def compare_with_post(name, sizes, hparams, randomize_norms, as_tuple, seed=0):
    spec = BLOCKS[name]
    config = spec.config(sizes, **hparams)
    torch.manual_seed(seed)
    post = randomize_norms(original_class(name)(**post_kwargs(config)), seed)
    ours = spec.cls(**config)
    ours.load_state_dict(post.state_dict(), strict=True)
    inputs = spec.example_inputs(sizes, seed=seed)
    # float64: in training mode a BatchNorm over very few values (B·H·W = 2) turns float32 round-off of two
    # equal but re-ordered computations into differences of 1e-5 (hypothesis found one); float64 keeps them ~1e-12
    post, ours = post.double(), ours.double()
    inputs = tuple(x.double() for x in inputs)
    for training in (True, False):
        post.train(training), ours.train(training)
        torch.manual_seed(seed)  # same dropout masks, where a block has dropout
        expected = as_tuple(post(*inputs))
        torch.manual_seed(seed)
        got = as_tuple(ours(*inputs))
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            torch.testing.assert_close(g, e)
        # training mode updated both blocks' running statistics the same way
        for (kp, bp), (ko, bo) in zip(post.state_dict().items(), ours.state_dict().items()):
            assert kp == ko
            torch.testing.assert_close(bo, bp)


@pytest.mark.parametrize("name", POST_BLOCKS)
def test_state_dict_keys_equal_the_posts(name):
    spec = BLOCKS[name]
    config = spec.config()
    assert list(spec.cls(**config).state_dict()) == list(original_class(name)(**post_kwargs(config)).state_dict())


@pytest.mark.parametrize("name", POST_BLOCKS)
def test_equal_to_the_post_at_its_demo_shapes(name, randomize_norms, as_tuple):
    spec = BLOCKS[name]
    hparams = {k: v for k, v in spec.hparams.items() if k != "variant"}
    compare_with_post(name, dict(spec.sizes), hparams, randomize_norms, as_tuple)


@pytest.mark.parametrize("name", POST_BLOCKS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_equal_to_the_post_over_configs_and_shapes(name, data, configs, randomize_norms, as_tuple):
    spec = BLOCKS[name]
    fixed = {"variant": "blog"} if "variant" in spec.hparams else {}
    # batch ≥ 2: training-mode BatchNorm needs more than one value per channel (see test_blocks_errors)
    # within the choices under which the post's own class runs (BlockSpec.post_choices)
    sizes, hparams = data.draw(configs(spec, min_batch=2, fixed=fixed, choices=spec.post_choices))
    compare_with_post(name, sizes, hparams, randomize_norms, as_tuple, seed=data.draw(st.integers(0, 99)))


# ---------------------------------------------------------------- OSRA: bias, blocks of rows, dropout


@pytest.fixture
def osra_pair(randomize_norms):
    def make(**kwargs):
        torch.manual_seed(0)
        post = randomize_norms(original_class("osra")(16, num_heads=4, **kwargs))
        ours = OSRAttention(16, num_heads=4, **kwargs)
        ours.load_state_dict(post.state_dict(), strict=True)
        return post, ours
    return make


@pytest.mark.parametrize("bias_shape", [(2, 4, 63, 20), (1, 4, 63, 20), (1, 4, 10, 5), (2, 1, 30, 40)],
                         ids=["same size", "one bias for the batch", "resized up", "one for all heads, resized"])
@pytest.mark.parametrize("max_attn_bytes", [2**28, 500], ids=["whole", "blocks of rows"])
def test_osra_position_bias_and_row_blocks_equal_the_post(osra_pair, bias_shape, max_attn_bytes):
    post, ours = osra_pair(sr_ratio=2)
    ours.max_attn_bytes = max_attn_bytes
    x = torch.randn(2, 16, 7, 9)  # 63 queries; sr_ratio 2 gives a 4×5 grid of 20 keys
    bias = torch.randn(bias_shape)
    for training in (True, False):
        post.train(training), ours.train(training)
        torch.testing.assert_close(ours(x, bias), post(x, bias))


def test_osra_row_blocks_give_the_same_gradients(osra_pair):
    _, whole = osra_pair(sr_ratio=1)
    blocked = copy.deepcopy(whole)
    blocked.max_attn_bytes = 1 * 4 * 36 * 4 * 10  # ten query rows of the (1, 4, 36, 36) float32 matrix
    x = torch.randn(1, 16, 6, 6, requires_grad=True)
    bias = torch.randn(1, 4, 36, 36, requires_grad=True)
    grads = []
    for block in (whole, blocked):
        out = block(x, bias)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        grads.append([x.grad.clone(), bias.grad.clone()] + [p.grad.clone() for p in block.parameters()])
        x.grad = bias.grad = None
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a)


def test_osra_dropout_equals_the_posts_with_the_same_seed(osra_pair):
    post, ours = osra_pair(sr_ratio=2, attn_drop=0.3)
    post.train(), ours.train()
    x = torch.randn(2, 16, 8, 8)
    torch.manual_seed(5)
    expected = post(x)
    torch.manual_seed(5)
    got = ours(x)
    torch.testing.assert_close(got, expected)
    torch.manual_seed(6)
    assert not torch.allclose(ours(x), got), "a new seed must drop other probabilities"


@pytest.mark.parametrize("max_attn_bytes", [2**28, 4000 * 2 * 5 * 4 * 5], ids=["whole", "blocks of 5 rows"])
def test_osra_dropout_acts_on_the_probabilities(max_attn_bytes):
    """E[dropout(P)] = P, so averaging attend() over many masks approaches softmax(q kᵀ s) v;
    and the gradient recomputed for a block of rows uses that block's forward mask:
    out is linear in v, so ⟨∂Σout/∂v, v⟩ = Σout exactly."""
    torch.manual_seed(0)
    block = OSRAttention(8, num_heads=2, attn_drop=0.5, max_attn_bytes=max_attn_bytes).train()
    q, k, v = torch.randn(1, 2, 12, 4), torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4)
    exact = torch.softmax(q @ k.transpose(-1, -2) * block.scale, dim=-1) @ v
    # 4000 independent masks at once: the batch axis repeats the same q, k, v
    samples = block.attend(q.expand(4000, -1, -1, -1), k.expand(4000, -1, -1, -1), v.expand(4000, -1, -1, -1))
    standard_error = samples.std(0) / 4000**0.5
    assert ((samples.mean(0) - exact).abs() <= 5 * standard_error + 1e-4).all()
    assert not torch.allclose(block.attend(q, k, v), exact, atol=1e-3)
    v = v.requires_grad_()
    out = block.attend(q, k, v)
    out.sum().backward()
    torch.testing.assert_close((v.grad * v).sum(), out.sum())


def test_osra_attn_drop_is_inactive_in_eval_mode(osra_pair):
    post, ours = osra_pair(sr_ratio=2, attn_drop=0.5)
    post.eval(), ours.eval()
    x = torch.randn(1, 16, 7, 7)
    torch.testing.assert_close(ours(x), post(x))


# ---------------------------------------------------------------- the papers' equations in plain torch


def bn(x, sd, prefix, training, eps=1e-5):
    """BatchNorm by its definition: batch statistics (biased variance) in training, running ones in eval."""
    dims = [d for d in range(x.dim()) if d != 1]
    shape = [1, -1] + [1] * (x.dim() - 2)
    if training:
        mean, var = x.mean(dims, keepdim=True), x.var(dims, unbiased=False, keepdim=True)
    else:
        mean, var = sd[f"{prefix}.running_mean"].view(shape), sd[f"{prefix}.running_var"].view(shape)
    return (x - mean) / torch.sqrt(var + eps) * sd[f"{prefix}.weight"].view(shape) + sd[f"{prefix}.bias"].view(shape)


def shisrcnet_fusion(ys, sd, training, paper):
    """w_i = SE_i(GAP(y_i)); w = softmax_i(σ(w)); Σ_i w_i ⊙ y_i. Paper SE: 1×1 conv + bias → BN → ReLU."""
    logits = []
    for i, y in enumerate(ys, start=1):
        g = y.mean(dim=(2, 3))  # (B, C)
        z = g @ sd[f"SE{i}.conv.0.weight"][:, :, 0, 0].T
        if paper:
            z = torch.relu(bn(z + sd[f"SE{i}.conv.0.bias"], sd, f"SE{i}.conv.1", training))
        logits.append(z)
    w = torch.softmax(torch.sigmoid(torch.stack(logits, dim=-1)), dim=-1)  # (B, C, 4)
    return sum(w[:, :, i, None, None] * y for i, y in enumerate(ys))


def project(x, sd, training):
    return torch.relu(bn(F.conv2d(x, sd["project.0.weight"]), sd, "project.1", training))


@pytest.mark.parametrize("variant", ["blog", "paper"])
@pytest.mark.parametrize("shape", [(2, 5, 4, 6), (3, 8, 1, 1), (4, 3, 2, 2)])
def test_msf_follows_the_equations(randomize_norms, variant, shape):
    torch.manual_seed(1)
    block = randomize_norms(MSFBlock(shape[1], variant=variant))
    xs = [torch.randn(shape) for _ in range(4)]
    for training in (True, False):
        block.train(training)
        sd = {k: v.clone() for k, v in block.state_dict().items()}
        expected = project(shisrcnet_fusion(xs, sd, training, variant == "paper"), sd, training)
        torch.testing.assert_close(block(*xs), expected)
        w = block.weights(*xs)
        assert w.shape == (shape[0], 4, shape[1])
        torch.testing.assert_close(w.sum(1), torch.ones(shape[0], shape[1]))
        assert ((w > 0.11) & (w < 0.47)).all(), "softmax of sigmoids stays within about [0.11, 0.47]"


@pytest.mark.parametrize("variant", ["blog", "paper"])
@pytest.mark.parametrize("shape,rates", [((2, 6, 9, 7), (2, 4, 8)), ((3, 4, 5, 5), (1, 2, 3)), ((2, 3, 12, 12), (6, 12, 18))])
def test_mfe_follows_the_equations(randomize_norms, variant, shape, rates):
    torch.manual_seed(2)
    block = randomize_norms(MFEBlock(shape[1], atrous_rates=rates, variant=variant))
    x = torch.randn(shape)
    for training in (True, False):
        block.train(training)
        sd = {k: v.clone() for k, v in block.state_dict().items()}

        def layer(i, inp, dilation):
            y = F.conv2d(inp, sd[f"layer{i}.0.weight"], padding=dilation, dilation=dilation)
            return torch.relu(bn(y, sd, f"layer{i}.1", training))

        y0 = layer(1, x, 1)
        y1 = layer(2, y0 + x, rates[0])
        y2 = layer(3, y1 + x, rates[1])
        y3 = layer(4, y2 + x, rates[2])
        fused = shisrcnet_fusion([y0, y1, y2, y3], sd, training, variant == "paper")
        torch.testing.assert_close(block(x), project(fused + x, sd, training))


@pytest.mark.parametrize("n_levels,shape", [(1, (2, 5, 3, 4)), (2, (1, 6, 5, 7)), (3, (2, 9, 9, 4)), (4, (1, 8, 8, 11)),
                                            (5, (2, 10, 16, 17))])
def test_safm_follows_the_equations_for_any_number_of_levels(n_levels, shape):
    torch.manual_seed(3)
    block = SAFM(shape[1], n_levels=n_levels)
    sd = block.state_dict()
    x = torch.randn(shape)
    h, w = shape[-2:]
    levels = []
    for i, part in enumerate(x.chunk(n_levels, dim=1)):
        conv = lambda t: F.conv2d(t, sd[f"mfr.{i}.weight"], sd[f"mfr.{i}.bias"], padding=1, groups=part.shape[1])
        if i == 0:
            levels.append(conv(part))
        else:
            pooled = F.adaptive_max_pool2d(part, (h // 2**i, w // 2**i))
            levels.append(F.interpolate(conv(pooled), size=(h, w), mode="nearest"))
    out = F.conv2d(torch.cat(levels, dim=1), sd["aggr.weight"], sd["aggr.bias"])
    torch.testing.assert_close(block(x), F.gelu(out) * x)


def osra_reference(sd, x, heads, sr_ratio, scale, act, training, bias=None):
    """TransXNet's attention written out: q; SR(x) with act; kv = DW3×3(y) + y; softmax(q kᵀ s + P) v."""
    b, c, h, w = x.shape
    d = c // heads
    q = F.conv2d(x, sd["q.weight"], sd["q.bias"]).reshape(b, heads, d, h * w).transpose(-1, -2)
    y = x
    if sr_ratio > 1:
        y = F.conv2d(x, sd["sr.0.weight"], stride=sr_ratio, padding=(sr_ratio + 3) // 2, groups=c)
        y = act(bn(y, sd, "sr.1", training))
        y = bn(F.conv2d(y, sd["sr.3.weight"], groups=c), sd, "sr.4", training)
    y = F.conv2d(y, sd["local_conv.weight"], sd["local_conv.bias"], padding=1, groups=c) + y
    k, v = F.conv2d(y, sd["kv.weight"], sd["kv.bias"]).chunk(2, dim=1)
    k = k.reshape(b, heads, d, -1)
    v = v.reshape(b, heads, d, -1).transpose(-1, -2)
    logits = q @ k * scale
    if bias is not None:
        logits = logits + F.interpolate(bias, size=logits.shape[-2:], mode="bicubic", align_corners=False)
    return (torch.softmax(logits, dim=-1) @ v).transpose(-1, -2).reshape(b, c, h, w)


@pytest.mark.parametrize("sr_ratio,heads,shape", [(2, 8, (2, 16, 7, 7)), (4, 2, (2, 8, 9, 13)), (1, 4, (1, 8, 5, 6)),
                                                  (3, 1, (3, 4, 10, 10))])
@pytest.mark.parametrize("variant", ["blog", "paper"])
def test_osra_follows_the_equations(randomize_norms, sr_ratio, heads, shape, variant):
    torch.manual_seed(4)
    block = randomize_norms(OSRAttention(shape[1], num_heads=heads, sr_ratio=sr_ratio, qk_scale=None, variant=variant))
    x = torch.randn(shape)
    bias = torch.randn(1, heads, 6, 5)
    act = F.gelu if variant == "paper" else torch.relu
    for training in (True, False):
        block.train(training)
        sd = {k: v.clone() for k, v in block.state_dict().items()}
        expected = osra_reference(sd, x, heads, sr_ratio, (shape[1] // heads) ** -0.5, act, training, bias)
        torch.testing.assert_close(block(x, bias), expected)


def test_osra_paper_variant_differs_from_the_blog_only_by_its_activation(randomize_norms):
    torch.manual_seed(5)
    blog = randomize_norms(OSRAttention(16, num_heads=4, sr_ratio=2)).eval()
    paper = OSRAttention(16, num_heads=4, sr_ratio=2, variant="paper").eval()
    paper.load_state_dict(blog.state_dict(), strict=True)
    assert isinstance(paper.sr[2], torch.nn.GELU) and isinstance(blog.sr[2], torch.nn.ReLU)
    x = torch.randn(2, 16, 8, 8)
    assert not torch.allclose(paper(x), blog(x), atol=1e-3)


@pytest.mark.parametrize("shape,reduction,kernel", [((2, 32, 9, 7), 16, 7), ((1, 16, 5, 5), 4, 3), ((3, 24, 6, 10), 8, 5)])
def test_cbam_follows_the_equations(randomize_norms, shape, reduction, kernel):
    """M_c = σ(MLP(avg) + MLP(max)); x' = M_c x; M_s = σ(BN(conv([max_c x', mean_c x']))); out = M_s x'."""
    torch.manual_seed(6)
    block = randomize_norms(CBAM(shape[1], reduction=reduction, kernel_size=kernel))
    x = torch.randn(shape)
    for training in (True, False):
        block.train(training)
        sd = {k: v.clone() for k, v in block.state_dict().items()}

        def mlp(t):
            hidden = torch.relu(t @ sd["channel_mlp.0.weight"].T + sd["channel_mlp.0.bias"])
            return hidden @ sd["channel_mlp.2.weight"].T + sd["channel_mlp.2.bias"]

        mc = torch.sigmoid(mlp(x.mean(dim=(2, 3))) + mlp(x.amax(dim=(2, 3))))[:, :, None, None]
        refined = mc * x
        pooled = torch.cat([refined.amax(dim=1, keepdim=True), refined.mean(dim=1, keepdim=True)], dim=1)
        ms = torch.sigmoid(bn(F.conv2d(pooled, sd["spatial_conv.weight"], padding=kernel // 2), sd, "spatial_bn", training))
        torch.testing.assert_close(block(x), ms * refined)


def test_msaa_state_dict_is_cm_unets_without_the_unused_down_2():
    block = MSAA(96, 64)
    assert list(block.state_dict()) == [
        "fusion_conv.down.weight", "fusion_conv.down.bias",
        "fusion_conv.conv_3x3.weight", "fusion_conv.conv_3x3.bias",
        "fusion_conv.conv_5x5.weight", "fusion_conv.conv_5x5.bias",
        "fusion_conv.conv_7x7.weight", "fusion_conv.conv_7x7.bias",
        "fusion_conv.spatial_attention.conv1.weight",
        "fusion_conv.channel_attention.fc.0.weight", "fusion_conv.channel_attention.fc.2.weight",
        "fusion_conv.up.weight", "fusion_conv.up.bias",
    ]
    assert block.inner_channels == 16 and block.fusion_conv.channel_attention.fc[0].out_channels == 4


@pytest.mark.parametrize("channels,out_channels,factor,hw", [((8, 16, 24), 32, 4.0, (9, 7)), ((3, 5, 7), 16, 2.0, (4, 4)),
                                                              ((16, 16, 16), 24, 1.0, (6, 11))])
def test_msaa_follows_the_equations(channels, out_channels, factor, hw):
    """f = down(cat); c = f·CA(f); s = Σ conv_k(f); s = s·SA(s); out = up(s + c)."""
    torch.manual_seed(7)
    block = MSAA(sum(channels), out_channels, factor=factor)
    sd = block.state_dict()
    p = "fusion_conv."
    xs = [torch.randn(2, c, *hw) for c in channels]
    f = F.conv2d(torch.cat(xs, dim=1), sd[p + "down.weight"], sd[p + "down.bias"])

    def mlp(t):
        return torch.relu(t @ sd[p + "channel_attention.fc.0.weight"][:, :, 0, 0].T) @ sd[
            p + "channel_attention.fc.2.weight"][:, :, 0, 0].T

    c = f * torch.sigmoid(mlp(f.mean(dim=(2, 3))) + mlp(f.amax(dim=(2, 3))))[:, :, None, None]
    s = sum(F.conv2d(f, sd[f"{p}conv_{k}x{k}.weight"], sd[f"{p}conv_{k}x{k}.bias"], padding=k // 2) for k in (3, 5, 7))
    pooled = torch.cat([s.mean(dim=1, keepdim=True), s.amax(dim=1, keepdim=True)], dim=1)
    s = s * torch.sigmoid(F.conv2d(pooled, sd[p + "spatial_attention.conv1.weight"], padding=3))
    expected = F.conv2d(s + c, sd[p + "up.weight"], sd[p + "up.bias"])
    for training in (True, False):  # no BatchNorm, no dropout: both modes compute the same
        block.train(training)
        torch.testing.assert_close(block(*xs), expected)


def test_cbam_halves_equal_the_posts(randomize_norms):
    ns = {"ChannelAttention": ChannelAttention, "SpatialAttention": SpatialAttention}
    from fusionlab.original import original_namespace

    post_ns = original_namespace(BLOCKS["cbam_joint"].chapter)
    x = torch.randn(3, 32, 5, 6)
    for name, kwargs in [("ChannelAttention", {"channel": 32, "reduction": 4}), ("SpatialAttention", {"kernel_size": 5})]:
        torch.manual_seed(8)
        post = post_ns[name](**kwargs)
        ours = ns[name](**kwargs)
        ours.load_state_dict(post.state_dict(), strict=True)
        torch.testing.assert_close(ours(x), post(x))


def test_cbam_joint_weights_are_what_forward_applies():
    torch.manual_seed(9)
    block = BLOCKS["cbam_joint"].build({"B": 2, "C": 16, "H": 3, "W": 5})
    x = torch.randn(2, 16, 3, 5)
    mc, ms = block.weights(x)
    assert mc.shape == (2, 16, 1, 1) and ms.shape == (2, 1, 3, 5)
    assert ((mc > 0) & (mc < 1)).all() and ((ms > 0) & (ms < 1)).all()
    out_c, out_s = block(x)
    torch.testing.assert_close(out_c, x * mc)
    torch.testing.assert_close(out_s, x * ms)
