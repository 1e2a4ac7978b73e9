package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/upstream"
)

// coldFloor is the plain Go client: the same upstream GETs a cold query
// makes (every bot of the topology, each on its own host), fired all at once
// with net/http and a token minted once per host, bodies read and not
// decoded. It returns the wall time of each of iters rounds, after one round
// that opens the connections.
func (h *harness) coldFloor(ctx context.Context, t *topology, iters int) (loadResult, error) {
	gets, err := t.upstreamGets()
	if err != nil {
		return loadResult{}, fmt.Errorf("cold floor: %w", err)
	}
	// A plain transport keeping every connection of every host: the floor
	// must not re-dial (upstream.NewTransport caps idle connections at 16
	// hosts' worth, see BENCHMARKS.md).
	tr := &http.Transport{MaxIdleConnsPerHost: t.concurrency(), MaxConnsPerHost: t.concurrency(), IdleConnTimeout: 90 * time.Second}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	round := func() error {
		var wg sync.WaitGroup
		errs := make(chan error, len(gets))
		for _, g := range gets {
			wg.Go(func() {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url, nil)
				if err != nil {
					errs <- err
					return
				}
				req.Header.Set("auth", g.token)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("HTTP %d from %s", resp.StatusCode, g.url)
				}
				if err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		return <-errs // nil when the channel holds none
	}
	if err := round(); err != nil {
		return loadResult{}, fmt.Errorf("cold floor: %w", err)
	}
	var out loadResult
	for range iters {
		start := time.Now()
		if err := round(); err != nil {
			return loadResult{}, fmt.Errorf("cold floor: %w", err)
		}
		out.latencies = append(out.latencies, time.Since(start))
	}
	return out, nil
}

// get is one upstream publish-status request of a bot: its URL and token.
type get struct{ url, token string }

// upstreamGets are the upstream requests of every bot of t, in the order of
// t.refs, with a token minted once per host.
func (t *topology) upstreamGets() ([]get, error) {
	var gets []get
	for _, e := range t.envs {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"appId": e.ClientID, "sub": "publishgate-bench", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString([]byte(e.Secret))
		if err != nil {
			return nil, fmt.Errorf("token: %w", err)
		}
		for _, id := range e.Bots {
			gets = append(gets, get{e.Host + "/api/public/bot/" + url.PathEscape(id) + "/publish/status", tok})
		}
	}
	return gets, nil
}

// primeFloors writes every bot's job into Redis as the harness's cache
// package names and encodes it, for the REST and MGET floors. They read
// these keys rather than those the measured gateway wrote, because with
// -baseline the two binaries may name and encode their keys differently
// (publishgate:v1 and v2), and a floor shared by both must not depend on
// which ran last. The jobs are read from the simulators once per topology
// (outside any measured pass) and written, straight to Redis (not through a
// counting proxy), before each repetition's floors: a binary's replicas
// start on an empty Redis.
func (h *harness) primeFloors(ctx context.Context, t *topology) error {
	if t.floorItems == nil {
		items, err := h.fetchJobs(ctx, t)
		if err != nil {
			return fmt.Errorf("prime floors: %w", err)
		}
		t.floorItems = items
	}
	c := redis.NewClient(&redis.Options{Addr: h.redis.Addr})
	defer c.Close()
	policy := cache.Policy{TTL: time.Hour, InProgressTTL: time.Hour, NotFoundTTL: time.Hour, StaleFor: 10 * time.Minute}
	now := time.Now()
	for i := range t.floorItems {
		t.floorItems[i].Entry.FetchedAt = now
	}
	if err := cache.NewRedis(c, policy).SetMany(ctx, t.floorItems); err != nil {
		return fmt.Errorf("prime floors: %w", err)
	}
	return nil
}

// fetchJobs reads every bot's publish job from the simulators.
func (h *harness) fetchJobs(ctx context.Context, t *topology) ([]cache.Item, error) {
	gets, err := t.upstreamGets()
	if err != nil {
		return nil, err
	}
	items := make([]cache.Item, len(gets))
	errs := make([]error, len(gets))
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i, r := range gets {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = h.fetchJob(ctx, r, &items[i], t.refs[i])
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return items, nil
}

// fetchJob reads one bot's job into it.
func (h *harness) fetchJob(ctx context.Context, r get, it *cache.Item, ref botRef) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("auth", r.token)
	resp, err := h.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", r.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", r.url, resp.StatusCode)
	}
	job, err := upstream.DecodeJob(raw)
	if err != nil && !errors.Is(err, upstream.ErrNeverPublished) {
		return fmt.Errorf("%s: %w", r.url, err)
	}
	*it = cache.Item{Key: cache.Key{Environment: ref.Env, BotID: ref.ID}, Entry: cache.Entry{Job: job}}
	return nil
}

// mgetFloor is one MGET of the keys of every bot of t (as the harness's
// cache package names them; primeFloors wrote them), through the REST
// floor's Redis proxy (so that it pays the same extra hop as the gateway),
// iters times after one warm-up. It also returns the round trips counted per
// MGET (1 on a single node).
func (h *harness) mgetFloor(ctx context.Context, t *topology, iters int) (loadResult, float64, error) {
	c := redis.NewClient(&redis.Options{Addr: h.restProxy.Addr()})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil { // the connection's set-up, not counted below
		return loadResult{}, 0, fmt.Errorf("mget floor: %w", err)
	}
	keys := make([]string, len(t.refs))
	for i, r := range t.refs {
		keys[i] = cache.RedisKey(cache.Key{Environment: r.Env, BotID: r.ID})
	}
	var out loadResult
	before := h.restProxy.Turns()
	for i := range iters + 1 {
		start := time.Now()
		vals, err := c.MGet(ctx, keys...).Result()
		if err != nil {
			return out, 0, fmt.Errorf("mget floor: %w", err)
		}
		for j, v := range vals {
			if v == nil {
				return out, 0, fmt.Errorf("mget floor: key %s is not cached", keys[j])
			}
		}
		if i > 0 {
			out.latencies = append(out.latencies, time.Since(start))
		}
	}
	return out, float64(h.restProxy.Turns()-before) / float64(iters+1), nil
}
