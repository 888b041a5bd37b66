"""The language of the course's words: widget labels, checker hints, quiz feedback, panel captions.

The English and the Chinese edition run the same code; a chapter's first cell picks the language
(``setup(lang="zh")``) and every learner-facing sentence follows it. Errors raised for bad arguments
stay English: they are the library's API, and a search engine finds them.

A module keeps its sentences in one table, ``{"en": {key: text}, "zh": {key: text}}``; :func:`say`
picks the current language and falls back to English for a key the language lacks::

    >>> TEXT = {"en": {"hi": "{n} heads"}, "zh": {"hi": "{n} 个头"}}
    >>> say(TEXT, "hi", n=8)
    '8 heads'
    >>> with language("zh"):
    ...     say(TEXT, "hi", n=8)
    '8 个头'
"""
from __future__ import annotations

import contextlib
import re
from typing import Any, Iterator, Mapping

__all__ = ["LANGUAGES", "current", "set_language", "language", "resolve", "say", "space_cjk"]

LANGUAGES = ("en", "zh")
_current = "en"


def _valid(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(repr(x) for x in LANGUAGES)}, got {lang!r}.")
    return lang


def current() -> str:
    """The language the course speaks now ("en" unless ``setup(lang=...)`` or :func:`set_language` changed it)."""
    return _current


def set_language(lang: str) -> None:
    """Make ``lang`` ("en" or "zh") the language of every learner-facing sentence from now on."""
    global _current
    _current = _valid(lang)


@contextlib.contextmanager
def language(lang: str) -> Iterator[str]:
    """Speak ``lang`` inside a ``with`` block, then go back to the previous language."""
    previous = _current
    set_language(lang)
    try:
        yield lang
    finally:
        set_language(previous)


def resolve(lang: str | None) -> str:
    """``lang`` itself, or the current language when it is ``None``."""
    return _current if lang is None else _valid(lang)


# Chinese typography puts a space between a Chinese character and a Latin letter, digit or code
_CJK_THEN_LATIN = re.compile(r"([\u4e00-\u9fff])([A-Za-z0-9_`(\[])")
_LATIN_THEN_CJK = re.compile(r"([A-Za-z0-9_`)\]])([\u4e00-\u9fff])")


def space_cjk(text: str) -> str:
    """``text`` with a space between Chinese and Latin text where a filled-in field left none.

    >>> space_cjk("你的MSAA实现")
    '你的 MSAA 实现'
    """
    return _LATIN_THEN_CJK.sub(r"\1 \2", _CJK_THEN_LATIN.sub(r"\1 \2", text))


def say(table: Mapping[str, Mapping[str, Any]], key: str, lang: str | None = None, **fields: Any) -> Any:
    """The entry ``key`` of ``table`` in ``lang`` (default: the current language; English where the
    language lacks it); a string is filled in with ``fields`` (``str.format``)."""
    lang = resolve(lang)
    entry = table.get(lang, {}).get(key)
    if entry is None:
        entry = table["en"][key]
    if isinstance(entry, str) and fields:
        entry = entry.format(**fields)
        return space_cjk(entry) if lang == "zh" else entry
    return entry
