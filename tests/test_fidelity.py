"""The paper options against their papers' equations, written here in plain torch from the block's
parameters (not by calling the block's own sub-modules), in training and in eval mode."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fusionlab import CBAM, GatedFusion, MFEBlock
from fusionlab.modes import eval_mode
from fusionlab.plots.mfe import effective_receptive_fields

pytestmark = pytest.mark.usefixtures("single_thread")


def randomize(bn: nn.Module, gen: torch.Generator) -> None:
    """Random affine parameters and running statistics: a norm skipped or misplaced then shows."""
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5, generator=gen)
        bn.bias.normal_(generator=gen)
        bn.running_mean.normal_(generator=gen)
        bn.running_var.uniform_(0.5, 2.0, generator=gen)


def normalise(u: torch.Tensor, bn: nn.Module, training: bool, channel_dim: int) -> torch.Tensor:
    """BatchNorm by hand: batch statistics per channel (biased variance) in training, running ones in eval."""
    dims = [d for d in range(u.dim()) if d != channel_dim % u.dim()]
    shape = [1] * u.dim()
    shape[channel_dim] = -1
    if training:
        mean, var = u.mean(dims), u.var(dims, unbiased=False)
    else:
        mean, var = bn.running_mean, bn.running_var
    return (u - mean.view(shape)) / torch.sqrt(var.view(shape) + bn.eps) * bn.weight.view(shape) + bn.bias.view(shape)


def expect_running_stats(bn: nn.Module, before: tuple[torch.Tensor, torch.Tensor], u: torch.Tensor,
                         momentum: float, channel_dim: int) -> None:
    """After one training step: running = (1 − momentum)·old + momentum·batch (unbiased variance)."""
    dims = [d for d in range(u.dim()) if d != channel_dim % u.dim()]
    mean, var = u.mean(dims), u.var(dims, unbiased=True)
    torch.testing.assert_close(bn.running_mean, (1 - momentum) * before[0] + momentum * mean)
    torch.testing.assert_close(bn.running_var, (1 - momentum) * before[1] + momentum * var)


# ------------------------------------------------------------------------------ GMAN's gated fusion


def gman_gated_fusion(block: GatedFusion, hs: torch.Tensor, ht: torch.Tensor, training: bool):
    """GMAN eqs. (9)–(10), then its output FC: Linear → [BN] → ReLU → Linear. Returns (out, pre-norm u)."""
    p = dict(block.named_parameters())
    z = torch.sigmoid(hs @ p["fc1.weight"].T + ht @ p["fc2.weight"].T + p["fc2.bias"])  # one bias, on the H_T side
    h = z * hs + (1 - z) * ht
    u = h @ p["proj.0.weight"].T + p["proj.0.bias"]
    last = "proj.3" if block.batch_norm else "proj.2"
    v = normalise(u, block.proj[1], training, channel_dim=-1) if block.batch_norm else u
    return torch.relu(v) @ p[f"{last}.weight"].T + p[f"{last}.bias"], u


@pytest.mark.parametrize("batch_norm", [False, True], ids=["no BN", "BN as trained"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_gated_fusion_paper_equals_gman(batch_norm, training):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    block = GatedFusion(8, variant="paper", batch_norm=batch_norm).train(training)
    assert "fc1.bias" not in block.state_dict()
    if batch_norm:
        bn = block.proj[1]
        assert isinstance(bn, nn.BatchNorm1d) and bn.eps == 1e-3
        assert [k for k in block.state_dict() if k.startswith("proj.")][:3] == ["proj.0.weight", "proj.0.bias",
                                                                                 "proj.1.weight"]
        randomize(bn, gen)
        before = (bn.running_mean.clone(), bn.running_var.clone())
    hs, ht = torch.randn(2, 12, 5, 8, generator=gen).unbind(0)  # (B, T, N, C) each
    expected, u = gman_gated_fusion(block, hs, ht, training)
    torch.testing.assert_close(block(hs, ht), expected)
    if batch_norm and training:
        expect_running_stats(block.proj[1], before, u.detach(), 0.1, channel_dim=-1)


def test_gated_fusion_batch_norm_default_keeps_todays_keys():
    assert list(GatedFusion(4, variant="paper").state_dict()) == [
        "fc1.weight", "fc2.weight", "fc2.bias", "proj.0.weight", "proj.0.bias", "proj.2.weight", "proj.2.bias"]
    assert "proj.1.running_mean" in GatedFusion(4, variant="paper", batch_norm=True).state_dict()
    with pytest.raises(ValueError, match="batch_norm=True needs variant='paper'"):
        GatedFusion(4, batch_norm=True)


# ------------------------------------------------------------------------------ CBAM


def cbam_equations(block: CBAM, x: torch.Tensor, training: bool):
    """Woo et al.: M_c = σ(MLP(avg) + MLP(max)); x' = M_c x; M_s = σ(BN(conv([max_c x', mean_c x']))); M_s x'."""
    p = dict(block.named_parameters())

    def mlp(v):
        hidden = F.relu(F.linear(v, p["channel_mlp.0.weight"], p["channel_mlp.0.bias"]))
        return F.linear(hidden, p["channel_mlp.2.weight"], p["channel_mlp.2.bias"])

    mc = torch.sigmoid(mlp(x.mean(dim=(2, 3))) + mlp(x.amax(dim=(2, 3))))[:, :, None, None]
    refined = mc * x
    pooled = torch.cat([refined.amax(1, keepdim=True), refined.mean(1, keepdim=True)], dim=1)
    u = F.conv2d(pooled, p["spatial_conv.weight"], padding=block.kernel_size // 2)
    return torch.sigmoid(normalise(u, block.spatial_bn, training, channel_dim=1)) * refined, u


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_cbam_equals_its_equations_with_the_official_momentum(training):
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    block = CBAM(16, reduction=4, kernel_size=5).train(training)
    assert block.spatial_bn.momentum == 0.01
    randomize(block.spatial_bn, gen)
    before = (block.spatial_bn.running_mean.clone(), block.spatial_bn.running_var.clone())
    x = torch.randn(3, 16, 6, 7, generator=gen)
    expected, u = cbam_equations(block, x, training)
    torch.testing.assert_close(block(x), expected)
    if training:
        expect_running_stats(block.spatial_bn, before, u.detach(), 0.01, channel_dim=1)
    else:
        torch.testing.assert_close(block.spatial_bn.running_mean, before[0])


# ------------------------------------------------------------------------------ eval_mode


def test_eval_mode_keeps_a_frozen_batchnorm():
    """A training model with one BatchNorm frozen in eval mode: after eval_mode, that BN is still in eval
    and everything else trains again (``module.train(was_training)`` would unfreeze it)."""
    block = MFEBlock(4).train()
    frozen = block.layer2[1].eval()
    seen = []
    hook = frozen.register_forward_hook(lambda m, args, out: seen.append(block.training))
    effective_receptive_fields(block, size=9, samples=1)  # runs the block under eval_mode
    hook.remove()
    assert seen == [False]
    assert not frozen.training
    assert all(m.training for m in block.modules() if m is not frozen)
    with eval_mode(block):
        assert not any(m.training for m in block.modules())
    assert not frozen.training and block.training and block.layer1[1].training
