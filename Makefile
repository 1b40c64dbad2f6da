# The two quick-start commands of the README: `make demo` and `make test`.
VENV := .venv
LMA := $(VENV)/bin/lma
PYTEST_ARGS ?=

.PHONY: demo test install-demo install-test

install-demo:
	./scripts/install.sh demo

install-test:
	./scripts/install.sh test

## Install, then run the untuned embedded model (Type I) beside the planner lma trained and ships
## for BALROG's BabyAI tasks (Type II) on three episodes of the goto task, and write the HTML report.
demo: install-demo
	$(LMA) eval --agents type1,type2 --envs babyai/balrog-goto-v0 --episodes 3 --seed 0 --max-steps 32 --report

## Install the test extras, then run the whole suite in a network namespace with only loopback.
test: install-test
	./scripts/netns-run $(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)
