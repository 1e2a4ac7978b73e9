package simulator

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestRoutes(t *testing.T) {
	h := newHarness(t)
	alpha := h.token(alphaID, alphaSecret)
	tests := []struct {
		name    string
		method  string
		path    string
		status  int
		pattern string // ByPath key the request must be counted under
		bot     string // ByBot key, "" for none
	}{
		{"unversioned status", "GET", "/api/public/bot/" + botDone + "/publish/status", 200,
			"GET /api/public/bot/{botId}/publish/status", botDone},
		{"unversioned status with slash", "GET", "/api/public/bot/" + botDone + "/publish/status/", 200,
			"GET /api/public/bot/{botId}/publish/status/", botDone},
		{"versioned status", "GET", "/api/1.1/public/bot/" + botDone + "/publish/status", 200,
			"GET /api/1.1/public/bot/{botId}/publish/status", botDone},
		{"versioned status with slash", "GET", "/api/1.1/public/bot/" + botDone + "/publish/status/", 200,
			"GET /api/1.1/public/bot/{botId}/publish/status/", botDone},
		{"escaped bot id is unescaped", "GET", "/api/public/bot/" + strings.TrimSuffix(botDone, "1") + "%31/publish/status", 200,
			"GET /api/public/bot/{botId}/publish/status", botDone},
		{"unknown bot is an invalid stream", "GET", statusPath(botUnknown), 400,
			"GET /api/public/bot/{botId}/publish/status", botUnknown},
		{"wrong method on status", "DELETE", statusPath(botDone), 405,
			"DELETE /api/public/bot/{botId}/publish/status", botDone},
		{"wrong method on publish", "GET", "/api/1.1/public/bot/" + botDone + "/publish/", 405,
			"GET /api/1.1/public/bot/{botId}/publish/", botDone},
		{"wrong method on bot list", "POST", "/api/public/bots", 405, "POST /api/public/bots", ""},
		{"unknown path", "GET", "/api/public/nothing", 404, "GET " + PathUnknown, ""},
		{"dot segments are not cleaned", "GET", "/api/public/bot/x/../../bots", 404, "GET " + PathUnknown, ""},
		{"double slash is not collapsed", "GET", "/api/public/bot/" + botDone + "/publish/status//", 404, "GET " + PathUnknown, ""},
		{"empty bot id", "GET", "/api/public/bot//publish/status", 404, "GET " + PathUnknown, ""},
		{"root", "GET", "/", 404, "GET " + PathUnknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h.with(t)
			h.sim.Reset()
			r := h.do(tt.method, tt.path, alpha, nil)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d (%s)", r.status, tt.status, r.body)
			}
			switch tt.status {
			case 404:
				wantError(t, r, 404, "Not Found", 404)
			case 405:
				wantError(t, r, 405, "Method Not Allowed", 405)
				if r.header.Get("Allow") == "" {
					t.Error("405 without Allow")
				}
			case 400:
				wantError(t, r, 400, "Invalid StreamId", 400)
			}
			st := h.sim.Stats()
			if st.Total != 1 || st.ByPath[tt.pattern] != 1 {
				t.Errorf("counted %d, byPath %v; want 1 under %q", st.Total, st.ByPath, tt.pattern)
			}
			if tt.bot != "" && st.ByBot[tt.bot] != 1 {
				t.Errorf("byBot = %v, want %s counted", st.ByBot, tt.bot)
			}
		})
	}
}

func TestParseRouteRefusesBadEscapes(t *testing.T) {
	for _, p := range []string{"/api/public/bot/st-%zz/publish/status", "/api/1.1/public/bot/%/publish"} {
		if rt := parseRoute("GET", p); rt.kind != routeNone || rt.pattern != "GET "+PathUnknown {
			t.Errorf("parseRoute(%q) = %+v, want unknown", p, rt)
		}
	}
}

func TestStatusNeverPublishedIsEmptyObject(t *testing.T) {
	h := newHarness(t)
	r := h.status(botNever)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != "{}" {
		t.Fatalf("got %d %s, want 200 {}", r.status, r.body)
	}
}

func TestStatusJobShape(t *testing.T) {
	h := newHarness(t)
	r := h.status(botDone)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	job := decode[map[string]any](t, r.body)
	for _, k := range []string{"_id", "jobType", "streamId", "__v", "action", "createdBy", "percentageComplete",
		"requestedTime", "initiatedOn", "lastModifiedOn", "status", "statusSummary", "countOfDockStatuses", "pubWarnings"} {
		if _, ok := job[k]; !ok {
			t.Errorf("field %s missing from %s", k, r.body)
		}
	}
	if !strings.HasPrefix(job["_id"].(string), "ds-") || job["jobType"] != "PUBLISH_BOT" || job["action"] != "RUN" ||
		job["streamId"] != botDone || job["status"] != "successful" || job["percentageComplete"] != 100.0 ||
		!strings.HasPrefix(job["createdBy"].(string), "u-") || job["__v"] != 0.0 {
		t.Errorf("job = %s", r.body)
	}
	for _, k := range []string{"requestedTime", "initiatedOn", "lastModifiedOn"} {
		v, _ := job[k].(string)
		if len(v) != len("2026-11-20T10:11:12.345Z") || !strings.HasSuffix(v, "Z") || v[19] != '.' {
			t.Errorf("%s = %q, want ISO-8601 UTC with milliseconds", k, v)
		}
	}
	types := map[string]map[string]any{}
	for _, e := range job["statusSummary"].([]any) {
		res := e.(map[string]any)
		types[res["resourceType"].(string)] = res
	}
	for _, typ := range []string{"SETTINGS", "NL", "CHANNELS", "EXTENSIONS", "BOTLANGUAGES", "dialog", "AUTOVERSIONING"} {
		if _, ok := types[typ]; !ok {
			t.Errorf("resource type %s missing", typ)
		}
	}
	if m, ok := types["BOTLANGUAGES"]["modules"].(map[string]any); !ok || m["enabledLanguages"] == nil {
		t.Errorf("BOTLANGUAGES modules = %v, want an object with enabledLanguages", types["BOTLANGUAGES"]["modules"])
	}
	if _, ok := types["SETTINGS"]["modules"].([]any); !ok {
		t.Errorf("SETTINGS modules = %v, want a list", types["SETTINGS"]["modules"])
	}
	d := types["dialog"]
	if d["status"] != "success" || d["resourceVersion"] == nil || d["result"] == nil {
		t.Errorf("dialog = %v, want lower-case status, resourceVersion and result", d)
	}
	if types["NL"]["status"] != "SUCCESS" {
		t.Errorf("NL status = %v, want SUCCESS", types["NL"]["status"])
	}
}

func TestStatusUpperCaseAccount(t *testing.T) {
	h := newHarness(t)
	tok := mintToken(t, betaSecret, jwt.MapClaims{"appId": betaID, "jti": "u-1", "exp": h.clock.Now().Add(time.Minute).Unix()})
	r := h.do(http.MethodGet, statusPath(botBeta), tok, nil)
	job := decode[jobJSON](t, r.body)
	if job.Status != "SUCCESSFUL" {
		t.Errorf("status = %q, want SUCCESSFUL", job.Status)
	}
	for _, res := range job.StatusSummary {
		if res.Status != "SUCCESS" {
			t.Errorf("%s status = %q, want SUCCESS", res.ResourceType, res.Status)
		}
	}
}
