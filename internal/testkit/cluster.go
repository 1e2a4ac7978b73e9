package testkit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterTimeout bounds creating a Cluster: redis-cli's join (it checks once
// a second) and the wait for every node to report ok, which a master does no
// sooner than 2 s after it started (CLUSTER_WRITABLE_DELAY in Redis's
// cluster.c), so a Cluster takes about 2 s to start.
const clusterTimeout = 30 * time.Second

// clusterBusOffset is how far above its port a node listens for the Cluster
// bus when no cluster-port is set (every Redis since 3.0).
const clusterBusOffset = 10000

// RedisCluster is a private Redis Cluster of masters only (no replicas),
// started for one test.
type RedisCluster struct {
	// Addrs are the masters' HOST:PORT, in the order they were started.
	Addrs []string
	nodes []*Redis
}

// MustRedisCluster starts masters (at least 3) private redis-server
// processes in cluster mode on free loopback ports, each in its own temp dir
// with no persistence, joins them with `redis-cli --cluster create` (the
// slots split into one contiguous range per master), waits until every node
// answers cluster_state:ok with the same slot map, and stops them when the
// test ends. It fails (never skips) when redis-server or redis-cli cannot be
// found.
func MustRedisCluster(tb testing.TB, masters int) *RedisCluster {
	tb.Helper()
	dirs := make([]string, masters)
	for i := range dirs {
		dirs[i] = tb.TempDir()
	}
	c, err := startRedisCluster(dirs)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(c.Stop)
	return c
}

// startRedisCluster starts one master in each of dirs and joins them. On an
// error every node it started is stopped.
func startRedisCluster(dirs []string) (_ *RedisCluster, err error) {
	if len(dirs) < 3 {
		return nil, fmt.Errorf("a Redis Cluster needs at least 3 masters, asked for %d", len(dirs))
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("redis-cli not found: the Cluster tests create their cluster with it (Debian/Ubuntu: apt-get install redis-tools, which redis-server depends on; `make test` installs it when run as root)")
	}
	ports, err := clusterPorts(len(dirs))
	if err != nil {
		return nil, err
	}
	c := &RedisCluster{}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	for i, dir := range dirs {
		n, err := startRedis(dir, ports[i],
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes-"+strconv.Itoa(ports[i])+".conf"),
			"--cluster-node-timeout", "2000",
		)
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
		c.Addrs = append(c.Addrs, n.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	args := append(append([]string{"--cluster", "create"}, c.Addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create %s: %w\n%s", strings.Join(c.Addrs, " "), err, out)
	}
	if err := waitClusterAgrees(ctx, c.Addrs); err != nil {
		return nil, err
	}
	return c, nil
}

// Stop kills every node (idempotent).
func (c *RedisCluster) Stop() {
	for _, n := range c.nodes {
		n.Stop()
	}
}

// Client returns a Cluster client for the masters, closed when the test ends.
func (c *RedisCluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// MasterClients returns one plain client per master, in the order of Addrs,
// closed when the test ends: for what a node answers of itself (DBSIZE, a
// command sent to exactly that node).
func (c *RedisCluster) MasterClients(tb testing.TB) []*redis.Client {
	tb.Helper()
	out := make([]*redis.Client, len(c.Addrs))
	for i, addr := range c.Addrs {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		tb.Cleanup(func() { _ = rdb.Close() })
		out[i] = rdb
	}
	return out
}

// waitClusterAgrees polls every node until each reports cluster_state:ok and
// the same slot map covering every slot, or ctx ends. Polling: Redis signals
// neither, and redis-cli returns once the configuration has spread, which
// can be before every node has marked the cluster ok.
func waitClusterAgrees(ctx context.Context, addrs []string) error {
	clients := make([]*redis.Client, len(addrs))
	for i, addr := range addrs {
		clients[i] = redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		defer clients[i].Close()
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		why := clusterDisagreement(ctx, clients)
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Redis Cluster %s not ready after %v: %s", strings.Join(addrs, " "), clusterTimeout, why)
		case <-tick.C:
		}
	}
}

// clusterDisagreement says why the nodes of clients are not yet one
// cluster, or "" when every one reports cluster_state:ok, knows every other
// and serves the same slot map covering all 16384 slots.
func clusterDisagreement(ctx context.Context, clients []*redis.Client) string {
	var first string
	for _, rdb := range clients {
		addr := rdb.Options().Addr
		info, err := rdb.ClusterInfo(ctx).Result()
		if err != nil {
			return addr + ": CLUSTER INFO: " + err.Error()
		}
		fields := map[string]string{}
		for line := range strings.Lines(info) {
			k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
			fields[k] = v
		}
		switch {
		case fields["cluster_state"] != "ok":
			return addr + ": cluster_state:" + fields["cluster_state"]
		case fields["cluster_slots_assigned"] != "16384":
			return addr + ": cluster_slots_assigned:" + fields["cluster_slots_assigned"]
		case fields["cluster_known_nodes"] != strconv.Itoa(len(clients)):
			return fmt.Sprintf("%s: cluster_known_nodes:%s of %d", addr, fields["cluster_known_nodes"], len(clients))
		}
		slots, err := rdb.ClusterSlots(ctx).Result()
		if err != nil {
			return addr + ": CLUSTER SLOTS: " + err.Error()
		}
		m := slotMap(slots)
		if first == "" {
			first = m
		} else if m != first {
			return fmt.Sprintf("%s serves slots %s, %s serves %s", clients[0].Options().Addr, first, addr, m)
		}
	}
	return ""
}

// slotMap renders CLUSTER SLOTS as "start-end@master ...", sorted, so that
// two nodes' answers compare as strings.
func slotMap(slots []redis.ClusterSlot) string {
	ranges := make([]string, 0, len(slots))
	for _, s := range slots {
		master := "?"
		if len(s.Nodes) > 0 {
			master = s.Nodes[0].Addr
		}
		ranges = append(ranges, fmt.Sprintf("%05d-%05d@%s", s.Start, s.End, master))
	}
	slices.Sort(ranges)
	return strings.Join(ranges, " ")
}

// clusterPorts returns n free loopback ports whose Cluster bus ports (port +
// 10000) are free too, all held open until every one is found so that none
// is handed out twice.
func clusterPorts(n int) ([]int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries == 100*n {
			return nil, errors.New("no free loopback port with a free Cluster bus port (port + 10000)")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		if port+clusterBusOffset > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+clusterBusOffset))
		if err != nil {
			continue
		}
		held = append(held, bus)
		ports = append(ports, port)
	}
	return ports, nil
}
