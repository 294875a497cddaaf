# Two commands: `make run` and `make test`. Both create .venv here and install into it on first use.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch first and pinned: on our machines pip then takes the local CPU build of 2.13.0;
	# elsewhere, and for any unpinned torch, PyPI serves the multi-GB CUDA build.
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

# two malloc arenas: memory a closed app session frees goes back to the system (see app/session.py)
run: export MALLOC_ARENA_MAX := 2
run: $(STAMP)
	@echo "Almanac: open http://localhost:8501 (bundled sample data is preloaded; Ctrl-C stops the server)"
	$(VENV)/bin/streamlit run app/main.py --server.headless true --server.port 8501

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) out
