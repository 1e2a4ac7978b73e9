#!/usr/bin/env bash
# The whole test suite: formatting, vet, generated code freshness, the race-
# enabled tests and a short fuzz run. Installs what it needs on a fresh
# Debian machine (redis-server for the cache tests).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! command -v go >/dev/null 2>&1; then
  echo "Go is required (https://go.dev/doc/install); go.mod names the version." >&2
  exit 1
fi

# apt_install installs Debian packages when running as root, running apt-get update once.
apt_updated=
apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
  if [ -z "$apt_updated" ]; then apt-get update -qq && apt_updated=1 || return 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v redis-server >/dev/null 2>&1; then
  step "installing redis-server (the cache tests start private servers)"
  if ! apt_install redis-server; then
    echo "redis-server is missing: install it (Debian/Ubuntu: sudo apt-get install redis-server)" >&2
    exit 1
  fi
fi

# The status board's end-to-end test (board/) drives a headless Chromium; it fails, never skips,
# without one.
if [ -z "${PUBLISHGATE_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
  && ! command -v google-chrome-stable >/dev/null 2>&1 && ! command -v google-chrome >/dev/null 2>&1; then
  step "installing chromium (the status board's browser test drives it headless)"
  if ! apt_install chromium; then
    echo "chromium is missing: install it (Debian/Ubuntu: sudo apt-get install chromium) or set PUBLISHGATE_CHROMIUM" >&2
    exit 1
  fi
fi

# The Prometheus alert rules (deploy/prometheus/) are checked and unit-tested with promtool, from
# Debian's prometheus package; gateway/alerts_test.go runs it on a live gateway's series. It fails,
# never skips, without one.
if ! command -v promtool >/dev/null 2>&1; then
  step "installing prometheus (promtool checks and tests the alert rules)"
  if ! apt_install prometheus; then
    echo "promtool is missing: install it (Debian/Ubuntu: sudo apt-get install prometheus)" >&2
    exit 1
  fi
fi

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "not gofmt-ed:" >&2; echo "$unformatted" >&2; exit 1
fi

step "go vet"
go vet ./...

step "generated code is fresh (go generate ./...)"
# Compare graph/ before and after generating, so that the check also holds
# in a working tree with uncommitted (but regenerated) schema changes.
graph_sums() { find graph -type f | LC_ALL=C sort | xargs sha256sum; }
before=$(graph_sums)
go generate ./...
after=$(graph_sums)
if [ "$before" != "$after" ]; then
  echo "generated code is stale: run 'go generate ./...' and commit the result" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  exit 1
fi

step "alert rules: promtool check rules, promtool test rules"
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml

step "go test -race ./..."
go test -race -count=1 ./...


step "docker compose config"
if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  docker compose -f docker-compose.yml config --quiet
else
  echo "skipped: no docker client with the compose plugin here ('docker compose version' failed);"
  echo "deploy_test.go still checks the compose file, the Dockerfile and deploy/."
fi

step "fuzz: bot ID check and URL building (a few seconds)"
go test -run '^$' -fuzz '^FuzzStatusURLStaysOnHost$' -fuzztime 5s ./upstream/
go test -run '^$' -fuzz '^FuzzKoreBotIDMatchesThePattern$' -fuzztime 3s ./upstream/
go test -run '^$' -fuzz '^FuzzPlainStrings$' -fuzztime 3s ./upstream/

step "fuzz: caller tokens, no forgery accepted (a few seconds)"
go test -run '^$' -fuzz '^FuzzVerifyNeverAcceptsForgeries$' -fuzztime 5s ./auth/
