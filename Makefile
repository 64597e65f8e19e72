# Two commands: `make run` and `make test`. Both set up everything they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test setup system-deps bench clean

$(STAMP): pyproject.toml setup.py $(wildcard sfu/native/*.c sfu/native/*.h)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@$(PY) -c "import sfu.native as n; print('native fan-out: built' if n.AVAILABLE else 'WARNING: the native fan-out was not built (' + n.BUILD_ERROR + '); callsfu forwards on the pure-Python path')"
	@touch $(STAMP)

setup: $(STAMP)

## make run: start callsfu on http://127.0.0.1:8080 with SQLite under ./data
run: setup
	$(VENV)/bin/callsfu serve

## system packages the tests use (Chromium, redis-server, coturn, Firefox ESR, node/npm,
## simple-whip-client + GStreamer plugins) and the pinned npm packages of tests/firefox
## (puppeteer-core) and tests/browser/whep (whip-whep), installed when missing
system-deps:
	scripts/install-system-deps

## make test: the whole suite, inside a private network namespace (loopback only)
test: setup system-deps
	scripts/netns-run $(PY) -m pytest

bench: setup
	scripts/netns-run $(PY) -m benchmarks.control_plane

clean:
	rm -rf $(VENV) data build *.egg-info tests/firefox/node_modules sfu/native/*.so
