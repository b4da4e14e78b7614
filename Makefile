# The two commands a new user needs: `make run` and `make test`. Everything they need is
# installed here, into .venv, from requirements*.txt.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench compliance clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# The browser test drives Debian's Chromium (Playwright cannot download a browser here).
# Installed when missing; CI runs as root on a fresh machine, elsewhere sudo is used.
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	$$( [ "$$(id -u)" -eq 0 ] || echo sudo ) apt-get update
	$$( [ "$$(id -u)" -eq 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

run: $(STAMP)
	$(BIN)/python -m chalicelib.local.stack

test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

compliance: $(STAMP)
	$(BIN)/python -m pytest --compliance

bench: $(STAMP)
	$(BIN)/python bench/accounts.py
	$(BIN)/python bench/retention.py
	$(BIN)/python bench/streaming.py
	$(BIN)/python bench/calls.py

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .local .pytest_cache
