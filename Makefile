# publishgate: `make run` serves the demo, `make test` runs the whole suite.
.PHONY: run test generate bench-micro

run:
	go run .

test:
	./scripts/test.sh

generate:
	go generate ./...

# Micro-benchmarks next to their floors (see docs/benchmarks.md).
bench-micro:
	go test -run '^$$' -bench . -benchtime 20x ./gateway/

# The benchmark harness (bench/, docs/benchmarks.md): simulators, Redis and
# gateway replicas as separate processes, floors measured side by side.
# `make bench` runs the whole matrix (about 15 minutes); `make bench-smoke`
# 100 bots over 5 hosts, cold/warm/herd, one repetition (under 2 minutes).
# Extra flags: make bench BENCH_FLAGS='-reps 5 -out results.md'.
.PHONY: bench bench-smoke
bench:
	go run ./bench $(BENCH_FLAGS)

bench-smoke:
	go run ./bench -bots 100 -hosts 5 -workloads cold,warm,herd -reps 1 -duration 1s -ladder-steps 4 $(BENCH_FLAGS)
