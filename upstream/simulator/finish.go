package simulator

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// FinishPublish ends the current publish of the bot with that ID now, FAILED when failed is true
// (one resource FAILED, as a publish of a FailPublish bot ends) and SUCCESSFUL otherwise, as if
// Kore.ai had finished it early. A bot never published gets a job that ends the same way at once.
// The bot's configuration is unchanged: its next publish ends as configured. It returns
// ErrUnknownBot if no account has that bot.
func (s *Simulator) FinishPublish(botID string, failed bool) error {
	bs, ok := s.bots[botID]
	if !ok {
		return fmt.Errorf("finish publish of %q: %w", botID, ErrUnknownBot)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, b := range bs {
		s.advance(b, now)
		if b.job == nil {
			s.startPublish(b, now, "Published from the simulator")
		}
		j := b.job
		if j.percent(now) < 100 {
			j.origin = now.Add(-j.duration)
		}
		j.fail = failed
		if b.cfg.Republish > 0 {
			j.next = now.Add(b.cfg.Republish)
		}
	}
	return nil
}

// Held returns how many requests a Hang fault holds open right now: tests use it to see that a
// hanging host's requests are still in flight when something else happens.
func (s *Simulator) Held() int64 { return s.stats.held.Load() }

// serveFinish serves POST /_simulator/finish/{botId}?outcome=failed|successful.
func (s *Simulator) serveFinish(w http.ResponseWriter, r *http.Request, sub string) {
	id, err := url.PathUnescape(strings.TrimPrefix(sub, "/finish/"))
	var failed bool
	switch o := r.URL.Query().Get("outcome"); o {
	case "failed":
		failed = true
	case "successful", "":
	default:
		controlError(w, badRequest(fmt.Sprintf("outcome: want failed or successful, got %q", o)))
		return
	}
	if err == nil {
		err = s.FinishPublish(id, failed)
	}
	if err != nil {
		controlError(w, &apiError{status: 404, msg: err.Error(), code: 404})
		return
	}
	s.logger.Info("publish finished over HTTP", "bot", id, "failed", failed)
	w.WriteHeader(http.StatusNoContent)
}
