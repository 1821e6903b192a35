#!/usr/bin/env bash
# What the test suite needs beyond Python packages, installed where this machine allows it.
# `make test` runs this first (as `make test-deps`); `.ci/run` runs `make test`.
#
# - Debian packages (PostgreSQL for the TAXII storage tests, Chromium for the browser tests):
#   installed with apt-get when running as root and missing; otherwise listed with the command
#   that installs them. Servers are NOT started here: the test session starts its own (a
#   PostgreSQL cluster in a temporary folder on a loopback port, see tests/conftest.py).
# - npm packages (the SARIF multitool, ...): installed into .cache/npm of the checkout when npm
#   is present (no global installs). Tests look for them there.
#
# A requirement that cannot be met is never an error here: the tests that need it skip and
# print why. To add a requirement, add one line to DEBIAN or NPM below; see docs/ci.md.
set -uo pipefail
cd "$(dirname "$0")/.."

# "package|probe": the probe is a command name, or a path glob, that exists once installed
DEBIAN=(
  "postgresql|/usr/lib/postgresql/*/bin/initdb"
  "chromium|chromium"
  "fonts-dejavu-core|/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
)
# "package@version|probe": the probe is a path under .cache/npm that exists once installed
NPM=(
  "@microsoft/sarif-multitool@5.7.0|node_modules/@microsoft/sarif-multitool/package.json"
  "azurite@3.37.0|node_modules/azurite/package.json"
)

present() {  # probe -> 0 when installed
  local probe=$1
  if [[ $probe == /* ]]; then
    compgen -G "$probe" >/dev/null
  else
    command -v "$probe" >/dev/null 2>&1
  fi
}

missing=()
for entry in "${DEBIAN[@]}"; do
  present "${entry#*|}" || missing+=("${entry%%|*}")
done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
      echo "test-deps: could not install ${missing[*]}; the tests that need them will skip"
    fi
  else
    echo "test-deps: missing ${missing[*]}; the tests that need them will skip" \
      "(install: sudo apt-get install ${missing[*]})"
  fi
fi

want=()
for entry in "${NPM[@]}"; do
  [[ -e .cache/npm/${entry#*|} ]] || want+=("${entry%%|*}")
done
if ((${#want[@]})); then
  if command -v npm >/dev/null 2>&1; then
    echo "test-deps: npm install ${want[*]} (into .cache/npm)"
    mkdir -p .cache/npm
    if ! npm install --prefix .cache/npm --no-audit --no-fund --no-save --loglevel=error \
      "${want[@]}"; then
      echo "test-deps: npm install failed; the tests that need ${want[*]} will skip"
    fi
  else
    echo "test-deps: no npm; the tests that need ${want[*]} will skip (install Node.js 20+)"
  fi
fi
# npm does not run the multitool's postinstall `chmod u+x` under script allow-lists
for exe in .cache/npm/node_modules/@microsoft/sarif-multitool-*/Sarif.Multitool; do
  [[ -f $exe ]] && chmod u+x "$exe"
done
exit 0
