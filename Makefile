PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: demo test tesseract bench fuzz docs clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

demo: $(STAMP)
	$(BIN)/commtrail demo demo-case

test: $(STAMP) tesseract
	$(BIN)/python -m pytest -n 2 tests

# OCR of screenshots needs the Tesseract program: installed from the system packages when missing
# (as root, where apt-get exists); otherwise a note says how.
tesseract:
	@command -v tesseract >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && apt-get install -y -qq tesseract-ocr >/dev/null; } || \
		echo "Tesseract is missing: install tesseract-ocr (OCR tests need it)"

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

fuzz: $(STAMP)
	$(BIN)/python -m bench.fuzz $(FUZZ_ARGS)

docs: $(STAMP)
	$(BIN)/python -m commtrail.cli_reference README.md

clean:
	rm -rf $(VENV) demo-case bench/out
