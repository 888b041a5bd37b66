"""Notebook widgets for the exercises (ipywidgets, imported here only): a concept question with
options and a Check button giving instant feedback; a build exercise with its task and how to check it."""
from __future__ import annotations

import html

from .. import i18n
from ._core import ConceptExercise, Exercise

__all__ = ["show", "quiz"]

TEXT = {
    "en": {
        "check": "Check",
        "pick": "Pick an option first.",
        "build_how": "Write your class (or function) in a cell below, then run "
                     "<code>exercise({chapter!r}, {name!r}).check(YourAnswer)</code>.",
        "chapter": "chapter={chapter!r} has no exercises; valid chapters: {valid}.",
    },
    "zh": {
        "check": "检查",
        "pick": "请先选一个选项。",
        "build_how": "在下面的单元格里写出你的类（或函数），然后运行 "
                     "<code>exercise({chapter!r}, {name!r}).check(YourAnswer)</code>。",
    },
}


def _say(lang: str | None, key: str, **fields) -> str:
    return i18n.say(TEXT, key, lang).format(**fields)


def _feedback_html(result) -> str:
    colour = "#1a7f37" if result.passed else "#b35900"
    return f'<div style="color:{colour}">{html.escape(str(result))}</div>'


def quiz(ex: Exercise, lang: str | None = None):
    """A VBox for one exercise: title, prompt, and for a concept question the options and a Check button."""
    import ipywidgets as w

    lang = i18n.resolve(lang)
    title = w.HTML(f"<b>{html.escape(ex.chapter)} · {html.escape(ex.text('title', lang))}</b>")
    prompt = w.HTML(f"<p>{html.escape(str(ex.text('question' if isinstance(ex, ConceptExercise) else 'prompt', lang)))}</p>")
    if not isinstance(ex, ConceptExercise):
        how = w.HTML(_say(lang, "build_how", chapter=ex.chapter, name=ex.name))
        return w.VBox([title, prompt, how])
    letters = "abcdefgh"
    options = w.RadioButtons(options=[(f"{letters[i]}) {o}", i) for i, o in enumerate(ex.text("options", lang))],
                             value=None, layout=w.Layout(width="auto"))
    button = w.Button(description=_say(lang, "check"))
    feedback = w.HTML()

    def on_check(_):
        if options.value is None:
            feedback.value = f"<div>{html.escape(_say(lang, 'pick'))}</div>"
        else:
            feedback.value = _feedback_html(ex.check(options.value, lang))

    button.on_click(on_check)
    box = w.VBox([title, prompt, options, button, feedback])
    box.options, box.button, box.feedback = options, button, feedback  # handles for tests and callers
    return box


def show(chapter: str, lang: str | None = None):
    """A VBox with one :func:`quiz` per exercise of ``chapter`` ("00" … "07")."""
    import ipywidgets as w

    from . import EXERCISES

    if chapter not in EXERCISES:
        raise KeyError("show: " + _say(lang, "chapter", chapter=chapter, valid=", ".join(EXERCISES)))
    return w.VBox([quiz(ex, lang) for ex in EXERCISES[chapter]])
