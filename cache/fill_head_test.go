package cache

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/publishgate/publishgate/upstream"
)

// headEntry is an encoded finished job of five resources, fetched at t.
func headEntry(tb testing.TB, t time.Time) []byte {
	tb.Helper()
	rs := make([]upstream.ResourceStatus, 5)
	for i := range rs {
		rs[i] = upstream.ResourceStatus{ResourceID: "NL", ResourceType: "NL", Modules: []string{"ML", "FAQ"}, Status: upstream.ResourceSuccess, RawStatus: "SUCCESS"}
	}
	raw, err := json.Marshal(Entry{FetchedAt: t, Job: &upstream.Job{ID: "ds-1", JobType: "PUBLISH_BOT", StreamID: "st-1", Status: upstream.StateSuccessful,
		RawStatus: "successful", PercentageComplete: 100, LastModifiedOn: &t, StatusSummary: rs}})
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func TestFetchedAfterReadsTheEntrysFetchTime(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		raw   []byte
		since time.Time
		want  bool
	}{
		{"fetched after", headEntry(t, at), at.Add(-time.Millisecond), true},
		{"fetched at since", headEntry(t, at), at, false},
		{"fetched before", headEntry(t, at), at.Add(time.Second), false},
		{"a never-published bot", []byte(`{"job":null,"at":"2026-03-01T10:00:00Z"}`), at.Add(-time.Second), true},
		{"not JSON", []byte(`{"job":`), time.Time{}, false},
		{"no fetch time", []byte(`{"job":null}`), time.Time{}, false},
		{"an escaped key inside a string", []byte(`{"job":{"_id":"x\"at\":\"2030-01-01T00:00:00Z"},"at":"2026-03-01T10:00:00Z"}`), at.Add(time.Second), false},
		{"fetch time not last (decoded)", []byte(`{"at":"2026-03-01T10:00:00Z","job":{"at":"2020-01-01T00:00:00Z"}}`), at.Add(-time.Second), true},
		{"a bad time", []byte(`{"job":null,"at":"yesterday"}`), time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fetchedAfter(tt.raw, tt.since); got != tt.want {
				t.Fatalf("fetchedAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

// BenchmarkFetchedAfter: what a fill's double check costs per bot, reading
// the fetch time only (head) next to decoding the whole entry (full), as
// Acquire did before.
func BenchmarkFetchedAfter(b *testing.B) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	raw, since := headEntry(b, at), at.Add(time.Second)
	b.Run("head", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if fetchedAfter(raw, since) {
				b.Fatal("newer")
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var e Entry
			if json.Unmarshal(raw, &e) != nil || e.FetchedAt.After(since) {
				b.Fatal("newer")
			}
		}
	})
}
