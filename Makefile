# Everyday commands. `make serve` and `make test` set up .venv on first use.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= $(or $(RNNSERVE_DATA_DIR),../shared/data)
HOST ?= 0.0.0.0
PORT ?= 8000

.PHONY: install serve test test-gpu lint format train-sentiment train-lm train-forecast train-forecast-univariate \
	train-forecast-stocks train-forecast-sine bench

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[train,dev,ray]"
	touch $@

serve: install
	HOST=$(HOST) PORT=$(PORT) $(PY) -m service

test: install
	$(PY) -m pytest -q

test-gpu: install
	RNNSERVE_DEVICE=cuda $(PY) -m pytest -q -m gpu

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

train-sentiment: install
	$(PY) -m training sentiment --data $(DATA)/imdb --out artifacts/sentiment --max-size 20000 --max-length 512 \
		--checkpoint-dir runs/sentiment-ckpt

train-lm: install
	$(PY) -m training lm --data $(DATA)/ptb --out artifacts/lm-ptb --epochs 6 --checkpoint-dir runs/lm-ckpt

# Each preset trains on its own: the sine step needs no data, and `make -k` goes on past a missing dataset.
train-forecast: install
	$(MAKE) -k train-forecast-univariate train-forecast-stocks train-forecast-sine

train-forecast-univariate: install
	$(PY) -m training forecast --preset univariate --data $(DATA)/timeseries --out artifacts/forecast-univariate \
		--hidden-size 128 --batch-size 128 --steps-per-epoch 250 --epochs 40 --patience 8 \
		--checkpoint-dir runs/forecast-univariate-ckpt

train-forecast-stocks: install
	$(PY) -m training forecast --preset stocks --data $(DATA)/stocks --out artifacts/forecast-stocks \
		--checkpoint-dir runs/forecast-stocks-ckpt

train-forecast-sine: install
	$(PY) -m training forecast --preset sine --out runs/forecast-sine-stage1 --lr 2e-3 \
		--rollout-start 25 --rollout-max 300 --epochs 11 --patience 20 --steps-per-epoch 100 \
		--checkpoint-dir runs/forecast-sine-stage1-ckpt
	$(PY) -m training forecast --preset sine --out artifacts/forecast-sine \
		--init-weights runs/forecast-sine-stage1/weights.safetensors --lr 5e-4 --rollout-start 600 --rollout-max 600 \
		--epochs 8 --patience 3 --steps-per-epoch 60 --batch-size 32 --checkpoint-dir runs/forecast-sine-ckpt

bench: install
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m bench.sentiment_quality --data $(DATA)/imdb
	$(PY) -m bench.lm_quality --data $(DATA)/ptb
	$(PY) -m bench.forecast_quality --data-root $(DATA)
	$(PY) -m bench.forecast_eval --data-root $(DATA)
	$(PY) -m bench.load
	$(PY) -m bench.soak
	$(PY) -m bench.sessions
	$(PY) -m bench.distributed
