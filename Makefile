# The two commands a user needs (see README.md):
#   make run    set everything up and run Hotline on this machine
#   make test   set everything up and run the whole test suite
# Everything else here is a step those two take.

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SYSTEM_TOOLS := chromium chromedriver sipp espeak-ng sox ffmpeg dot debootstrap

.PHONY: run test system venv lint bench clean-venv

run: system venv
	$(VENV)/bin/hotline run

test: system venv
	bash .ci/tests

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy cti ivr_flows web_admin

# Debian packages the system and its tests drive for real (browser, SIP load generator,
# speech synthesis, audio conversion, graph drawing, the Asterisk sandbox builder).
system:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "hotline: installing system packages for:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	    chromium chromium-driver sip-tester espeak-ng sox libsox-fmt-all ffmpeg graphviz debootstrap; \
	fi
	@fc-list :lang=zh 2>/dev/null | grep -q . || { echo "hotline: installing a Chinese font for the ITR and flow pictures"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends fonts-noto-cjk; }

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,speech]'
	touch $@

bench: system venv
	$(PY) -m bench.run_all

clean-venv:
	rm -rf $(VENV)
