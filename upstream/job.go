package upstream

import (
	"strings"
	"time"
	"unicode"
)

// State is the normalised state of a publish job.
type State string

// The publish job states. Kore.ai documents both lower- and upper-case
// spellings; anything else maps to StateUnknown.
const (
	StateSuccessful State = "SUCCESSFUL"
	StateFailed     State = "FAILED"
	StateInProgress State = "INPROGRESS"
	StateUnknown    State = "UNKNOWN"
)

// ParseState maps a raw upstream status to a State, case-insensitively.
// Kore.ai writes "inprogress"; "in_progress" and "in progress" are accepted too.
func ParseState(raw string) State {
	switch normaliseStatus(raw) {
	case "successful", "success", "succeeded", "completed":
		return StateSuccessful
	case "failed", "failure", "error":
		return StateFailed
	case "inprogress", "running", "pending", "queued":
		return StateInProgress
	default:
		return StateUnknown
	}
}

// ResourceState is the normalised state of one resource within a publish job.
type ResourceState string

// The resource states.
const (
	ResourceSuccess    ResourceState = "SUCCESS"
	ResourceFailed     ResourceState = "FAILED"
	ResourceInProgress ResourceState = "INPROGRESS"
	ResourceUnknown    ResourceState = "UNKNOWN"
)

// ParseResourceState maps a raw upstream resource status to a ResourceState,
// case-insensitively.
func ParseResourceState(raw string) ResourceState {
	switch normaliseStatus(raw) {
	case "success", "successful", "succeeded", "completed", "published":
		return ResourceSuccess
	case "failed", "failure", "error":
		return ResourceFailed
	case "inprogress", "running", "pending", "queued":
		return ResourceInProgress
	default:
		return ResourceUnknown
	}
}

func normaliseStatus(raw string) string {
	// One pass, no allocation for the usual lower-case values (this runs
	// for every job and resource decoded).
	return strings.Map(func(r rune) rune {
		switch r {
		case '_', ' ', '-':
			return -1
		}
		return unicode.ToLower(r)
	}, strings.TrimSpace(raw))
}

// Job is one publish job of a bot as Kore.ai reports it: the one in progress
// or the last one completed. The JSON tags define the cache encoding, not the
// upstream wire format (see decode.go).
type Job struct {
	ID                 string           `json:"id"`
	JobType            string           `json:"jobType"`
	StreamID           string           `json:"streamId"`
	Action             string           `json:"action,omitempty"`
	CreatedBy          string           `json:"createdBy,omitempty"`
	PercentageComplete int              `json:"pct"`
	Status             State            `json:"status"`
	RawStatus          string           `json:"rawStatus"`
	RequestedTime      *time.Time       `json:"requestedTime,omitempty"`
	InitiatedOn        *time.Time       `json:"initiatedOn,omitempty"`
	LastModifiedOn     *time.Time       `json:"lastModifiedOn,omitempty"`
	StatusSummary      []ResourceStatus `json:"statusSummary"`
}

// ResourceStatus is the publish state of one resource (settings, NL model,
// channels, a dialog task...) within a job.
type ResourceStatus struct {
	ResourceID   string        `json:"resourceId"`
	ResourceType string        `json:"resourceType"`
	Name         string        `json:"name,omitempty"`
	Modules      []string      `json:"modules,omitempty"`
	Status       ResourceState `json:"status"`
	RawStatus    string        `json:"rawStatus"`
}
