package loader_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/upstream"
)

// TestAKeyOfAnUnknownEnvironmentIsThatKeysError: a key naming an
// environment with no fetcher fails alone, with catalog's sentinel (the one
// the error presenter maps to NOT_FOUND), and its neighbours are answered.
func TestAKeyOfAnUnknownEnvironmentIsThatKeysError(t *testing.T) {
	policy := cache.Policy{TTL: time.Hour, InProgressTTL: time.Hour, NotFoundTTL: time.Hour, StaleFor: time.Hour}
	job := upstream.Job{ID: "ds-1", Status: upstream.StateSuccessful, RawStatus: "successful"}
	src := loader.NewSource(cache.NewMemory(policy), policy, map[string]loader.Fetcher{"prod": instantFetcher{job}})
	t.Cleanup(src.Close)
	cases := []struct {
		name        string
		key         loader.Key
		wantUnknown bool
	}{
		{name: "a configured environment is answered", key: loader.Key{Environment: "prod", BotID: "b"}},
		{name: "an unknown environment is catalog's error", key: loader.Key{Environment: "nope", BotID: "b"}, wantUnknown: true},
		{name: "a refresh of an unknown environment is catalog's error", key: loader.Key{Environment: "nope", BotID: "b", Refresh: true}, wantUnknown: true},
	}
	keys := make([]loader.Key, len(cases))
	for i, tc := range cases {
		keys[i] = tc.key
	}
	out := src.Load(context.Background(), keys)
	if len(out) != len(keys) {
		t.Fatalf("%d outcomes for %d keys", len(out), len(keys))
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := errors.Is(out[i].Err, catalog.ErrUnknownEnvironment)
			if got != tc.wantUnknown {
				t.Errorf("err = %v; errors.Is(err, catalog.ErrUnknownEnvironment) = %v, want %v", out[i].Err, got, tc.wantUnknown)
			}
			if !tc.wantUnknown && out[i].Err != nil {
				t.Errorf("err = %v, want none", out[i].Err)
			}
		})
	}
}
