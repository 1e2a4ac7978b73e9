package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// controlPrefix starts the routes that drive the simulator; they are never counted in Stats.
const controlPrefix = "/_simulator"

// maxControlBody caps what the simulator reads of a control request.
const maxControlBody = 1 << 20

// FaultSet is every fault at once: the body of GET and PUT /_simulator/faults.
type FaultSet struct {
	Global   *Fault           `json:"global,omitempty"`   // nil: unchanged by SetFaults
	Accounts map[string]Fault `json:"accounts,omitempty"` // by client ID
	Bots     map[string]Fault `json:"bots,omitempty"`     // by bot ID
}

// RateLimitsJSON is the body of GET and PUT /_simulator/ratelimits; 0 = off.
type RateLimitsJSON struct {
	PerMinute int `json:"perMinute"`
	PerHour   int `json:"perHour"`
}

// Faults returns the faults in force: the global one and every non-zero account and bot fault.
func (s *Simulator) Faults() FaultSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.global
	out := FaultSet{Global: &g, Accounts: map[string]Fault{}, Bots: map[string]Fault{}}
	for _, a := range s.order {
		if !a.fault.IsZero() {
			out.Accounts[a.cfg.ClientID] = a.fault
		}
		for _, b := range a.list {
			if !b.fault.IsZero() {
				out.Bots[b.cfg.ID] = b.fault
			}
		}
	}
	return out
}

// SetFaults sets the global fault when fs.Global is not nil, and the fault of every account and
// bot fs names (a zero Fault removes one); faults it does not name are unchanged. If any client
// or bot ID is unknown it changes nothing and returns every problem, wrapping ErrUnknownApp or
// ErrUnknownBot.
func (s *Simulator) SetFaults(fs FaultSet) error {
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(fs.Accounts)) {
		if _, ok := s.accounts[id]; !ok {
			errs = append(errs, fmt.Errorf("accounts: %q: %w", id, ErrUnknownApp))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(fs.Bots)) {
		if _, ok := s.bots[id]; !ok {
			errs = append(errs, fmt.Errorf("bots: %q: %w", id, ErrUnknownBot))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if fs.Global != nil {
		s.global = *fs.Global
	}
	for id, f := range fs.Accounts {
		s.accounts[id].fault = f
	}
	for id, f := range fs.Bots {
		for _, b := range s.bots[id] {
			b.fault = f
		}
	}
	return nil
}

// serveControl serves /_simulator/{sub}.
func (s *Simulator) serveControl(w http.ResponseWriter, r *http.Request, sub string) {
	allow := func(methods ...string) bool {
		for _, m := range methods {
			if r.Method == m {
				return true
			}
		}
		w.Header().Set("Allow", strings.Join(methods, ", "))
		controlError(w, methodNotAllowed())
		return false
	}
	switch {
	case sub == "/stats":
		if allow(http.MethodGet) {
			controlJSON(w, s.Stats())
		}
	case sub == "/reset":
		if allow(http.MethodPost) {
			s.Reset()
			w.WriteHeader(http.StatusNoContent)
		}
	case sub == "/faults":
		if !allow(http.MethodGet, http.MethodPut) {
			return
		}
		if r.Method == http.MethodPut {
			var fs FaultSet
			if !decodeControl(w, r, &fs) {
				return
			}
			if err := s.SetFaults(fs); err != nil {
				controlError(w, badRequest(err.Error()))
				return
			}
			s.logger.Info("faults changed over HTTP", "global", fs.Global != nil, "accounts", len(fs.Accounts), "bots", len(fs.Bots))
		}
		controlJSON(w, s.Faults())
	case sub == "/ratelimits":
		if !allow(http.MethodGet, http.MethodPut) {
			return
		}
		if r.Method == http.MethodPut {
			var in RateLimitsJSON
			if !decodeControl(w, r, &in) {
				return
			}
			if in.PerMinute < 0 || in.PerHour < 0 {
				controlError(w, badRequest("perMinute and perHour must not be negative"))
				return
			}
			s.SetRateLimits(in.PerMinute, in.PerHour)
			s.logger.Info("rate limits changed over HTTP", "perMinute", in.PerMinute, "perHour", in.PerHour)
		}
		m, h := s.RateLimits()
		controlJSON(w, RateLimitsJSON{PerMinute: m, PerHour: h})
	case strings.HasPrefix(sub, "/publish/"):
		if !allow(http.MethodPost) {
			return
		}
		id, err := url.PathUnescape(strings.TrimPrefix(sub, "/publish/"))
		if err == nil {
			err = s.StartPublish(id)
		}
		if err != nil {
			controlError(w, &apiError{status: 404, msg: err.Error(), code: 404})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(sub, "/finish/"):
		if allow(http.MethodPost) {
			s.serveFinish(w, r, sub)
		}
	default:
		controlError(w, notFound())
	}
}

// decodeControl reads a control body strictly: unknown fields are refused so a typo is not
// silently ignored.
func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxControlBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		controlError(w, badRequest("invalid body: "+err.Error()))
		return false
	}
	return true
}

func controlJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v) // only our own types: cannot fail but for a gone client
}

func controlError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(errorsJSON{Errors: []errorJSON{{Msg: e.msg, Code: e.code}}})
}
