# The two quick-start commands of the README: `make demo` and `make test`.
VENV := .venv
LMA := $(VENV)/bin/lma
PYTEST_ARGS ?=

.PHONY: demo test install-demo install-test

install-demo:
	./scripts/install.sh demo

install-test:
	./scripts/install.sh test

## Install, then run a Type I agent with the embedded model on three seeded BabyAI episodes.
demo: install-demo
	$(LMA) run --agent type1 --env babyai/GoToRedBall-v0 --episodes 3 --seed 0 --max-steps 24

## Install the test extras, then run the whole suite in a network namespace with only loopback.
test: install-test
	./scripts/netns-run $(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)
