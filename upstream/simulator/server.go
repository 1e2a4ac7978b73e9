package simulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// shutdownGrace bounds how long Serve and Server.Close wait for requests in flight.
const shutdownGrace = 5 * time.Second

// Server is a Simulator listening on a real TCP port, for tests in other packages and the
// `publishgate simulate` command.
type Server struct {
	// URL is the base URL to give a client, such as "http://127.0.0.1:43121".
	URL string
	// Simulator is the simulator it serves.
	Simulator *Simulator

	srv  *http.Server
	done chan struct{} // closed when the serving goroutine returns
	err  error         // what it returned, read after done

	mu    sync.Mutex
	fresh map[net.Conn]struct{} // connections that have not sent a request yet
}

// Listen serves s on addr ("127.0.0.1:0" picks a free port) in a goroutine that Close waits for.
func Listen(addr string, s *Simulator) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simulator: listen on %s: %w", addr, err)
	}
	srv := &Server{URL: "http://" + ln.Addr().String(), Simulator: s, srv: s.httpServer(), done: make(chan struct{}), fresh: map[net.Conn]struct{}{}}
	count := srv.srv.ConnState
	srv.srv.ConnState = func(c net.Conn, st http.ConnState) {
		count(c, st)
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if st == http.StateNew {
			srv.fresh[c] = struct{}{}
		} else {
			delete(srv.fresh, c)
		}
	}
	// http.Server.Shutdown waits 5 s before it takes a connection that has
	// sent nothing for idle (a client's spare dial); once the listener is
	// closed there is no request on one to wait for.
	srv.srv.RegisterOnShutdown(srv.closeFresh)
	go func() {
		defer close(srv.done)
		if err := srv.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			srv.err = err
		}
	}()
	return srv, nil
}

// Close releases hung requests, shuts the server down (waiting at most a few seconds for requests
// in flight) and waits for its goroutine.
func (srv *Server) Close() error {
	srv.Simulator.Close()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := srv.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, srv.srv.Close())
	}
	<-srv.done
	return errors.Join(err, srv.err)
}

// closeFresh closes the connections that have not sent a request.
func (srv *Server) closeFresh() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for c := range srv.fresh {
		_ = c.Close()
		delete(srv.fresh, c)
	}
}

// Serve serves s on addr until ctx ends, then releases hung requests and shuts down gracefully.
// It returns nil after a clean shutdown.
func Serve(ctx context.Context, addr string, s *Simulator) error {
	srv, err := Listen(addr, s)
	if err != nil {
		return err
	}
	s.logger.Info("simulator listening", "url", srv.URL)
	select {
	case <-ctx.Done():
		return srv.Close()
	case <-srv.done:
		return fmt.Errorf("simulator: serve: %w", srv.err)
	}
}

func (s *Simulator) httpServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ConnState:         s.ConnStateHook(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: a Hang fault must outlast any client timeout.
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
}
