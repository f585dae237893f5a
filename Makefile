# vnet-tui — the two front-door commands are `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: venv demo test unit lint-imports screenshots bench clean system-deps runtimes

# system packages the lab and the tests need (apt, only when missing)
system-deps:
	@missing=""; \
	command -v qemu-system-x86_64 >/dev/null || missing="$$missing qemu-system-x86"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v tmux >/dev/null || missing="$$missing tmux"; \
	command -v strace >/dev/null || missing="$$missing strace"; \
	command -v nft >/dev/null || missing="$$missing nftables"; \
	command -v dpkg-deb >/dev/null || missing="$$missing dpkg"; \
	$(PY) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing with apt:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# container and VM runtimes the owner tests run (each inside a namespace of its own, never in
# the root one).  Their services must not start on install: a policy-rc.d that refuses
# every start is put in place for the install (and removed after, if it was ours).
RUNTIME_PKGS := docker.io podman netavark runc lxc libvirt-daemon libvirt-daemon-driver-qemu \
                libvirt-clients systemd-container iptables strace
runtimes:
	@missing=""; \
	for p in $(RUNTIME_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing with apt (services kept from starting):$$missing"; \
	  ours=""; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; ours=1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; rc=$$?; \
	  [ -n "$$ours" ] && rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	fi

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip >/dev/null
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

venv: system-deps $(STAMP)

demo: venv
	$(BIN)/vnet-tui demo

# the layers contract first (pyproject.toml [tool.importlinter], docs/LAYERS.md): a broken one fails the target
lint-imports: venv
	$(BIN)/lint-imports --no-cache

test: venv runtimes lint-imports
	$(BIN)/python -m pytest tests

unit: venv lint-imports
	$(BIN)/python -m pytest tests/unit

screenshots: venv
	$(BIN)/python -m vnet_tui.ui.screenshots screenshots

# make bench CONTAINERS=5000: the same run at another size (default 1,000); BENCH_ARGS adds options
# (e.g. BENCH_ARGS="--only lab")
CONTAINERS ?= 1000
bench: venv
	$(BIN)/python -m bench --containers $(CONTAINERS) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
