package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/cache"
)

// coldFloor is the plain Go client: the same upstream GETs a cold query
// makes (every bot of the topology, each on its own host), fired all at once
// with net/http and a token minted once per host, bodies read and not
// decoded. It returns the wall time of each of iters rounds, after one round
// that opens the connections.
func (h *harness) coldFloor(ctx context.Context, t *topology, iters int) (loadResult, error) {
	type get struct{ url, token string }
	var gets []get
	for _, e := range t.envs {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"appId": e.ClientID, "sub": "publishgate-bench", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString([]byte(e.Secret))
		if err != nil {
			return loadResult{}, fmt.Errorf("cold floor: token: %w", err)
		}
		for _, id := range e.Bots {
			gets = append(gets, get{e.Host + "/api/public/bot/" + url.PathEscape(id) + "/publish/status", tok})
		}
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

// mgetFloor is one MGET of the keys of every bot of t (as the gateway's cache
// names them), through addr (the REST floor's Redis proxy, so that it pays the
// same extra hop as the gateway), iters times after one warm-up.
func (h *harness) mgetFloor(ctx context.Context, t *topology, addr string, iters int) (loadResult, error) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	keys := make([]string, len(t.refs))
	for i, r := range t.refs {
		keys[i] = cache.RedisKey(cache.Key{Environment: r.Env, BotID: r.ID})
	}
	var out loadResult
	for i := range iters + 1 {
		start := time.Now()
		vals, err := c.MGet(ctx, keys...).Result()
		if err != nil {
			return out, fmt.Errorf("mget floor: %w", err)
		}
		for j, v := range vals {
			if v == nil {
				return out, fmt.Errorf("mget floor: key %s is not cached", keys[j])
			}
		}
		if i > 0 {
			out.latencies = append(out.latencies, time.Since(start))
		}
	}
	return out, nil
}
