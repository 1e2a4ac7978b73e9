package gateway_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// BenchmarkWarmAnswer1000Bots serves a warm 1,000-bot bots(refs) query
// in-process (the gateway's handler, no network: parsing, validation,
// execution and the marshal of the answer), next to the floor: encoding/json
// marshalling the same answer from plain structs. x-json is their ratio, what
// GraphQL execution costs per answer beyond writing the JSON.
func BenchmarkWarmAnswer1000Bots(b *testing.B) {
	acct := testkit.Account("prod", 1000)
	sim := testkit.MustSimulator(b, simulator.WithAccounts(acct))
	cfg := testkit.Config(b, sim.URL, acct)
	cfg.Cache.TTL = config.Duration(time.Hour)
	cfg.Limits.MaxComplexity = 10_000_000
	cfg.Environments[0].Concurrency = 100
	cfg.Environments[0].BotRatePerMinute, cfg.Environments[0].BotRatePerHour, cfg.Environments[0].RatePerMinute = 0, 0, 0
	gw := testkit.MustGateway(b, cfg, gateway.Options{})
	q := `query($refs: [BotRef!]!) { bots(refs: $refs) { id publishStatus { status percentageComplete lastModifiedOn statusSummary { resourceType status } } } }`
	reqBody, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"refs": refs("prod", ids(acct)...)}})
	serve := func() []byte {
		req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(reqBody))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		gw.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
			b.Fatalf("HTTP %d: %.300s", rec.Code, rec.Body.Bytes())
		}
		return rec.Body.Bytes()
	}
	answer := serve() // fills the cache
	var plain struct {
		Data struct {
			Bots []struct {
				ID            string `json:"id"`
				PublishStatus *struct {
					Status             string     `json:"status"`
					PercentageComplete int        `json:"percentageComplete"`
					LastModifiedOn     *time.Time `json:"lastModifiedOn"`
					StatusSummary      []struct {
						ResourceType string `json:"resourceType"`
						Status       string `json:"status"`
					} `json:"statusSummary"`
				} `json:"publishStatus"`
			} `json:"bots"`
		} `json:"data"`
	}
	if err := json.Unmarshal(answer, &plain); err != nil || len(plain.Data.Bots) != 1000 {
		b.Fatalf("answer: %v, %d bots", err, len(plain.Data.Bots))
	}
	floor := timeOf(func() {
		if _, err := json.Marshal(plain); err != nil {
			b.Fatal(err)
		}
	})
	before := sim.Simulator.Stats().Total
	b.ReportAllocs()
	b.SetBytes(int64(len(answer)))
	for b.Loop() {
		serve()
	}
	if d := sim.Simulator.Stats().Total - before; d != 0 {
		b.Fatalf("%d upstream requests in a warm run", d)
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(floor.Microseconds()), "json-µs")
	b.ReportMetric(float64(per)/float64(floor), "x-json")
}

// timeOf is the median time of 21 calls of f.
func timeOf(f func()) time.Duration {
	var ds []time.Duration
	for range 21 {
		start := time.Now()
		f()
		ds = append(ds, time.Since(start))
	}
	return median(ds)
}
