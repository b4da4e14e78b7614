# The two commands a new user needs: `make run` and `make test`. Everything they need is
# installed here, into .venv, from requirements*.txt.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench compliance clean package lint-infra coldstart lock

# Every version is pinned, what our dependencies bring included: requirements.txt (the Lambda
# functions') and constraints-dev.txt (the rest), both written by `make lock`.
$(STAMP): requirements.txt requirements-images.txt requirements-dev.txt constraints-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip -c constraints-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints-dev.txt
	touch $(STAMP)

# After editing requirements.in or requirements-dev.txt: pins them and all they bring.
lock:
	$(PYTHON) .ci/lock_dependencies.py $(if $(UPGRADE),--upgrade)

# The browser test drives Debian's Chromium (Playwright cannot download a browser here).
# Installed when missing; CI runs as root on a fresh machine, elsewhere sudo is used.
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	$$( [ "$$(id -u)" -eq 0 ] || echo sudo ) apt-get update
	$$( [ "$$(id -u)" -eq 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

run: $(STAMP)
	$(BIN)/python -m chalicelib.local.stack

# infra.iam_trace: every AWS call a handler makes in the tests must be one its IAM policy allows.
test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -p infra.iam_trace

compliance: $(STAMP)
	$(BIN)/python -m pytest --compliance

# One table: each figure beside its reference, measured in the same run (README, "Benchmarks").
bench: $(STAMP)
	$(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/ruff check .

# The deployable template and code in build/$(STAGE)/ (README, "Deploying to AWS").
STAGE ?= prod

package: $(STAMP)
	$(BIN)/python -m infra.package --stage $(STAGE) --out build/$(STAGE)

lint-infra: package
	$(BIN)/cfn-lint --include-checks I -- build/$(STAGE)/sam.json

coldstart: package
	$(BIN)/python -m infra.coldstart build/$(STAGE)/deployment.zip

clean:
	rm -rf $(VENV) .local .pytest_cache build
