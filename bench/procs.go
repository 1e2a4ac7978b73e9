package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a child process the harness started: the gateway, a simulator or
// the REST floor. It runs in its own process group, so stop reaches anything
// it started, and dies with the harness (Pdeathsig) if the harness is killed.
type proc struct {
	name string
	// URL is the base URL the process printed when it started listening.
	URL string
	// debugURL is the base URL of its profiler (-profile), "" without one.
	debugURL string
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited and been reaped
	err      error         // Wait's error, read after done
}

// listenURL finds the first http://HOST:PORT on a line the children print when
// they listen ("publishgate serving http://127.0.0.1:8080/graphql", "Kore.ai
// simulator: ... at http://127.0.0.2:9090 (stats: ...)").
var listenURL = regexp.MustCompile(`http://[0-9.]+:[0-9]+`)

// startProc starts bin with args (and extra environment), sends its output to
// logDir/name.log, and returns once the process printed its listen URL. It
// does not wait for readiness beyond that: see awaitOK.
func startProc(ctx context.Context, name, logDir, bin string, args, env []string) (*proc, error) {
	logf, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	out, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = pw, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	pw.Close() // the child holds its own copy
	if err != nil {
		out.Close()
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	urls := make(chan string, 1)
	go func() {
		defer logf.Close()
		defer out.Close()
		sc := bufio.NewScanner(out)
		found := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if !found {
				if u := listenURL.FindString(line); u != "" {
					found = true
					urls <- u
				}
			}
		}
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	timer := time.NewTimer(60 * time.Second)
	defer timer.Stop()
	select {
	case p.URL = <-urls:
		return p, nil
	case <-p.done:
		err = fmt.Errorf("%s exited before listening: %v (see %s)", name, p.err, logf.Name())
	case <-timer.C:
		err = fmt.Errorf("%s printed no listen address within 60s (see %s)", name, logf.Name())
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.stop()
	return nil, err
}

// Pid is the process ID (its CPU time is read from /proc).
func (p *proc) Pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM to the process group, waits up to 10 s for the process to
// exit, then kills the group. It is idempotent.
func (p *proc) stop() {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.done
	}
}

// awaitOK polls url until it answers 200 (the gateway's /readyz, the
// simulator's stats), bounded by 30 s and ctx.
func awaitOK(ctx context.Context, client *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("await %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("await %s: %w (last: %v)", url, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// cpuTicks returns the user plus system CPU time of pid in clock ticks
// (/proc/<pid>/stat fields 14 and 15; 100 ticks a second on Linux).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu of %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces: count fields after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("cpu: malformed /proc stat")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("cpu: short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("cpu: %w", err)
	}
	return utime + stime, nil
}

// clockTick is the length of one /proc clock tick (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond
