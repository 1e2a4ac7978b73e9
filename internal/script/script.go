// Package script runs Redis Lua scripts many calls at a time: one pipeline
// of EVALSHA, then, only for the calls whose node answered NOSCRIPT (a
// restart, a failover, SCRIPT FLUSH), one pipeline of EVAL, which loads the
// script again. A NOSCRIPT answer means the script did not run, so the
// second try is safe. go-redis's Script.Run does the same for one call; this
// is it for a pipeline, whose calls a Cluster client sends to each node in
// one round trip.
package script

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// Call is one invocation of a script: its KEYS and ARGV.
type Call struct {
	Keys []string
	Args []any
}

// Run runs s once per call and returns the commands in call order, each
// with its own answer or error. err is set only when the pipeline itself
// failed (no call could be sent or read); one call's error fails no other.
func Run(ctx context.Context, c redis.UniversalClient, s *redis.Script, calls []Call) ([]*redis.Cmd, error) {
	if len(calls) == 0 {
		return nil, nil
	}
	pipe := c.Pipeline()
	cmds := Queue(ctx, pipe, s, calls)
	if _, err := pipe.Exec(ctx); err != nil && !IsPerCommand(err) {
		return cmds, err
	}
	return cmds, Rerun(ctx, c, s, calls, cmds)
}

// Queue adds s once per call (EVALSHA) to pipe, which the caller may fill
// with other commands and sends itself; Rerun then retries the calls that
// answered NOSCRIPT.
func Queue(ctx context.Context, pipe redis.Pipeliner, s *redis.Script, calls []Call) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	for i, call := range calls {
		cmds[i] = s.EvalSha(ctx, pipe, call.Keys, call.Args...)
	}
	return cmds
}

// Rerun sends again, with EVAL, the calls whose answer in cmds is NOSCRIPT,
// replacing their commands in cmds. It makes no round trip when none is.
func Rerun(ctx context.Context, c redis.UniversalClient, s *redis.Script, calls []Call, cmds []*redis.Cmd) error {
	var again []int
	for i, cmd := range cmds {
		if IsNoScript(cmd.Err()) {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return nil
	}
	pipe := c.Pipeline()
	for _, i := range again {
		cmds[i] = s.Eval(ctx, pipe, calls[i].Keys, calls[i].Args...)
	}
	if _, err := pipe.Exec(ctx); err != nil && !IsPerCommand(err) {
		return err
	}
	return nil
}

// IsNoScript reports whether err means that Redis does not have the script
// cached.
func IsNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}

// IsPerCommand reports whether a pipeline's error is one command's answer
// (read per command: a nil reply, a Redis error) rather than the
// connection's.
func IsPerCommand(err error) bool {
	var rerr redis.Error
	return errors.Is(err, redis.Nil) || errors.As(err, &rerr)
}
