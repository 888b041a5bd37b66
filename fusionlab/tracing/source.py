"""Where a step runs: the user's source frame, its statement and the variable it assigns.

A step's frames are the (file, line, function) of the user code on the stack, innermost first,
up to the tracer's own frame; torch's and the standard library's frames are skipped. The
statement comes from ``linecache``: code compiled from a string (a notebook's cells, the post's
cells run by :mod:`fusionlab.original`) shows its source when its lines are registered there.

The text shown in a table names the file, the function and the statement, never the line
number, so that a rendered trace does not change when an unrelated line moves; the number
stays on the row (:attr:`TraceRow.line`).
"""
from __future__ import annotations

import ast
import linecache
import os
from typing import Any

import torch

__all__ = ["user_frames", "where", "code_kind"]

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_STDLIB_DIR = os.path.dirname(os.__file__) + os.sep
_OWN_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep  # fusionlab/tracing/: the tracer itself
_code_kind: dict[int, tuple[Any, int]] = {}  # id(code) -> (code, 0 skip / 1 user / 2 our own: stop)


def code_kind(code) -> int:
    # keyed by id: hashing a code object hashes its bytecode; the code is kept to make the id safe
    hit = _code_kind.get(id(code))
    if hit is not None and hit[0] is code:
        return hit[1]
    f = code.co_filename
    if os.path.abspath(f).startswith(_OWN_DIR):
        kind = 2
    elif f.startswith(_TORCH_DIR) or (f.startswith(_STDLIB_DIR) and "site-packages" not in f) or f.startswith("<frozen"):
        kind = 0
    else:
        kind = 1
    _code_kind[id(code)] = (code, kind)
    return kind


def user_frames(frame, limit: int = 8) -> tuple[tuple[str, int, str], ...]:
    """(filename, line, function) of the user frames from ``frame`` outwards, up to the tracer's own frame."""
    out = []
    while frame is not None and len(out) < limit:
        k = code_kind(frame.f_code)
        if k == 2:
            break
        if k == 1:
            out.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        frame = frame.f_back
    return tuple(out)


_ast_cache: dict[str, tuple[int, list[tuple[int, int, ast.stmt]], str]] = {}
_stmt_cache: dict[tuple[str, int, int], tuple[str | None, str | None]] = {}


def _source_lines(filename: str) -> list[str]:
    return linecache.getlines(filename)


def _statements(filename: str):
    lines = _source_lines(filename)
    cached = _ast_cache.get(filename)
    if cached is not None and cached[0] == len(lines):
        return cached[1], cached[2]
    src = "".join(lines)
    spans: list[tuple[int, int, ast.stmt]] = []
    try:
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.stmt):
                spans.append((node.lineno, node.end_lineno or node.lineno, node))
    except (SyntaxError, ValueError):
        spans = []
    _ast_cache[filename] = (len(lines), spans, src)
    return spans, src


def _statement(filename: str, line: int) -> tuple[str | None, str | None]:
    """(display text, assigned target) of the innermost statement holding ``line``."""
    spans, src = _statements(filename)
    key = (filename, line, id(spans))  # a re-parsed (edited) file gets new keys
    if key in _stmt_cache:
        return _stmt_cache[key]
    best = None
    for start, end, node in spans:
        if start <= line <= end and (best is None or end - start < best[1] - best[0]):
            best = (start, end, node)
    text, target = None, None
    if best is not None:
        node = best[2]
        if isinstance(node, (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.FunctionDef, ast.ClassDef)):
            text = (_source_lines(filename)[line - 1] if line <= len(_source_lines(filename)) else "").strip()
        else:
            text = ast.get_source_segment(src, node) or ""
        if isinstance(node, ast.Assign):
            first = node.targets[0]
            parts = first.elts if isinstance(first, (ast.Tuple, ast.List)) else [first]
            target = ", ".join(ast.unparse(t) for t in parts)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            target = ast.unparse(node.target)
        elif isinstance(node, ast.Return):
            target = "return"
        text = " ".join(text.split())
    else:
        lines = _source_lines(filename)
        if 0 < line <= len(lines):
            text = lines[line - 1].strip() or None
    _stmt_cache[key] = (text, target)
    return text, target


def _short_file(filename: str) -> str:
    # "<01_gated_fusion>" (code compiled from a string) -> "01_gated_fusion"
    if filename.startswith("<") and filename.endswith(">"):
        return filename[1:-1]
    return os.path.basename(filename)


def where(frames: tuple[tuple[str, int, str], ...]) -> tuple[str | None, str | None]:
    """('gated.py in forward: z = …', target) for a chain of user frames (innermost first)."""
    if not frames:
        return None, None
    filename, line, function = frames[0]
    text, target = _statement(filename, line)
    if len(text or "") > 72:
        text = text[:71] + "…"
    place = _short_file(filename) + (f" in {function}" if function and not function.startswith("<") else "")
    shown = f"{place}: {text}" if text else place
    # a helper's `return expr` is assigned one frame out: `z = self.gate(x1, x2)` names it z
    for outer_file, outer_line, _ in frames[1:]:
        if target != "return":
            break
        outer = _statement(outer_file, outer_line)[1]
        if outer is None:
            break
        target = outer
    return shown, target
