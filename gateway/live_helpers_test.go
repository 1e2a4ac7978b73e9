package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/golang-jwt/jwt/v5"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// liveSubscription is the subscription the live tests send.
const liveSubscription = `subscription($refs: [BotRef!]!) { publishStatusChanged(refs: $refs) {
  bot { id environment { name } } job { id status percentageComplete statusSummary { resourceType status } } } }`

// liveEvent is one publishStatusChanged event as a client sees it.
type liveEvent struct {
	BotID  string
	Job    *liveJob
	Errors []testkit.Error
}

type liveJob struct {
	ID                 string `json:"id"`
	Status             string `json:"status"`
	PercentageComplete int    `json:"percentageComplete"`
}

// decodeLive turns a GraphQL response payload into a liveEvent.
func decodeLive(t testing.TB, raw []byte) liveEvent {
	t.Helper()
	var p struct {
		Data struct {
			PublishStatusChanged *struct {
				Bot struct {
					ID string `json:"id"`
				} `json:"bot"`
				Job *liveJob `json:"job"`
			} `json:"publishStatusChanged"`
		} `json:"data"`
		Errors []testkit.Error `json:"errors"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("decode event: %v\n%s", err, raw)
	}
	ev := liveEvent{Errors: p.Errors}
	if c := p.Data.PublishStatusChanged; c != nil {
		ev.BotID, ev.Job = c.Bot.ID, c.Job
	}
	return ev
}

// liveClient is a subscription over one transport: events arrive on Events,
// which is closed when the server ends the subscription or the connection.
type liveClient struct {
	Events <-chan liveEvent
	// End is how the stream ended: "complete", "closed <code>", or an error.
	End    <-chan string
	cancel context.CancelFunc
}

// Close disconnects the client.
func (c *liveClient) Close() { c.cancel() }

// wsMsg is a graphql-transport-ws message.
type wsMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// dialWS connects over graphql-transport-ws, authenticating in
// connection_init with token (none if empty), and returns the connection once
// acknowledged, or the close code.
func dialWS(t testing.TB, baseURL, token string) (*websocket.Conn, context.CancelFunc, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(baseURL, "http")+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		cancel()
		t.Fatalf("dial: %v", err)
	}
	payload := map[string]any{}
	if token != "" {
		payload["Authorization"] = "Bearer " + token
	}
	raw, _ := json.Marshal(payload)
	if err := wsjson.Write(ctx, conn, wsMsg{Type: "connection_init", Payload: raw}); err != nil {
		cancel()
		t.Fatalf("connection_init: %v", err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	for {
		var m wsMsg
		if err := wsjson.Read(rctx, conn, &m); err != nil {
			cancel()
			_ = conn.CloseNow()
			return nil, nil, err
		}
		if m.Type == "connection_ack" {
			return conn, cancel, nil
		}
	}
}

// subscribeWS subscribes over a new WebSocket.
func subscribeWS(t testing.TB, baseURL, token string, refs []map[string]string) *liveClient {
	t.Helper()
	return subscribeWSQuery(t, baseURL, token, liveSubscription, refs)
}

// liveSubscriptionLight selects little, for tests of many subscribers.
const liveSubscriptionLight = `subscription($refs: [BotRef!]!) { publishStatusChanged(refs: $refs) { bot { id } job { id status percentageComplete } } }`

// subscribeWSQuery subscribes with query over a new WebSocket.
func subscribeWSQuery(t testing.TB, baseURL, token, query string, refs []map[string]string) *liveClient {
	t.Helper()
	conn, cancel, err := dialWS(t, baseURL, token)
	if err != nil {
		t.Fatalf("connection refused: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"refs": refs}})
	if err := wsjson.Write(ctx, conn, wsMsg{ID: "1", Type: "subscribe", Payload: payload}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	events, end := make(chan liveEvent, 1024), make(chan string, 1)
	go func() {
		defer close(events)
		defer cancel()
		for {
			var m wsMsg
			if err := wsjson.Read(ctx, conn, &m); err != nil {
				if s := websocket.CloseStatus(err); s != -1 {
					end <- fmt.Sprintf("closed %d", s)
				} else {
					end <- err.Error()
				}
				return
			}
			switch m.Type {
			case "next":
				events <- decodeLive(t, m.Payload)
			case "error":
				events <- liveEvent{Errors: []testkit.Error{{Message: string(m.Payload)}}}
			case "complete":
				end <- "complete"
				_ = conn.Close(websocket.StatusNormalClosure, "")
				return
			}
		}
	}()
	t.Cleanup(stop)
	return &liveClient{Events: events, End: end, cancel: func() { stop(); _ = conn.CloseNow() }}
}

// subscribeSSE subscribes over Server-Sent Events with an Authorization
// header (none if token is empty).
func subscribeSSE(t testing.TB, hc *http.Client, baseURL, token string, refs []map[string]string) *liveClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	body, _ := json.Marshal(map[string]any{"query": liveSubscription, "variables": map[string]any{"refs": refs}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("SSE: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		t.Fatalf("SSE: HTTP %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events, end := make(chan liveEvent, 1024), make(chan string, 1)
	go func() {
		defer close(events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
				if event == "complete" {
					end <- "complete"
					return
				}
			case strings.HasPrefix(line, "data: ") && event == "next":
				events <- decodeLive(t, []byte(strings.TrimPrefix(line, "data: ")))
			}
		}
		if err := sc.Err(); err != nil {
			end <- err.Error()
			return
		}
		end <- "eof"
	}()
	t.Cleanup(cancel)
	return &liveClient{Events: events, End: end, cancel: cancel}
}

// next awaits the next event (bounded).
func (c *liveClient) next(t testing.TB, within time.Duration) liveEvent {
	t.Helper()
	select {
	case ev, ok := <-c.Events:
		if !ok {
			t.Fatalf("subscription ended while an event was expected: %s", <-c.End)
		}
		return ev
	case <-time.After(within):
		t.Fatalf("no event within %v", within)
	}
	return liveEvent{}
}

// liveAccount is a simulator account of n successful bots whose publishes
// take publishFor.
func liveAccount(name string, n int, publishFor time.Duration) simulator.Account {
	a := testkit.Account(name, n)
	for i := range a.Bots {
		a.Bots[i].PublishDuration = publishFor
	}
	return a
}

// liveConfig is a gateway configuration polling publishing bots every
// inProgress, with no per-bot budget in the way.
func liveConfig(t testing.TB, simURL string, inProgress time.Duration, accts ...simulator.Account) *config.Config {
	t.Helper()
	cfg := testkit.Config(t, simURL, accts...)
	cfg.Cache.InProgressTTL = config.Duration(inProgress)
	for i := range cfg.Environments {
		cfg.Environments[i].BotRatePerMinute, cfg.Environments[i].BotRatePerHour, cfg.Environments[i].RatePerMinute = 0, 0, 0
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// refsOf lists the bots of an account as BotRef variables.
func refsOf(a simulator.Account) []map[string]string {
	out := make([]map[string]string, len(a.Bots))
	for i, b := range a.Bots {
		out[i] = map[string]string{"environment": a.Name, "botId": b.ID}
	}
	return out
}

// liveToken signs a caller token granting envs, with the publish claim when
// publish is true.
func liveToken(t testing.TB, publish bool, envs ...string) string {
	t.Helper()
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "live-tester", "iss": "https://idp.test/", "aud": "publishgate",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "environments": envs, "publish": publish,
	}).SignedString([]byte(testHMACSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// withAuth turns auth on in cfg, verifying liveToken's tokens.
func withAuth(t testing.TB, cfg *config.Config) *config.Config {
	t.Helper()
	cfg.Auth = &config.Auth{HMACSecret: config.Secret(testHMACSecret), Issuer: "https://idp.test/", Audience: "publishgate",
		EnvironmentsClaim: "environments", PublishClaim: "publish"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// publishBot calls the mutation as token (none if empty) with headers.
func publishBot(t testing.TB, baseURL, token string, vars map[string]any, headers map[string]string) testkit.Response {
	t.Helper()
	const q = `mutation($environment: ID!, $botId: ID!, $key: String) {
  publishBot(environment: $environment, botId: $botId, versionComment: "live test", idempotencyKey: $key) { id status percentageComplete } }`
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, baseURL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("publishBot: %v", err)
	}
	defer resp.Body.Close()
	var r testkit.Response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("publishBot: decode: %v", err)
	}
	r.Status = resp.StatusCode
	return r
}
