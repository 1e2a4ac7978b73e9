package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// With -profile DIR, the first replica of the new binary serves Go's
// profiler (publishgate serve --debug-addr), and every measured pass of the
// cold cells (cold, cold-budget) on it is recorded: a CPU profile and an
// allocation profile of the whole pass and an execution trace of its first
// second, written to DIR as <workload>-<bots>b-<hosts>h-rep<n>.pprof,
// .allocs.pprof and .trace. Read them with
// `go tool pprof -top BIN FILE` and `go tool trace FILE`; the report's
// profile findings come from them. The old binary (-baseline) predates the
// flag and is not profiled.

// debugArgs are the extra serve arguments of replica i of binary b: a
// loopback profiler on a free port for the first replica of the new binary
// with -profile, none otherwise.
func (h *harness) debugArgs(b binary, i int) ([]string, string, error) {
	if h.opts.profile == "" || b.name != binNew || b.path == "" || i != 0 {
		return nil, "", nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("profiler port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return []string{"--debug-addr", addr}, "http://" + addr, nil
}

// recording is a profile and a trace under way; wait writes them.
type recording struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

// record starts a CPU and an allocation profile of d and a trace of 1s of the
// replica gw, named for the cell, when gw serves a profiler; nil otherwise.
func (h *harness) record(ctx context.Context, gw *proc, workload string, t *topology, d time.Duration) *recording {
	if gw.debugURL == "" {
		return nil
	}
	cell := fmt.Sprintf("%s-%db-%dh", workload, len(t.refs), len(t.envs))
	h.profileRep[cell]++
	base := filepath.Join(h.opts.profile, fmt.Sprintf("%s-rep%d", cell, h.profileRep[cell]))
	r := &recording{}
	secs := strconv.Itoa(max(1, int(d.Round(time.Second).Seconds())))
	for url, file := range map[string]string{
		gw.debugURL + "/debug/pprof/profile?seconds=" + secs: base + ".pprof",
		gw.debugURL + "/debug/pprof/trace?seconds=1":         base + ".trace",
		gw.debugURL + "/debug/pprof/allocs?seconds=" + secs:  base + ".allocs.pprof",
	} {
		r.wg.Go(func() {
			if err := fetchTo(ctx, url, file); err != nil {
				r.mu.Lock()
				r.errs = append(r.errs, err)
				r.mu.Unlock()
			}
		})
	}
	return r
}

// wait waits for the recording to be written and returns its first error.
func (r *recording) wait() error {
	if r == nil {
		return nil
	}
	r.wg.Wait()
	if len(r.errs) > 0 {
		return fmt.Errorf("profile: %w", r.errs[0])
	}
	return nil
}

func fetchTo(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
