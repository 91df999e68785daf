# Stitchd tasks. Run through ./just, which installs what these need into .venv first.
set shell := ["bash", "-euo", "pipefail", "-c"]

py := ".venv/bin/python"

# list the recipes
default:
    @just --list

# run the whole platform (embedded PostgreSQL, NATS and chdb unless *_URL are set)
up *ARGS:
    {{py}} -m stitchd up {{ARGS}}

# every check CI runs: the lock, lint, types, the SDK at its lowest versions, then every test
test: system-deps lock-check lint typecheck test-sdk-lowest
    {{py}} -m pytest tests -p no:randomly

# Debian packages outside the lock: xmlsec1 (SAML signatures, gateway/saml). Installed when missing and
# root with apt-get (idempotent: nothing happens when it is there); otherwise says what to install.
system-deps:
    if ! command -v xmlsec1 >/dev/null; then \
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
            echo "installing the Debian package xmlsec1 ..." >&2; \
            apt-get install -y -q xmlsec1 >/dev/null 2>&1 \
                || { apt-get update -q >/dev/null && apt-get install -y -q xmlsec1 >/dev/null; }; \
        else \
            echo "xmlsec1 is missing: install the Debian package xmlsec1 (SAML login needs it)" >&2; exit 1; \
        fi; \
    fi

# the SDK's own tests in an install of the SDK alone, at the lowest versions its ranges allow
test-sdk-lowest:
    uv venv --quiet --allow-existing --python {{py}} .venv-lowest
    uv pip sync --quiet --require-hashes --python .venv-lowest/bin/python tools/sdk-lowest.txt
    PYTHONPATH=sdk .venv-lowest/bin/python -m pytest -q -p no:randomly tests/unit/sdk tests/conformance \
        --ignore=tests/conformance/test_openfeature_gherkin.py \
        tests/unit/domain/test_evaluation.py tests/unit/domain/test_evaluation_properties.py \
        tests/unit/domain/test_hashing.py tests/unit/domain/test_codec.py tests/unit/domain/conditions/test_codec.py

# re-resolve uv.lock after a change to pyproject.toml (same cut-off instant), and the SDK's lowest set
lock:
    uv lock --quiet
    {{py}} tools/sdk_lowest.py

# move the resolution cut-off to now and take every newest release the ranges allow: a reviewed commit
upgrade:
    sed -i "s/^exclude-newer = .*/exclude-newer = \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"/" pyproject.toml
    uv lock --quiet --upgrade
    {{py}} tools/sdk_lowest.py
    git diff --stat -- pyproject.toml uv.lock tools/sdk-lowest.txt

# fail when uv.lock or tools/sdk-lowest.txt is not what pyproject.toml gives
lock-check:
    uv lock --check --quiet
    {{py}} tools/sdk_lowest.py --check

# the check before a release: clone HEAD with nothing beside it, run the README's two commands there
fresh-clone-test:
    {{py}} tools/fresh_clone_test.py

# unit tests only: no services needed
test-unit: system-deps
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
