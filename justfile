# Stitchd tasks. Run through ./just, which installs what these need into .venv first.
set shell := ["bash", "-euo", "pipefail", "-c"]

py := ".venv/bin/python"

# list the recipes
default:
    @just --list

# run the whole platform (embedded PostgreSQL, NATS and chdb unless *_URL are set)
up *ARGS:
    {{py}} -m stitchd up {{ARGS}}

# every check CI runs: lint, types, unit, integration and e2e tests
test: lint typecheck
    {{py}} -m pytest tests -p no:randomly

# unit tests only: no services needed
test-unit:
    {{py}} -m pytest tests/unit

# ruff lint and format check
lint:
    {{py}} -m ruff check .
    {{py}} -m ruff format --check .

# mypy --strict over the whole tree
typecheck:
    {{py}} -m mypy .

# apply ruff fixes and formatting
fmt:
    {{py}} -m ruff check --fix .
    {{py}} -m ruff format .

# benchmarks: a table on screen and .bench/results.json; NAME picks one (e.g. `just bench eval`)
bench NAME="":
    {{py}} -m tests.bench {{NAME}}

# regenerate betterproto code from schemas/proto
protos:
    {{py}} -m schemas.build
