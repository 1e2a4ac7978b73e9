package apq_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/publishgate/publishgate/apq"
	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/testkit"
)

func TestStoreRoundTripsDocumentsThroughARedisCluster(t *testing.T) {
	ctx := context.Background()
	c := testkit.MustRedisCluster(t, 3)
	rdb := c.Client(t)
	// The store logs a failing Redis call (CROSSSLOT, MOVED, ...) and
	// carries on as a miss: a warning is a failure here.
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))

	docs := make([]string, 100)
	writer := apq.NewStore(rdb, time.Hour, logger)
	for i := range docs {
		docs[i] = fmt.Sprintf(`query Q%d { environments { name } }`, i)
		writer.Add(ctx, apq.Hash(docs[i]), docs[i])
	}
	// Another replica: its in-process LRU is empty, so every hit is Redis's.
	reader := apq.NewStore(rdb, time.Hour, logger)
	for _, d := range docs {
		if got, ok := reader.Get(ctx, apq.Hash(d)); !ok || got != d {
			t.Fatalf("Get(%s) = %q, %v; want %q", apq.Hash(d), got, ok, d)
		}
	}
	if logs.Len() > 0 {
		t.Errorf("the store logged warnings:\n%s", &logs)
	}
	for i, m := range c.MasterClients(t) {
		if n, err := m.DBSize(ctx).Result(); err != nil || n == 0 {
			t.Errorf("master %s holds %d of %d documents (%v): the test did not reach every master", c.Addrs[i], n, len(docs), err)
		}
	}
	if ttl, err := rdb.TTL(ctx, keyspace.APQ(apq.Hash(docs[0]))).Result(); err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("key %s TTL = %v, %v; want about 1h", keyspace.APQ(apq.Hash(docs[0])), ttl, err)
	}
}
