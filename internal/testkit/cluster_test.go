package testkit

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

func TestMustRedisClusterStartsAClusterThatServesEveryKey(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	c := MustRedisCluster(t, 3)
	t.Logf("3-master cluster up in %v", time.Since(start).Round(time.Millisecond))

	rdb := c.Client(t)
	for i := range 100 {
		if err := rdb.Set(ctx, fmt.Sprint("k", i), i, time.Minute).Err(); err != nil {
			t.Fatalf("SET k%d: %v", i, err)
		}
	}
	var total int64
	for i, m := range c.MasterClients(t) {
		n, err := m.DBSize(ctx).Result()
		if err != nil {
			t.Fatalf("DBSIZE on %s: %v", c.Addrs[i], err)
		}
		if n == 0 {
			t.Errorf("master %s holds none of 100 keys", c.Addrs[i])
		}
		total += n
	}
	if total != 100 {
		t.Errorf("the masters hold %d keys, want 100", total)
	}

	c.Stop()
	c.Stop() // idempotent
	for _, addr := range c.Addrs {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("master %s still accepts connections after Stop", addr)
		}
	}
}

func TestStartRedisClusterRefusesFewerThanThreeMasters(t *testing.T) {
	if c, err := startRedisCluster([]string{t.TempDir(), t.TempDir()}); err == nil {
		c.Stop()
		t.Fatal("a 2-master cluster was started")
	}
}
