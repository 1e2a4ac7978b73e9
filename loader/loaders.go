package loader

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/graph-gophers/dataloader/v7"
)

// Loaders are the dataloaders of one request. Their in-process cache holds
// futures for the life of the request only: values that outlive it belong
// in the job cache, behind Source.
type Loaders struct {
	// Jobs loads publish jobs by key.
	Jobs *dataloader.Loader[Key, Result]

	source  *Source
	cache   *thunkCache
	settled sync.Map // tokens of MarkSettled
}

// NewLoaders returns fresh loaders for one request.
func (s *Source) NewLoaders() *Loaders {
	batch := func(ctx context.Context, keys []Key) []*dataloader.Result[Result] {
		outs := s.Load(ctx, keys)
		res := make([]*dataloader.Result[Result], len(outs))
		for i, o := range outs {
			res[i] = &dataloader.Result[Result]{Data: o.Result, Error: o.Err}
		}
		return res
	}
	c := &thunkCache{m: map[Key]dataloader.Thunk[Result]{}}
	return &Loaders{
		source: s,
		cache:  c,
		Jobs: dataloader.NewBatchedLoader(batch,
			dataloader.WithCache[Key, Result](c),
			dataloader.WithWait[Key, Result](s.wait),
			dataloader.WithBatchCapacity[Key, Result](s.maxBatch),
			dataloader.WithInputCapacity[Key, Result](s.maxBatch),
		),
	}
}

// Preload answers every key not yet known to this request's loader in one
// batch, now, and stores the outcomes (values and errors) in the loader, so
// that the field resolvers asking for them later return at once: no batch
// window to wait for. List resolvers that know all their keys call it; keys
// another resolver of the request is already loading are waited for, not
// loaded twice.
func (l *Loaders) Preload(ctx context.Context, keys []Key) {
	todo, done := l.cache.claim(keys)
	if len(todo) == 0 {
		return
	}
	// Whatever happens (a panic included), release the resolvers waiting on
	// the claimed keys.
	outs := make([]Outcome, len(todo))
	for i := range outs {
		outs[i].Err = errPreloadFailed
	}
	defer func() { done(outs) }()
	outs = l.source.Load(ctx, todo)
}

// PreloadInBackground is Preload for fields whose answers may come later
// (a deferred publishStatus): it claims the keys now, so the field
// resolvers wait for this load instead of batching their keys with other
// lists', and loads them in a goroutine that ends with ctx or the load. It
// keeps one list's slow host from holding back the other lists' payloads.
func (l *Loaders) PreloadInBackground(ctx context.Context, keys []Key) {
	// One load per environment: a list naming bots of several hosts must
	// not hold a fast host's answers until a slow one's come back.
	var envs []string
	byEnv := map[string][]Key{}
	for _, k := range keys {
		if _, ok := byEnv[k.Environment]; !ok {
			envs = append(envs, k.Environment)
		}
		byEnv[k.Environment] = append(byEnv[k.Environment], k)
	}
	for _, env := range envs {
		todo, done := l.cache.claim(byEnv[env])
		if len(todo) == 0 {
			continue
		}
		go func() {
			outs := make([]Outcome, len(todo))
			for i := range outs {
				outs[i].Err = errPreloadFailed
			}
			defer func() {
				if r := recover(); r != nil { // no request to fail here: its keys fail
					l.source.log.ErrorContext(ctx, "background preload panicked", "panic", r)
				}
				done(outs)
			}()
			outs = l.source.Load(ctx, todo)
		}()
	}
}

// MarkSettled records that every load the holder of token (a list field)
// needs has completed in this request, so that its elements can be
// resolved one after another without waiting for a batch together.
func (l *Loaders) MarkSettled(token any) { l.settled.Store(token, struct{}{}) }

// Settled reports whether MarkSettled was called with token.
func (l *Loaders) Settled(token any) bool {
	_, ok := l.settled.Load(token)
	return ok
}

// errPreloadFailed answers keys whose preload did not complete.
var errPreloadFailed = errors.New("loading was interrupted")

// thunkCache is the loader's per-request cache of futures, with an atomic
// claim for Preload.
type thunkCache struct {
	mu sync.Mutex
	m  map[Key]dataloader.Thunk[Result]
}

// Get implements dataloader.Cache.
func (c *thunkCache) Get(_ context.Context, k Key) (dataloader.Thunk[Result], bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[k]
	return t, ok
}

// Set implements dataloader.Cache.
func (c *thunkCache) Set(_ context.Context, k Key, t dataloader.Thunk[Result]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = t
}

// Delete implements dataloader.Cache.
func (c *thunkCache) Delete(_ context.Context, k Key) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[k]
	delete(c.m, k)
	return ok
}

// Clear implements dataloader.Cache.
func (c *thunkCache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

// claim registers a pending future for each key nobody holds yet and returns
// those keys with the function that completes their futures (one outcome per
// claimed key, in order).
func (c *thunkCache) claim(keys []Key) ([]Key, func([]Outcome)) {
	ready := make(chan struct{})
	var outs []Outcome
	c.mu.Lock()
	defer c.mu.Unlock()
	var todo []Key
	for _, k := range keys {
		if _, ok := c.m[k]; ok {
			continue
		}
		i := len(todo)
		todo = append(todo, k)
		c.m[k] = func() (Result, error) {
			<-ready
			return outs[i].Result, outs[i].Err
		}
	}
	return todo, func(o []Outcome) {
		outs = o
		close(ready)
	}
}

type ctxKey struct{}

// NewContext returns ctx carrying l.
func NewContext(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the loaders of ctx, if any.
func FromContext(ctx context.Context) (*Loaders, bool) {
	l, ok := ctx.Value(ctxKey{}).(*Loaders)
	return l, ok
}

// Middleware gives every request its own Loaders.
func Middleware(s *Source, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), s.NewLoaders())))
	})
}

// For returns the loaders of ctx, creating request-less ones when ctx has
// none (a subscription or a background job), so that callers never need to
// check.
func (s *Source) For(ctx context.Context) *Loaders {
	if l, ok := FromContext(ctx); ok {
		return l
	}
	return s.NewLoaders()
}
