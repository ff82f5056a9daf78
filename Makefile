# The two commands of the README: `make run` and `make test`. Both install what is missing.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
IVR := $(VENV)/bin/ivr
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: install system-deps models asterisk-up asterisk-down run test lint bench

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

system-deps:
	bash scripts/system-deps.sh

models: install
	@if $(IVR) --help | grep -q '^  models'; then $(IVR) models install; fi

run: install system-deps models
	mkdir -p var
	test -s var/person.key || $(PY) -c 'import secrets; print(secrets.token_hex(32))' > var/person.key
	MADOGUCHI_PERSON_KEY=$$(cat var/person.key) bash scripts/run.sh

test: install system-deps models
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

asterisk-up: install system-deps
	$(IVR) asterisk up

asterisk-down: install
	$(IVR) asterisk down

lint: install
	$(VENV)/bin/lint-imports
