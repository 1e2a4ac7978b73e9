package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// BotsPageLimit is the largest page of Kore.ai's Get Bots API (SPEC §1.1:
// limit at most 50).
const BotsPageLimit = 50

// maxBotPages bounds one listing (20,000 bots): an upstream that always
// answers availableMore must not keep the client paging for ever.
const maxBotPages = 400

// ListedBot is one bot of the account as the Get Bots API lists it. It
// deliberately has no field for the items' jwtApps: Kore.ai sends every
// linked app's client secret in clear there, and a secret that is never
// decoded can never be stored, cached, logged or served.
type ListedBot struct {
	// ID is the bot (stream) ID, the item's _id.
	ID string `json:"id"`
	// Name is the bot's name in Kore.ai.
	Name string `json:"name,omitempty"`
	// Status is "published" or "configured" as Kore.ai says it.
	Status string `json:"status,omitempty"`
}

// BotList is the outcome of listing an account's bots.
type BotList struct {
	// Bots are the listed bots in Kore.ai's order, each ID once.
	Bots []ListedBot
	// Invalid counts the items whose _id failed the bot ID check; they
	// are left out.
	Invalid int
	// Pages is how many pages were requested.
	Pages int
}

// botsPageJSON decodes one page of the Get Bots API. Only the fields below
// are decoded: everything else of an item, jwtApps included, is skipped by
// the decoder without being kept anywhere.
type botsPageJSON struct {
	AvailableMore bool `json:"availableMore"`
	Bots          []struct {
		ID     string `json:"_id"`
		Name   string `json:"name"`
		Status string `json:"status"`
	} `json:"bots"`
}

// ListOption configures one ListBots call.
type ListOption func(*listOptions)

type listOptions struct {
	gate func(context.Context) error
}

// WithPageGate makes ListBots call gate before every page: an error (such as
// an admin API budget refusing, wrapping ErrRateLimited) ends the listing
// with that error and no request is made for the page. Kore.ai counts the
// Get Bots API against the account's admin API limit (SPEC §1.1).
func WithPageGate(gate func(context.Context) error) ListOption {
	return func(o *listOptions) { o.gate = gate }
}

// BotsURL is the Get Bots URL of one page.
func (c *Client) BotsURL(offset, limit int) string {
	path := "/api/public/bots"
	if c.versioned {
		path = "/api/1.1/public/bots"
	}
	q := url.Values{"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(limit)}}
	return c.base + path + "?" + q.Encode()
}

// ListBots lists the account's bots with Kore.ai's Get Bots API, page after
// page of BotsPageLimit until availableMore is false. Each page goes through
// the client's bulkhead, circuit breaker and retries like a status call.
// Items whose ID fails the bot ID check are left out (and counted); an ID
// listed twice (the list moved between pages) is kept once. Every failure
// is an *Error wrapping one of the package's sentinel errors, and never
// contains anything of the answer's items.
func (c *Client) ListBots(ctx context.Context, opts ...ListOption) (list BotList, err error) {
	var o listOptions
	for _, opt := range opts {
		opt(&o)
	}
	ctx, span := c.tracer.Start(ctx, "kore.listBots", trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("publishgate.environment", c.environment)))
	defer func() {
		span.SetAttributes(attribute.Int("publishgate.bots", len(list.Bots)), attribute.Int("publishgate.pages", list.Pages))
		endSpan(span, err)
	}()
	seen := map[string]bool{}
	for offset := 0; ; {
		if list.Pages >= maxBotPages {
			return BotList{}, &Error{Kind: ErrBadResponse, Err: fmt.Errorf("bot list still has more after %d pages", maxBotPages)}
		}
		if o.gate != nil {
			if err := o.gate(ctx); err != nil {
				return BotList{}, err
			}
		}
		page, err := c.botsPage(ctx, offset)
		list.Pages++
		if err != nil {
			return BotList{}, err
		}
		for _, b := range page.Bots {
			switch {
			case !c.botIDs.Valid(b.ID):
				list.Invalid++
			case !seen[b.ID]:
				seen[b.ID] = true
				list.Bots = append(list.Bots, ListedBot{ID: b.ID, Name: sanitise(b.Name), Status: sanitise(b.Status)})
			}
		}
		if !page.AvailableMore {
			return list, nil
		}
		if len(page.Bots) == 0 {
			return BotList{}, &Error{Kind: ErrBadResponse, Err: fmt.Errorf("empty bot list page at offset %d says availableMore", offset)}
		}
		offset += len(page.Bots)
	}
}

// botsPage fetches and decodes one page, with the client's slot and retries.
func (c *Client) botsPage(ctx context.Context, offset int) (*botsPageJSON, error) {
	if err := c.slots.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.slots.release()
	target := c.BotsURL(offset, BotsPageLimit)
	for attempt := 0; ; attempt++ {
		body, err := c.get(ctx, target)
		if err == nil {
			var page botsPageJSON
			if err := json.Unmarshal(body, &page); err != nil {
				// The decoder's own error names a type or an offset, never
				// the text it failed on.
				return nil, &Error{Kind: ErrBadResponse, StatusCode: 200, Err: fmt.Errorf("decode bot list: %w", err)}
			}
			return &page, nil
		}
		if attempt >= c.retries || !retryable(err) {
			return nil, err
		}
		if !c.wait(ctx, attempt, err) {
			return nil, err
		}
	}
}
