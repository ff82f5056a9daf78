# The two commands of the README: `make run` and `make test`. Both install what is missing.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
IVR := $(VENV)/bin/ivr
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: install system-deps models asterisk-up asterisk-down secrets run call test lint bench

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

# The AMI secret shared by Asterisk, the IVR and `make call` (generated once into var/ unless set).
AMI_SECRET = $${MADOGUCHI_AMI_SECRET:-$$(cat var/ami.secret)}
SCENARIO ?= scenarios/booking.yaml
# Where Asterisk takes SIP: loopback; 0.0.0.0:5060 to call the line from a softphone (docs/CARRIER.md).
SIP_BIND ?= 127.0.0.1:5060

# Generated once, readable by their owner only (umask 077; an older file's mode is fixed too).
SECRETS_DIR ?= var
secrets:
	mkdir -p $(SECRETS_DIR)
	test -s $(SECRETS_DIR)/person.key || (umask 077 && $(PY) -c 'import secrets; print(secrets.token_hex(32))' > $(SECRETS_DIR)/person.key)
	test -s $(SECRETS_DIR)/ami.secret || (umask 077 && $(PY) -c 'import secrets; print(secrets.token_hex(16))' > $(SECRETS_DIR)/ami.secret)
	chmod 600 $(SECRETS_DIR)/person.key $(SECRETS_DIR)/ami.secret

run: install system-deps models secrets
	mkdir -p var
	MADOGUCHI_AMI_SECRET=$(AMI_SECRET) $(IVR) asterisk up --sip $(SIP_BIND)
	MADOGUCHI_PERSON_KEY=$$(cat var/person.key) MADOGUCHI_AMI_SECRET=$(AMI_SECRET) bash scripts/run.sh

# A simulated call against `make run` (in another terminal): make call SCENARIO=scenarios/operator.yaml
call: install
	MADOGUCHI_AMI_SECRET=$(AMI_SECRET) $(IVR) call --scenario $(SCENARIO) --record var/calls/$$(basename $(SCENARIO) .yaml).wav

test: install system-deps models
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

asterisk-up: install system-deps
	$(IVR) asterisk up

asterisk-down: install
	$(IVR) asterisk down

lint: install
	$(VENV)/bin/lint-imports
