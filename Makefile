# vnet-tui — the two front-door commands are `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: venv demo test unit screenshots bench clean system-deps

# system packages the lab and the tests need (apt, only when missing)
system-deps:
	@missing=""; \
	command -v qemu-system-x86_64 >/dev/null || missing="$$missing qemu-system-x86"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v tmux >/dev/null || missing="$$missing tmux"; \
	command -v dpkg-deb >/dev/null || missing="$$missing dpkg"; \
	$(PY) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing with apt:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip >/dev/null
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

venv: system-deps $(STAMP)

demo: venv
	$(BIN)/vnet-tui demo

test: venv
	$(BIN)/python -m pytest tests

unit: venv
	$(BIN)/python -m pytest tests/unit

screenshots: venv
	$(BIN)/python -m vnet_tui.ui.screenshots screenshots

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache
