package upstream

import (
	"fmt"
	"strings"
	"testing"
)

// publishStatusBody is a realistic publish-status answer (SPEC §1, §1.1):
// mixed-case statuses, BOTLANGUAGES modules as an object, an unknown field,
// and n dialog tasks besides the usual resources.
func publishStatusBody(dialogs int) []byte {
	var b strings.Builder
	b.WriteString(`{"_id":"ds-5f1c2a9e-0d3b-4c8e-9a51-7b2f6d4e8c10","jobType":"PUBLISH_BOT","streamId":"st-0f8fad5b-d9cb-469f-a165-70867728950e",` +
		`"__v":0,"action":"RUN","createdBy":"u-1b2c3d4e","percentageComplete":100,"requestedTime":"2026-03-01T10:15:30.123Z",` +
		`"initiatedOn":"2026-03-01T10:15:31.000Z","lastModifiedOn":"2026-03-01T10:17:02.456Z","status":"successful","countOfDockStatuses":6,` +
		`"futureField":{"nested":[1,2,3]},"statusSummary":[` +
		`{"resourceId":"SETTINGS","resourceType":"SETTINGS","name":"Bot Settings","status":"SUCCESS"},` +
		`{"resourceId":"NL","resourceType":"NL","name":"NL model","modules":["ML","FAQ","KG"],"status":"SUCCESS"},` +
		`{"resourceId":"CHANNELS","resourceType":"CHANNELS","modules":["rtm","msteams"],"status":"success"},` +
		`{"resourceId":"BOTLANGUAGES","resourceType":"BOTLANGUAGES","modules":{"enabledLanguages":["en","de"]},"status":"SUCCESS"},` +
		`{"resourceId":"AUTOVERSIONING","resourceType":"AUTOVERSIONING","status":"SUCCESS"}`)
	for i := range dialogs {
		fmt.Fprintf(&b, `,{"resourceId":"dg-%04d","resourceType":"dialog","name":"Dialog %d","status":"SUCCESS","resourceVersion":"1.%d"}`, i, i, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// BenchmarkDecodeJob decodes one upstream answer, as every cold lookup does.
func BenchmarkDecodeJob(b *testing.B) {
	for _, dialogs := range []int{0, 20} {
		body := publishStatusBody(dialogs)
		b.Run(fmt.Sprintf("dialogs=%d", dialogs), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := DecodeJob(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// normaliseStatusReference is the first implementation of normaliseStatus,
// which built a strings.Replacer on every call (86% of the bytes DecodeJob
// allocated, BENCHMARKS.md): the one-pass version must agree with it.
func normaliseStatusReference(raw string) string {
	s := strings.ToLower(strings.TrimSpace(raw))
	return strings.NewReplacer("_", "", " ", "", "-", "").Replace(s)
}

// BenchmarkNormaliseStatus compares the status normalisation DecodeJob runs
// once per job and once per resource with the first implementation.
func BenchmarkNormaliseStatus(b *testing.B) {
	inputs := []string{"successful", "SUCCESSFUL", "inprogress", "IN_PROGRESS", "In Progress", "failed", "SUCCESS", " awaiting-Approval ", "Ünknown"}
	for _, in := range inputs {
		if got, want := normaliseStatus(in), normaliseStatusReference(in); got != want {
			b.Fatalf("normaliseStatus(%q) = %q, the reference %q", in, got, want)
		}
	}
	for _, impl := range []struct {
		name string
		f    func(string) string
	}{{"first", normaliseStatusReference}, {"one-pass", normaliseStatus}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, in := range inputs[:7] {
					_ = impl.f(in)
				}
			}
		})
	}
}

func TestNormaliseStatusAgreesWithTheReference(t *testing.T) {
	for _, in := range []string{"", "successful", "SUCCESSFUL", "inprogress", "IN_PROGRESS", "In Progress", "in-progress",
		" failed ", "SUCCESS", " awaiting-Approval ", "Ünknown", "ÉCHEC_TOTAL", "\tqueued\n", "a_b c-d"} {
		if got, want := normaliseStatus(in), normaliseStatusReference(in); got != want {
			t.Errorf("normaliseStatus(%q) = %q, the reference %q", in, got, want)
		}
	}
}
