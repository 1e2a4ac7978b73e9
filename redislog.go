package main

import (
	"context"
	"fmt"
	"log/slog"
)

// redisLogger routes go-redis's internal messages (dial failures while
// Redis is down, reconnects) into the process log instead of stderr's
// default logger. go-redis keeps its logger in a package variable, so only
// main sets it.
type redisLogger struct{ log *slog.Logger }

// Printf implements go-redis's internal logging interface.
func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}
