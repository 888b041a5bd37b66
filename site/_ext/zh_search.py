"""Chinese search that works in Sphinx 9.0.

Sphinx's ``SearchChinese`` splits the text with jieba and stems Latin words with the English
stemmer, and it ships ``english-stemmer.js`` to the browser; but the line it appends to
``language_data.js`` is built from its ``language_name``: ``window.Stemmer = ChineseStemmer;``. No
such class exists, so the search page stops with ``ReferenceError: ChineseStemmer is not defined``
and finds nothing. This subclass binds the stemmer that is really shipped; everything else (jieba's
``cut_for_search`` for the index, the English stemmer for Latin words) is Sphinx's own.
``language_name`` feeds nothing else but a log line.

Without jieba, Sphinx silently indexes no Chinese word at all, so a Chinese build stops instead.
"""
from __future__ import annotations

from sphinx.search.zh import SearchChinese


class SearchChineseFixed(SearchChinese):
    """``SearchChinese`` whose browser side uses the English stemmer it ships."""

    language_name = "English"  # -> window.Stemmer = EnglishStemmer;


def check_jieba(app, config) -> None:
    if not config.language.startswith("zh"):
        return
    try:
        import jieba  # noqa: F401
    except ImportError:
        raise RuntimeError("the Chinese edition's search needs jieba (pip install -r requirements.txt)") from None


def setup(app):
    assert SearchChinese.js_stemmer_rawcode == "english-stemmer.js", "Sphinx changed its Chinese search: recheck"
    app.add_search_language(SearchChineseFixed)
    app.connect("config-inited", check_jieba)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
