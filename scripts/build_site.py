"""Build the course website: both editions, from the committed notebooks, nothing executed.

    python scripts/build_site.py [--out _site] [--work build/site]     (or: make site)

1. fetch the pinned browser assets (site/assets.json, scripts/site_assets.py; cached in .cache/);
2. stage each edition's notebooks into ``<work>/src/<edition>/`` (copies: the committed notebooks
   are never touched), changed for the web: badge images from other hosts become text links,
   links between the editions point to the other edition's page, links to files of the repository
   point to the repository, and a note follows every saved widget panel (frozen on the site);
3. run one Sphinx build per edition (site/conf.py; both at once, warnings are errors) into
   ``<out>/en/`` and ``<out>/zh/``, and write ``<out>/index.html``, which picks the edition from
   the reader's earlier choice or the browser's language and otherwise links to both;
4. check that no page loads a script, style, font, image or frame from another host.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import site_assets  # noqa: E402  (the script beside this one)

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
NOTEBOOKS = ROOT / "notebooks"
EDITIONS = {"en": {"language": "en", "notebooks": NOTEBOOKS},
            "zh": {"language": "zh_CN", "notebooks": NOTEBOOKS / "zh"}}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

TEXT = {
    "en": {
        "intro": "An interactive course on how deep-learning blocks **fuse features**, built from the Chinese "
                 "blog post 特征融合方式 and the small, tested PyTorch package `fusionlab`. These pages show "
                 "each chapter as it was last run: code, figures, math and widget panels. The panels are "
                 "frozen copies; to move them for real, open a chapter on Colab or Binder (the rocket "
                 "button at the top of a chapter) or run the course locally with `make lab`.",
        "chapters": "Chapters",
        "frozen_title": "Frozen panel",
        "frozen": "This panel is the copy saved when the chapter last ran: its controls move, but nothing "
                  "recomputes on this page. Open the chapter on Colab or Binder (the rocket button at the top), "
                  "or run it locally with `make lab`, and the panel comes alive.",
    },
    "zh": {
        "intro": "一门交互式课程，讲解深度学习模块如何**融合特征**；它源自中文博文《特征融合方式》，配有一个经过测试的小型 "
                 "PyTorch 包 `fusionlab`。这些页面展示每一章最近一次运行的结果：代码、图、公式和控件面板。面板是静态副本；"
                 "要真正拖动它们，请在 Colab 或 Binder 中打开章节（章节顶部的火箭按钮），或在本地用 `make lab` 运行课程。",
        "chapters": "章节",
        "frozen_title": "静态面板",
        "frozen": "这个面板是本章最近一次运行时保存的副本：控件可以拖动，但本页面不会重新计算。在 Colab 或 Binder 中打开本章"
                  "（顶部的火箭按钮），或用 `make lab` 在本地运行，面板就会真正响应。",
    },
}

# the text that replaces a launch badge (by its alt text, lower case); any other badge keeps its alt text
BADGE_TEXT = {"open in colab": {"en": "Open in Colab", "zh": "在 Colab 中打开"},
              "binder": {"en": "Launch on Binder", "zh": "在 Binder 中启动"}}
BADGE = re.compile(r"\[!\[([^\]]*)\]\((?:https?:)?//[^)\s]+\)\]\(([^)\s]+)\)")  # [![alt](remote image)](link)
REMOTE_IMAGE = re.compile(r"!\[([^\]]*)\]\((?:https?:)?//[^)\s]+\)")
REMOTE_IMG_TAG = re.compile(r"<img\b[^>]*\bsrc=[\"'](?:https?:)?//[^>]*>", re.I)
ALT = re.compile(r"\balt=[\"']([^\"']*)", re.I)
LOCAL_LINK = re.compile(r"(?<!!)\[([^\]]*)\]\((?![a-z][a-z0-9+.-]*:|#|/)([^)\s#]+)(#[^)\s]*)?\)", re.I)


class SiteBuildError(RuntimeError):
    """The site could not be built, or it would load something from another host."""


def repository_url() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    return re.search(r'^Repository\s*=\s*"([^"]+)"', text, re.M).group(1)


def edition_of_path(path: Path) -> str | None:
    """The edition whose notebook ``path`` is (a resolved path), or None."""
    for key, edition in EDITIONS.items():
        if path.suffix == ".ipynb" and path.parent == edition["notebooks"].resolve():
            return key
    return None


def web_markdown(text: str, notebook: Path, edition: str, repo: str) -> str:
    """A markdown cell made for the site (see the module's docstring, step 2)."""
    text = BADGE.sub(lambda m: f"[{BADGE_TEXT.get(m[1].lower(), {}).get(edition, m[1])}]({m[2]})", text)
    text = REMOTE_IMAGE.sub(r"\1", text)
    text = REMOTE_IMG_TAG.sub(lambda m: alt[1] if (alt := ALT.search(m[0])) else "", text)

    def link(match: re.Match) -> str:
        label, target, anchor = match.group(1), match.group(2), match.group(3) or ""
        path = (notebook.parent / target).resolve()
        other = edition_of_path(path)
        if other == edition:
            return f"[{label}]({path.name}{anchor})"
        if other is not None:
            return f'<a href="../{other}/{path.stem}.html">{label}</a>'
        if path.exists() and path.is_relative_to(ROOT):
            kind = "tree" if path.is_dir() else "blob"
            return f"[{label}]({repo}/{kind}/main/{path.relative_to(ROOT).as_posix()}{anchor})"
        return match.group(0)  # unknown: Sphinx reports it and the build fails

    return LOCAL_LINK.sub(link, text)


def frozen_note(edition: str) -> str:
    text = TEXT[edition]
    return f"```{{admonition}} {text['frozen_title']}\n:class: note frozen-widget\n\n{text['frozen']}\n```"


def stage_notebook(src: Path, dest: Path, edition: str, repo: str) -> None:
    """Write the web copy of ``src`` to ``dest``."""
    nb = nbformat.read(src, as_version=4)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = web_markdown(cell.source, src, edition, repo)
        cells.append(cell)
        if cell.cell_type == "code" and any(WIDGET_VIEW in o.get("data", {}) for o in cell.outputs):
            cells.append(nbformat.v4.new_markdown_cell(frozen_note(edition)))
    nb.cells = cells
    nbformat.write(nb, dest)


def stage_edition(edition: str, srcdir: Path, repo: str) -> list[str]:
    """Stage one edition's notebooks and its home page; return the page names of the chapters."""
    if srcdir.exists():
        shutil.rmtree(srcdir)
    srcdir.mkdir(parents=True)
    notebooks = sorted(EDITIONS[edition]["notebooks"].glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise SiteBuildError(f"no notebooks in {EDITIONS[edition]['notebooks']}")
    for nb in notebooks:
        stage_notebook(nb, srcdir / nb.name, edition, repo)
    text = TEXT[edition]
    toctree = "\n".join(nb.stem for nb in notebooks)
    (srcdir / "index.md").write_text(
        f"# fusionlab\n\n{text['intro']}\n\n"
        f"```{{toctree}}\n:maxdepth: 1\n:caption: {text['chapters']}\n\n{toctree}\n```\n", encoding="utf-8")
    return [nb.stem for nb in notebooks]


def sphinx_command(edition: str, srcdir: Path, outdir: Path, doctrees: Path, assets: Path,
                   other_pages: list[str]) -> list[str]:
    return [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(SITE), "-q", "-W", "--keep-going", "-n",
            "-E", "-d", str(doctrees), "-D", f"language={EDITIONS[edition]['language']}",
            "-D", f"fusionlab_assets_dir={assets}", "-D", f"fusionlab_other_pages={','.join(other_pages)}",
            str(srcdir), str(outdir)]


INDEX_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fusionlab · course / 课程</title>
<script>
  // the edition picked before (language switcher), else the browser's first English or Chinese language
  (function () {
    var pick = null;
    try { pick = window.localStorage.getItem("fusionlab-edition"); } catch (e) {}
    if (pick !== "en" && pick !== "zh") {
      var langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ""];
      for (var i = 0; i < langs.length && !pick; i++) {
        var lang = String(langs[i]).toLowerCase();
        if (lang.indexOf("zh") === 0) pick = "zh";
        else if (lang.indexOf("en") === 0) pick = "en";
      }
    }
    window.location.replace((pick || "en") + "/index.html");
  })();
</script>
<style>body { font-family: system-ui, sans-serif; margin: 3em auto; max-width: 40em; padding: 0 1em; }</style>
</head>
<body>
<h1>fusionlab</h1>
<p><a href="en/index.html" hreflang="en">English edition</a> ·
<a href="zh/index.html" hreflang="zh-CN" lang="zh-CN">中文版</a></p>
</body>
</html>
"""

# tags and attributes through which a page loads something (not plain links, which a reader follows)
LOADING = {"script": ("src",), "img": ("src", "srcset"), "iframe": ("src",), "source": ("src", "srcset"),
           "video": ("src", "poster"), "audio": ("src",), "embed": ("src",), "object": ("data",),
           "track": ("src",), "input": ("src",)}
LOADING_LINK_RELS = {"stylesheet", "icon", "shortcut", "preload", "modulepreload", "prefetch", "preconnect",
                     "dns-prefetch", "manifest", "apple-touch-icon", "mask-icon"}
REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.I)
CSS_REMOTE = re.compile(r"(?:url\(\s*['\"]?|@import\s+['\"])((?:https?:)?//[^'\")\s]+)", re.I)


class _Loads(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.remote: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        names = LOADING.get(tag, ())
        if tag == "link" and LOADING_LINK_RELS & set((attrs.get("rel") or "").lower().split()):
            names = ("href",)
        for name in names:
            for url in re.split(r",\s*", attrs.get(name) or ""):
                if REMOTE.match(url):
                    self.remote.append(f"<{tag} {name}={url.split()[0]}>")
        for url in CSS_REMOTE.findall(attrs.get("style") or ""):
            self.remote.append(f"<{tag} style=url({url})>")

    def handle_data(self, data):
        if self.lasttag == "style":
            self.remote += [f"<style> {u}" for u in CSS_REMOTE.findall(data)]


def remote_loads(out: Path) -> list[str]:
    """Every place in the built site where a page would load something from another host."""
    found = []
    for page in sorted(out.rglob("*.html")):
        parser = _Loads()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        found += [f"{page.relative_to(out)}: {r}" for r in parser.remote]
    for css in sorted(out.rglob("*.css")):
        found += [f"{css.relative_to(out)}: {u}" for u in CSS_REMOTE.findall(css.read_text(errors="replace"))]
    return found


def finish_edition(outdir: Path, edition: str) -> None:
    """The download button offers the committed notebook, not its web copy; drop the theme's source
    maps (only a browser's developer tools read them: 7 MB of the site)."""
    for page in (outdir / "_sources").glob("*.ipynb"):
        shutil.copyfile(EDITIONS[edition]["notebooks"] / page.name, page)
    for source_map in (outdir / "_static").rglob("*.map"):
        source_map.unlink()


def clear_output(out: Path) -> None:
    """Empty ``out`` if it is a site this script built (or empty); refuse any other folder."""
    if out.exists() and any(out.iterdir()):
        if not (out / ".nojekyll").exists() or not (out / "index.html").exists():
            raise SiteBuildError(f"{out} is not empty and is no site built by this script: not deleting it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def build(out: Path, work: Path) -> dict:
    """Build the site into ``out`` (staging and doctrees in ``work``); return timings and sizes."""
    start = time.monotonic()
    assets = work / "assets"
    site_assets.prepare(assets)
    fetched = time.monotonic()
    repo = repository_url()
    pages = {ed: stage_edition(ed, work / "src" / ed, repo) for ed in EDITIONS}
    clear_output(out)
    # myst-nb writes its copies of the outputs beside the output folder (../jupyter_execute): build
    # each edition in a work folder of its own and move the result into place
    html = {ed: work / "html" / ed / "site" for ed in EDITIONS}
    runs = {}
    for ed in EDITIONS:
        shutil.rmtree(html[ed].parent, ignore_errors=True)
        other = next(o for o in EDITIONS if o != ed)
        log = (work / f"sphinx-{ed}.log").open("w")
        command = sphinx_command(ed, work / "src" / ed, html[ed], work / "doctrees" / ed, assets, pages[other])
        runs[ed] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT), log)
    failed = []
    for ed, (process, log) in runs.items():
        process.wait()
        log.close()
        if process.returncode != 0:
            failed.append(f"--- {ed} edition (exit {process.returncode}):\n"
                          + (work / f"sphinx-{ed}.log").read_text(errors="replace")[-6000:])
    if failed:
        raise SiteBuildError("Sphinx build failed (warnings are errors):\n" + "\n".join(failed))
    for ed in EDITIONS:
        shutil.move(html[ed], out / ed)
        finish_edition(out / ed, ed)
    (out / "index.html").write_text(INDEX_HTML, encoding="utf-8")
    (out / ".nojekyll").write_text("")  # GitHub Pages: serve _static/ as it is
    remote = remote_loads(out)
    if remote:
        raise SiteBuildError("pages load from other hosts:\n  " + "\n  ".join(remote[:40]))
    files = [p for p in out.rglob("*") if p.is_file()]
    return {"seconds": round(time.monotonic() - start, 1), "assets_seconds": round(fetched - start, 1),
            "files": len(files), "megabytes": round(sum(p.stat().st_size for p in files) / 1e6, 1),
            "pages": {ed: len(p) + 1 for ed, p in pages.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_site", help="the site folder (default _site/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "site",
                        help="staged sources, doctrees, assets and logs (default build/site/)")
    args = parser.parse_args()
    try:
        report = build(args.out.resolve(), args.work.resolve())
    except (SiteBuildError, site_assets.AssetError) as error:
        raise SystemExit(f"make site: {error}") from None
    print(f"site built in {report['seconds']} s (assets {report['assets_seconds']} s): {report['files']} files, "
          f"{report['megabytes']} MB in {args.out}; pages per edition {json.dumps(report['pages'])}")


if __name__ == "__main__":
    main()
