"""The course website (``make site``) in a real browser, with every request to another host blocked.

The module builds the site into a temporary folder (``scripts/build_site.py``: both editions,
Sphinx warnings are errors), serves it from a local port, and opens it in headless Chromium,
where a route aborts and records every request that does not go to that port. For the index and
one chapter of each edition it checks what a reader sees: the index picks the edition from the
browser's language, the chapter's images load, its math is typeset, its saved widget panels render
(no widget error), the language switcher leads to the same chapter in the other edition, and the
search finds 注意力 in Chinese and "attention" in English. Each page's requests are written to
``artifacts/site/requests-<page>.txt`` and a screenshot beside them (git-ignored).

Needs Debian's ``chromium`` and, unless the assets are already cached in ``.cache/site-npm/``, ``npm``.
Without them the browser checks skip, except under CI (``CI`` set), where that is a failure.
"""
from __future__ import annotations

import functools
import http.server
import shutil
import sys
import threading
import urllib.parse
from pathlib import Path

import nbformat
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "scripts"))
import browser_helpers as bh  # noqa: E402  (the tests' own helper module)
import build_site  # noqa: E402  (scripts/build_site.py)
import site_assets  # noqa: E402

CHAPTER = "01_gated_fusion"  # figures, math and saved widget panels
ARTIFACTS = ROOT / "artifacts" / "site"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

pytestmark = pytest.mark.browser


def saved_outputs(edition: str) -> dict:
    """What the chapter's committed notebook holds: image outputs and saved widget state."""
    nb = nbformat.read(build_site.EDITIONS[edition]["notebooks"] / f"{CHAPTER}.ipynb", as_version=4)
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.outputs
                 if {"image/png", "image/svg+xml", "image/jpeg"} & set(o.get("data", {})))
    widgets = bool(nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state"))
    return {"images": images, "widgets": widgets}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    cached = all((site_assets.CACHE / site_assets.tarball_name(p)).exists() for p in site_assets.load_manifest())
    if not cached and shutil.which("npm") is None:
        bh.unavailable("npm is not installed and the site's assets are not cached in .cache/site-npm/")
    tmp = tmp_path_factory.mktemp("site")
    try:
        report = build_site.build(tmp / "out", tmp / "work")
    except (build_site.SiteBuildError, site_assets.AssetError) as error:
        pytest.fail(str(error), pytrace=False)
    return tmp / "out", report


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site[0]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def browser():
    with bh.chromium() as browser:
        yield browser


class Visit:
    """A browser context whose every request is recorded and any other host's is aborted."""

    def __init__(self, browser, server: str, locale: str = "en-US"):
        self.origin = server
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
        self.context.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        self.requests.append(url)
        if url.startswith(self.origin + "/"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def page(self):
        page = self.context.new_page()
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.on("requestfailed", lambda r: None if r.url in self.blocked else self.failed.append(
            f"{r.failure} {r.url}"))
        return page

    def local_paths(self) -> list[str]:
        return sorted({urllib.parse.urlsplit(u).path for u in self.requests if u.startswith(self.origin)})

    def save(self, name: str, page) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"requests-{name}.txt").write_text(
            "\n".join(self.requests) + ("\n\nblocked:\n" + "\n".join(self.blocked) if self.blocked else "") + "\n")
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def close(self) -> None:
        self.context.close()

    def assert_clean(self, what: str) -> None:
        assert not self.blocked, f"{what} asked other hosts for: {self.blocked}"
        assert not self.failed, f"{what}: requests failed: {self.failed}"
        assert not self.errors, f"{what}: JavaScript errors: {self.errors}"


def test_build_report(site):
    """Both editions and the index are there; the build (warnings are errors) already passed."""
    out, report = site
    for edition in build_site.EDITIONS:
        assert (out / edition / "index.html").exists()
        assert (out / edition / f"{CHAPTER}.html").exists()
        assert (out / edition / "search.html").exists()
    index = (out / "index.html").read_text()
    assert 'href="en/index.html"' in index and 'href="zh/index.html"' in index, "the index links to both editions"
    # Sphinx 9.0 binds a ChineseStemmer that does not exist (site/_ext/zh_search.py)
    language_data = (out / "zh" / "_static" / "language_data.js").read_text()
    assert "window.Stemmer = EnglishStemmer;" in language_data
    print(f"site: {report}")


def test_web_copy_of_the_markdown():
    """Badges become text links, links across editions and to the repository get their web address."""
    en, zh = build_site.NOTEBOOKS / f"{CHAPTER}.ipynb", build_site.NOTEBOOKS / "zh" / f"{CHAPTER}.ipynb"
    repo = "https://github.com/o/r"
    badges = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://c/nb) "
              "[![Binder](https://mybinder.org/badge_logo.svg)](https://b/nb) ![status](https://img.example/s.svg)")
    assert build_site.web_markdown(badges, en, "en", repo) == \
        "[Open in Colab](https://c/nb) [Launch on Binder](https://b/nb) status"
    assert build_site.web_markdown(badges, zh, "zh", repo).startswith("[在 Colab 中打开](https://c/nb)")
    assert build_site.web_markdown(f"[中文版](zh/{CHAPTER}.ipynb)", en, "en", repo) == \
        f'<a href="../zh/{CHAPTER}.html">中文版</a>'
    assert build_site.web_markdown(f"[English](../{CHAPTER}.ipynb)", zh, "zh", repo) == \
        f'<a href="../en/{CHAPTER}.html">English</a>'
    same = "[chapter 00](00_reading_shapes.ipynb) [paper](https://arxiv.org/abs/1)"
    assert build_site.web_markdown(same, en, "en", repo) == same
    assert build_site.web_markdown("[README](../README.md)", en, "en", repo) == f"[README]({repo}/blob/main/README.md)"


@pytest.mark.parametrize("locale, edition", [("en-US", "en"), ("zh-CN", "zh")])
def test_index_picks_the_browsers_language(browser, server, locale, edition):
    visit = Visit(browser, server, locale=locale)
    try:
        page = visit.page()
        page.goto(f"{server}/index.html")
        page.wait_for_url(f"{server}/{edition}/index.html")
        page.wait_for_load_state("load")
        assert page.locator(f'a[href="{CHAPTER}.html"]').count() > 0, "the home page lists the chapters"
        visit.save(f"index-{edition}", page)
        visit.assert_clean(f"index ({locale})")
    finally:
        visit.close()


IMAGES_JS = """() => [...document.querySelectorAll('article img')].map(i => ({
    src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}))"""


@pytest.mark.parametrize("edition", list(build_site.EDITIONS))
def test_chapter(browser, server, edition):
    saved = saved_outputs(edition)
    other = next(e for e in build_site.EDITIONS if e != edition)
    visit = Visit(browser, server)
    try:
        page = visit.page()
        page.goto(f"{server}/{edition}/{CHAPTER}.html")
        page.wait_for_load_state("load")

        # math: MathJax replaces each .math element's TeX with its CHTML output
        assert page.locator(".math").count() > 0, "the chapter has math"
        page.locator("mjx-container").first.wait_for(state="attached")
        page.wait_for_function("() => document.querySelectorAll('.math mjx-container, mjx-container').length"
                               " >= document.querySelectorAll('.math').length")

        if saved["widgets"]:
            page.locator(".cell_output .jupyter-widgets").first.wait_for(state="attached")
            page.locator(".cell_output .widget-slider").first.wait_for(state="visible")
            assert page.locator(".frozen-widget").count() > 0, "a note says that the panels are frozen"
        assert page.locator(".jupyter-widgets-error-widget").count() == 0, "a saved widget failed to render"
        assert "Error displaying widget" not in page.inner_text("body")

        images = page.evaluate(IMAGES_JS)
        broken = [i["src"] for i in images if not i["ok"]]
        assert not broken, f"images that did not load: {broken}"
        if saved["images"]:
            assert len(images) >= saved["images"], f"{len(images)} images shown, {saved['images']} saved"
        visit.save(f"{edition}-{CHAPTER}", page)
        visit.assert_clean(f"{edition}/{CHAPTER}.html")

        # the switcher leads to the same chapter in the other edition
        page.locator(f'.fusionlab-lang a[data-edition="{other}"]').first.click()
        page.wait_for_url(f"{server}/{other}/{CHAPTER}.html")
        assert page.locator(f'.fusionlab-lang a[data-edition="{edition}"]').count() > 0
        visit.assert_clean(f"{other}/{CHAPTER}.html, reached with the switcher")
    finally:
        visit.close()


@pytest.mark.parametrize("edition, query", [("zh", "注意力"), ("en", "attention")])
def test_search(browser, server, edition, query):
    visit = Visit(browser, server)
    try:
        page = visit.page()
        page.goto(f"{server}/{edition}/search.html?q={urllib.parse.quote(query)}")
        hits = page.locator("#search-results ul.search li")
        hits.first.wait_for(state="attached", timeout=30_000)
        assert hits.count() > 0, f"searching {query!r} in the {edition} edition finds nothing"
        visit.save(f"{edition}-search", page)
        visit.assert_clean(f"{edition}/search.html")

        # the switcher carries the query over to the other edition's search page
        other = next(e for e in build_site.EDITIONS if e != edition)
        page.locator(f'.fusionlab-lang a[data-edition="{other}"]').first.click()
        page.wait_for_url(lambda url: url.startswith(f"{server}/{other}/search.html?q="))
    finally:
        visit.close()


def test_remote_loads_are_found(tmp_path):
    """The build's own check: anything a page would load from another host is reported; links are not."""
    (tmp_path / "a.html").write_text(
        '<link rel="preconnect" href="https://fonts.googleapis.com"><script src="//cdn.example/x.js"></script>'
        '<img src="_images/ok.png"><a href="https://colab.research.google.com/x">Colab</a>'
        '<div style="background: url(https://img.example/bg.png)"></div>')
    (tmp_path / "s.css").write_text('@import "https://fonts.example/a.css"; .x { src: url(fonts/local.woff2) }')
    found = build_site.remote_loads(tmp_path)
    assert len(found) == 4, found
    assert not any("colab" in f or "local.woff2" in f for f in found)
