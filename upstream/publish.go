package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// PublishedResource is one entry of Kore.ai's answer to a publish: a
// resource queued for publishing (SPEC §1.1). A dialog may be
// "awaitingApproval" when an admin must approve the publish.
type PublishedResource struct {
	ResourceType string `json:"resourceType"`
	ResourceID   string `json:"resourceId"`
	Status       string `json:"status"`
}

// PublishURL is the publish URL of a bot. The ID must have passed
// ValidBotID; it is path-escaped all the same.
func (c *Client) PublishURL(botID string) string {
	if c.versioned {
		return c.base + "/api/1.1/public/bot/" + url.PathEscape(botID) + "/publish/"
	}
	return c.base + "/api/public/bot/" + url.PathEscape(botID) + "/publish"
}

// Publish starts a publish of a bot: POST {host}/api/public/bot/{botId}/publish
// with the version comment and whether to train. It is never retried (a
// publish is not idempotent upstream; callers deduplicate with an
// idempotency key). Kore.ai answers with the resources it queued; an answer
// that cannot be decoded after a 200 still means the publish started, so it
// yields no resources and no error.
func (c *Client) Publish(ctx context.Context, botID, versionComment string, initiateTraining bool) (res []PublishedResource, err error) {
	if !c.botIDs.Valid(botID) {
		return nil, &Error{Kind: ErrInvalidBotID}
	}
	ctx, span := c.tracer.Start(ctx, "kore.publish", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("publishgate.environment", c.environment), attribute.String("publishgate.bot_id", botID)))
	defer func() { endSpan(span, err) }()
	// A concurrency slot first, then the breaker: a half-open probe must not
	// sit in the queue while it holds the breaker's only permit.
	if err := c.slots.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.slots.release()
	if c.breaker != nil {
		done, refused := c.breaker.allow(c.PublishURL(botID))
		if refused != nil {
			return nil, refused
		}
		defer func() { done(ctx, err) }()
	}

	payload, err := json.Marshal(struct {
		VersionComment   string `json:"versionComment"`
		InitiateTraining bool   `json:"initiateTraining"`
	}{versionComment, initiateTraining})
	if err != nil {
		return nil, &Error{Kind: ErrBadResponse, Err: fmt.Errorf("encode publish request: %w", err)}
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	token, err := c.tokens.Token()
	if err != nil {
		return nil, &Error{Kind: ErrUnauthorized, Err: err}
	}
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.PublishURL(botID), bytes.NewReader(payload))
	if err != nil {
		return nil, &Error{Kind: ErrBadResponse, Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("auth", token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "publishgate")

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		err = transportError(actx, err)
		c.report(ctx, 0, start, err)
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil && resp.StatusCode != http.StatusOK {
		err = transportError(actx, err)
		c.report(ctx, resp.StatusCode, start, err)
		return nil, err
	}
	err = statusError(resp, body)
	c.report(ctx, resp.StatusCode, start, err)
	if err != nil {
		return nil, err
	}
	if json.Unmarshal(body, &res) != nil {
		return nil, nil
	}
	return res, nil
}
