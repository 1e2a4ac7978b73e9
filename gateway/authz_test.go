package gateway_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

func TestCallerGrantedDevCannotReachProd(t *testing.T) {
	dev, prod := testkit.Account("dev", 3), testkit.Account("prod", 4)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(dev, prod))
	gw := testkit.MustGateway(t, authConfig(t, sim.URL, config.Auth{HMACSecret: testHMACSecret}, dev, prod), gateway.Options{})
	devOnly := "Bearer " + signHS(t, callerClaims("dev"), testHMACSecret)
	everything := "Bearer " + signHS(t, callerClaims("*"), testHMACSecret)
	prodBot, devBot := prod.Bots[0].ID, dev.Bots[0].ID

	forbidden := []struct {
		name    string
		query   string
		vars    map[string]any
		path    string // where FORBIDDEN must be
		sibling string // a JSON fragment the answer must still hold, if any
	}{
		{name: "environment(name)", query: `{ environment(name: "prod") { name bots { id publishStatus { status } } } }`, path: "environment"},
		{name: "environment(name) of an environment that does not exist", query: `{ environment(name: "staging") { name } }`, path: "environment"},
		{name: "publishStatus", query: `query($b: ID!) { publishStatus(environment: "prod", botId: $b) { status } }`, vars: map[string]any{"b": prodBot}, path: "publishStatus"},
		{name: "publishStatus in an environment that does not exist", query: `query($b: ID!) { publishStatus(environment: "nowhere", botId: $b) { status } }`, vars: map[string]any{"b": prodBot}, path: "publishStatus"},
		{name: "publishStatus with a bad bot ID", query: `{ publishStatus(environment: "prod", botId: "../../bots") { status } }`, path: "publishStatus"},
		{name: "bots(refs) beside a granted ref", query: botsQuery, vars: map[string]any{"refs": []map[string]string{
			{"environment": "dev", "botId": devBot}, {"environment": "prod", "botId": prodBot},
		}}, path: "bots.1", sibling: `"status":"SUCCESSFUL"`},
		{name: "summary(environments)", query: `{ summary(environments: ["dev", "prod"]) { total } }`, path: "summary", sibling: `"total":3`},
		{name: "summary(environments) naming only an unknown one", query: `{ summary(environments: ["nowhere"]) { total } }`, path: "summary"},
	}
	for _, tc := range forbidden {
		t.Run("FORBIDDEN: "+tc.name, func(t *testing.T) {
			sim.Simulator.Reset()
			res := call(t, gw.URL, devOnly, tc.query, tc.vars)
			if res.status != 200 || len(res.resp.Errors) != 1 {
				t.Fatalf("HTTP %d, errors %+v, want one error", res.status, res.resp.Errors)
			}
			e := res.resp.Errors[0]
			if e.Code() != "FORBIDDEN" || e.PathString() != tc.path {
				t.Errorf("error %s at %q, want FORBIDDEN at %q: %s", e.Code(), e.PathString(), tc.path, e.Message)
			}
			// No hint whether it exists: the message only says "not permitted".
			if strings.Contains(strings.ToLower(e.Message), "unknown") || strings.Contains(e.Message, "not found") {
				t.Errorf("the message hints at existence: %q", e.Message)
			}
			if tc.sibling != "" && !strings.Contains(string(res.resp.Data), tc.sibling) {
				t.Errorf("the granted part did not answer: %s", res.resp.Data)
			}
			st := sim.Simulator.Stats()
			if st.ByAccount["prod"] != 0 {
				t.Errorf("%d upstream requests reached the prod account", st.ByAccount["prod"])
			}
			for _, b := range prod.Bots {
				if st.ByBot[b.ID] != 0 {
					t.Errorf("bot %s of prod was requested upstream", b.ID)
				}
			}
		})
	}

	t.Run("environments and summary list only what is granted", func(t *testing.T) {
		sim.Simulator.Reset()
		res := call(t, gw.URL, devOnly, `{ environments { name bots { id } } summary { total } }`, nil)
		var data struct {
			Environments []struct{ Name string }
			Summary      struct{ Total int }
		}
		res.resp.Decode(t, &data)
		if len(res.resp.Errors) != 0 || len(data.Environments) != 1 || data.Environments[0].Name != "dev" || data.Summary.Total != 3 {
			t.Errorf("data %s, errors %+v; want only dev (3 bots)", res.resp.Data, res.resp.Errors)
		}
		if n := sim.Simulator.Stats().ByAccount["prod"]; n != 0 {
			t.Errorf("%d upstream requests reached prod", n)
		}
	})

	t.Run("an unknown environment and a forbidden one answer alike", func(t *testing.T) {
		a := call(t, gw.URL, devOnly, `{ environment(name: "prod") { name } }`, nil).resp.Errors
		b := call(t, gw.URL, devOnly, `{ environment(name: "prod2") { name } }`, nil).resp.Errors
		if len(a) != 1 || len(b) != 1 || strings.ReplaceAll(a[0].Message, "prod", "X") != strings.ReplaceAll(b[0].Message, "prod2", "X") {
			t.Errorf("answers differ: %+v vs %+v", a, b)
		}
	})

	t.Run("a caller granted * sees everything, and unknown names are NOT_FOUND", func(t *testing.T) {
		res := call(t, gw.URL, everything, `{ environments { name } environment(name: "staging") { name } }`, nil)
		var data struct{ Environments []struct{ Name string } }
		res.resp.Decode(t, &data)
		names, _ := json.Marshal(data.Environments)
		if len(data.Environments) != 2 || len(res.resp.Errors) != 1 || res.resp.Errors[0].Code() != "NOT_FOUND" {
			t.Errorf("environments %s, errors %+v", names, res.resp.Errors)
		}
	})
}
