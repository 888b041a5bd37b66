"""Rewrite every Colab/Binder badge and Colab install line from pyproject's Repository URL.

    python scripts/set_repository.py          # rewrite both READMEs, binder/, both editions' notebooks, translations/
    python scripts/set_repository.py --check  # exit 1 if any link names another repository

The repository address lives in one place, ``[project.urls] Repository`` in pyproject.toml.
Links are recognised by their form, whatever owner/name they hold now:
``colab.research.google.com/github/OWNER/NAME/blob/BRANCH/``,
``mybinder.org/v2/gh/OWNER/NAME/BRANCH`` and ``git+https://github.com/OWNER/NAME``.
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BRANCH = "main"
PATTERNS = [
    (re.compile(r"colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[\w.-]+/"),
     "colab.research.google.com/github/{repo}/blob/{branch}/"),
    (re.compile(r"mybinder\.org/v2/gh/[\w.-]+/[\w.-]+/[\w.-]+\?"), "mybinder.org/v2/gh/{repo}/{branch}?"),
    (re.compile(r"git\+https://github\.com/[\w.-]+/[\w.-]+?(?=[\"'@#\s]|$)"), "git+https://github.com/{repo}"),
]


def repository() -> str:
    """``owner/name`` from pyproject's ``[project.urls] Repository``."""
    url = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?", url)
    if not match:
        raise SystemExit(f"pyproject.toml: Repository must be https://github.com/OWNER/NAME, got {url!r}")
    return match.group(1)


def files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "README.zh-CN.md", *sorted((ROOT / "notebooks").glob("*.ipynb")),
            *sorted((ROOT / "notebooks" / "zh").glob("*.ipynb")), *sorted((ROOT / "translations").glob("*/*.md")),
            *sorted((ROOT / "binder").glob("*"))]


def rewrite(text: str, repo: str) -> str:
    for pattern, template in PATTERNS:
        text = pattern.sub(template.format(repo=repo, branch=BRANCH), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report links to another repository; change nothing")
    args = parser.parse_args(argv)
    repo = repository()
    stale = []
    for path in files():
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        new = rewrite(text, repo)
        if new != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(new, encoding="utf-8")
    verb = "would rewrite" if args.check else "rewrote"
    for path in stale:
        sys.stdout.write(f"{verb} {path}\n")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    raise SystemExit(main())
