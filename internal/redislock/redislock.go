// Package redislock holds the scripts of Redis keys owned by a token: a
// replica takes such a key with SET NX PX and its random token (fill locks,
// leases, the discovery lock), and only the holder may renew or release
// it, so that a holder whose key expired never touches its successor's.
package redislock

import (
	"crypto/rand"

	"github.com/redis/go-redis/v9"
)

// Release deletes KEYS[1] only if it still holds ARGV[1] (the token); it
// returns 1 when it deleted the key.
var Release = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// Renew sets the lifetime of KEYS[1] to ARGV[2] milliseconds only if it
// still holds ARGV[1] (the token); it returns 1 when it did.
var Renew = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)

// NewToken returns a fresh holder token: 128 random bits, so that no two
// holders (replicas, or one replica's successive locks) ever share one.
func NewToken() string { return rand.Text() }
