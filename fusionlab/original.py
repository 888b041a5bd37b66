"""The post's own code, taken from the chapters' cells tagged ``original``.

The course keeps one copy of the post's code: the verbatim cells of each chapter notebook.
Tests and the benchmark execute those cells here to get the post's classes, so that every
comparison is against the code the learner reads. This needs the repository checkout (the
``notebooks/`` folder beside the package); an installed wheel has no notebooks.
"""
from __future__ import annotations

import json
import linecache
from functools import lru_cache
from pathlib import Path

__all__ = ["NOTEBOOKS", "original_source", "original_namespace", "original_class"]

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def original_source(chapter: str, notebooks_dir: Path | str | None = None) -> str:
    """The source of every cell tagged ``original`` in ``notebooks/<chapter>.ipynb``, joined."""
    path = Path(notebooks_dir or NOTEBOOKS) / f"{chapter}.ipynb"
    if not path.exists():
        raise FileNotFoundError(
            f"original_source: no notebook {path}; the post's code lives in the course repository's "
            f"notebooks/ folder (run from a checkout, or pass notebooks_dir)."
        )
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    sources = ["".join(c["source"]) for c in cells if "original" in c.get("metadata", {}).get("tags", [])]
    if not sources:
        raise ValueError(f"original_source: {path.name} has no cell tagged 'original'.")
    return "\n\n".join(sources)


@lru_cache(maxsize=None)
def _namespace(chapter: str, notebooks_dir: str | None) -> dict:
    # ``__name__`` is not "__main__", so the post's demo blocks do not run; ``print`` is
    # silenced because the post's forward methods print on every call.
    namespace = {"__name__": f"fusionlab_original_{chapter}", "print": lambda *args, **kwargs: None}
    source = original_source(chapter, notebooks_dir)
    filename = f"<{chapter}>"
    # registered in linecache (no mtime: never evicted) so that tracebacks, inspect and the tracer
    # show the post's lines like any file's
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def original_namespace(chapter: str, notebooks_dir: Path | str | None = None) -> dict:
    """The globals after running the chapter's original cells (cached; do not mutate)."""
    return _namespace(chapter, str(notebooks_dir) if notebooks_dir else None)


def original_class(block: str, notebooks_dir: Path | str | None = None) -> type:
    """The post's class for a registered block name, e.g. ``original_class("gated_fusion")``."""
    from .registry import BLOCKS

    spec = BLOCKS[block]
    if spec.post_class is None:
        raise ValueError(f"original_class: the post has no code for {block!r} (section {spec.section}).")
    return original_namespace(spec.chapter, notebooks_dir)[spec.post_class]
