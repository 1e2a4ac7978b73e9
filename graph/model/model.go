// Package model holds the GraphQL types that are not bound to a type of
// another package: a publish job with its freshness, and the summary.
package model

import (
	"time"

	"github.com/publishgate/publishgate/upstream"
)

// PublishJob is an upstream job with how fresh this answer is.
type PublishJob struct {
	*upstream.Job
	// Freshness says how old the answer is and where it came from.
	Freshness Freshness
}

// Freshness says how old an answer is and where it came from.
type Freshness struct {
	FetchedAt  time.Time
	AgeSeconds float64
	FromCache  bool
	Stale      bool
}

// PublishSummary counts bots by publish state.
type PublishSummary struct {
	Total          int
	Successful     int
	Failed         int
	InProgress     int
	Unknown        int
	NeverPublished int
	Errors         int
}
