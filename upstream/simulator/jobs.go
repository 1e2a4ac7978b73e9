package simulator

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// jobNamespace seeds the deterministic IDs of jobs, dialogs and users
// (0b7d3c8e-5a41-4f6e-9d2a-7c1e8f3b6a95).
var jobNamespace = uuid.UUID{0x0b, 0x7d, 0x3c, 0x8e, 0x5a, 0x41, 0x4f, 0x6e, 0x9d, 0x2a, 0x7c, 0x1e, 0x8f, 0x3b, 0x6a, 0x95}

// isoMillis is how Kore.ai writes times: ISO-8601, UTC, milliseconds ("2022-07-29T08:04:48.731Z").
const isoMillis = "2006-01-02T15:04:05.000Z"

// botState is a Bot plus what the simulator knows of it.
type botState struct {
	cfg       Bot
	acct      *account
	resources []resource // what a publish of this bot processes, in order

	// guarded by Simulator.mu
	job         *job // nil = never published
	fault       Fault
	statusHits  window
	publishHits window
}

// job is one publish. Its progress is a function of the clock: origin is when it was at 0%.
type job struct {
	id       string
	origin   time.Time
	duration time.Duration
	fail     bool
	comment  string
	next     time.Time // when Republish starts the next job; zero = never
}

// resource is one entry of a publish's statusSummary.
type resource struct {
	id, typ, name string
	modules       any    // []string, or an object for BOTLANGUAGES (SPEC §1.1)
	version       string // resourceVersion, dialogs only
	dialog        bool
}

func (s *Simulator) installAccount(cfg Account, start time.Time) {
	a, merged := s.accounts[cfg.ClientID]
	if merged {
		s.logger.Warn("accounts share a client ID: bots merged into the first",
			"account", a.cfg.Name, "merged", cfg.Name)
	} else {
		a = &account{
			cfg:     cfg,
			bots:    map[string]*botState{},
			userID:  "u-" + uuid.NewSHA1(jobNamespace, []byte("user/"+cfg.ClientID)).String(),
			seenJTI: map[string]time.Time{},
		}
		if cfg.Scopes != nil {
			a.scopes = map[Scope]bool{}
			for _, sc := range cfg.Scopes {
				a.scopes[sc] = true
			}
		}
		if cfg.Fault != nil {
			a.fault = *cfg.Fault
		}
		s.accounts[cfg.ClientID] = a
		s.order = append(s.order, a)
	}
	for _, b := range cfg.Bots {
		if _, dup := a.bots[b.ID]; dup {
			s.logger.Warn("bot listed twice in one account: first kept", "account", a.cfg.Name, "bot", b.ID)
			continue
		}
		bs := &botState{cfg: b, acct: a, resources: resourcesOf(b)}
		if b.Fault != nil {
			bs.fault = *b.Fault
		}
		bs.job = s.initialJob(b, start)
		a.bots[b.ID] = bs
		a.list = append(a.list, bs)
		s.bots[b.ID] = append(s.bots[b.ID], bs)
	}
}

func (b Bot) duration() time.Duration {
	if b.PublishDuration > 0 {
		return b.PublishDuration
	}
	return DefaultPublishDuration
}

// initialJob builds the job a bot has when the simulator starts.
func (s *Simulator) initialJob(b Bot, start time.Time) *job {
	d := b.duration()
	switch b.State {
	case StateSuccessful, StateFailed:
		// Finished some minutes to hours ago, the same age on every run.
		age := time.Duration(5+hash(b.ID)%600) * time.Minute
		j := s.newJob(b, start.Add(-age-d), "Scheduled release")
		j.fail = b.State == StateFailed
		j.next = time.Time{}
		if b.Republish > 0 {
			j.next = start.Add(b.Republish)
		}
		return j
	case StateInProgress:
		pct := min(max(b.Percentage, 0), 99)
		return s.newJob(b, start.Add(-d*time.Duration(pct)/100), "Scheduled release")
	}
	return nil
}

// newJob starts a job of b at origin; s.mu must be held once New has returned.
func (s *Simulator) newJob(b Bot, origin time.Time, comment string) *job {
	s.publishSeqs++
	name := b.ID + "/" + strconv.FormatInt(origin.UnixNano(), 10) + "/" + strconv.FormatUint(s.publishSeqs, 10)
	j := &job{
		id:       "ds-" + uuid.NewSHA1(jobNamespace, []byte(name)).String(),
		origin:   origin,
		duration: b.duration(),
		fail:     b.FailPublish,
		comment:  comment,
	}
	if b.Republish > 0 {
		j.next = origin.Add(j.duration + b.Republish)
	}
	return j
}

// advance replaces a finished job by the republish due at now, if any; s.mu must be held. Cycles
// missed while nobody asked are skipped arithmetically, so a clock jumping a day ahead costs the
// same as one jumping a second.
func (s *Simulator) advance(b *botState, now time.Time) {
	j := b.job
	if j == nil || j.next.IsZero() || now.Before(j.next) || b.cfg.Republish <= 0 {
		return
	}
	cycle := b.cfg.duration() + b.cfg.Republish
	k := now.Sub(j.next) / cycle
	b.job = s.newJob(b.cfg, j.next.Add(k*cycle), "Scheduled republish")
}

// startPublish starts a new job of b now, replacing any running one; s.mu must be held.
func (s *Simulator) startPublish(b *botState, now time.Time, comment string) *job {
	b.job = s.newJob(b.cfg, now, comment)
	return b.job
}

// StartPublish starts a publish of the bot with that ID, as if someone had published it upstream:
// a new in-progress job at 0%, replacing any running one. It returns ErrUnknownBot if no account
// has that bot.
func (s *Simulator) StartPublish(botID string) error {
	bs, ok := s.bots[botID]
	if !ok {
		return fmt.Errorf("start publish of %q: %w", botID, ErrUnknownBot)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, b := range bs {
		s.startPublish(b, now, "Published from the simulator")
	}
	return nil
}

// percent is how far j is at now, 0-100.
func (j *job) percent(now time.Time) int {
	p := int(now.Sub(j.origin) * 100 / j.duration)
	return min(max(p, 0), 100)
}

// jobJSON is the status route's answer, fields in Kore.ai's order.
type jobJSON struct {
	ID                  string         `json:"_id"`
	JobType             string         `json:"jobType"`
	StreamID            string         `json:"streamId"`
	V                   int            `json:"__v"`
	Action              string         `json:"action"`
	CountOfDockStatuses *int           `json:"countOfDockStatuses,omitempty"`
	CreatedBy           string         `json:"createdBy"`
	PercentageComplete  int            `json:"percentageComplete"`
	RequestedTime       string         `json:"requestedTime"`
	Status              string         `json:"status"`
	LastModifiedOn      string         `json:"lastModifiedOn"`
	InitiatedOn         string         `json:"initiatedOn"`
	StatusSummary       []resourceJSON `json:"statusSummary"`
	PubWarnings         []string       `json:"pubWarnings"` // a field the gateway does not know
}

type resourceJSON struct {
	ResourceID      string `json:"resourceId"`
	ResourceType    string `json:"resourceType"`
	Name            string `json:"name"`
	Modules         any    `json:"modules,omitempty"`
	Status          string `json:"status"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Result          any    `json:"result,omitempty"`
}

// view renders b's job at now; s.mu must be held. ok is false for a bot never published.
func (s *Simulator) view(b *botState, now time.Time) (jobJSON, bool) {
	s.advance(b, now)
	j := b.job
	if j == nil {
		return jobJSON{}, false
	}
	upper := b.acct.cfg.UpperCase
	pct := j.percent(now)
	done := pct >= 100
	status := "inprogress"
	lastMod := j.origin.Add(j.duration * time.Duration(pct) / 100)
	if done {
		status = "successful"
		if j.fail {
			status = "failed"
		}
		// Kore records the end a little after the last resource.
		lastMod = j.origin.Add(j.duration + 1327*time.Millisecond)
	}
	if upper {
		status = strings.ToUpper(status)
	}
	out := jobJSON{
		ID:                 j.id,
		JobType:            "PUBLISH_BOT",
		StreamID:           b.cfg.ID,
		Action:             "RUN",
		CreatedBy:          b.acct.userID,
		PercentageComplete: pct,
		RequestedTime:      j.origin.Add(-97 * time.Millisecond).UTC().Format(isoMillis),
		Status:             status,
		LastModifiedOn:     lastMod.UTC().Format(isoMillis),
		InitiatedOn:        j.origin.UTC().Format(isoMillis),
		StatusSummary:      make([]resourceJSON, len(b.resources)),
		PubWarnings:        []string{},
	}
	if done {
		one := 1
		out.CountOfDockStatuses = &one
	}
	failAt := failingResource(b.resources)
	for i, r := range b.resources {
		st := "INPROGRESS"
		switch {
		case j.fail && i == failAt && done:
			st = "FAILED"
		case j.fail && i == failAt:
		case pct >= (i+1)*100/len(b.resources):
			st = "SUCCESS"
		}
		out.StatusSummary[i] = r.render(st, upper, j, lastMod)
	}
	return out, true
}

// render writes one resource. Dialog statuses come lower-case outside upper-case accounts, because
// the platform mixes cases across resources (SPEC §1.1) and the gateway must not care.
func (r resource) render(status string, upper bool, j *job, at time.Time) resourceJSON {
	state := "published"
	if status != "SUCCESS" {
		state = strings.ToLower(status)
	}
	if r.dialog && !upper {
		status = strings.ToLower(status)
	}
	out := resourceJSON{ResourceID: r.id, ResourceType: r.typ, Name: r.name, Modules: r.modules, Status: status}
	if r.dialog {
		out.ResourceVersion = r.version
		out.Result = map[string]any{
			"name":           r.name,
			"version":        r.version,
			"state":          state,
			"versionComment": j.comment,
			"publishedOn":    at.UTC().Format(isoMillis),
		}
	}
	return out
}

// failingResource is the resource a failing publish fails on: its first dialog, else NL.
func failingResource(rs []resource) int {
	nl := 0
	for i, r := range rs {
		if r.dialog {
			return i
		}
		if r.typ == "NL" {
			nl = i
		}
	}
	return nl
}

// publishEntryJSON is one entry of the publish route's answer.
type publishEntryJSON struct {
	ResourceType string `json:"resourceType"`
	ResourceID   string `json:"resourceId"`
	SBResourceID string `json:"sbResourceId,omitempty"`
	Status       string `json:"status"`
	Result       any    `json:"result,omitempty"`
}

// publishAnswer is what POST .../publish returns: every resource queued. A bot whose publishes
// fail has its dialogs awaiting an admin's approval, which the platform reports the same way.
func publishAnswer(b *botState, comment string, at time.Time) []publishEntryJSON {
	out := make([]publishEntryJSON, 0, len(b.resources))
	for _, r := range b.resources {
		e := publishEntryJSON{ResourceType: r.typ, ResourceID: r.id, Status: "INPROGRESS"}
		if r.dialog {
			e.SBResourceID = r.id
			state := "inprogress"
			if b.cfg.FailPublish {
				e.Status, state = "awaitingApproval", "awaitingApproval"
			}
			e.Result = map[string]any{
				"state":                      state,
				"approvalRequestedLanguages": []string{"en"},
				"versionComment":             comment,
				"publishedOn":                at.UTC().Format(isoMillis),
				"name":                       r.name,
			}
		} else if r.modules != nil {
			e.Result = map[string]any{"resourceId": r.id, "resourceType": r.typ, "modules": r.modules, "name": r.name}
		}
		out = append(out, e)
	}
	return out
}

// resourcesOf lists what a publish of b processes, in the order Kore.ai reports them. Each bot has
// two dialog tasks, picked by its ID.
func resourcesOf(b Bot) []resource {
	dialogNames := [...]string{
		"Welcome", "Check Status", "Escalate to Agent", "Update Profile", "Book Appointment",
		"Reset Password", "Report an Issue", "Get Balance", "Track Order", "Cancel Request",
	}
	h := hash(b.ID)
	first, second := dialogNames[h%uint32(len(dialogNames))], dialogNames[(h/7+1)%uint32(len(dialogNames))]
	if first == second {
		second = dialogNames[(h+1)%uint32(len(dialogNames))]
	}
	dialog := func(name string) resource {
		id := "dg-" + uuid.NewSHA1(jobNamespace, []byte(b.ID+"/dialog/"+name)).String()
		return resource{id: id, typ: "dialog", name: name, version: "1.0", dialog: true}
	}
	return []resource{
		{id: "SETTINGS", typ: "SETTINGS", name: "Settings",
			modules: []string{"general", "bot_variables", "pii", "ivr", "hold_resume", "custom_script", "advanced"}},
		{id: "CHANNELS", typ: "CHANNELS", name: "Channels", modules: []string{"rtm", "msteams"}},
		{id: "EXTENSIONS", typ: "EXTENSIONS", name: "Extensions", modules: []string{"agent_transfer"}},
		{id: "BOTLANGUAGES", typ: "BOTLANGUAGES", name: "Languages",
			modules: map[string]any{"enabledLanguages": []string{"en"}}},
		dialog(first),
		dialog(second),
		{id: "NL", typ: "NL", name: "Natural Language", modules: []string{"nl_model", "settings"}},
		{id: "AUTOVERSIONING", typ: "AUTOVERSIONING", name: "Creating New Version"},
	}
}

func hash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}
