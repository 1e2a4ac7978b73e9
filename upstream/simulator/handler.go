package simulator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// routeKind is one of the Kore.ai APIs the simulator serves.
type routeKind int

const (
	routeNone routeKind = iota
	routeStatus
	routePublish
	routeBots
)

// method is the only method a route accepts.
func (k routeKind) method() string {
	if k == routePublish {
		return http.MethodPost
	}
	return http.MethodGet
}

// route is a parsed request path.
type route struct {
	kind    routeKind
	pattern string // ByPath key: method, prefix, template and trailing slash as sent
	botID   string // unescaped; "" for the bot list
}

// parseRoute matches an escaped path by hand rather than with http.ServeMux, which would clean
// "..", collapse slashes and redirect: the simulator must see exactly what the client sent.
func parseRoute(method, path string) route {
	unknown := route{pattern: method + " " + PathUnknown}
	var prefix string
	for _, p := range []string{"/api/public", "/api/1.1/public"} {
		if strings.HasPrefix(path, p+"/") {
			prefix = p
			break
		}
	}
	if prefix == "" {
		return unknown
	}
	rest, slash := strings.CutSuffix(path[len(prefix)+1:], "/")
	segs := strings.Split(rest, "/")
	var rt route
	switch {
	case len(segs) == 1 && segs[0] == "bots":
		rt = route{kind: routeBots, pattern: prefix + "/bots"}
	case len(segs) == 4 && segs[0] == "bot" && segs[2] == "publish" && segs[3] == "status":
		rt = route{kind: routeStatus, pattern: prefix + "/bot/{botId}/publish/status"}
	case len(segs) == 3 && segs[0] == "bot" && segs[2] == "publish":
		rt = route{kind: routePublish, pattern: prefix + "/bot/{botId}/publish"}
	default:
		return unknown
	}
	if rt.kind != routeBots {
		id, err := url.PathUnescape(segs[1])
		if err != nil || id == "" {
			return unknown
		}
		rt.botID = id
	}
	if slash {
		rt.pattern += "/"
	}
	rt.pattern = method + " " + rt.pattern
	return rt
}

// apiError is an answer in Kore.ai's error shape, {"errors":[{"msg": ..., "code": ...}]}.
type apiError struct {
	status     int
	msg        string
	code       int
	retryAfter time.Duration // > 0: Retry-After header, rounded up to seconds
}

func unauthorized(msg string) *apiError {
	return &apiError{status: http.StatusUnauthorized, msg: msg, code: codeAuth}
}

func notFound() *apiError {
	return &apiError{status: http.StatusNotFound, msg: "Not Found", code: http.StatusNotFound}
}

func methodNotAllowed() *apiError {
	return &apiError{status: http.StatusMethodNotAllowed, msg: "Method Not Allowed", code: http.StatusMethodNotAllowed}
}

func badRequest(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, msg: msg, code: http.StatusBadRequest}
}

// invalidStreamID is Kore.ai's answer for a bot that does not exist or that the app's account
// does not own: 400, not 404 (SPEC §1.1).
func invalidStreamID() *apiError { return badRequest("Invalid StreamId") }

func tooManyRequests(retry time.Duration) *apiError {
	return &apiError{status: 429, msg: "Too many requests", code: 429, retryAfter: retry}
}

func serverError(status int) *apiError {
	return &apiError{status: status, msg: http.StatusText(status), code: status}
}

type errorsJSON struct {
	Errors []errorJSON `json:"errors"`
}

type errorJSON struct {
	Msg  string `json:"msg"`
	Code int    `json:"code"`
}

// exchange is one request to an API route and the one answer it gets.
type exchange struct {
	s         *Simulator
	w         http.ResponseWriter
	r         *http.Request
	route     route
	account   string // Account.Name once authenticated
	published bool   // a publish was accepted
	answered  bool
}

// reply counts the request, then answers it. Counting first means a client that has read the
// answer always finds it in Stats.
func (x *exchange) reply(status int, body []byte) {
	x.answered = true
	x.s.stats.record(x.route.pattern, x.route.botID, x.account, status, x.published)
	h := x.w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	x.w.WriteHeader(status)
	_, _ = x.w.Write(body) // the client may be gone; nothing to do about it
	x.s.logger.Debug("answered", "route", x.route.pattern, "bot", x.route.botID, "account", x.account, "status", status)
}

func (x *exchange) json(status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		x.s.logger.Error("encode answer", "route", x.route.pattern, "err", err)
		x.fail(serverError(500))
		return
	}
	x.reply(status, body)
}

func (x *exchange) fail(e *apiError) {
	if e.retryAfter > 0 {
		secs := (e.retryAfter + time.Second - 1) / time.Second
		x.w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	}
	x.json(e.status, errorsJSON{Errors: []errorJSON{{Msg: e.msg, Code: e.code}}})
}

// abandon counts a request whose client left before it was answered.
func (x *exchange) abandon() {
	x.answered = true
	x.s.stats.record(x.route.pattern, x.route.botID, x.account, 0, false)
}

// malformed answers 200 with a body that is not JSON at all.
func (x *exchange) malformed() { x.reply(http.StatusOK, []byte(malformedBody)) }

// ServeHTTP serves the Kore.ai routes and the /_simulator/ control routes; see the package
// documentation for the order of checks.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if path == controlPrefix || strings.HasPrefix(path, controlPrefix+"/") {
		s.serveControl(w, r, strings.TrimPrefix(path, controlPrefix))
		return
	}
	x := &exchange{s: s, w: w, r: r, route: parseRoute(r.Method, path)}
	defer func() {
		if !x.answered {
			x.abandon()
		}
	}()
	switch {
	case x.route.kind == routeNone:
		x.fail(notFound())
	case r.Method != x.route.kind.method():
		w.Header().Set("Allow", x.route.kind.method())
		x.fail(methodNotAllowed())
	default:
		s.serveAPI(x)
	}
}

func (s *Simulator) serveAPI(x *exchange) {
	a, aerr := s.authenticate(x.r, scopeOf(x.route.kind))
	if aerr != nil {
		x.fail(aerr)
		return
	}
	x.account = a.cfg.Name
	b := a.bots[x.route.botID] // nil for an unknown bot, another account's bot, or the bot list
	d := s.decideFault(a, b)
	if !s.applyFault(x, d) {
		return
	}
	switch x.route.kind {
	case routeStatus:
		s.serveStatus(x, b, d)
	case routePublish:
		s.servePublish(x, b, d)
	case routeBots:
		s.serveBots(x, a, d)
	}
}

func (s *Simulator) serveStatus(x *exchange, b *botState, d faultDecision) {
	if !s.admitBot(x, b) {
		return
	}
	if d.Malformed {
		x.malformed()
		return
	}
	s.mu.Lock()
	job, ok := s.view(b, s.now())
	s.mu.Unlock()
	if !ok {
		// Undocumented upstream; our choice (SPEC §1.1): a bot never published has no job.
		x.json(http.StatusOK, struct{}{})
		return
	}
	x.json(http.StatusOK, job)
}

// maxPublishBody caps what the simulator reads of a publish request.
const maxPublishBody = 1 << 20

func (s *Simulator) servePublish(x *exchange, b *botState, d faultDecision) {
	if !s.admitBot(x, b) {
		return
	}
	var in struct {
		VersionComment   string `json:"versionComment"`
		InitiateTraining *bool  `json:"initiateTraining"`
	}
	body := http.MaxBytesReader(x.w, x.r.Body, maxPublishBody)
	if err := json.NewDecoder(body).Decode(&in); err != nil && !errors.Is(err, io.EOF) {
		x.fail(badRequest("Invalid request body"))
		return
	}
	if strings.TrimSpace(in.VersionComment) == "" {
		x.fail(&apiError{status: 412, msg: "versionComment is required", code: 412})
		return
	}
	s.mu.Lock()
	now := s.now()
	s.startPublish(b, now, in.VersionComment)
	answer := publishAnswer(b, in.VersionComment, now)
	s.mu.Unlock()
	x.published = true
	if d.Malformed {
		// The publish started; only the answer is broken, as after a proxy cutting it short.
		x.malformed()
		return
	}
	x.json(http.StatusOK, answer)
}

// maxBotsPage is Kore.ai's largest page of the Get Bots API.
const maxBotsPage = 50

type botListJSON struct {
	Total         int           `json:"total"`
	AvailableMore bool          `json:"availableMore"`
	Bots          []botItemJSON `json:"bots"`
}

type botItemJSON struct {
	ID              string       `json:"_id"`
	AccountID       string       `json:"accountId"`
	Purpose         string       `json:"purpose"`
	CreatedBy       string       `json:"createdBy"`
	Type            string       `json:"type"`
	DefaultLanguage string       `json:"defaultLanguage"`
	Status          string       `json:"status"` // published or configured
	Name            string       `json:"name"`
	IsLinkedTo      []string     `json:"isLinkedTo"`
	JWTApps         []jwtAppJSON `json:"jwtApps"`
}

// jwtAppJSON carries an app's secret in clear, as Kore.ai does: the gateway must drop it.
type jwtAppJSON struct {
	ClientID              string `json:"clientId"`
	ClientSecret          string `json:"clientSecret"`
	JTIClaimEnforced      bool   `json:"jtiClaimEnforced"`
	JWEEncryptionEnforced bool   `json:"jweEncryptionEnforced"`
}

func (s *Simulator) serveBots(x *exchange, a *account, d faultDecision) {
	if e := s.allowList(a); e != nil {
		x.fail(e)
		return
	}
	q := x.r.URL.Query()
	offset, limit := 0, maxBotsPage
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			x.fail(badRequest("offset must be a non-negative integer"))
			return
		}
		offset = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxBotsPage {
			x.fail(badRequest("limit must be an integer from 1 to 50"))
			return
		}
		limit = n
	}
	if d.Malformed {
		x.malformed()
		return
	}
	out := botListJSON{Total: len(a.list), Bots: []botItemJSON{}}
	accountID := strings.ReplaceAll(a.userID[2:], "-", "")[:24]
	app := jwtAppJSON{ClientID: a.cfg.ClientID, ClientSecret: a.cfg.ClientSecret, JTIClaimEnforced: a.cfg.EnforceJTI}
	s.mu.Lock()
	for i := offset; i < len(a.list) && i < offset+limit; i++ {
		b := a.list[i]
		status := "published"
		if b.job == nil {
			status = "configured"
		}
		apps := []jwtAppJSON{app}
		if b.cfg.AppSecret != "" {
			apps = append(apps, jwtAppJSON{ClientID: "cs-" + strings.TrimPrefix(b.cfg.ID, "st-"), ClientSecret: b.cfg.AppSecret})
		}
		out.Bots = append(out.Bots, botItemJSON{
			ID: b.cfg.ID, AccountID: accountID, Purpose: "customer", CreatedBy: a.userID, Type: "default",
			DefaultLanguage: "en", Status: status, Name: b.cfg.Name, IsLinkedTo: []string{},
			JWTApps: apps,
		})
	}
	s.mu.Unlock()
	out.AvailableMore = offset+len(out.Bots) < len(a.list)
	x.json(http.StatusOK, out)
}
