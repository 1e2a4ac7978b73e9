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

if ! command -v redis-server >/dev/null 2>&1; then
  step "installing redis-server (the cache tests start private servers)"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is missing: install it (Debian/Ubuntu: sudo apt-get install redis-server)" >&2
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
go generate ./...
if ! git diff --quiet -- graph || [ -n "$(git ls-files --others --exclude-standard -- graph)" ]; then
  echo "generated code is stale: run 'go generate ./...' and commit the result" >&2
  git diff --stat -- graph >&2
  git ls-files --others --exclude-standard -- graph >&2
  exit 1
fi

step "go test -race ./..."
go test -race -count=1 ./...

step "fuzz: bot ID check and URL building (a few seconds)"
go test -run '^$' -fuzz '^FuzzStatusURLStaysOnHost$' -fuzztime 5s ./upstream/
