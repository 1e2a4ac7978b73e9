# publishgate: `make run` serves the demo, `make test` runs the whole suite.
.PHONY: run test generate bench-micro

run:
	go run .

test:
	./scripts/test.sh

generate:
	go generate ./...

# Micro-benchmarks next to their floors (see README: Performance).
bench-micro:
	go test -run '^$$' -bench . -benchtime 20x ./gateway/
