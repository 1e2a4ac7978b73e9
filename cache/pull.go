package cache

import (
	"context"
	"fmt"
)

// Pull copies the shared entries of keys that are newer than the local ones
// into the local copy, so that this replica serves at once what another one
// just fetched: a fresh local entry is otherwise served until its own
// lifetime ends. Refresh-ahead watching (watch/) announces the bots whose job
// changed and every other replica pulls them.
func (t *Tiered) Pull(ctx context.Context, keys []Key) error {
	if len(keys) == 0 || t.down() {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	shared, err := t.shared.GetMany(sctx, keys)
	if err != nil {
		if ctx.Err() == nil {
			t.fail(err)
		}
		return fmt.Errorf("pull shared entries: %w", err)
	}
	local, _ := t.local.GetMany(ctx, keys)
	var items []Item
	for i, s := range shared {
		if s == nil || (i < len(local) && local[i] != nil && !s.FetchedAt.After(local[i].FetchedAt)) {
			continue
		}
		items = append(items, Item{Key: keys[i], Entry: *s})
	}
	return t.local.SetMany(ctx, items)
}
