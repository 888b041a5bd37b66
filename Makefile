# fusionlab course: two commands on a fresh machine (Python >= 3.10).
#   make lab    create .venv, install the course, open JupyterLab on notebooks/
#   make test   the same install, then every test: the package tests and every notebook (nbval)
#   make site   the same install, then the course website in _site/ (English and Chinese, nothing executed)
# Graphviz's `dot` renders the autograd graphs; as root with apt-get it is installed here,
# otherwise install the package `graphviz` yourself (the course runs without it).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
# Debian packages: graphviz for torchviz, a CJK font (fonts-wqy-zenhei) so that the post's Chinese renders in
# the browser and in figures, chromium for the JupyterLab and website browser tests, npm for the website's
# MathJax and widget scripts (make site fetches them from the npm registry)
SYSTEM_PACKAGES ?= graphviz chromium npm

.PHONY: lab test install system-packages clean editions

# scripts/lab.py adapts JupyterLab to the machine: browser on a desktop; on a headless server, over
# SSH or in a container, the address with its token (and an ssh -L line); --allow-root as root; a
# busy port moves on. Options: make lab LAB_ARGS="--port 9000 --ip 127.0.0.1" (see the script).
# The lab itself needs only graphviz (chromium is for the browser test).
LAB_ARGS ?=
lab: SYSTEM_PACKAGES = graphviz
lab: install system-packages
	$(BIN)/python scripts/lab.py $(LAB_ARGS)

# two pytest workers (pytest-xdist); --dist loadfile keeps each notebook's cells, which share one kernel,
# on one worker. On 2 cores this halves the wall time of the notebooks and the package tests.
PYTEST_WORKERS ?= 2
test: install system-packages
	$(BIN)/python -m pytest tests notebooks --nbval-lax -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadfile

# the heavier checks `make test` leaves out (marker slow_extra, deselected in pyproject.toml)
.PHONY: test-slow
test-slow: install system-packages
	$(BIN)/python -m pytest tests -m slow_extra -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadfile

# the Chinese edition, notebooks/zh/: regenerate from notebooks/ and translations/zh/, then run it
# (scripts/editions.py; tests/test_editions.py fails when it is stale)
editions: install system-packages
	$(BIN)/python scripts/editions.py build --execute

# the course website from the committed notebooks, nothing executed (scripts/build_site.py): _site/en/,
# _site/zh/ and an index.html that picks by the browser's language. MathJax and the widget embed script
# come from the npm registry at pinned versions (site/assets.json; needs npm once, cached in .cache/).
.PHONY: site
site: SYSTEM_PACKAGES = npm
site: install system-packages
	$(BIN)/python scripts/build_site.py

install: $(STAMP)

# order-only: the stamp's name already holds the files' checksum, so a fresh clone (new mtimes,
# same content) reuses an up-to-date environment, e.g. VENV=/path/to/.venv make lab
$(STAMP): | requirements.txt pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("fusionlab needs Python >= 3.10, found " + sys.version.split()[0]) if sys.version_info < (3, 10) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

system-packages:
	@missing=""; \
	command -v dot >/dev/null 2>&1 || missing="$$missing graphviz"; \
	{ command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh | grep -q .; } || missing="$$missing fonts-wqy-zenhei"; \
	case " $(SYSTEM_PACKAGES) " in *" chromium "*) command -v chromium >/dev/null 2>&1 || missing="$$missing chromium";; esac; \
	case " $(SYSTEM_PACKAGES) " in *" npm "*) command -v npm >/dev/null 2>&1 || missing="$$missing npm";; esac; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
		echo "note: install the system package(s)$$missing (e.g. sudo apt-get install$$missing); the course runs without them"; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache
