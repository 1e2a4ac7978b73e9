package upstream

import (
	"errors"
	"slices"
	"testing"
)

func TestDecodeJob(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		wantErr error
		check   func(*testing.T, *Job)
	}{
		{name: "empty object is never published", body: `{}`, wantErr: ErrNeverPublished},
		{name: "array is a bad response", body: `[]`, wantErr: ErrBadResponse},
		{name: "truncated JSON is a bad response", body: `{"_id": "ds-1", "status": `, wantErr: ErrBadResponse},
		{name: "non-numeric percentage is a bad response", body: `{"_id":"ds-1","status":"successful","percentageComplete":"lots"}`, wantErr: ErrBadResponse},
		{
			name: "unknown fields are ignored and upper-case status parsed",
			body: `{"_id":"ds-1","jobType":"PUBLISH_BOT","streamId":"st-1","status":"INPROGRESS","percentageComplete":42.4,"newField":{"x":1},"__v":0,"statusSummary":[]}`,
			check: func(t *testing.T, j *Job) {
				if j.Status != StateInProgress || j.RawStatus != "INPROGRESS" || j.PercentageComplete != 42 {
					t.Fatalf("%+v", j)
				}
			},
		},
		{
			name: "modules in list and object form",
			body: `{"_id":"ds-1","status":"successful","statusSummary":[
				{"resourceId":"a","resourceType":"NL","modules":["ml","faq"],"status":"success"},
				{"resourceId":"b","resourceType":"BOTLANGUAGES","modules":{"enabledLanguages":["en","de"]},"status":"SUCCESS"},
				{"resourceId":"c","resourceType":"dialog","modules":7,"status":"awaitingApproval","result":{"huge":"dialog"}}]}`,
			check: func(t *testing.T, j *Job) {
				if !slices.Equal(j.StatusSummary[0].Modules, []string{"ml", "faq"}) {
					t.Fatalf("list modules %v", j.StatusSummary[0].Modules)
				}
				if !slices.Equal(j.StatusSummary[1].Modules, []string{"enabledLanguages:en", "enabledLanguages:de"}) {
					t.Fatalf("object modules %v", j.StatusSummary[1].Modules)
				}
				if j.StatusSummary[2].Modules != nil || j.StatusSummary[2].Status != ResourceUnknown || j.StatusSummary[2].RawStatus != "awaitingApproval" {
					t.Fatalf("odd resource %+v", j.StatusSummary[2])
				}
				if j.StatusSummary[0].Status != ResourceSuccess || j.StatusSummary[1].Status != ResourceSuccess {
					t.Fatalf("resource states %+v", j.StatusSummary)
				}
			},
		},
		{
			name: "missing, odd and epoch times",
			body: `{"_id":"ds-1","status":"failed","requestedTime":"2026-11-20T10:11:12.345Z","initiatedOn":1763633472000,"lastModifiedOn":"yesterday"}`,
			check: func(t *testing.T, j *Job) {
				if j.RequestedTime == nil || j.RequestedTime.Nanosecond() != 345e6 {
					t.Fatalf("requestedTime %v", j.RequestedTime)
				}
				if j.InitiatedOn == nil || j.InitiatedOn.Year() != 2025 {
					t.Fatalf("initiatedOn %v", j.InitiatedOn)
				}
				if j.LastModifiedOn != nil {
					t.Fatalf("lastModifiedOn %v, want nil", j.LastModifiedOn)
				}
				if j.Status != StateFailed || j.JobType != "PUBLISH_BOT" {
					t.Fatalf("%+v", j)
				}
			},
		},
		{
			name: "unrecognised status is UNKNOWN with the raw text kept",
			body: `{"_id":"ds-1","status":"Exploded"}`,
			check: func(t *testing.T, j *Job) {
				if j.Status != StateUnknown || j.RawStatus != "Exploded" {
					t.Fatalf("%+v", j)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j, err := DecodeJob([]byte(tc.body))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, j)
		})
	}
}

func TestParseStateIsCaseInsensitive(t *testing.T) {
	for raw, want := range map[string]State{
		"successful": StateSuccessful, "SUCCESSFUL": StateSuccessful, "Successful": StateSuccessful,
		"failed": StateFailed, "FAILED": StateFailed,
		"inprogress": StateInProgress, "INPROGRESS": StateInProgress, "in_progress": StateInProgress,
		"": StateUnknown, "weird": StateUnknown,
	} {
		if got := ParseState(raw); got != want {
			t.Errorf("ParseState(%q) = %s, want %s", raw, got, want)
		}
	}
}

func TestBotIDValidator(t *testing.T) {
	good := "st-0f8fad5b-d9cb-469f-a165-70867728950e"
	cases := map[string]bool{
		good: true,
		"st-0F8FAD5B-D9CB-469F-A165-70867728950E": true,
		"":                 false,
		"../../bots":       false,
		"st-x/../../admin": false,
		"%2e%2e%2f":        false,
		"st-0f8fad5b-d9cb-469f-a165-70867728950e\r\nHost: evil": false,
		"st-0f8fad5b-d9cb-469f-a165-70867728950e/":              false,
		"st-0f8fad5b-d9cb-469f-a165-7086772895０e":               false, // full-width digit
		"ѕt-0f8fad5b-d9cb-469f-a165-70867728950e":               false, // Cyrillic s
		"st-0f8fad5b-d9cb-469f-a165-70867728950":                false,
	}
	v, _ := NewBotIDValidator("")
	for id, want := range cases {
		if got := v.Valid(id); got != want {
			t.Errorf("Valid(%q) = %v, want %v", id, got, want)
		}
	}
	loose, err := NewBotIDValidator(`^st-.+$`)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"st-a/b", "st-a%2fb", "st-a?b", "st-a b", "st-..", "st-" + string(make([]byte, 200))} {
		if loose.Valid(id) {
			t.Errorf("a loose pattern let %q through", id)
		}
	}
}

func FuzzStatusURLStaysOnHost(f *testing.F) {
	for _, s := range []string{"st-0f8fad5b-d9cb-469f-a165-70867728950e", "../../x", "%2e%2e", "a\r\nb", "st-x/../../admin"} {
		f.Add(s)
	}
	c, err := New("https://bots.kore.ai", Credentials{Token: "t"}, WithBotIDValidator(BotIDValidator{}))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !c.ValidBotID(id) {
			return
		}
		u := c.StatusURL(id)
		const prefix = "https://bots.kore.ai/api/public/bot/"
		if len(u) < len(prefix) || u[:len(prefix)] != prefix {
			t.Fatalf("URL %q left the configured host and path", u)
		}
		rest := u[len(prefix):]
		if rest != id+"/publish/status" {
			t.Fatalf("URL %q: bot segment altered", u)
		}
	})
}

func FuzzKoreBotIDMatchesThePattern(f *testing.F) {
	for _, s := range []string{"st-0f8fad5b-d9cb-469f-a165-70867728950e", "st-0F8FAD5B-D9CB-469F-A165-70867728950E", "st-x", "", "st-0f8fad5b-d9cb-469f-a165-70867728950g"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := isKoreBotID(id), defaultBotID.MatchString(id); got != want {
			t.Fatalf("isKoreBotID(%q) = %v, the pattern says %v", id, got, want)
		}
	})
}
