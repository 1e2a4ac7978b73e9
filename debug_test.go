package main

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestDebugListener: --debug-addr serves Go's profiler on loopback and
// refuses any other address.
func TestDebugListener(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		addr    string
		wantErr string
	}{
		{addr: "127.0.0.1:0"},
		{addr: "localhost:0"},
		{addr: "0.0.0.0:0", wantErr: "loopback only"},
		{addr: "10.1.2.3:6060", wantErr: "loopback only"},
		{addr: "nonsense", wantErr: "--debug-addr"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			bound, stop, err := startDebug(tc.addr, logger)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					stop()
					t.Fatalf("startDebug(%q) = %v, want an error naming %q", tc.addr, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			resp, err := http.Get("http://" + bound + "/debug/pprof/goroutine?debug=1")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
				t.Fatalf("GET /debug/pprof/goroutine: %d %.80q", resp.StatusCode, body)
			}
		})
	}
}
