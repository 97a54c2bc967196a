# One command each, from a fresh clone:  `make test` (set up + all tests)  and  `make demo` (set up + main job).
VENV ?= .venv
PY   := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-nbs test-py check-export demo bench docs-check readme clean

$(STAMP): settings.ini setup.py
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: these wheels are the ones that ship torchvision's compiled ops
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

check-export: $(STAMP)
	$(PY) -m pytest -q tests/test_export.py

test-py: $(STAMP)
	$(PY) -m pytest -q tests/

test-nbs: $(STAMP)
	rm -rf _nbtest && cp -r nbs _nbtest && $(PY) tools/number_cells.py _nbtest
	cd _nbtest && ../$(PY) -m pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider .

# pytest tests/ (including the nbdev_export sync check), then every notebook through nbval
test: test-py test-nbs

demo: $(STAMP)
	$(VENV)/bin/gradaug-train

bench: $(STAMP)
	$(PY) benchmarks/step.py

docs-check: $(STAMP)
	$(VENV)/bin/nbdev_proc_nbs

clean:
	rm -rf $(VENV) _proc _docs build dist *.egg-info

readme: $(STAMP)
	$(PY) tools/make_readme.py
