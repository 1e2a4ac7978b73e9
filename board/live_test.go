package board_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/publishgate/publishgate/upstream/simulator"
)

// wsMessage is a graphql-transport-ws message.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// subscribed is what the fake subscription server saw of the board's subscribe message.
type subscribed struct {
	query string
	refs  int
	init  string // connection_init payload
}

// liveFront serves a gateway whose schema has Subscription.publishStatusChanged, as the
// live-progress issue will: the introspection probe says so, a graphql-transport-ws WebSocket on
// /graphql acknowledges the board's subscription and then relays every job sent on events, and
// every other request goes to gw.
func liveFront(tb testing.TB, gwURL string, events <-chan string, subs chan<- subscribed) string {
	tb.Helper()
	target, err := url.Parse(gwURL)
	if err != nil {
		tb.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	ctx, stop := context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("/graphql", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			serveSubscription(ctx, tb, w, r, events, subs)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte("__schema")) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"data":{"__schema":{"subscriptionType":{"fields":[{"name":"publishStatusChanged"}]}}}}`)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	})
	mux.HandleFunc("/blank", func(w http.ResponseWriter, _ *http.Request) {
		// A page of this origin to set session storage from, before the board loads.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><link rel="icon" href="data:,"><title>blank</title>`)
	})
	mux.Handle("/", proxy)
	srv := httptest.NewServer(mux)
	tb.Cleanup(func() {
		stop()
		srv.Close()
	})
	return srv.URL
}

func serveSubscription(ctx context.Context, tb testing.TB, w http.ResponseWriter, r *http.Request, events <-chan string, subs chan<- subscribed) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		tb.Errorf("accept WebSocket: %v", err)
		return
	}
	defer c.CloseNow()
	if c.Subprotocol() != "graphql-transport-ws" {
		tb.Errorf("board asked for subprotocol %q", c.Subprotocol())
		return
	}
	var init, sub wsMessage
	if err := wsjson.Read(ctx, c, &init); err != nil || init.Type != "connection_init" {
		tb.Errorf("first message %+v (%v), want connection_init", init, err)
		return
	}
	if err := wsjson.Write(ctx, c, wsMessage{Type: "connection_ack"}); err != nil {
		return
	}
	if err := wsjson.Read(ctx, c, &sub); err != nil || sub.Type != "subscribe" {
		tb.Errorf("second message %+v (%v), want subscribe", sub, err)
		return
	}
	var p struct {
		Query     string `json:"query"`
		Variables struct {
			Refs []map[string]string `json:"refs"`
		} `json:"variables"`
	}
	if err := json.Unmarshal(sub.Payload, &p); err != nil {
		tb.Errorf("subscribe payload: %v", err)
		return
	}
	subs <- subscribed{query: p.Query, refs: len(p.Variables.Refs), init: string(init.Payload)}
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			if err := wsjson.Write(ctx, c, wsMessage{ID: sub.ID, Type: "next", Payload: json.RawMessage(ev)}); err != nil {
				return
			}
		}
	}
}

// event is a publishStatusChanged event for one bot of the demo.
func event(env, botID, status string, pct int) string {
	now := time.Now().UTC().Format(time.RFC3339)
	b, _ := json.Marshal(map[string]any{"data": map[string]any{"publishStatusChanged": map[string]any{
		"bot": map[string]any{"id": botID, "environment": map[string]any{"name": env}},
		"job": map[string]any{
			"id": "ds-live", "status": status, "rawStatus": strings.ToLower(status), "percentageComplete": pct,
			"lastModifiedOn": now, "initiatedOn": now, "requestedTime": now, "createdBy": "u-live",
			"freshness": map[string]any{"fetchedAt": now, "ageSeconds": 0, "fromCache": false, "stale": false},
		},
	}}})
	return string(b)
}

// TestBoardGoesLiveWithTheSubscription checks that the board feature-detects the subscription,
// subscribes to every bot over graphql-transport-ws, says "Live", and applies each event to its
// row without a reload.
func TestBoardGoesLiveWithTheSubscription(t *testing.T) {
	gw, accts := demoGateway(t)
	n := botCount(accts)
	events := make(chan string)
	subs := make(chan subscribed, 1)
	front := liveFront(t, gw.URL, events, subs)

	b := mustBrowser(t)
	const token = "live-test-token"
	b.do(t, "open the board with a token in this tab's session",
		chromedp.Navigate(front+"/blank"),
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('publishgate.board.token', '`+token+`')`),
		chromedp.Navigate(front+"/board"))
	b.waitFor(t, loadTimeout, "going live", loaded(n)+` && document.getElementById('conn').dataset.state === 'live'`)
	var sub subscribed
	select {
	case sub = <-subs:
	case <-time.After(10 * time.Second):
		t.Fatal("the board never subscribed")
	}
	if !strings.Contains(sub.query, "publishStatusChanged(refs: $refs)") || sub.refs != n {
		t.Errorf("board subscribed with %d refs and query %q, want all %d bots", sub.refs, sub.query, n)
	}
	if want := `{"Authorization":"Bearer ` + token + `"}`; sub.init != want {
		t.Errorf("connection_init payload %s, want %s", sub.init, want)
	}
	if got := eval[string](t, b, `document.getElementById('conn-text').textContent`); got != "Live" {
		t.Errorf("connection indicator reads %q, want Live", got)
	}

	id := simulator.DemoBotID("Banking Assistant")
	b.do(t, "mark the document", chromedp.Evaluate[chromedp.Void](`window.__sameDocument = true`))
	send := func(ev string) {
		t.Helper()
		select {
		case events <- ev:
		case <-time.After(10 * time.Second):
			t.Fatal("the subscription is gone: nobody takes the event")
		}
	}
	send(event("prod-us", id, "INPROGRESS", 42))
	b.waitFor(t, 10*time.Second, "showing the event's progress",
		`window.__sameDocument === true && `+row(id)+`.dataset.state === 'inprogress' && `+row(id)+`.querySelector('progress').value === 42`)
	send(event("prod-us", id, "FAILED", 100))
	b.waitFor(t, 10*time.Second, "showing the event's failure", row(id)+`.dataset.state === 'failed'`)
	send(`{"data":{"publishStatusChanged":{"bot":{"id":"` + id + `","environment":{"name":"prod-us"}},"job":null}},` +
		`"errors":[{"message":"prod-us/` + id + `: Kore.ai is unavailable (HTTP 503)","path":["publishStatusChanged","job"],` +
		`"extensions":{"code":"UPSTREAM_UNAVAILABLE","environment":"prod-us","botId":"` + id + `"}}]}`)
	b.waitFor(t, 10*time.Second, "showing the event's error", row(id)+`.dataset.state === 'error' && `+
		row(id)+`.textContent.includes('UPSTREAM_UNAVAILABLE')`)

	// The summaries moved with the events: Banking Assistant left "successful" for "errors".
	tiles := eval[map[string]string](t, b, `Object.fromEntries([...document.querySelectorAll('#overall button')].map(b => [b.dataset.field, b.querySelector('.n').textContent]))`)
	if tiles["successful"] != "18" || tiles["errors"] != "2" || tiles["total"] != fmt.Sprint(n) {
		t.Errorf("summary tiles after the events: %v, want successful 18, errors 2, total %d", tiles, n)
	}

	if p := b.consoleProblems(); len(p) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(p, "\n"))
	}
	if off := b.offLoopback(); len(off) > 0 {
		t.Errorf("the page asked for URLs off this machine: %q", off)
	}
}
