"""Chapter 01, gated fusion (GMAN): write ``gatedFusion`` from z = σ(fc1(x1) + fc2(x2)), out = z·x1 + (1 − z)·x2."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import BLOCKS
from ._core import ConceptExercise, ModuleExercise

CHAPTER = "01"

TEXT = {
    "en": {
        "gated_fusion": {
            "ref": "the post's",
            "title": "Build gatedFusion",
            "prompt": "Write the post's gatedFusion(dim) from GMAN's equations: z = σ(x1 W1 + x2 W2 + b) with "
                      "nn.Linear layers fc1 and fc2 (both with bias), out = z ⊙ x1 + (1 − z) ⊙ x2. The inputs are "
                      "channels-last (..., C). Name your class MyGatedFusion (the post's gatedFusion stays as it is) and check it with check(MyGatedFusion).",
            "what": "version of gatedFusion", "post_class": "gatedFusion", "signature": "gatedFusion(dim)",
            "mistakes": {
                "swapped": "z and 1 − z are swapped: z must weight x1 (the input of fc1), 1 − z weights x2",
                "no_sigmoid": "the sigmoid is missing: z = fc1(x1) + fc2(x2) is not a gate in (0, 1)",
                "tanh": "tanh instead of sigmoid: the gate must lie in (0, 1), tanh gives (−1, 1)",
                "one_input": "the gate sees x1 only: z must come from fc1(x1) + fc2(x2), both inputs",
            },
        },
        "gate_half": {
            "title": "What a gate of 0.5 does",
            "question": "If every gate value z were exactly 0.5, what would gatedFusion return?",
            "options": ["x1", "the average (x1 + x2) / 2", "x1 ⊙ x2 / 2", "0.5 · fc1(x1) + 0.5 · fc2(x2)"],
            "why": [
                "x1 is what z = 1 gives; with 0.5 both inputs count.",
                "z·x1 + (1 − z)·x2 with z = 0.5 is (x1 + x2) / 2: the gate interpolates between the inputs.",
                "The gate multiplies each input, it never multiplies the inputs with each other.",
                "fc1 and fc2 only make the gate; the output mixes the inputs x1 and x2 themselves.",
            ],
        },
        "gate_params": {
            "title": "Parameters of the gate",
            "question": "How many learnable parameters does gatedFusion(dim=64) have?",
            "options": ["4,096", "8,192", "8,320", "16,640"],
            "why": [
                "That is one 64×64 weight matrix; there are two Linear layers, each with a bias too.",
                "Two 64×64 weight matrices, but fc1 and fc2 also have 64 biases each.",
                "fc1 and fc2 each have 64·64 weights + 64 biases: 2 · 4,160 = 8,320; the mixing itself has none.",
                "That would be four Linear layers; gatedFusion has two (fc1, fc2).",
            ],
        },
    },
    "zh": {
        "gated_fusion": {
            "ref": "原文",
            "title": "实现 gatedFusion",
            "prompt": "根据 GMAN 的公式写出原文的 gatedFusion(dim)：z = σ(x1 W1 + x2 W2 + b)，用 nn.Linear 层 fc1 和 fc2"
                      "（都带偏置），out = z ⊙ x1 + (1 − z) ⊙ x2。输入是通道在最后的 (..., C)。"
                      "把你的类命名为 MyGatedFusion（原文的 gatedFusion 保持原样），再用 check(MyGatedFusion) 检查。",
            "what": "门控融合模块", "post_class": "gatedFusion", "signature": "gatedFusion(dim)",
            "mistakes": {
                "swapped": "z 和 1 − z 弄反了：z 应当给 x1（fc1 的输入）加权，1 − z 给 x2 加权",
                "no_sigmoid": "缺少 sigmoid：z = fc1(x1) + fc2(x2) 不是取值在 (0, 1) 内的门控值",
                "tanh": "用了 tanh 而不是 sigmoid：门控值必须在 (0, 1) 内，tanh 给出的是 (−1, 1)",
                "one_input": "门控只看到了 x1：z 必须来自 fc1(x1) + fc2(x2)，即两个输入",
            },
        },
        "gate_half": {
            "title": "门控值为 0.5 时会怎样",
            "question": "如果每个门控值 z 都恰好是 0.5，gatedFusion 会返回什么？",
            "options": ["x1", "平均值 (x1 + x2) / 2", "x1 ⊙ x2 / 2", "0.5 · fc1(x1) + 0.5 · fc2(x2)"],
            "why": [
                "z = 1 时才得到 x1；z = 0.5 时两个输入都起作用。",
                "z = 0.5 时 z·x1 + (1 − z)·x2 就是 (x1 + x2) / 2：门控在两个输入之间插值。",
                "门控分别与每个输入相乘，从不让两个输入彼此相乘。",
                "fc1 和 fc2 只用来生成门控；输出混合的是输入 x1 和 x2 本身。",
            ],
        },
        "gate_params": {
            "title": "门控的参数",
            "question": "gatedFusion(dim=64) 有多少个可学习参数？",
            "options": ["4,096", "8,192", "8,320", "16,640"],
            "why": [
                "这只是一个 64×64 的权重矩阵；实际上有两个 Linear 层，而且各自还带偏置。",
                "两个 64×64 的权重矩阵没错，但 fc1 和 fc2 还各有 64 个偏置。",
                "fc1 和 fc2 各有 64·64 个权重 + 64 个偏置：2 · 4,160 = 8,320；混合这一步本身没有参数。",
                "那得是四个 Linear 层；gatedFusion 只有两个（fc1、fc2）。",
            ],
        },
    },
}


class MyGatedFusion(nn.Module):
    """GMAN's gate: z = σ(fc1(x1) + fc2(x2)), out = z·x1 + (1 − z)·x2 (channels last)."""

    def __init__(self, dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, dim)  # W1 and b: act on the last dimension C
        self.fc2 = nn.Linear(dim, dim)  # W2 (the post keeps a bias here too)

    def forward(self, x1, x2):  # x1, x2: (..., C)
        z = torch.sigmoid(self.fc1(x1) + self.fc2(x2))  # (..., C), every gate in (0, 1)
        return z * x1 + (1 - z) * x2  # (..., C): z picks x1, 1 − z picks x2


# typical mistakes, each reproduced so the checker can recognise it
class _Swapped(MyGatedFusion):
    def forward(self, x1, x2):
        z = torch.sigmoid(self.fc1(x1) + self.fc2(x2))
        return (1 - z) * x1 + z * x2


class _NoSigmoid(MyGatedFusion):
    def forward(self, x1, x2):
        z = self.fc1(x1) + self.fc2(x2)
        return z * x1 + (1 - z) * x2


class _Tanh(MyGatedFusion):
    def forward(self, x1, x2):
        z = torch.tanh(self.fc1(x1) + self.fc2(x2))
        return z * x1 + (1 - z) * x2


class _OneInput(MyGatedFusion):
    def forward(self, x1, x2):
        z = torch.sigmoid(self.fc1(x1) + self.fc2(x1))
        return z * x1 + (1 - z) * x2


def _texts(name):
    return {lang: table[name] for lang, table in TEXT.items()}


EXERCISES = [
    ModuleExercise(
        CHAPTER, "gated_fusion", "build", _texts("gated_fusion"),
        reference=BLOCKS["gated_fusion"].cls, kwargs={"dim": 8}, input_shapes=[(2, 3, 5, 8), (2, 3, 5, 8)],
        solution_cls=MyGatedFusion,
        mistakes={"swapped": _Swapped, "no_sigmoid": _NoSigmoid, "tanh": _Tanh, "one_input": _OneInput},
    ),
    ConceptExercise(CHAPTER, "gate_half", "concept", _texts("gate_half"), correct=1),
    ConceptExercise(CHAPTER, "gate_params", "concept", _texts("gate_params"), correct=2),
]
