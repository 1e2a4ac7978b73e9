package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/publishgate/publishgate/internal/testkit"
)

// deferredDashboard is a dashboard that defers every bot's publish status,
// so that no host's answers wait for another's.
const deferredDashboard = `query Dashboard { environments { name bots { id name
  ... @defer(label: "status") { publishStatus { status percentageComplete } } } } }`

// payload is one GraphQL response of an incremental delivery: the initial
// one, or a deferred fragment's (with the path of the object it completes).
type payload struct {
	Data    json.RawMessage `json:"data"`
	Path    []any           `json:"path"`
	Label   string          `json:"label"`
	Errors  []testkit.Error `json:"errors"`
	HasNext *bool           `json:"hasNext"`
}

// stream reads the payloads of a deferred query as they arrive: next
// returns those of the next part (multipart/mixed) or event (SSE), and
// false at the end of the stream.
type stream struct {
	next  func() ([]payload, error)
	close func()
}

// rest reads the stream to its end and returns the payloads left.
func (s *stream) rest(t *testing.T) []payload {
	t.Helper()
	var out []payload
	for {
		parts, err := s.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, parts...)
	}
}

// transport is how a test sends a deferred query and reads its answer.
type transport struct {
	name   string
	accept string
	read   func(resp *http.Response) (*stream, error)
}

var deferTransports = []transport{
	{name: "multipart/mixed", accept: "multipart/mixed", read: readMultipart},
	{name: "SSE", accept: "text/event-stream", read: readSSE},
}

// sendDeferred posts query over a real HTTP connection, accepting what tr
// reads, and returns the response once its headers have arrived.
func sendDeferred(ctx context.Context, tr transport, baseURL, query string, header http.Header) (*http.Response, error) {
	body, _ := json.Marshal(map[string]any{"query": query})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/graphql", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", tr.accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST /graphql: %w", err)
	}
	return resp, nil
}

// postDeferred sends query and returns its stream of payloads.
func postDeferred(ctx context.Context, tr transport, baseURL, query string, header http.Header) (*stream, error) {
	resp, err := sendDeferred(ctx, tr, baseURL, query, header)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("POST /graphql: HTTP %d: %s", resp.StatusCode, raw)
	}
	s, err := tr.read(resp)
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	return s, nil
}

// readMultipart reads a multipart/mixed incremental delivery with Go's
// mime/multipart: the first part is the initial payload, each later one
// {"incremental": [payload...], "hasNext": ...}.
func readMultipart(resp *http.Response) (*stream, error) {
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return nil, fmt.Errorf("content type %q: want multipart/mixed with a boundary", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	first := true
	return &stream{
		close: func() { resp.Body.Close() },
		next: func() ([]payload, error) {
			part, err := mr.NextPart()
			if err == io.EOF {
				return nil, io.EOF
			}
			if err != nil {
				return nil, fmt.Errorf("next part: %w", err)
			}
			raw, err := io.ReadAll(part)
			if err != nil {
				return nil, fmt.Errorf("read part: %w", err)
			}
			if ct := part.Header.Get("Content-Type"); ct != "application/json" {
				return nil, fmt.Errorf("part content type %q", ct)
			}
			if first {
				first = false
				var p payload
				if err := json.Unmarshal(raw, &p); err != nil {
					return nil, fmt.Errorf("initial part: %w: %s", err, raw)
				}
				return []payload{p}, nil
			}
			var inc struct {
				Incremental []payload `json:"incremental"`
				HasNext     bool      `json:"hasNext"`
			}
			if err := json.Unmarshal(raw, &inc); err != nil {
				return nil, fmt.Errorf("incremental part: %w: %s", err, raw)
			}
			return inc.Incremental, nil
		},
	}, nil
}

// readSSE reads a deferred query over Server-Sent Events: one "next" event
// per payload, then "complete".
func readSSE(resp *http.Response) (*stream, error) {
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return nil, fmt.Errorf("content type %q: want text/event-stream", ct)
	}
	br := bufio.NewReader(resp.Body)
	return &stream{
		close: func() { resp.Body.Close() },
		next: func() ([]payload, error) {
			var event, data string
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return nil, io.EOF
				}
				line = strings.TrimRight(line, "\r\n")
				switch {
				case strings.HasPrefix(line, "event:"):
					event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
				case strings.HasPrefix(line, "data:"):
					data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
				case line == "" && event == "complete":
					return nil, io.EOF
				case line == "" && event == "next":
					var p payload
					if err := json.Unmarshal([]byte(data), &p); err != nil {
						return nil, fmt.Errorf("event: %w: %s", err, data)
					}
					return []payload{p}, nil
				}
			}
		},
	}, nil
}

// deferredBot is the answer a payload brings for one bot: the status, or
// the error at its publishStatus.
type deferredBot struct {
	env, bot int
	status   string
	err      *testkit.Error
}

// botOf reads a deferred payload completing environments.<env>.bots.<bot>.
func botOf(t *testing.T, p payload) deferredBot {
	t.Helper()
	if len(p.Path) != 4 || p.Path[0] != "environments" || p.Path[2] != "bots" || p.Label != "status" {
		t.Fatalf("deferred payload at %v (label %q), want environments.N.bots.M labelled status", p.Path, p.Label)
	}
	b := deferredBot{env: int(p.Path[1].(float64)), bot: int(p.Path[3].(float64))}
	var d struct {
		PublishStatus *struct{ Status string } `json:"publishStatus"`
	}
	if err := json.Unmarshal(p.Data, &d); err != nil {
		t.Fatalf("payload data: %v: %s", err, p.Data)
	}
	if d.PublishStatus != nil {
		b.status = d.PublishStatus.Status
	}
	if len(p.Errors) > 0 {
		b.err = &p.Errors[0]
	}
	return b
}
