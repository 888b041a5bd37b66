"""Chapter 09's comparison table, decision guide and glossary (``fusionlab.guide``), checked against the
registry, the measured costs and the chapters' own text."""
import json
import math
import re
from pathlib import Path

import pytest
import torch

from fusionlab import BLOCKS, i18n
from fusionlab.blocks.cbam import CBAM
from fusionlab.guide import (
    CHAPTER_TITLES,
    COLUMNS,
    DECISIONS,
    GLOSSARY,
    chapters,
    common_sizes,
    comparison,
    decisions_markdown,
    cost_at,
    glossary_markdown,
    growth_exponent,
)
from fusionlab.registry import LABELS, SCOPES, TRANSLATED, WEIGHS, BlockSpec, label, register

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def markdown_of(stem: str) -> str:
    cells = json.loads((NOTEBOOKS / f"{stem}.ipynb").read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


# the chapters' markdown (00–08; chapter 09 is the glossary itself and does not count)
CHAPTER_TEXT = {p.stem: markdown_of(p.stem) for p in sorted(NOTEBOOKS.glob("0[0-8]_*.ipynb"))}

# terms the chapters use, each as the chapters write it: the glossary must define every one
COURSE_TERMS = ("SE", "GAP", "depthwise", "receptive field", "ERF", "dilation", "atrous", "softmax", "sigmoid",
                "gate", "attention", "head", "query", "key", "value", "spatial-reduction", "PVT", "BatchNorm",
                "LayerNorm", "GELU", "meta", "FLOPs", "channels last", "NCHW", "equivariant", "modulation",
                "residual", "skip connection", "增删改查", "token mixer", "1×1 conv", "broadcast", "MLP", "ReLU",
                "state_dict", "fused kernel", "logits", "stride", "adaptive max pooling", "gridding",
                "relative position", "channel attention", "spatial attention", "token", "contiguous", "registry",
                "permute", "view")


def found(term: str, text: str) -> bool:
    """``term`` as a word of ``text`` (case-insensitive for words, exact for acronyms)."""
    flags = 0 if term.isupper() else re.IGNORECASE
    return re.search(rf"(?<![\w]){re.escape(term)}(?![\w])", text, flags) is not None


# ---------------------------------------------------------------- the registry's new fields

@pytest.mark.parametrize("name", BLOCKS)
def test_registry_facts_use_the_guides_vocabulary(name):
    spec = BLOCKS[name]
    assert spec.weighs and set(spec.weighs) <= set(WEIGHS), spec.weighs
    assert len(set(spec.weighs)) == len(spec.weighs)
    assert spec.scope in SCOPES, spec.scope
    assert spec.placement


def test_the_facts_agree_with_the_blocks():
    # several inputs <=> it weighs between inputs or scales
    for name, spec in BLOCKS.items():
        if len(spec.inputs) > 1:
            assert {"modality", "scale"} & set(spec.weighs) or name == "msaa", name
    assert BLOCKS["gated_fusion"].scope == "pointwise"  # Linear layers on the last axis only
    # SAFM's limit: 2^(n_levels−1) is the smallest side it accepts
    safm = BLOCKS["safm"].build(sizes={"C": 12})
    safm(torch.randn(1, 12, 8, 8))
    with pytest.raises(ValueError, match="8"):
        safm(torch.randn(1, 12, 7, 7))
    assert "2^(n_levels−1)" in BLOCKS["safm"].limits
    # the post's joint CBAM is built for one H×W; its parameters grow with it; plain CBAM's do not
    joint = BLOCKS["cbam_joint"]
    assert "one H×W" in joint.limits
    with pytest.raises(ValueError):
        joint.build(sizes={"H": 8, "W": 8})(torch.randn(1, 64, 9, 9))
    assert cost_at(joint, 64)[0] > cost_at(joint, 32)[0]
    assert cost_at(BLOCKS["cbam"], 64)[0] == cost_at(BLOCKS["cbam"], 32)[0]


# ---------------------------------------------------------------- the table

def test_one_row_per_registered_block_with_its_facts():
    table = comparison()
    assert [r.name for r in table.rows] == list(BLOCKS)
    for row in table.rows:
        spec = BLOCKS[row.name]
        assert (row.weighs, row.scope, row.limits, row.placement) == (spec.weighs, spec.scope, spec.limits,
                                                                      spec.placement)
        sizes = common_sizes(spec)
        with torch.device("meta"):
            block = spec.build(sizes=sizes)
        assert row.params == sum(p.numel() for p in block.parameters())
        assert row.flops > 0
    md, page = table.markdown(), table.html()
    assert md.count("\n| ") == len(BLOCKS) + 1  # the header's separator line and one line per block
    for row in table.rows:
        assert f"[{row.name}]({row.chapter}.ipynb)" in md
        assert f"href='{row.chapter}.ipynb'" in page


def test_gated_fusions_flops_are_counted_by_hand():
    # two Linear(C, C) layers per position: 2 · 2 · C² FLOPs per position, nothing per image
    row = comparison()["gated_fusion"]
    assert row.flops == 2 * 2 * 64 * 64 * 32 * 32
    assert row.growth == pytest.approx(1.0, abs=1e-12)


def test_a_registered_block_appears_without_an_edit_to_the_guide():
    spec = BlockSpec(name="throwaway_cbam", cls=CBAM, title="a throwaway", section=7, heading="h", paper="p",
                     chapter="07_cbam_joint_attention", post_class=None, fuses="f", inputs={"x": "B C H W"},
                     sizes={"B": 1, "C": 32, "H": 8, "W": 8}, tie=lambda s: {"channels": s["C"]}, in_post=False,
                     weighs=("channel", "space"), scope="local + global", placement="nowhere")
    register(spec)
    try:
        row = comparison()["throwaway_cbam"]
        assert row.placement == "nowhere" and row.params == cost_at(BLOCKS["cbam"], 32)[0]
        assert "throwaway_cbam" in comparison().markdown()
    finally:
        BLOCKS.pop("throwaway_cbam")
    assert "throwaway_cbam" not in [r.name for r in comparison().rows]


def test_growth_exponents():
    osra = BLOCKS["osra"]
    # OSRA (sr_ratio 2): attention 4·C·HW·H'W' FLOPs with H' = H/2 for even H, so ∝ (H·W)²; its convs are
    # ∝ H·W. Between 64 and 128 the attention is > 90% of the FLOPs, which puts k in (1.9, 2]
    k = growth_exponent(osra, (64, 128))
    assert 1.9 < k <= 2.0, k
    (_, small), (_, large) = cost_at(osra, 64), cost_at(osra, 128)
    attention = [4 * 64 * (s * s) * (s // 2) ** 2 for s in (64, 128)]
    assert attention[0] / small > 0.9 and attention[1] / large > 0.9
    # every other block works per pixel (k = 1) plus, for some, a cost per image (an MLP on pooled
    # vectors, constant in H·W) that pulls k slightly below 1
    for name, spec in BLOCKS.items():
        if name != "osra":
            assert 0.98 < growth_exponent(spec, (64, 128)) <= 1.0 + 1e-9, name
    per_image = growth_exponent(BLOCKS["msf"], (32, 64))
    assert per_image < 1.0


def test_a_block_without_a_map_has_no_costs():
    spec = BlockSpec(name="vector_block", cls=CBAM, title="t", section=1, heading="h", paper="p",
                     chapter="01_gated_fusion", post_class=None, fuses="f", inputs={"x": "B C"},
                     sizes={"B": 1, "C": 16})
    assert growth_exponent(spec) is None
    row = comparison({"vector_block": spec}).rows[0]
    assert (row.params, row.flops, row.growth) == (None, None, None)
    assert "—" in comparison({"vector_block": spec}).markdown()


# ---------------------------------------------------------------- the decision guide

def test_every_decision_agrees_with_the_registry_and_the_costs():
    table = comparison()
    answers = {name: d for d in DECISIONS for name in d.blocks}
    assert set(answers) == set(BLOCKS), "every block is the answer to one question"
    row = {r.name: r for r in table.rows}
    assert len(BLOCKS["gated_fusion"].inputs) == 2 and "modality" in row["gated_fusion"].weighs
    assert len(BLOCKS["msf"].inputs) == 4 and "scale" in row["msf"].weighs
    assert len(BLOCKS["mfe"].inputs) == 1 and "scale" in row["mfe"].weighs
    assert BLOCKS["mfe"].hparams["atrous_rates"] == (2, 4, 8)  # 3×3 … 31×31 windows: 3 + 2·(2 + 4 + 8) = 31
    msaa_channels = [d.split()[1] for d in BLOCKS["msaa"].inputs.values()]
    assert len(msaa_channels) == 3 and len(set(msaa_channels)) == 3
    assert row["osra"].scope == "global" and row["osra"].growth > 1.5
    # SAFM: local, per-pixel cost, and cheaper than the other single-input blocks that look wide
    assert row["safm"].scope == "local" and row["safm"].growth == pytest.approx(1.0)
    assert row["safm"].flops < min(row["mfe"].flops, row["osra"].flops)
    assert BLOCKS["safm"].hparams["n_levels"] == 4  # pooled to 1, ½, ¼, ⅛ of the side
    assert {"channel", "space"} <= set(row["cbam"].weighs) <= set(row["cbam_joint"].weighs)
    for name, d in answers.items():
        assert name in decisions_markdown(), name
        assert f"({BLOCKS[name].chapter}.ipynb)" in decisions_markdown()


# ---------------------------------------------------------------- glossary and chapters

def test_course_terms_come_from_the_chapters():
    everything = "\n".join(CHAPTER_TEXT.values())
    missing = [t for t in COURSE_TERMS if not found(t, everything)]
    assert not missing, f"not in any chapter's markdown: {missing}"


def test_the_glossary_covers_every_course_term():
    names = [n for t in GLOSSARY for n in (t.term, *t.aliases)]
    uncovered = [term for term in COURSE_TERMS if not any(found(term, n) for n in names)]
    assert not uncovered, f"the glossary does not define {uncovered}"


def test_each_term_is_in_the_chapter_that_introduces_it():
    for t in GLOSSARY:
        assert t.chapter in CHAPTER_TEXT, (t.term, t.chapter)
        text = CHAPTER_TEXT[t.chapter]
        assert any(found(n, text) for n in (t.term, *t.aliases)), f"{t.term!r} is not in {t.chapter}"
        assert t.definition and "\n" not in t.definition


def test_glossary_is_sorted_and_unique():
    keys = [t.term.lower() for t in GLOSSARY]
    assert len(set(keys)) == len(keys)
    latin = [k for k in keys if k.isascii() or k[0].isascii()]
    assert latin == sorted(latin)
    md = glossary_markdown()
    assert md.count("\n| **") == len(GLOSSARY)  # one line per term under the header
    # a 中文 column once an entry has a Chinese name of its own (now every entry: the 中英术语对照表)
    assert ("中文" in md) == any(t.zh and t.zh not in t.term for t in GLOSSARY)


def test_every_chapter_link_resolves():
    stems = [stem for stem, _ in chapters()]
    assert stems == sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    links = re.findall(r"\]\(([^)]+\.ipynb)\)", comparison().markdown() + decisions_markdown() + glossary_markdown())
    assert links
    for link in links:
        assert (NOTEBOOKS / link).is_file(), link


# ---------------------------------------------------------------- the Chinese edition (fusionlab.i18n)

HAN = re.compile(r"[\u4e00-\u9fff]")


def header(markdown: str) -> list[str]:
    return [c.strip() for c in markdown.splitlines()[0].strip("|").split("|")]


def test_english_is_the_default_and_unchanged():
    assert i18n.current() == "en"
    table = comparison()
    assert header(table.markdown()) == list(COLUMNS) == ["block", "weighs", "looks", "inputs", "parameters",
                                                          "MFLOPs*", "growth k", "limits", "where its paper puts it"]
    assert table.markdown() == table.markdown(lang="en") and table.html() == table.html(lang="en")
    assert "| [cbam](07_cbam_joint_attention.ipynb) (beside §7) | channel, space | local + global |" in table.markdown()
    assert table.caption.startswith("Every registered block at B = 1, H = W = 32, every channel dimension 64")
    assert decisions_markdown().startswith("1. Two feature maps of the same shape to merge")
    for i, (line, d) in enumerate(zip(decisions_markdown(link=False).splitlines(), DECISIONS), 1):
        assert line == f"{i}. {d.question} → {' or '.join(f'**{n}**' for n in d.blocks)}: {d.why}."
    assert dict(chapters())["01_gated_fusion"] == "Gated fusion"
    assert dict(chapters())["09_which_block_when"] == "Which block when"
    assert header(glossary_markdown()) == ["term", "中文", "definition", "introduced in"]
    assert "| **1×1 conv** | 1×1 卷积 | a convolution with a 1×1 kernel" in glossary_markdown()
    for spec in BLOCKS.values():
        for name in TRANSLATED:
            assert spec.text(name) == getattr(spec, name)


def test_the_comparison_speaks_chinese():
    table = comparison()
    with i18n.language("zh"):
        md, page, caption = table.markdown(), table.html(), table.caption
    assert i18n.current() == "en"
    titles = header(md)
    assert len(titles) == len(COLUMNS)
    assert not set(titles) & (set(COLUMNS) - {"MFLOPs*"}), titles  # MFLOPs is a unit, both editions write it
    assert all(HAN.search(t) for t in titles if t != "MFLOPs*"), titles
    assert md == table.markdown(lang="zh") and page == table.html(lang="zh")
    assert all(f"<th style='text-align:left'>{t}</th>" in page for t in titles)
    assert HAN.search(caption) and "(H·W)^k" in caption and "every channel dimension" not in caption
    assert md.count("\n| ") == len(BLOCKS) + 1
    for row in table.rows:
        spec = BLOCKS[row.name]
        line = next(l for l in md.splitlines() if f"[{row.name}]({row.chapter}.ipynb)" in l)
        assert spec.text("limits", "zh") in line and spec.text("placement", "zh") in line
        assert label(spec.scope, "zh") in line and "、".join(label(w, "zh") for w in spec.weighs) in line
        assert f"href='{row.chapter}.ipynb'" in page
    for word in ("beside §", "none known", "modality", "pointwise", "local + global"):
        assert word not in md, word
    assert "（附于 §7）" in md  # plain CBAM: the course's addition beside the post's section 7


def test_every_block_has_chinese_prose():
    assert set(LABELS["zh"]) == set(WEIGHS) | set(SCOPES)
    assert all(HAN.search(v) for v in LABELS["zh"].values())
    for name, spec in BLOCKS.items():
        assert set(spec.zh) <= set(TRANSLATED), name
        for field in ("title", "fuses", "placement") + (("limits",) if spec.limits else ()):
            text = spec.text(field, "zh")
            assert text != getattr(spec, field) and HAN.search(text), (name, field)
            with i18n.language("zh"):
                assert spec.text(field) == text
        # the numbers, shapes and code of the English limits stay in the Chinese ones
        for token in re.findall(r"2\^\(n_levels−1\)|≥ \d+|\bB·H·W\b|\b[a-z]+_[a-z_]+\b", spec.limits):
            assert token in spec.text("limits", "zh"), (name, token)
    with pytest.raises(ValueError, match="text"):
        BLOCKS["msf"].text("cls")


def test_a_block_without_chinese_falls_back_to_english():
    spec = BlockSpec(name="throwaway_en", cls=CBAM, title="a throwaway", section=7, heading="h", paper="p",
                     chapter="07_cbam_joint_attention", post_class=None, fuses="f", inputs={"x": "B C H W"},
                     sizes={"B": 1, "C": 32, "H": 8, "W": 8}, tie=lambda s: {"channels": s["C"]}, in_post=False,
                     weighs=("channel", "space"), scope="local + global", limits="odd kernel", placement="nowhere")
    assert spec.text("title", "zh") == "a throwaway"
    register(spec)
    try:
        with i18n.language("zh"):
            md = comparison().markdown()
            title = spec.text("title")
        line = next(l for l in md.splitlines() if "throwaway_en" in l)
        assert "| 通道、空间 | 局部 + 全局 |" in line and "| odd kernel | nowhere |" in line
        assert title == "a throwaway"
    finally:
        BLOCKS.pop("throwaway_en")
    bad = BlockSpec(name="throwaway_bad", cls=CBAM, title="t", section=7, heading="h", paper="p",
                    chapter="07_cbam_joint_attention", post_class=None, fuses="f", inputs={"x": "B C H W"},
                    sizes={"B": 1, "C": 32, "H": 8, "W": 8}, zh={"heading": "标题"})
    with pytest.raises(ValueError, match="zh"):
        register(bad)
    assert "throwaway_bad" not in BLOCKS


def test_the_decisions_speak_chinese():
    with i18n.language("zh"):
        md = decisions_markdown()
    assert md == decisions_markdown(lang="zh") and md != decisions_markdown()
    lines = md.splitlines()
    assert len(lines) == len(DECISIONS)
    for i, (line, d) in enumerate(zip(lines, DECISIONS), 1):
        assert d.question_zh and d.why_zh and HAN.search(d.question_zh) and HAN.search(d.why_zh)
        assert line.startswith(f"{i}. {d.question_zh} → ") and line.endswith(f"：{d.why_zh}。")
        assert d.question not in line and d.why not in line
        for name in d.blocks:
            assert f"[**{name}**]({BLOCKS[name].chapter}.ipynb)" in line
        # the numbers of the English answer (windows, kernels, fractions) stay in the Chinese one
        for number in re.findall(r"\d+×\d+|[½¼⅛]|r²|\(H·W\)²", d.question + d.why):
            assert number in d.question_zh + d.why_zh, (i, number)


def test_the_glossary_is_the_courses_bilingual_term_list():
    for t in GLOSSARY:
        assert t.zh and t.definition_zh and "\n" not in t.definition_zh, t.term
        assert HAN.search(t.definition_zh), t.term
        assert t.definition_zh != t.definition, t.term
    # the brief's terminology list (translations/zh): the glossary uses the same words
    zh = {t.term: t.zh for t in GLOSSARY}
    expected = {"attention": "注意力", "channel attention": "通道注意力", "spatial attention": "空间注意力",
                "receptive field": "感受野", "depthwise conv": "深度卷积", "stride": "步幅", "broadcast": "广播",
                "MLP": "多层感知机", "BatchNorm": "批量归一化", "LayerNorm": "层归一化", "FLOPs": "浮点运算量",
                "query, key, value": "查询、键、值", "spatial-reduction attention": "空间缩减注意力",
                "1×1 conv": "1×1 卷积", "channels last": "通道在最后"}
    for term, word in expected.items():
        assert zh[term] == word, term
    assert "空洞" in zh["dilation (atrous)"] and "门控" in zh["gate"] and "残差" in zh["residual (skip) connection"]
    with i18n.language("zh"):
        md = glossary_markdown()
    assert md == glossary_markdown(lang="zh")
    assert header(md) == ["术语", "英文", "释义", "讲解章节"]
    assert md.count("\n| **") == len(GLOSSARY)
    for t in GLOSSARY:
        assert f"| **{t.zh}** | {t.term} | {t.definition_zh.replace('|', chr(92) + '|')} |" in md, t.term
    assert "introduced in" not in md and "definition" not in md


def test_the_chapters_speak_chinese():
    with i18n.language("zh"):
        zh = chapters()
    en = chapters()
    assert chapters(lang="zh") == zh
    assert [s for s, _ in zh] == [s for s, _ in en]
    assert set(CHAPTER_TITLES["zh"]) == set(CHAPTER_TITLES["en"])
    for (stem, title), (_, english) in zip(zh, en):
        assert HAN.search(title) and title != english, stem
    assert dict(zh)["01_gated_fusion"] == BLOCKS["gated_fusion"].text("title", "zh")


def test_course_map_table_follows_the_language():
    from fusionlab import i18n
    from fusionlab.guide import course_map_markdown

    row = {"section": 1, "block": "gated_fusion", "chapter": "01_gated_fusion", "fuses": "two maps",
           "inputs": "x1 (B, H, W, C)", "output": "(B, H, W, C)", "params": 8320, "flops": 2.5e6, "growth": 1.0}
    english = course_map_markdown([row])
    assert english.splitlines()[0] == "| § | block | fuses | inputs → output | parameters | MFLOPs (32×32) | growth |"
    assert "| 1 | [gated_fusion](01_gated_fusion.ipynb) | two maps | x1 (B, H, W, C) → (B, H, W, C) | 8,320 | 2.5 | 1.00 |" in english
    assert "[capstone: the stitching lab](08_capstone_stitching_lab.ipynb)" in english
    with i18n.language("zh"):
        chinese = course_map_markdown([row])
    assert chinese.splitlines()[0].startswith("| § | 模块 | 融合什么") and "(09_which_block_when.ipynb)" in chinese
    assert chinese.splitlines()[2] == english.splitlines()[2]  # the numbers and links are the same
