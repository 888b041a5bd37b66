"""One build per edition: the edition's settings from its language, and the language switcher.

The site holds each edition in a folder of its own (``en/``, ``zh/``) with the same page names,
so the switcher links a page to the page of the same name in the other folder
(``../zh/05_osra_attention.html``). A chapter the other edition lacks links to its home page.
"""
from __future__ import annotations

from pathlib import Path


def edition_of(config) -> str:
    """The key of ``fusionlab_editions`` whose Sphinx language is ``config.language``."""
    for key, edition in config.fusionlab_editions.items():
        if edition["language"] == config.language:
            return key
    known = ", ".join(e["language"] for e in config.fusionlab_editions.values())
    raise ValueError(f"language {config.language!r} is no edition of the site (known: {known})")


def configure_edition(app, config) -> None:
    edition = config.fusionlab_editions[edition_of(config)]
    config.html_title = edition["title"]
    config.html_theme_options = {**config.html_theme_options, "path_to_docs": edition["notebooks"]}
    if config.fusionlab_assets_dir:
        assets = Path(config.fusionlab_assets_dir).resolve()
        if not (assets / "npm").is_dir():
            raise FileNotFoundError(f"fusionlab_assets_dir {assets} has no npm/ folder: "
                                    "run scripts/build_site.py, which fetches the browser assets")
        config.html_static_path = [*config.html_static_path, str(assets)]


# pages every edition has: the home page and Sphinx's own
EVERY_EDITION = {"index", "search", "genindex"}


def switcher_links(pagename: str, current: str, editions: dict, other_pages: list[str]) -> list[dict]:
    """One entry per edition: its label, language, and the address of this page there."""
    up = "../" * (pagename.count("/") + 1)
    shared = not other_pages or pagename in other_pages or pagename in EVERY_EDITION
    links = []
    for key, edition in editions.items():
        target = pagename if key == current or shared else "index"
        links.append({"key": key, "label": edition["label"], "lang": edition["language"].replace("_", "-"),
                      "href": f"{up}{key}/{target}.html", "current": key == current})
    return links


def add_switcher(app, pagename, templatename, context, doctree) -> None:
    config = app.config
    context["fusionlab_switcher"] = switcher_links(
        pagename, edition_of(config), config.fusionlab_editions, config.fusionlab_other_pages)


def setup(app):
    app.add_config_value("fusionlab_editions", {}, "html", types=frozenset({dict}))
    app.add_config_value("fusionlab_assets_dir", "", "html", types=frozenset({str}))
    # page names of the other edition (comma-separated with -D); empty: assume the same pages
    app.add_config_value("fusionlab_other_pages", [], "html", types=frozenset({list}))
    app.connect("config-inited", configure_edition)
    app.connect("html-page-context", add_switcher)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
