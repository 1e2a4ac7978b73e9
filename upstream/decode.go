package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// wireJob is the upstream JSON of a publish job. Every field is optional and
// unknown fields are ignored: the platform adds fields across versions.
type wireJob struct {
	ID                 string          `json:"_id"`
	JobType            string          `json:"jobType"`
	StreamID           string          `json:"streamId"`
	Action             string          `json:"action"`
	CreatedBy          string          `json:"createdBy"`
	PercentageComplete json.RawMessage `json:"percentageComplete"`
	Status             string          `json:"status"`
	RequestedTime      looseString     `json:"requestedTime"`
	InitiatedOn        looseString     `json:"initiatedOn"`
	LastModifiedOn     looseString     `json:"lastModifiedOn"`
	StatusSummary      []wireResource  `json:"statusSummary"`
}

type wireResource struct {
	ResourceID   string          `json:"resourceId"`
	ResourceType string          `json:"resourceType"`
	Name         string          `json:"name"`
	Modules      json.RawMessage `json:"modules"`
	Status       string          `json:"status"`
}

// DecodeJob decodes the body of a 200 publish-status answer. An empty object
// means the bot was never published and yields ErrNeverPublished; a body that
// is not a JSON object yields an error wrapping ErrBadResponse.
func DecodeJob(body []byte) (*Job, error) {
	var w wireJob
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, &Error{Kind: ErrBadResponse, StatusCode: 200, Err: fmt.Errorf("decode publish job: %w", err)}
	}
	if w.ID == "" && w.Status == "" && w.JobType == "" && len(w.StatusSummary) == 0 {
		if t := bytes.TrimSpace(body); !bytes.HasPrefix(t, []byte("{")) {
			return nil, &Error{Kind: ErrBadResponse, StatusCode: 200, Err: fmt.Errorf("decode publish job: not an object")}
		}
		return nil, ErrNeverPublished
	}
	pct, err := decodePercentage(w.PercentageComplete)
	if err != nil {
		return nil, &Error{Kind: ErrBadResponse, StatusCode: 200, Err: err}
	}
	job := &Job{
		ID:                 w.ID,
		JobType:            w.JobType,
		StreamID:           w.StreamID,
		Action:             w.Action,
		CreatedBy:          w.CreatedBy,
		PercentageComplete: pct,
		Status:             ParseState(w.Status),
		RawStatus:          w.Status,
		RequestedTime:      parseTime(string(w.RequestedTime)),
		InitiatedOn:        parseTime(string(w.InitiatedOn)),
		LastModifiedOn:     parseTime(string(w.LastModifiedOn)),
		StatusSummary:      make([]ResourceStatus, 0, len(w.StatusSummary)),
	}
	if job.JobType == "" {
		job.JobType = "PUBLISH_BOT"
	}
	for _, r := range w.StatusSummary {
		job.StatusSummary = append(job.StatusSummary, ResourceStatus{
			ResourceID:   r.ResourceID,
			ResourceType: r.ResourceType,
			Name:         r.Name,
			Modules:      decodeModules(r.Modules),
			Status:       ParseResourceState(r.Status),
			RawStatus:    r.Status,
		})
	}
	return job, nil
}

// looseString decodes a JSON string, number or null into its text, so that a
// time sent as epoch milliseconds does not fail the whole job.
type looseString string

// UnmarshalJSON implements json.Unmarshaler.
func (l *looseString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*l = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = looseString(s)
	default:
		*l = looseString(b)
	}
	return nil
}

// decodePercentage accepts a number or a numeric string and clamps to 0–100.
func decodePercentage(raw json.RawMessage) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	s := strings.Trim(string(raw), `"`)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		return 0, fmt.Errorf("decode publish job: percentageComplete %s is not a number", raw)
	}
	return int(math.Round(math.Max(0, math.Min(100, f)))), nil
}

// decodeModules accepts the documented list of strings and the object form
// that BOTLANGUAGES uses ({"enabledLanguages": ["en"]}), flattening the latter
// to "key:value" entries in key order. Anything else yields no modules rather
// than failing the whole job.
func decodeModules(raw json.RawMessage) []string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '[':
		if out, ok := plainStrings(raw); ok {
			return out
		}
		var items []any
		if json.Unmarshal(raw, &items) != nil {
			return nil
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			out = append(out, scalarStrings(it)...)
		}
		return out
	case '{':
		var obj map[string]any
		if json.Unmarshal(raw, &obj) != nil {
			return nil
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			vals := scalarStrings(obj[k])
			if len(vals) == 0 {
				out = append(out, k)
			}
			for _, v := range vals {
				out = append(out, k+":"+v)
			}
		}
		return out
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil || s == "" {
			return nil
		}
		return []string{s}
	}
	return nil
}

// plainStrings decodes the usual modules, a JSON array of strings without
// escapes, without reflection: what decodeModules' general path gives for
// it, at a fraction of the allocations (it was a quarter of a cold query's).
// ok is false for anything else (escapes, other values, invalid UTF-8 or
// JSON), which the general path then decodes.
func plainStrings(raw []byte) (out []string, ok bool) {
	i := skipSpace(raw, 1)
	if i < len(raw) && raw[i] == ']' {
		return []string{}, skipSpace(raw, i+1) == len(raw)
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return nil, false
		}
		end := i + 1
		for end < len(raw) && raw[end] != '"' {
			if c := raw[end]; c == '\\' || c < 0x20 {
				return nil, false
			}
			end++
		}
		if end >= len(raw) || !utf8.Valid(raw[i+1:end]) {
			return nil, false
		}
		out = append(out, string(raw[i+1:end]))
		i = skipSpace(raw, end+1)
		if i >= len(raw) {
			return nil, false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case ']':
			return out, skipSpace(raw, i+1) == len(raw)
		default:
			return nil, false
		}
	}
}

// skipSpace returns the index of the first byte of raw at or after i that
// is not JSON white space.
func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

func scalarStrings(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case float64:
		return []string{strconv.FormatFloat(t, 'f', -1, 64)}
	case bool:
		return []string{strconv.FormatBool(t)}
	case []any:
		var out []string
		for _, e := range t {
			out = append(out, scalarStrings(e)...)
		}
		return out
	}
	return nil
}

// parseTime accepts ISO-8601 UTC times with or without fractional seconds and
// epoch milliseconds; anything else is treated as absent.
func parseTime(s string) *time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t
		}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms > 0 {
		t := time.UnixMilli(ms).UTC()
		return &t
	}
	return nil
}
