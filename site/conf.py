"""Sphinx configuration of the course website, shared by both editions.

``scripts/build_site.py`` stages each edition's notebooks into a source folder of its own and runs
one build per edition with this folder as the configuration directory (``-c site``), passing
``-D language=en`` or ``-D language=zh_CN`` and the folder of the fetched browser assets
(``-D fusionlab_assets_dir=…``). Nothing is executed: the pages show the outputs saved in the
committed notebooks. ``_ext/editions.py`` turns the language into the edition's settings (launch
paths, titles, the language switcher); ``_ext/zh_search.py`` repairs Sphinx's Chinese search.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

SITE = Path(__file__).resolve().parent
ROOT = SITE.parent
sys.path.insert(0, str(SITE / "_ext"))

# the one place that names the repository: [project.urls] Repository in pyproject.toml
REPOSITORY = re.search(r'^Repository\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)

project = "fusionlab"
author = "the fusionlab authors"
copyright = "the fusionlab authors"
language = "en"  # the build script overrides it per edition

extensions = ["myst_nb", "sphinx.ext.mathjax", "editions", "zh_search"]

root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
templates_path = ["_templates"]
html_static_path = ["_static"]  # editions.py appends the fetched assets (fusionlab_assets_dir)
html_css_files = ["fusionlab-site.css"]
html_js_files = ["fusionlab-site.js"]

# Notebooks are shown as committed, with their saved outputs; nothing runs at build time.
nb_execution_mode = "off"
nb_merge_streams = True
# The saved widget state renders with the embed script served from the site (no require.js, no CDN).
nb_ipywidgets_js = {"npm/jupyter-widgets/embed.js": {}}
myst_enable_extensions = ["dollarmath", "amsmath"]

# MathJax 3 from the site itself (relative to _static/), fetched from the npm registry at build time.
mathjax_path = "npm/mathjax/tex-mml-chtml.js"

html_theme = "sphinx_book_theme"
html_title = "fusionlab"  # editions.py sets the edition's own title
html_copy_source = True  # the download button offers each chapter's .ipynb
html_show_sphinx = False
# the saved figures and widget panels were drawn for a light page; the theme's toggle still offers dark
html_context = {"default_mode": "light"}
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": "main",
    "path_to_docs": "notebooks",  # editions.py: notebooks/zh for the Chinese edition
    "use_repository_button": True,
    "use_download_button": True,
    "launch_buttons": {
        "binderhub_url": "https://mybinder.org",
        "colab_url": "https://colab.research.google.com",
        "notebook_interface": "jupyterlab",
    },
    "article_header_end": ["language-switcher.html", "article-header-buttons.html"],
    "home_page_in_toc": True,
    "show_toc_level": 2,
}

# The two editions: folder under the site, label in the switcher, Sphinx language, notebooks folder.
fusionlab_editions = {
    "en": {"label": "English", "language": "en", "notebooks": "notebooks",
           "title": "fusionlab course"},
    "zh": {"label": "中文", "language": "zh_CN", "notebooks": "notebooks/zh",
           "title": "fusionlab 课程"},
}
