package model

import "github.com/publishgate/publishgate/catalog"

// PublishStatusEvent is one event of Subscription.publishStatusChanged: a
// bot and its job, or the error reading it (reported at the event's job).
type PublishStatusEvent struct {
	Bot *catalog.Bot
	Job *PublishJob
	// Err is why the job could not be read; nil otherwise.
	Err error
}
