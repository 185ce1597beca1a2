# One-command set-up: `make run` and `make test` build .venv from the package registries first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= ./config.toml

.PHONY: install install-test chromium run demo test bench lint i18n clean

$(BIN)/newswatch: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

install: $(BIN)/newswatch

$(VENV)/.test-extras: $(BIN)/newswatch
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@$(MAKE) --no-print-directory chromium
	touch $@

# The page test drives the machine's own Chromium (no browser download): install it from the package
# manager when apt is usable (root or sudo), with a CJK font so the screenshot shows the Chinese titles;
# elsewhere the test skips and says why.
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else exit 0; fi; \
	  command -v apt-get >/dev/null || exit 0; \
	  echo "installing chromium (apt-get) for the browser test"; \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-wqy-zenhei; } \
	    >/dev/null 2>&1 || echo "chromium could not be installed: the browser test will skip"; }

install-test: $(VENV)/.test-extras

run: install
	$(BIN)/newswatch --config $(CONFIG) run

# The whole pipeline, offline, in about 30 s: a bundled local news site, the console for Telegram.
demo: install
	$(BIN)/newswatch demo $(DEMO_ARGS)

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(VENV)/.bench-extras: $(VENV)/.test-extras
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

bench: $(VENV)/.bench-extras
	$(BIN)/python bench/crawl
	$(BIN)/python bench/entities
	$(BIN)/python bench/classify
	$(BIN)/python bench/fanout
	$(BIN)/python bench/flood
	$(BIN)/python bench/latency
	$(BIN)/python bench/memory
	$(BIN)/python bench/web
	$(BIN)/python bench/scale
	$(BIN)/python bench/poll

lint: install-test
	$(BIN)/ruff check .

# The bot's catalogs: extract the messages marked in bot/ (mapping in pyproject.toml), merge them into
# each language's .po (new ones to translate, changed ones marked fuzzy, removed ones dropped), and
# compile the .mo files, which are committed. A new language: pybabel init -D newswatch -d bot/locale
# -i build/newswatch.pot -l LOCALE, then add it to bot/i18n.py.
LOCALE := bot/locale
i18n: install-test
	mkdir -p build
	$(BIN)/pybabel extract -F pyproject.toml -o build/newswatch.pot --add-location=file \
	  --add-comments=TRANSLATORS: --strip-comment-tags --sort-by-file --no-wrap --project=newswatch bot
	$(BIN)/pybabel update -D newswatch -d $(LOCALE) -i build/newswatch.pot --ignore-obsolete --no-wrap \
	  --ignore-pot-creation-date
	$(BIN)/pybabel compile -D newswatch -d $(LOCALE) --statistics

clean:
	rm -rf $(VENV) build *.egg-info
