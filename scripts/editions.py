"""The Chinese edition of the course, generated from one source of truth per chapter.

Sources:
* ``notebooks/NN_name.ipynb``: the English chapter, its code and its outputs;
* ``translations/zh/NN_name.md``: the Chinese prose, one block per markdown cell of the chapter, each
  headed ``<!-- cell ID · en HASH -->``: ID is the cell's id, HASH the first 12 hex digits of the
  SHA-256 of the English text it was translated from.

Generated: ``notebooks/zh/NN_name.ipynb``: the English chapter with every markdown cell replaced by its
translation, launch badges pointing at the zh notebook, and the first code cell calling
``setup(lang="zh")``; every other code cell is the English one, byte for byte. Its outputs come from
running it (``--execute``), because widget labels, checker hints and quiz feedback are Chinese there.

Commands (from the repository root)::

    python scripts/editions.py status            # what is missing or stale (English changed since)
    python scripts/editions.py skeleton NN_name  # add the chapter's untranslated cells (English text) to its .md
    python scripts/editions.py build             # regenerate notebooks/zh/ (keeps outputs of unchanged code)
    python scripts/editions.py build --execute   # ... and run the zh notebooks (needed after a code change)
    python scripts/editions.py check             # exit 1 if anything is stale or not regenerated

``make editions`` runs ``build --execute``; ``tests/test_editions.py`` runs ``check``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
LANG = "zh"
TRANSLATIONS = ROOT / "translations" / LANG
EDITION = NOTEBOOKS / LANG
MARKER = re.compile(r"^<!-- cell (?P<id>[\w-]+) · en (?P<hash>[0-9a-f]{12}) -->[ \t]*$", re.M)
SETUP_CALL = re.compile(r"\bsetup\(\)")
CJK = re.compile(r"[\u4e00-\u9fff]")


def text_hash(text: str) -> str:
    """The first 12 hex digits of the SHA-256 of a cell's text (how a translation names its source)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def cell_text(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def as_lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def dump(nb: dict) -> str:
    """The notebook as Jupyter writes it (indent 1, non-ASCII kept, trailing newline)."""
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def chapters() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def read_translation(stem: str) -> dict[str, tuple[str, str]]:
    """cell id -> (hash of the English it was made from, Chinese text)."""
    path = TRANSLATIONS / f"{stem}.md"
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    marks = list(MARKER.finditer(text))
    blocks = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        blocks[m["id"]] = (m["hash"], text[m.end():end].strip("\n"))
    return blocks


def write_translation(stem: str, blocks: list[tuple[str, str, str]]) -> None:
    parts = [f"<!-- cell {cid} · en {h} -->\n{body.strip(chr(10))}\n" for cid, h, body in blocks]
    TRANSLATIONS.mkdir(parents=True, exist_ok=True)
    (TRANSLATIONS / f"{stem}.md").write_text("\n".join(parts), encoding="utf-8")


CJK_END = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]$")
CJK_START = re.compile(r"^[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
BLOCK_START = re.compile(r"^\s*([-*+>|#]|\d+[.)]\s|<|\$\$|```)")


def join_cjk_lines(text: str) -> str:
    """Join a paragraph's lines where one ends and the next starts in Chinese: a browser shows a soft line
    break as a space, which Chinese text must not have. Code blocks, math blocks and list items stay."""
    out: list[str] = []
    fenced = False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif (not fenced and out and CJK_END.search(out[-1]) and CJK_START.search(line.lstrip())
              and not BLOCK_START.match(line) and not out[-1].lstrip().startswith(("|", "#", "```", "$$"))):
            out[-1] += line.lstrip()
            continue
        out.append(line)
    return "\n".join(out)


def localise_links(text: str, stem: str) -> str:
    """Launch badges open the zh notebook (Colab's path, Binder's labpath)."""
    text = text.replace(f"blob/main/notebooks/{stem}.ipynb", f"blob/main/notebooks/{LANG}/{stem}.ipynb")
    return text.replace(f"labpath=notebooks%2F{stem}.ipynb", f"labpath=notebooks%2F{LANG}%2F{stem}.ipynb")


def zh_code(source: str, first: bool) -> str:
    """The zh edition's code: the English code, except that the first code cell calls setup(lang="zh")."""
    return SETUP_CALL.sub(f'setup(lang="{LANG}")', source, count=1) if first else source


def has_prose(text: str) -> bool:
    """Whether a cell has English words to translate (outside code spans, math and links' targets)."""
    bare = re.sub(r"`[^`]*`|\$[^$]*\$|\]\([^)]*\)|<[^>]*>", " ", text)
    return re.search(r"[A-Za-z]{3,}", bare) is not None


def problems(stem: str, en: dict) -> list[str]:
    """What keeps the chapter's translation from being complete and current."""
    found = []
    blocks = read_translation(stem)
    ids = set()
    for cell in en["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        ids.add(cell["id"])
        got = blocks.get(cell["id"])
        if got is None:
            found.append(f"{stem}: markdown cell {cell['id']} has no translation in translations/{LANG}/{stem}.md")
        elif got[0] != text_hash(cell_text(cell)):
            found.append(f"{stem}: cell {cell['id']} changed in English since it was translated (translation made "
                         f"from {got[0]}, English now {text_hash(cell_text(cell))}): update the Chinese, then its hash")
        elif has_prose(cell_text(cell)) and (got[1].strip() == cell_text(cell).strip() or not CJK.search(got[1])):
            found.append(f"{stem}: cell {cell['id']} is not translated yet")
    for cid in sorted(set(blocks) - ids):
        found.append(f"{stem}: translations/{LANG}/{stem}.md has a block for cell {cid}, which the chapter no longer has")
    return found


def generate(stem: str, en: dict, previous: dict | None) -> dict:
    """The zh notebook of chapter ``stem``; outputs of code cells whose code is unchanged come from ``previous``."""
    blocks = read_translation(stem)
    old_outputs = {}
    if previous is not None:
        for cell in previous["cells"]:
            if cell["cell_type"] == "code":
                old_outputs[cell["id"]] = (cell_text(cell), cell.get("outputs", []), cell.get("execution_count"),
                                           cell.get("metadata", {}))
    zh = json.loads(json.dumps(en))
    first_code = True
    for cell in zh["cells"]:
        if cell["cell_type"] == "markdown":
            text = blocks.get(cell["id"], (None, cell_text(cell)))[1]
            cell["source"] = as_lines(join_cjk_lines(localise_links(text, stem)))
        elif cell["cell_type"] == "code":
            code = zh_code(cell_text(cell), first_code)
            first_code = False
            cell["source"] = as_lines(code)
            old = old_outputs.get(cell["id"])
            if old is not None and old[0] == code:
                cell["outputs"], cell["execution_count"], cell["metadata"] = old[1], old[2], old[3]
            else:
                cell["outputs"], cell["execution_count"] = [], None
    if previous is not None and "widgets" in previous.get("metadata", {}):
        zh["metadata"]["widgets"] = previous["metadata"]["widgets"]
    else:
        zh["metadata"].pop("widgets", None)
    return zh


def without_outputs(nb: dict) -> dict:
    """A notebook's text: cells' types, ids and sources (what the generator decides, not the kernel)."""
    return {"cells": [(c["cell_type"], c.get("id"), cell_text(c)) for c in nb["cells"]]}


def stale_outputs(zh: dict) -> bool:
    return any(c["cell_type"] == "code" and c.get("execution_count") is None and cell_text(c).strip()
               for c in zh["cells"])


def build(execute: bool) -> int:
    EDITION.mkdir(exist_ok=True)
    for path in chapters():
        stem = path.stem
        target = EDITION / path.name
        previous = load(target) if target.exists() else None
        zh = generate(stem, load(path), previous)
        target.write_text(dump(zh), encoding="utf-8")
        if execute:
            subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                            "--inplace", "--ExecutePreprocessor.timeout=900", str(target)], check=True)
    return 0


def check() -> list[str]:
    """Every problem: missing or stale translations, zh notebooks not regenerated or not executed."""
    found = []
    for path in chapters():
        en = load(path)
        found += problems(path.stem, en)
        target = EDITION / path.name
        if not target.exists():
            found.append(f"{path.stem}: notebooks/{LANG}/{path.name} is missing: run python scripts/editions.py build --execute")
            continue
        committed = load(target)
        if without_outputs(committed) != without_outputs(generate(path.stem, en, committed)):
            found.append(f"{path.stem}: notebooks/{LANG}/{path.name} is not up to date: run python scripts/editions.py build"
                         " (add --execute if code changed)")
        elif stale_outputs(committed):
            found.append(f"{path.stem}: notebooks/{LANG}/{path.name} has code cells without outputs: run "
                         "python scripts/editions.py build --execute")
    return found


def skeleton(stem: str) -> None:
    """Add the chapter's untranslated cells to its translation file, with the English text to replace."""
    en = load(NOTEBOOKS / f"{stem}.ipynb")
    blocks = read_translation(stem)
    out = []
    for cell in en["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        h = text_hash(cell_text(cell))
        old = blocks.get(cell["id"])
        # a stale translation keeps its old hash (so that status still lists it) until someone updates it
        out.append((cell["id"], old[0], old[1]) if old else (cell["id"], h, cell_text(cell)))
    write_translation(stem, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status")
    sub.add_parser("check")
    sk = sub.add_parser("skeleton")
    sk.add_argument("stems", nargs="+")
    b = sub.add_parser("build")
    b.add_argument("--execute", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "skeleton":
        for stem in args.stems:
            skeleton(stem)
        return 0
    if args.command == "build":
        return build(args.execute)
    found = check()
    sys.stdout.write("".join(line + "\n" for line in found) or "the zh edition is complete and up to date\n")
    return 1 if found and args.command == "check" else 0


if __name__ == "__main__":
    sys.exit(main())
