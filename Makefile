PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
E2E_STAMP := $(VENV)/.e2e-installed
# Debian/Ubuntu fonts the PDF report uses for Chinese, Japanese, Korean, Devanagari and Thai text
FONT_PACKAGES := fonts-noto-core fonts-wqy-microhei

.PHONY: demo test bench fuzz docs clean python-check fonts tesseract chromium

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory python-check
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

$(E2E_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,e2e]'
	touch $(E2E_STAMP)

demo: $(STAMP) tesseract
	$(BIN)/commtrail demo demo-case

test: $(E2E_STAMP) fonts tesseract chromium
	$(BIN)/python -m pytest -n 2 tests

# OCR of screenshots needs the Tesseract program: installed from the system packages when missing
# (as root, where apt-get exists); otherwise a note says how.
tesseract:
	@command -v tesseract >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && apt-get install -y -qq tesseract-ocr >/dev/null; } || \
		echo "Tesseract is missing: install tesseract-ocr (OCR tests need it)"

# The review app's end-to-end tests drive the system's Chromium (Playwright downloads no browser):
# installed when missing (as root, where apt-get exists); otherwise a note says how.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		chromium >/dev/null; } || \
		echo "Chromium is missing: install chromium (the review app's browser tests are skipped without it)"

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

fuzz: $(STAMP)
	$(BIN)/python -m bench.fuzz $(FUZZ_ARGS)

docs: $(STAMP)
	$(BIN)/python -m commtrail.cli_reference README.md

# Python 3.11 or newer with its venv module (Debian and Ubuntu ship venv apart, as python3-venv).
python-check:
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "commtrail needs Python 3.11 or newer, and '$(PY)' is $$($(PY) --version 2>&1 || echo 'not installed')."; \
	  echo "Install Python 3.11 or newer (e.g. sudo apt-get install python3.11 python3.11-venv), then run"; \
	  echo "  make demo PY=python3.11"; exit 1; }
	@$(PY) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "'$(PY)' has no venv module: install it (on Debian or Ubuntu: sudo apt-get install python3-venv)."; exit 1; }

# The fonts the PDF report needs for some scripts: installed when missing if we are root with
# apt-get (as in CI), otherwise named in a note. The test of those scripts fails without them.
fonts:
	@missing=$$(for p in $(FONT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	  | grep -q 'ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "Note: the PDF report shows Chinese, Japanese, Korean, Devanagari and Thai text only with fonts" \
	       "for them: sudo apt-get install" $$missing; \
	fi

clean:
	rm -rf $(VENV) demo-case bench/out
