package cache

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/publishgate/publishgate/upstream"
)

// AppendEntry is appendEntry, for the benchmarks of package cache_test.
var AppendEntry = appendEntry

// DecodeEntry is decodeEntry, for the benchmarks of package cache_test.
var DecodeEntry = decodeEntry

// TypicalJob is typicalJob, for the benchmarks of package cache_test.
var TypicalJob = typicalJob

// typicalJob is a finished job of five resources, as Kore.ai reports one,
// last modified at t.
func typicalJob(id, streamID string, t time.Time) *upstream.Job {
	return &upstream.Job{
		ID: id, JobType: "PUBLISH_BOT", StreamID: streamID, Action: "RUN", CreatedBy: "u-1b2c3d4e",
		PercentageComplete: 100, Status: upstream.StateSuccessful, RawStatus: "successful", RequestedTime: &t, InitiatedOn: &t, LastModifiedOn: &t,
		StatusSummary: []upstream.ResourceStatus{
			{ResourceID: "SETTINGS", ResourceType: "SETTINGS", Name: "Bot Settings", Status: upstream.ResourceSuccess, RawStatus: "SUCCESS"},
			{ResourceID: "NL", ResourceType: "NL", Modules: []string{"ML", "FAQ"}, Status: upstream.ResourceSuccess, RawStatus: "SUCCESS"},
			{ResourceID: "CHANNELS", ResourceType: "CHANNELS", Modules: []string{"rtm"}, Status: upstream.ResourceSuccess, RawStatus: "success"},
			{ResourceID: "BOTLANGUAGES", ResourceType: "BOTLANGUAGES", Modules: []string{"en", "de"}, Status: upstream.ResourceSuccess, RawStatus: "SUCCESS"},
			{ResourceID: "AUTOVERSIONING", ResourceType: "AUTOVERSIONING", Status: upstream.ResourceSuccess, RawStatus: "SUCCESS"},
		},
	}
}

// codecJob is typicalJob with made-up identifiers.
func codecJob(t time.Time) *upstream.Job { return typicalJob("ds-00000001", "st-1", t) }

// decodedAs is what e decodes as: its times in UTC without a monotonic
// reading, its fetch time clamped to what the header holds.
func decodedAs(e Entry) Entry {
	n := e.FetchedAt.UnixNano()
	switch {
	case !e.FetchedAt.After(time.Unix(0, 0)):
		e.FetchedAt = time.Time{}
	case !time.Unix(0, n).Equal(e.FetchedAt):
		e.FetchedAt = time.Unix(0, math.MaxInt64).UTC()
	default:
		e.FetchedAt = e.FetchedAt.UTC()
	}
	if e.Job == nil {
		return e
	}
	j := *e.Job
	for _, p := range []**time.Time{&j.RequestedTime, &j.InitiatedOn, &j.LastModifiedOn} {
		if *p != nil {
			t := (*p).UTC()
			*p = &t
		}
	}
	e.Job = &j
	return e
}

// mustRoundTrip encodes e, decodes it, and checks that it came back.
func mustRoundTrip(tb testing.TB, e Entry) []byte {
	tb.Helper()
	raw := appendEntry(nil, e)
	if n := encodedLen(e); n != len(raw) {
		tb.Fatalf("encodedLen = %d, but the encoding takes %d bytes", n, len(raw))
	}
	got, err := decodeEntry(raw)
	if err != nil {
		tb.Fatalf("decodeEntry(appendEntry(%+v)): %v", e, err)
	}
	if want := decodedAs(e); !reflect.DeepEqual(got, want) {
		tb.Fatalf("round trip:\n got %s\nwant %s", dump(got), dump(want))
	}
	return raw
}

func dump(e Entry) string {
	b, _ := json.Marshal(e)
	return fmt.Sprintf("%s (modules %s)", b, modulesShape(e))
}

// modulesShape shows what JSON hides: nil and empty lists.
func modulesShape(e Entry) string {
	if e.Job == nil {
		return "no job"
	}
	if e.Job.StatusSummary == nil {
		return "summary nil"
	}
	var b strings.Builder
	for _, r := range e.Job.StatusSummary {
		if r.Modules == nil {
			b.WriteString("nil ")
		} else {
			fmt.Fprintf(&b, "%d ", len(r.Modules))
		}
	}
	return b.String()
}

func TestEntryRoundTripsThroughTheBinaryFormat(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 17, 2, 456789123, time.UTC)
	paris := time.FixedZone("CET", 3600)
	withJob := func(edit func(j *upstream.Job)) Entry {
		j := codecJob(at)
		edit(j)
		return Entry{FetchedAt: at, Job: j}
	}
	ptr := func(t time.Time) *time.Time { return &t }
	many := make([]upstream.ResourceStatus, 10_000)
	for i := range many {
		many[i] = upstream.ResourceStatus{ResourceID: fmt.Sprint("dialog-", i), ResourceType: "DIALOG", Modules: []string{fmt.Sprint(i)}, Status: upstream.ResourceInProgress, RawStatus: "inprogress"}
	}
	huge := strings.Repeat("x", 1<<20)
	tests := []struct {
		name string
		e    Entry
	}{
		{"a never-published bot", Entry{FetchedAt: at}},
		{"a job with every field", withJob(func(*upstream.Job) {})},
		{"a job without times", withJob(func(j *upstream.Job) { j.RequestedTime, j.InitiatedOn, j.LastModifiedOn = nil, nil, nil })},
		{"a job with one time", withJob(func(j *upstream.Job) { j.RequestedTime, j.InitiatedOn = nil, nil })},
		{"the zero job", Entry{FetchedAt: at, Job: &upstream.Job{}}},
		{"distinct times keep their nanoseconds", withJob(func(j *upstream.Job) {
			j.RequestedTime, j.InitiatedOn, j.LastModifiedOn = ptr(at.Add(-time.Hour)), ptr(at.Add(1)), ptr(time.Unix(0, 1))
		})},
		{"times in another zone come back in UTC", Entry{FetchedAt: at.In(paris), Job: &upstream.Job{LastModifiedOn: ptr(at.In(paris))}}},
		{"a monotonic fetch time loses its reading only", Entry{FetchedAt: time.Now()}},
		{"times before 1970", withJob(func(j *upstream.Job) { j.RequestedTime = ptr(time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)) })},
		{"times UnixNano cannot hold", withJob(func(j *upstream.Job) {
			j.RequestedTime, j.InitiatedOn, j.LastModifiedOn = ptr(time.Time{}), ptr(time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)), ptr(time.Date(1, 1, 1, 0, 0, 0, 1, paris))
		})},
		{"the zero fetch time", Entry{Job: codecJob(at)}},
		{"a fetch time before 1970 reads as the zero time", Entry{FetchedAt: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"a fetch time after 2262 is clamped", Entry{FetchedAt: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"every state", withJob(func(j *upstream.Job) {
			j.Status = upstream.StateInProgress
			states := []upstream.ResourceState{upstream.ResourceSuccess, upstream.ResourceFailed, upstream.ResourceInProgress, upstream.ResourceUnknown, ""}
			for i := range j.StatusSummary {
				j.StatusSummary[i].Status = states[i]
			}
		})},
		{"a failed job", withJob(func(j *upstream.Job) { j.Status, j.PercentageComplete = upstream.StateFailed, 40 })},
		{"an unknown job", withJob(func(j *upstream.Job) { j.Status = upstream.StateUnknown })},
		{"states outside the constants", withJob(func(j *upstream.Job) {
			j.Status = "successful"
			j.StatusSummary[0].Status = "PUBLISHED"
			j.StatusSummary[1].Status = upstream.ResourceState(huge)
		})},
		{"negative and extreme percentages", withJob(func(j *upstream.Job) { j.PercentageComplete = math.MinInt })},
		{"the largest percentage", withJob(func(j *upstream.Job) { j.PercentageComplete = math.MaxInt })},
		{"empty strings", withJob(func(j *upstream.Job) {
			j.ID, j.JobType, j.StreamID, j.Action, j.CreatedBy, j.RawStatus = "", "", "", "", "", ""
			j.StatusSummary[1] = upstream.ResourceStatus{Modules: []string{"", ""}}
		})},
		{"huge strings", withJob(func(j *upstream.Job) { j.ID, j.StatusSummary[1].Modules[0] = huge, huge })},
		{"unicode and bytes that are not UTF-8", withJob(func(j *upstream.Job) {
			j.CreatedBy, j.StatusSummary[0].Name, j.StatusSummary[1].Modules[0] = "Zoë 🤖 ボット", "\xff\xfe\x00", "naïve\u2028"
		})},
		{"many resources", withJob(func(j *upstream.Job) { j.StatusSummary = many })},
		{"a nil summary", withJob(func(j *upstream.Job) { j.StatusSummary = nil })},
		{"an empty summary", withJob(func(j *upstream.Job) { j.StatusSummary = []upstream.ResourceStatus{} })},
		{"nil and empty modules stay distinct", withJob(func(j *upstream.Job) {
			j.StatusSummary[0].Modules, j.StatusSummary[1].Modules = nil, []string{}
		})},
		{"only empty modules", withJob(func(j *upstream.Job) {
			for i := range j.StatusSummary {
				j.StatusSummary[i].Modules = []string{}
			}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { mustRoundTrip(t, tt.e) })
	}
}

func TestAppendEntryAppendsToItsBuffer(t *testing.T) {
	e := Entry{FetchedAt: time.Unix(0, 42), Job: codecJob(time.Unix(0, 42))}
	want := appendEntry(nil, e)
	got := appendEntry([]byte("prefix"), e)
	if string(got) != "prefix"+string(want) {
		t.Fatalf("appendEntry(prefix) = %q, want prefix%q", got, want)
	}
}

func TestDecodedEntryModulesDoNotShareCapacity(t *testing.T) {
	e, err := decodeEntry(appendEntry(nil, Entry{FetchedAt: time.Unix(1, 0), Job: codecJob(time.Unix(1, 0))}))
	if err != nil {
		t.Fatal(err)
	}
	rs := e.Job.StatusSummary
	_ = append(rs[1].Modules, "appended")
	if got := rs[2].Modules[0]; got != "rtm" {
		t.Fatalf("appending to one resource's modules changed the next one's to %q", got)
	}
}

func TestEntryHeaderHoldsTheFetchTime(t *testing.T) {
	tests := []struct {
		name   string
		at     time.Time
		digits string
	}{
		{"a fetch time", time.Date(2026, 3, 1, 10, 17, 2, 456789123, time.UTC), "1772360222456789123"},
		{"in another zone", time.Date(2026, 3, 1, 11, 17, 2, 456789123, time.FixedZone("CET", 3600)), "1772360222456789123"},
		{"one nanosecond after 1970", time.Unix(0, 1), "0000000000000000001"},
		{"1970 itself", time.Unix(0, 0), "0000000000000000000"},
		{"the zero time", time.Time{}, "0000000000000000000"},
		{"before 1970", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), "0000000000000000000"},
		{"the last nanosecond UnixNano holds", time.Unix(0, math.MaxInt64), "9223372036854775807"},
		{"after 2262", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), "9223372036854775807"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := appendEntry(nil, Entry{FetchedAt: tt.at, Job: codecJob(tt.at)})
			if head := string(raw[:entryHeaderLen]); head != "P"+tt.digits {
				t.Fatalf("header = %q, want %q", head, "P"+tt.digits)
			}
			// The header alone, whatever follows it.
			got, ok := entryFetchedAt(raw[:entryHeaderLen])
			if want := decodedAs(Entry{FetchedAt: tt.at}).FetchedAt; !ok || got != want {
				t.Fatalf("entryFetchedAt = %v, %v; want %v, true", got, ok, want)
			}
			// What the Lua script reads: tonumber(string.sub(v, 2, 17)), a
			// double, is the fetch time in whole microseconds.
			lua, err := strconv.ParseFloat(string(raw[1:17]), 64)
			if err != nil {
				t.Fatal(err)
			}
			if want := got.UnixMicro(); got.IsZero() && lua != 0 || !got.IsZero() && lua != float64(want) {
				t.Fatalf("Lua reads %.0f µs, want %d", lua, want)
			}
		})
	}
}

func TestEntryFetchedAtRejectsWhatIsNoHeader(t *testing.T) {
	for _, raw := range []string{"", "P", "P177236022245678912", `{"job":null,"at":"2026-03-01T10:00:00Z"}`, "Q1772360222456789123\x10",
		"P17723602224567891x3\x10", "P-772360222456789123\x10", "P9223372036854775808\x10", "P9999999999999999999\x10"} {
		if at, ok := entryFetchedAt([]byte(raw)); ok {
			t.Errorf("entryFetchedAt(%q) = %v, true; want false", raw, at)
		}
	}
}

func TestDecodeEntryRejectsWhatItDidNotWrite(t *testing.T) {
	head := "P1772360222456789123"
	job := string(appendEntry(nil, Entry{FetchedAt: time.Unix(0, 1772360222456789123), Job: codecJob(time.Unix(1, 0))}))
	// body is the job section of job, which starts with the times byte.
	body := job[entryHeaderLen+1:]
	tests := []struct {
		name string
		raw  string
	}{
		{"nothing", ""},
		{"JSON", `{"job":null,"at":"2026-03-01T10:00:00Z"}`},
		{"a header without a body", head},
		{"a newer version", head + "\x20"},
		{"version 0", head + "\x00"},
		{"an unknown flag", head + "\x12"},
		{"bytes after a never-published bot", head + "\x10\x00"},
		{"bytes after a job", job + "\x00"},
		{"a job with no body", head + "\x11"},
		{"an unknown time form", head + "\x11\x03" + body[1:]},
		{"unknown bits in the times byte", head + "\x11\x40" + body[1:]},
		{"an unknown state code", head + "\x11\x00\x06" + body[2:]},
		{"a varint past 64 bits", head + "\x11\x00\x01" + strings.Repeat("\xff", 10) + "\x01"},
		{"a string past the end", head + "\x11\x00\x01\x00\x7f" + "abc"},
		{"a string length past 64 bits", head + "\x11\x00\x01\x00" + strings.Repeat("\x80", 9) + "\x02"},
		{"a wide time with a second of nanoseconds", head + "\x11\x02\x01\x00\x00\x00\x00\x00\x00\x00" + "\x00" + string(binary.AppendUvarint(nil, 1e9)) + "\x00"},
		{"a wide time past what time holds", head + "\x11\x02\x01\x00\x00\x00\x00\x00\x00\x00" + string(binary.AppendVarint(nil, math.MaxInt64)) + "\x00\x00"},
		{"more resources than bytes", head + "\x11\x00\x01\x00\x00\x00\x00\x00\x00\x00" + string(binary.AppendUvarint(nil, 1<<40)) + "\x00"},
		{"more modules than bytes", head + "\x11\x00\x01\x00\x00\x00\x00\x00\x00\x00" + "\x02" + string(binary.AppendUvarint(nil, 1<<40)) + "\x00\x00\x00\x00\x00\x00"},
		{"a resource with more modules than the total", head + "\x11\x00\x01\x00\x00\x00\x00\x00\x00\x00" + "\x02\x01" + "\x00\x00\x00\x00\x00\x03\x01a\x01b"},
		{"fewer modules than the total", head + "\x11\x00\x01\x00\x00\x00\x00\x00\x00\x00" + "\x02\x02" + "\x00\x00\x00\x00\x00\x02\x01a\x00"},
		{"a percentage past 64 bits", head + "\x11\x00\x01" + strings.Repeat("\xff", 9) + "\x02"},
	}
	for i := entryHeaderLen; i < len(job); i++ {
		tests = append(tests, struct{ name, raw string }{fmt.Sprintf("cut at byte %d", i), job[:i]})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := decodeEntry([]byte(tt.raw))
			if !errors.Is(err, errBadEntry) {
				t.Fatalf("decodeEntry(%q) = %s, %v; want errBadEntry", tt.raw, dump(e), err)
			}
		})
	}
}

func TestDecodeEntryAllocatesAHandful(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 17, 2, 456e6, time.UTC)
	raw := appendEntry(nil, Entry{FetchedAt: at, Job: codecJob(at)})
	// The string of raw, the job and its times, the resources, their modules.
	const want = 4
	if got := testing.AllocsPerRun(100, func() {
		if _, err := decodeEntry(raw); err != nil {
			t.Fatal(err)
		}
	}); got > want {
		t.Fatalf("decodeEntry allocates %.0f times, want at most %d", got, want)
	}
}

// fuzzSource builds values from fuzz input; once the input runs out every
// value is zero.
type fuzzSource struct{ b []byte }

func (s *fuzzSource) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *fuzzSource) int64() int64 {
	var buf [8]byte
	n := copy(buf[:], s.b)
	s.b = s.b[n:]
	return int64(binary.LittleEndian.Uint64(buf[:]))
}

func (s *fuzzSource) str() string {
	n := min(int(s.byte()), len(s.b))
	str := string(s.b[:n])
	s.b = s.b[n:]
	return str
}

func (s *fuzzSource) time() *time.Time {
	var t time.Time
	switch s.byte() % 4 {
	case 0:
		return nil
	case 1:
		t = time.Unix(0, s.int64())
	case 2:
		t = time.Unix(s.int64()%(1<<50), s.int64()).In(time.FixedZone("", int(s.byte())*900))
	case 3:
		t = time.Time{}
	}
	return &t
}

func (s *fuzzSource) entry() Entry {
	flags := s.byte()
	e := Entry{FetchedAt: time.Unix(0, s.int64())}
	if flags&1 == 0 {
		return e
	}
	states := []upstream.State{"", upstream.StateSuccessful, upstream.StateFailed, upstream.StateInProgress, upstream.StateUnknown}
	pick := func() string {
		c := int(s.byte())
		if c < len(states) {
			return string(states[c])
		}
		return s.str()
	}
	j := &upstream.Job{Status: upstream.State(pick()), PercentageComplete: int(s.int64()), ID: s.str(), JobType: s.str(), StreamID: s.str(), Action: s.str(),
		CreatedBy: s.str(), RawStatus: s.str(), RequestedTime: s.time(), InitiatedOn: s.time(), LastModifiedOn: s.time()}
	if flags&2 != 0 {
		j.StatusSummary = make([]upstream.ResourceStatus, s.byte()%16)
	}
	for i := range j.StatusSummary {
		r := &j.StatusSummary[i]
		r.ResourceID, r.ResourceType, r.Name, r.RawStatus = s.str(), s.str(), s.str(), s.str()
		if r.Status = upstream.ResourceState(pick()); r.Status == upstream.ResourceState(upstream.StateSuccessful) {
			r.Status = upstream.ResourceSuccess
		}
		if n := s.byte() % 8; n > 0 {
			r.Modules = make([]string, n-1)
			for k := range r.Modules {
				r.Modules[k] = s.str()
			}
		}
	}
	e.Job = j
	return e
}

func FuzzDecodeEntry(f *testing.F) {
	at := time.Date(2026, 3, 1, 10, 17, 2, 456e6, time.UTC)
	f.Add(appendEntry(nil, Entry{FetchedAt: at, Job: codecJob(at)}))
	f.Add(appendEntry(nil, Entry{FetchedAt: at}))
	f.Add(appendEntry(nil, Entry{FetchedAt: at, Job: &upstream.Job{StatusSummary: []upstream.ResourceStatus{{Modules: []string{}}}}}))
	f.Add([]byte(`{"job":null,"at":"2026-03-01T10:00:00Z"}`))
	f.Add([]byte("\x03\x01\x02\x03\x04\x05\x06\x07\x08\x05\xff\x07"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Anything decodes without a panic, and what decodes encodes again.
		if e, err := decodeEntry(data); err == nil {
			mustRoundTrip(t, e)
			if at, ok := entryFetchedAt(data); !ok || at != e.FetchedAt {
				t.Fatalf("entryFetchedAt = %v, %v; decodeEntry read %v", at, ok, e.FetchedAt)
			}
		} else if !errors.Is(err, errBadEntry) {
			t.Fatalf("decodeEntry: %v, want errBadEntry", err)
		}
		// An entry built from the input comes back.
		src := fuzzSource{data}
		mustRoundTrip(t, src.entry())
	})
}
