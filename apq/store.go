// Package apq serves persisted queries: Automatic Persisted Queries (the
// Apollo protocol: a client sends the SHA-256 of a document, and the
// document itself only when the gateway does not know it yet), with the
// documents kept in Redis so that every replica knows what one learnt, or in
// process without Redis; and a persisted-only mode that runs nothing but the
// documents of a list fixed at start.
package apq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/keyspace"
)

// localSize is how many documents one process keeps in memory.
const localSize = 1000

// redisTimeout bounds one Redis call: a slow or absent Redis makes a lookup
// a miss, never a slow request.
const redisTimeout = 500 * time.Millisecond

// maxDocumentBytes bounds what is stored for one hash; larger documents are
// executed but not persisted.
const maxDocumentBytes = 64 << 10

// Hash is the APQ hash of a document: its SHA-256 in lower-case hex.
func Hash(document string) string {
	sum := sha256.Sum256([]byte(document))
	return hex.EncodeToString(sum[:])
}

// Store keeps persisted documents by hash: an in-process LRU in front of
// Redis when a client is given. A Redis failure is logged and treated as a
// miss (the client then sends the document again), never as an error of the
// request. Each document is one key (keyspace.APQ) read with GET and
// written with SET, so the store works alike on one node or a Cluster. It
// implements graphql.Cache[string].
type Store struct {
	local *lru.LRU[string]
	redis redis.UniversalClient
	ttl   time.Duration
	log   *slog.Logger
}

var _ graphql.Cache[string] = (*Store)(nil)

// NewStore returns a store; rdb may be nil (in-process only).
func NewStore(rdb redis.UniversalClient, ttl time.Duration, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{local: lru.New[string](localSize), redis: rdb, ttl: ttl, log: logger}
}

// Get returns the document stored under hash.
func (s *Store) Get(ctx context.Context, hash string) (string, bool) {
	if doc, ok := s.local.Get(ctx, hash); ok {
		return doc, true
	}
	if s.redis == nil || !validHash(hash) {
		return "", false
	}
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	doc, err := s.redis.Get(rctx, keyspace.APQ(hash)).Result()
	switch {
	case err == redis.Nil:
		return "", false
	case err != nil:
		s.log.WarnContext(ctx, "persisted query lookup failed; treated as unknown", "err", err)
		return "", false
	}
	if Hash(doc) != hash {
		// Someone else wrote this key: never run what does not hash right.
		return "", false
	}
	s.local.Add(ctx, hash, doc)
	return doc, true
}

// Add stores doc under hash (the caller has checked that hash is doc's).
func (s *Store) Add(ctx context.Context, hash, doc string) {
	if len(doc) > maxDocumentBytes || !validHash(hash) {
		return
	}
	s.local.Add(ctx, hash, doc)
	if s.redis == nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if err := s.redis.Set(rctx, keyspace.APQ(hash), doc, s.ttl).Err(); err != nil {
		s.log.WarnContext(ctx, "persisting a query failed; kept in process only", "err", err)
	}
}

func validHash(h string) bool {
	if len(h) != sha256.Size*2 {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
