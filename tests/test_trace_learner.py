"""fusionlab.trace on modules a learner writes: every layer kind keeps its symbols, failures explain themselves.

Each case is a small module of the kind a course learner writes, traced at a shape; the test
checks the concrete shapes against a real forward on CPU tensors, and the symbolic strings
against what the code provably computes. A hyperparameter equal to another size must not lend
it its name (issue 15.3).
"""
from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fusionlab import OSRAttention, trace
from fusionlab.tracing import TraceError

# ---------------------------------------------------------------------------- learner modules


class ConvBNReLU(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, 2 * c, 3, padding=1)
        self.bn = nn.BatchNorm2d(2 * c)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU())

    def forward(self, x):
        return x + self.body(x)


class MatmulAttention(nn.Module):
    """Single-head attention written with matmul and softmax on (B, N, C) tokens, with a LayerNorm."""

    def __init__(self, c: int):
        super().__init__()
        self.norm = nn.LayerNorm(c)
        self.qkv = nn.Linear(c, 3 * c)

    def forward(self, x):
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=-1)
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return attn @ v


class Heads(nn.Module):
    """Multi-head attention with SDPA: (B, N, C) -> (B, h, N, d) -> (B, N, C)."""

    def __init__(self, c: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(c, 3 * c)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)
        return out.transpose(1, 2).reshape(b, n, c)


class PoolHead(nn.Module):
    def __init__(self, c: int, classes: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = F.max_pool2d(self.conv(x), 2)
        return self.fc(self.pool(x).flatten(1))


class Upsample(nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class CatBranches(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.a = nn.Conv2d(c, c, 1)
        self.b = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], dim=1)


class ChunkPinned(nn.Module):
    """Chunks its input, whose width C the conv's weights pin (so C is known even)."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 1)

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        return self.conv(x) * torch.cat([b, a], dim=1)


class SplitInput(nn.Module):
    def forward(self, x):
        half = x.shape[1] // 2
        p, q = torch.split(x, [half, x.shape[1] - half], dim=1)
        return p.mean(dim=1, keepdim=True) + q.mean(dim=1, keepdim=True)


class Rearrange(nn.Module):
    """einops' 'b c h w -> b (h w) c' with permute and reshape."""

    def forward(self, x):
        b, c, h, w = x.shape
        return x.permute(0, 2, 3, 1).reshape(b, h * w, c)


class Recurrent(nn.Module):
    def __init__(self, c: int, hidden: int = 10):
        super().__init__()
        self.rnn = nn.LSTM(c, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, 5)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


class TwoHeads(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.features = nn.Conv2d(c, c, 1)
        self.fc = nn.Linear(c, 3)

    def forward(self, x):
        f = self.features(x).mean(dim=(2, 3))
        return {"logits": self.fc(f), "features": f}


class NoChildren(nn.Module):
    """A module without sub-modules: its ops are the rows."""

    def __init__(self, c: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(c))

    def forward(self, x):
        y = x * self.scale.view(1, -1, 1, 1)
        return torch.tanh(y).sum(dim=1)


class Normalise(nn.Module):
    def forward(self, x):
        return x / x.abs().max().item()


class Positive(nn.Module):
    def forward(self, x):
        return x[x > 0].sum()


# (name, module, input shape, names, expected symbolic strings of some rows: {row step or op: string})
CASES = [
    ("conv-bn-relu", ConvBNReLU(3), (2, 3, 8, 8), "B C H W",
     {"conv Conv2d": "(B, 2*C, H, W)", "bn BatchNorm2d": "(B, 2*C, H, W)", "relu": "(B, 2*C, H, W)"}),
    ("residual", Residual(4), (2, 4, 6, 6), "B C H W", {"add": "(B, C, H, W)"}),
    ("matmul attention + layernorm", MatmulAttention(6), (2, 5, 6), "B N C",
     {"norm LayerNorm": "(B, N, C)", "matmul": "(B, N, N)", "softmax": "(B, N, N)"}),
    ("sdpa heads", Heads(8, num_heads=2), (3, 5, 8), "B N C",
     {"permute": "(3, B, h, N, d)", "scaled_dot_product_attention": "(B, h, N, d)", "reshape": "(B, N, C)"}),
    ("pooling + adaptive pooling + flatten", PoolHead(4), (2, 4, 8, 8), "B C H W",
     {"max_pool2d": "(B, C, H//2, W//2)", "pool AdaptiveAvgPool2d": "(B, C, 1, 1)", "flatten": "(B, C)"}),
    ("interpolate by scale_factor", Upsample(), (2, 3, 5, 7), "B C H W", {"interpolate": "(B, C, 2*H, 2*W)"}),
    ("cat", CatBranches(4), (2, 4, 6, 6), "B C H W", {"cat": "(B, 2*C, H, W)"}),
    ("chunk of an even pinned width", ChunkPinned(6), (2, 6, 4, 4), "B C H W",
     {"chunk": "(B, C/2, H, W) ×2", "cat": "(B, C, H, W)"}),
    ("split of any width", SplitInput(), (2, 7, 4, 4), "B C H W", {"split": "(B, C//2, H, W) ; (B, C - C//2, H, W)"}),
    ("rearrange b c h w -> b (h w) c", Rearrange(), (2, 3, 4, 5), "B C H W",
     {"permute": "(B, H, W, C)", "reshape": "(B, H*W, C)"}),
    ("lstm", Recurrent(6), (4, 9, 6), "B T C", {"getitem": "(B, 10)", "fc Linear": "(B, 5)"}),
    ("dict output", TwoHeads(4), (2, 4, 5, 5), "B C H W", {"mean": "(B, C)", "fc Linear": "(B, 3)"}),
    ("module without children", NoChildren(4), (2, 4, 3, 3), "B C H W",
     {"mul": "(B, C, H, W)", "tanh": "(B, C, H, W)", "sum": "(B, H, W)"}),
]


def _real_shapes(module, shape):
    out = module.eval()(torch.randn(shape))
    if isinstance(out, dict):
        out = list(out.values())
    return [tuple(t.shape) for t in (out if isinstance(out, (list, tuple)) else [out])]


@pytest.mark.parametrize("name,module,shape,names,expected", CASES, ids=[c[0] for c in CASES])
def test_learner_module_rows_and_symbols(name, module, shape, names, expected):
    t = trace(module, shape, names=names)
    assert list(t.outputs) == _real_shapes(module, shape)
    for step, symbolic in expected.items():
        shown = [r.symbolic for r in t.rows if step in (r.step, r.op)]
        assert symbolic in shown, f"{name}: {step} shows {shown}, expected {symbolic!r}\n{t}"
    assert all(r.symbolic is not None for r in t.rows), str(t)  # every row has symbols


def test_b_survives_every_layer_kind():
    # the batch is never a weight's size: it stays the symbol B through every row of every case
    for name, module, shape, names, _ in CASES:
        t = trace(module, shape, names=names)
        for r in t.rows:
            if r.symbolic and r.op not in ("permute", "unbind") and r.output and r.output[0] == shape[0]:
                assert r.symbolic.startswith("(B"), f"{name}: {r.step} shows {r.symbolic}"


def test_lstm_keeps_the_time_axis_and_the_states():
    t = trace(Recurrent(6), (4, 9, 6), names="B T C")
    rnn = t.find("rnn")[0]
    assert rnn.symbolic == "(B, T, 10) ; (1, B, 10) ; (1, B, 10)" and rnn.fallback


def test_dict_output_keeps_its_keys():
    t = trace(TwoHeads(4), (2, 4, 5, 5))
    assert t.named_outputs == {"logits": (2, 3), "features": (2, 4)}
    assert "outputs: logits (B, 3) = (2, 3), features (B, C) = (2, 4)" in str(t)


def test_module_without_children_shows_each_op():
    t = trace(NoChildren(4), (2, 4, 3, 3))
    assert [r.op for r in t.rows] == ["mul", "tanh", "sum"]


@pytest.mark.parametrize("module,op,kind", [
    (Normalise(), "item", "reads a tensor's values"),
    (Positive(), "boolean mask", "shape depends on the data"),
])
def test_a_value_dependent_op_stops_with_one_sentence_and_the_rows_before(module, op, kind):
    with pytest.raises(TraceError) as info:
        trace(module, (2, 3, 4, 4))
    err = info.value
    assert op in err.sentence and kind in err.sentence and "in forward" in err.sentence
    assert "x / x.abs().max().item()" in err.sentence or "x[x > 0]" in err.sentence
    assert err.sentence.count(". ") == 0 and err.sentence.endswith(".")  # one sentence
    # the rows recorded before the op, numbers and symbols, in the message and on the error
    assert err.trace.rows and [r.op for r in err.trace.rows][-1] in ("max", "gt")
    assert str(err.trace.rows[0].output) in str(err) and err.trace.rows[0].symbolic == "(B, C, H, W)"


# ---------------------------------------------------------------------------- names by provenance (issue 15.3)


def _kv_view(t):
    return [r for r in t.rows if r.op == "view" and len(r.output) == 5][0]


@pytest.mark.parametrize("channels,heads,shape", [
    (16, 2, (2, 16, 8, 8)),  # h = 2 = the k/v split = B
    (8, 2, (2, 8, 8, 8)),    # C = H = W
    (16, 4, (16, 16, 4, 4)),  # B = C, h = d = H = W = 4
    (64, 8, (8, 64, 8, 8)),  # h = d = B = H = W = 8
])
def test_osra_names_only_what_derives_from_each_symbol(channels, heads, shape):
    t = trace(OSRAttention(channels, num_heads=heads), shape)
    assert _kv_view(t).symbolic == "(B, 2, h, d, H'*W')"
    q = t.find("q")
    assert [r.symbolic for r in q][1:] == ["(B, h, d, H*W)", "(B, h, H*W, d)"]
    assert t.rows[-1].symbolic == "(B, C, H, W)"
    assert t.sizes["h"] == heads and t.sizes["d"] == channels // heads


def test_osra_inside_a_small_resnet_keeps_d_and_h_apart():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)
            self.block = Residual(16)
            self.attn = OSRAttention(16, num_heads=4)  # d = 4 = h
            self.head = nn.Linear(16, 10)

        def forward(self, x):
            x = self.attn(self.block(self.stem(x)))
            return self.head(x.mean(dim=(2, 3)))

    t = trace(Net(), (2, 3, 16, 16))
    # the attention's width 16 is a layer's, not an input size: d reads 16/h, never h
    views = [r.symbolic for r in t.rows if r.op == "view"]
    assert views == ["(B, h, 16/h, H'*W')", "(B, 2, h, 16/h, H''*W'')"], str(t)


def test_a_literal_equal_to_a_hyperparameter_stays_a_number():
    class Split(nn.Module):
        def __init__(self, c, num_heads):
            super().__init__()
            self.num_heads = num_heads
            self.proj = nn.Linear(c, c)

        def forward(self, x):  # (B, N, C) -> (B, N, 2, C/2): 2 halves, whatever num_heads is
            b, n, c = x.shape
            halves = self.proj(x).reshape(b, n, 2, c // 2)
            return halves.reshape(b, n, self.num_heads, c // self.num_heads)

    t = trace(Split(8, num_heads=2), (2, 5, 8), names="B N C")
    # c // 2 runs after the weights fixed C: a number (never h, never d); the heads reshape reads h, d
    assert [r.symbolic for r in t.rows if r.op == "reshape"] == ["(B, N, 2, 4)", "(B, N, h, d)"]


def test_cached_symbols_follow_a_hyperparameter_that_now_equals_another_size():
    trace(OSRAttention(64, num_heads=8), (1, 64, 7, 7))
    t = trace(OSRAttention(16, num_heads=2), (2, 16, 8, 8))  # the same class: the cache is checked
    assert _kv_view(t).symbolic == "(B, 2, h, d, H'*W')" and _kv_view(t).output == (2, 2, 2, 8, 16)


def test_the_where_column_has_no_line_numbers():
    t = trace(Residual(4), (2, 4, 6, 6))
    for r in t.rows:
        assert r.where.startswith("test_trace_learner.py in forward: ") and r.line > 0
        assert not re.search(r"\.py:\d", r.where)
    assert not re.search(r"\.py:\d", str(t) + t._repr_html_())


def test_a_divisor_equal_to_a_hyperparameter_stays_a_number():
    class Halves(nn.Module):
        def __init__(self, c, num_heads):
            super().__init__()
            self.num_heads = num_heads
            self.proj = nn.Conv2d(c, c, 1)

        def forward(self, x):  # split in two halves (c // 2), then heads (c // num_heads)
            b, c, h, w = x.shape
            top = x[:, : c // 2]
            heads = self.proj(x).reshape(b, self.num_heads, c // self.num_heads, h * w)
            return top, heads

    t = trace(Halves(8, num_heads=2), (2, 8, 4, 4))
    assert [r.symbolic for r in t.rows] == ["(B, C/2, H, W)", "(B, C, H, W)", "(B, h, d, H*W)"], str(t)


def test_arrows_name_an_op_inside_a_sub_module_by_the_op():
    t = trace(nn.Sequential(Residual(4)), (2, 4, 6, 6))
    assert t.rows[-1].step == "0: add"
    assert t.arrows().endswith("--add--> (B,C,H,W)") and "--0.body.0-->" in t.arrows()
