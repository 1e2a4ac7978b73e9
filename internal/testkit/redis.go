package testkit

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a private redis-server started for one test.
type Redis struct {
	// Addr is HOST:PORT.
	Addr string
	// URL is redis://Addr/0.
	URL  string
	cmd  *exec.Cmd
	dir  string
	args []string // beyond the defaults, e.g. a Cluster node's, kept for Restart
}

// MustRedis starts a private redis-server on a free loopback port, with no
// persistence, and stops it when the test ends. It fails (never skips) when
// redis-server cannot be found.
func MustRedis(tb testing.TB) *Redis {
	tb.Helper()
	r, err := StartRedis(tb.TempDir(), 0)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(r.Stop)
	return r
}

// StartRedis starts redis-server in dir on port (0 = a free one). The caller
// must Stop it.
func StartRedis(dir string, port int) (*Redis, error) { return startRedis(dir, port) }

// startRedis starts redis-server in dir on port (0 = a free one) with the
// defaults (loopback, no persistence) and args after them.
func startRedis(dir string, port int, args ...string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found: the cache tests need a real Redis (Debian/Ubuntu: apt-get install redis-server; `make test` installs it when run as root)")
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, append([]string{
		"--bind", "127.0.0.1", "--port", fmt.Sprint(port),
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--protected-mode", "yes", "--loglevel", "notice",
	}, args...)...)
	logf, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		return nil, err
	}
	// redis-server says when it accepts connections: wait for that line
	// rather than polling the port. Everything it prints goes to redis.log.
	// An os.Pipe rather than StdoutPipe: the reader below owns it and reads
	// until the server exits, whenever Stop waits for the process.
	out, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	pw.Close() // the child holds its own copy
	if err != nil {
		out.Close()
		logf.Close()
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	ready := make(chan bool, 1)
	go func() {
		defer logf.Close()
		defer out.Close()
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if !signalled && strings.Contains(sc.Text(), "Ready to accept connections") {
				ready <- true
				signalled = true
			}
		}
		if !signalled {
			ready <- false // it exited without becoming ready
		}
	}()
	r := &Redis{Addr: addr, URL: "redis://" + addr + "/0", cmd: cmd, dir: dir, args: args}
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case ok := <-ready:
		if ok {
			return r, nil
		}
	case <-timer.C:
	}
	r.Stop()
	log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
	return nil, fmt.Errorf("redis-server on %s did not become ready\n%s", addr, log)
}

// Stop kills the server (idempotent).
func (r *Redis) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Restart starts a new server on the same port (after Stop), as an operator
// would after an outage.
func (r *Redis) Restart() error {
	port := r.Addr[strings.LastIndex(r.Addr, ":")+1:]
	var p int
	fmt.Sscan(port, &p)
	n, err := startRedis(r.dir, p, r.args...)
	if err != nil {
		return err
	}
	r.cmd = n.cmd
	return nil
}

// Client returns a go-redis client for the server, closed when the test ends.
func (r *Redis) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
