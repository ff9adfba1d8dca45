# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Our machines carry these wheels locally; elsewhere any torch >= 2.4 works (override TORCH_SPEC).
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
SHARED_CLIP := ../shared/data/udacity_lanelines_p1/solidWhiteRight.mp4
DEMO_VIDEO ?= $(if $(wildcard $(SHARED_CLIP)),$(SHARED_CLIP),runs/synthetic_clip.mp4)

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install $(TORCH_SPEC)
	$(PY) -m pip install -c constraints.txt -e '.[onnx,dev,logs,rl,fleet,rerun]'
	touch $@

demo: setup
	@test -f $(DEMO_VIDEO) || $(PY) -m perception.tools.synthetic_clip --output $(DEMO_VIDEO)
	$(PY) -m perception.run --source $(DEMO_VIDEO) --output runs/demo

test: setup
	$(PY) -m pytest -q -n auto

bench: setup
	$(PY) benchmarks/pipeline.py

clean:
	rm -rf runs benchmarks/out .pytest_cache
