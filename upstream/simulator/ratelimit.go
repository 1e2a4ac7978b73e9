package simulator

import (
	"sort"
	"time"
)

// Kore.ai's rolling windows (SPEC §1.1): 60 requests a minute and 1,800 an hour in the cloud.
const (
	minuteWindow = time.Minute
	hourWindow   = time.Hour
)

// window is a sliding log of the times requests were let through, oldest first, kept for an hour.
// A refused request is not logged: a client that keeps polling past the limit must still see the
// window roll, as it does upstream.
type window struct {
	hits []time.Time
}

// allow reports whether one more request fits both limits at now (0 = no limit) and logs it if so.
// When it does not fit, retry is how long until the oldest request blocking it leaves its window.
func (w *window) allow(now time.Time, perMinute, perHour int) (ok bool, retry time.Duration) {
	if perMinute <= 0 && perHour <= 0 {
		return true, 0
	}
	// A hit at h counts while now-h < window.
	drop := sort.Search(len(w.hits), func(i int) bool { return now.Sub(w.hits[i]) < hourWindow })
	w.hits = w.hits[drop:]
	if perHour > 0 && len(w.hits) >= perHour {
		retry = max(retry, w.hits[len(w.hits)-perHour].Add(hourWindow).Sub(now))
	}
	if perMinute > 0 {
		inMinute := len(w.hits) - sort.Search(len(w.hits), func(i int) bool { return now.Sub(w.hits[i]) < minuteWindow })
		if inMinute >= perMinute {
			retry = max(retry, w.hits[len(w.hits)-perMinute].Add(minuteWindow).Sub(now))
		}
	}
	if retry > 0 {
		return false, retry
	}
	w.hits = append(w.hits, now)
	return true, 0
}

// admitBot answers for a route about bot b (nil when the app's account does not have it): 400 for
// a missing bot, then 429 past the bot's limit for that route; status and publish are counted in
// windows of their own. It returns false when it has answered.
func (s *Simulator) admitBot(x *exchange, b *botState) bool {
	if b == nil {
		x.fail(invalidStreamID())
		return false
	}
	s.mu.Lock()
	w := &b.statusHits
	if x.route.kind == routePublish {
		w = &b.publishHits
	}
	e := limited(w.allow(s.now(), s.perMinute, s.perHour))
	s.mu.Unlock()
	if e != nil {
		x.fail(e)
		return false
	}
	return true
}

// allowList applies the per-account limit of admin APIs such as Get Bots.
func (s *Simulator) allowList(a *account) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return limited(a.listHits.allow(s.now(), s.perMinute, s.perHour))
}

func limited(ok bool, retry time.Duration) *apiError {
	if ok {
		return nil
	}
	// Never advertise 0: a client honouring it would retry at once and be refused again.
	return tooManyRequests(max(retry, time.Second))
}
