package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/cache"
)

// The REST floor: a hand-written handler serving the same data as the
// GraphQL bots(refs) query from the same cache (an in-process copy in front
// of the same Redis keys, the arrangement the gateway uses), run as its own
// process so its CPU and allocations are measured the same way. It accepts
// the very bodies sent to /graphql and reads only variables.refs, so the
// difference between the two is what GraphQL costs. It never goes upstream:
// a key missing from the cache is answered with a null publishStatus.

// restRequest is the part of a GraphQL request body the floor reads.
type restRequest struct {
	Variables struct {
		Refs []struct {
			Environment string `json:"environment"`
			BotID       string `json:"botId"`
		} `json:"refs"`
	} `json:"variables"`
}

// restBot mirrors the selection of the benchmark's GraphQL query.
type restBot struct {
	ID            string   `json:"id"`
	PublishStatus *restJob `json:"publishStatus"`
}

type restJob struct {
	Status             string         `json:"status"`
	PercentageComplete int            `json:"percentageComplete"`
	LastModifiedOn     *time.Time     `json:"lastModifiedOn"`
	StatusSummary      []restResource `json:"statusSummary"`
}

type restResource struct {
	ResourceType string `json:"resourceType"`
	Status       string `json:"status"`
}

type restAnswer struct {
	Data struct {
		Bots []restBot `json:"bots"`
	} `json:"data"`
}

// restHandler serves POST /graphql-shaped requests from jobs.
func restHandler(jobs cache.JobCache, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /graphql", func(w http.ResponseWriter, r *http.Request) {
		var req restRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&req); err != nil {
			http.Error(w, "bad request body", http.StatusBadRequest)
			return
		}
		keys := make([]cache.Key, len(req.Variables.Refs))
		for i, ref := range req.Variables.Refs {
			keys[i] = cache.Key{Environment: ref.Environment, BotID: ref.BotID}
		}
		entries, err := jobs.GetMany(r.Context(), keys)
		if err != nil {
			log.Warn("rest floor: cache", "err", err)
			http.Error(w, "cache unavailable", http.StatusServiceUnavailable)
			return
		}
		var ans restAnswer
		ans.Data.Bots = make([]restBot, len(keys))
		for i, e := range entries {
			// States are written as the GraphQL enum writes them (upstream.State
			// values are the enum's names).
			ans.Data.Bots[i] = restBot{ID: keys[i].BotID, PublishStatus: restJobOf(e)}
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(ans); err != nil {
			log.Debug("rest floor: write", "err", err)
		}
	})
	return mux
}

func restJobOf(e *cache.Entry) *restJob {
	if e == nil || e.Job == nil {
		return nil
	}
	j := e.Job
	out := &restJob{Status: string(j.Status), PercentageComplete: j.PercentageComplete, LastModifiedOn: j.LastModifiedOn,
		StatusSummary: make([]restResource, len(j.StatusSummary))}
	for i, rs := range j.StatusSummary {
		out.StatusSummary[i] = restResource{ResourceType: rs.ResourceType, Status: string(rs.Status)}
	}
	return out
}

// runRESTRole serves the REST floor until ctx ends. Flags: --addr, --redis,
// --ttl (the cache lifetime of every state, as in the gateway's config).
func runRESTRole(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("rest", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	redisURL := fs.String("redis", "", "Redis URL")
	ttl := fs.Duration("ttl", time.Hour, "cache lifetime of every state")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("rest: %w", err)
	}
	opts, err := redis.ParseURL(*redisURL)
	if err != nil {
		return fmt.Errorf("rest: redis url: %w", err)
	}
	client := redis.NewClient(opts)
	defer client.Close()
	policy := cache.Policy{TTL: *ttl, InProgressTTL: *ttl, NotFoundTTL: *ttl, StaleFor: 10 * time.Minute}
	jobs := cache.NewTiered(cache.NewMemory(policy), cache.NewRedis(client, policy), policy)
	return serveRole(ctx, *addr, restHandler(jobs, log), "bench rest floor serving", stdout)
}

// serveRole serves h on addr, prints "<banner> http://ADDR" once listening,
// and shuts down when ctx ends.
func serveRole(ctx context.Context, addr string, h http.Handler, banner string, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "%s http://%s\n", banner, ln.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
