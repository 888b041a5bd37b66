"""Exercises for the course: build a block from its equations, and concept questions, with checkers.

``EXERCISES`` maps a chapter ("00" … "07") to its exercises.
Each has ``name``, ``kind`` ("build" or "concept"), ``title``, ``prompt``, ``solution()`` (a correct answer) and
``check(answer)``, which returns a :class:`Result` with ``passed`` and ``hint`` for any
answer, ``None`` or a wrong module included; it never raises.

A build exercise takes your class (or an instance): the checker builds it with the post's
constructor arguments, loads the post's weights (those of the package's block, with a fixed
seed) and compares state_dict keys, output shape and values; on a difference it names the
first sub-module whose output differs and the likely mistake::

    >>> from fusionlab.exercises import exercise
    >>> ex = exercise("01", "gated_fusion")
    >>> import torch
    >>> from torch import nn
    >>> class gatedFusion(nn.Module):
    ...     def __init__(self, dim):
    ...         super().__init__()
    ...         self.fc1, self.fc2 = nn.Linear(dim, dim), nn.Linear(dim, dim)
    ...     def forward(self, x1, x2):
    ...         z = torch.sigmoid(self.fc1(x1) + self.fc2(x2))
    ...         return (1 - z) * x1 + z * x2
    >>> result = ex.check(gatedFusion)
    >>> result.passed, result.cause
    (False, 'swapped')
    >>> exercise("02", "weight_range").check("b").passed
    True

In a notebook, ``show("01")`` displays the chapter's exercises, with instant feedback for
the concept questions (ipywidgets, imported when first used). A solution is
``ex.solution()``; ``solution_source(ex)`` gives its code, for a folded cell.
"""
from __future__ import annotations

import inspect

from ._core import ConceptExercise, Exercise, FunctionExercise, ModuleExercise, Result
from . import ch00_shapes, ch01_gated, ch02_msf, ch03_mfe, ch04_safm, ch05_osra, ch06_msaa, ch07_cbam

__all__ = ["EXERCISES", "Result", "Exercise", "ConceptExercise", "ModuleExercise", "FunctionExercise",
           "exercise", "solution_source", "show", "quiz"]

EXERCISES: dict[str, list[Exercise]] = {
    module.CHAPTER: module.EXERCISES
    for module in (ch00_shapes, ch01_gated, ch02_msf, ch03_mfe, ch04_safm, ch05_osra, ch06_msaa, ch07_cbam)
}


def exercise(chapter: str, name: str) -> Exercise:
    """The exercise ``name`` of ``chapter`` ("00" … "07")."""
    if chapter not in EXERCISES:
        raise KeyError(f"exercise: chapter={chapter!r} has no exercises; valid chapters: {', '.join(EXERCISES)}.")
    for ex in EXERCISES[chapter]:
        if ex.name == name:
            return ex
    names = ", ".join(ex.name for ex in EXERCISES[chapter])
    raise KeyError(f"exercise: chapter {chapter} has no exercise named {name!r}; its exercises are {names}.")


def solution_source(ex: Exercise) -> str:
    """The code of a build exercise's solution (every class or function of its chapter's solution);
    for a concept question, the right option."""
    if isinstance(ex, ConceptExercise):
        return f"{ex.solution()}) {ex.options[ex.correct]}"
    sol = ex.solution()
    return "\n\n\n".join(inspect.getsource(obj).rstrip() for obj in (*ex.helpers, sol))


def show(chapter: str, lang: str | None = None):
    """An ipywidgets box with every exercise of ``chapter``: concept questions with a Check button."""
    from .display import show as _show

    return _show(chapter, lang)


def quiz(ex: Exercise, lang: str | None = None):
    """An ipywidgets box for one exercise."""
    from .display import quiz as _quiz

    return _quiz(ex, lang)
