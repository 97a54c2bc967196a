# One command each, from a fresh clone:  `make test` (set up + all tests)  and  `make demo` (set up + main job).
VENV ?= .venv
PY   := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# `make test-min`: the same tests in MIN_VENV, where every requirement sits at the lowest version settings.ini allows
MIN_VENV ?= .venv-min
# its interpreter: python<min_python> (pyenv's, else PATH's), else python3 (then tools/min_constraints.py warns)
MIN_PY_VERSION := $(shell sed -n 's/^min_python *= *//p' settings.ini)
# imagecorruptions-imaug requires opencv-python, whose cv2 needs libGL (absent on a bare CI machine): swap in the
# headless build of the same version, which needs no display libraries (after MIN_VENV's pip install; `make install`
# leaves opencv-python out with uv's --excludes)
HEADLESS_CV2 = v=$$($(PY) -m pip show opencv-python 2>/dev/null | sed -n 's/^Version: //p'); \
	if [ -n "$$v" ]; then $(PY) -m pip uninstall -q -y opencv-python && \
	$(PY) -m pip install -q --no-deps --force-reinstall "opencv-python-headless==$$v"; fi; $(PY) -c "import cv2"
# The installer of `make install` is uv (about 3x faster than pip here: it unpacks wheels in parallel), from PyPI into
# the venv. uv does not read pip's configuration: the indexes, find-links and constraints this machine gives pip
# (pip.conf: on this project's machines, local indexes that hold torch's wheels) are handed to it.
PIP_SETTING = "$$($(PY) -m pip config get global.$(1) 2>/dev/null)"
UV_FROM_PIP = UV_EXTRA_INDEX_URL=$(call PIP_SETTING,extra-index-url) UV_FIND_LINKS=$(call PIP_SETTING,find-links) \
              UV_CONSTRAINT=$(call PIP_SETTING,constraint)
MIN_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/$(MIN_PY_VERSION).*/bin/python$(MIN_PY_VERSION)) \
                          $(shell command -v python$(MIN_PY_VERSION)) python3)

.PHONY: install test test-fast test-durations test-nbs test-py test-min check-export demo bench docs-check docs-preview lab dist release readme clean \
        reference-models evidence transformers

ifeq ($(VENV),$(MIN_VENV))
# lowest versions: tools/min_constraints.py pins each lower bound (and fails on a runtime requirement without one)
$(STAMP): settings.ini setup.py tools/min_constraints.py
	rm -rf $(VENV)
	$(MIN_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) tools/min_constraints.py $(VENV)/constraints-min.txt
	$(PY) -m pip install -q --only-binary=:all: -c $(VENV)/constraints-min.txt -e ".[dev]"
	$(HEADLESS_CV2)
	$(PY) -m pip freeze --exclude-editable > $(VENV)/versions.txt
	$(PY) -c "import sys; print('python', sys.version.split()[0])" && cat $(VENV)/versions.txt
	touch $(STAMP)
else
$(STAMP): settings.ini setup.py
	python3 -m venv $(VENV)
	$(PY) -m pip install -q uv
	# torch pinned: these wheels are the ones that ship torchvision's compiled ops. opencv-python (which
	# imagecorruptions-imaug asks for) is left out: grad-cam's opencv-python-headless provides the same cv2
	echo opencv-python > $(VENV)/uv-excludes.txt
	$(UV_FROM_PIP) $(VENV)/bin/uv pip install -q --python $(PY) --excludes $(VENV)/uv-excludes.txt \
	    torch==2.14.1 torchvision==0.29.1 -e ".[dev]"
	$(PY) -c "import cv2"
	touch $(STAMP)
endif

install: $(STAMP)

check-export: $(STAMP)
	$(PY) -m pytest -q tests/test_export.py

test-py: $(STAMP)
	$(PY) -m pytest -q tests/

test-nbs: $(STAMP)
	$(NBTEST)
	$(PYTEST_ENV) $(PY) -m pytest -q -p no:cacheprovider _nbtest

# everything test-py and test-nbs run, in one pytest run on two worker processes (pytest-xdist hands out a file at a
# time, the slowest first: see conftest.py, which also prints one line per finished file). One PyTorch thread per
# worker and its subprocesses: two workers of two threads each on two cores run 3-5x slower. Notebooks run inside the
# workers, a test per cell (tools/notebook_items.py: no Jupyter kernel, so no new interpreter per notebook).
# Bytecode: where PYTHONDONTWRITEBYTECODE=1 is set (this machine, CI) no interpreter would write its caches, and each
# one the tests start (workers, subprocesses) would compile torch again (about 10 s each): the tests write them,
# outside the tree, under $(VENV)/pycache, so the first interpreter compiles and the others read.
# (NBTEST: the copy of nbs/ the notebooks run in, so that nbs/ stays clean; PYTEST_ENV: the threads and bytecode of
# every pytest run here; PYTEST2: pytest as test and test-fast run it)
NBTEST  = rm -rf _nbtest && cp -r nbs _nbtest
PYTEST_ENV = OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(abspath $(VENV))/pycache
PYTEST2 = $(PYTEST_ENV) $(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder -p no:cacheprovider \
          -o console_output_style=classic
test: $(STAMP)
	$(NBTEST)
	$(PYTEST2) $(PYTEST_ARGS) tests _nbtest

# the edit loop: one notebook (NB=its name or module, e.g. NB=00_slim) and the tests/ files that import its module,
# run as `make test` runs them; `make test` (what CI runs) stays the whole suite
test-fast: $(STAMP)
	@files=$$($(PY) tools/fast_tests.py "$(NB)") || exit 2; \
	$(NBTEST) && echo "make test-fast: $$files" && $(PYTEST2) $$files

# `make test`, then the seconds each file took written to tools/test_durations.json (the order conftest.py starts them in)
test-durations: $(STAMP)
	$(MAKE) test PYTEST_ARGS=--junitxml=_nbtest/junit.xml; status=$$?; \
	    $(PY) tools/test_durations.py _nbtest/junit.xml && exit $$status

# the whole of `make test` against the lowest allowed versions, in a venv of its own (rebuilt when settings.ini changes)
test-min:
	$(MAKE) test VENV=$(MIN_VENV)

demo: $(STAMP)
	$(VENV)/bin/gradaug-train

# retrain the reference digit models in nbs/_reference_models/ and re-evaluate their robustness (CPU: about an hour)
reference-models: $(STAMP)
	$(PY) tools/train_reference_models.py
	$(PY) tools/evaluate_reference_models.py

# the evidence study of nbs/tutorials/evidence_digits.ipynb: 24 tuning runs, then 144 paired runs, two at a time on one
# thread each, appended to nbs/tutorials/evidence_*.csv (a stopped sweep continues; CPU: about 3.3 CPU-hours)
evidence: $(STAMP)
	$(PY) experiments/evidence_digits.py all

# the ConvNeXt and ViT demonstration of nbs/tutorials/transformer_digits.ipynb: 24 paired runs, two at a time on one
# thread each, appended to nbs/tutorials/transformer_digits.csv (a stopped sweep continues)
transformers: $(STAMP)
	$(PY) experiments/transformer_digits.py all

bench: $(STAMP)
	$(PY) benchmarks/step.py

# the docs as nbdev processes them for the Quarto site: links, show_doc coverage, error outputs, signatures, sidebar.
# Runs in .venv, installs nothing, writes nothing in the tree (nbdev_proc_nbs would try to install Quarto).
docs-check: $(STAMP)
	$(PY) tools/docs.py check

# a browsable local preview in _preview/ (pandoc, no Quarto); the published site is Quarto's (nbdev_docs)
docs-preview: $(STAMP)
	$(PY) tools/docs.py preview --out _preview

# JupyterLab on the notebooks, with the project's .venv as the kernel (LAB_ARGS: more options, e.g. --no-browser)
LAB_ARGS ?=
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=nbs $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# sdist and wheel in dist/, checked by twine
dist: $(STAMP)
	rm -rf dist build
	$(PY) -m build --outdir dist .
	$(PY) -m twine check --strict dist/*

# publishing is done by a person: this builds and checks, then prints the steps
release: dist
	@echo "To publish gradaug $$(sed -n 's/^version *= *//p' settings.ini):"
	@echo "  1. bump version in settings.ini (nbdev_bump_version), add its section to CHANGELOG.md, commit"
	@echo "  2. make test && make dist"
	@echo "  3. git tag v<version> && git push --tags"
	@echo "  4. $(PY) -m twine upload dist/*        (or nbdev_pypi, which does 2-4's upload)"

clean:
	rm -rf $(VENV) $(MIN_VENV) _proc _docs _preview build dist *.egg-info

readme: $(STAMP)
	$(PY) tools/make_readme.py
