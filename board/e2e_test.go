package board_test

import (
	"bytes"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// update makes TestBoardInChromium write its screenshots to docs/ (the README shows them):
// go test ./board -run TestBoardInChromium -update. Without it they go to a temporary folder, so
// an ordinary test run leaves the work tree alone.
var update = flag.Bool("update", false, "write the board screenshots to docs/")

const (
	shotWidth, shotHeight = 1440, 900
	loadTimeout           = 30 * time.Second
)

// slowPublishAccounts is the demo data set with the publishing demo bot slowed to a 5-minute
// publish: its percentage rises about every 3 s, and it cannot finish while the test runs.
func slowPublishAccounts(tb testing.TB) []simulator.Account {
	tb.Helper()
	accts := simulator.DemoAccounts()
	for i := range accts {
		for j := range accts[i].Bots {
			if accts[i].Bots[j].Name == simulator.DemoPublishingBot {
				accts[i].Bots[j].Percentage = 20
				accts[i].Bots[j].PublishDuration = 5 * time.Minute
				return accts
			}
		}
	}
	tb.Fatalf("demo data set has no %q", simulator.DemoPublishingBot)
	return nil
}

// demoGateway serves the demo data set through a gateway on loopback.
func demoGateway(tb testing.TB) (*testkit.Gateway, []simulator.Account) {
	tb.Helper()
	accts := slowPublishAccounts(tb)
	sim := testkit.MustSimulator(tb, simulator.WithAccounts(accts...))
	return testkit.MustGateway(tb, testkit.Config(tb, sim.URL, accts...), gateway.Options{}), accts
}

func botCount(accts []simulator.Account) int {
	n := 0
	for _, a := range accts {
		n += len(a.Bots)
	}
	return n
}

// loaded is true once the board shows a row for every bot.
func loaded(n int) string {
	return fmt.Sprintf(`document.querySelectorAll('tr[data-bot-id]').length === %d && !!document.querySelector('#conn[data-state="polling"], #conn[data-state="live"]')`, n)
}

// visibleRows lists the names of the rows a person can see, in page order.
const visibleRows = `[...document.querySelectorAll('tr[data-bot-id]')].filter(tr => tr.offsetParent !== null).map(tr => tr.querySelector('.botname .n').textContent)`

func row(id string) string { return fmt.Sprintf(`document.querySelector('tr[data-bot-id=%q]')`, id) }

// TestBoardInChromium drives the board in headless Chromium against the demo data set, the way a
// person uses it, and checks what the issue asks for: no console errors and no request off this
// machine, every environment and bot shown, a failing bot's error code, a progress bar that
// advances without a reload, the per-resource statuses on click (by keyboard), filters that
// narrow the table and survive a reload, and light and dark screenshots.
func TestBoardInChromium(t *testing.T) {
	gw, accts := demoGateway(t)
	n := botCount(accts)
	b := mustBrowser(t)
	b.do(t, "open the board", chromedp.EmulateViewport(shotWidth, shotHeight), chromedp.Navigate(gw.URL+"/board"))
	b.waitFor(t, loadTimeout, "showing every bot", loaded(n))
	t.Logf("connection: %s", eval[string](t, b, `document.getElementById('conn-text').textContent`))

	t.Run("shows every environment and bot", func(t *testing.T) {
		type shownBot struct{ ID, Name, State string }
		type shownEnv struct {
			Env, Title string
			Bots       []shownBot
		}
		got := eval[[]shownEnv](t, b, `[...document.querySelectorAll('section.env')].filter(s => s.offsetParent !== null).map(s => ({
			Env: s.dataset.env, Title: s.querySelector('caption h2').textContent,
			Bots: [...s.querySelectorAll('tbody tr')].filter(tr => tr.offsetParent !== null).map(tr => ({
				ID: tr.dataset.botId, Name: tr.querySelector('.botname .n').textContent, State: tr.dataset.state }))}))`)
		if len(got) != len(accts) {
			t.Fatalf("board shows %d environments, want %d: %+v", len(got), len(accts), got)
		}
		for i, a := range accts {
			if got[i].Env != a.Name || got[i].Title != a.Name {
				t.Errorf("environment %d is %q (%q), want %q", i, got[i].Env, got[i].Title, a.Name)
			}
			if len(got[i].Bots) != len(a.Bots) {
				t.Errorf("%s shows %d bots, want %d", a.Name, len(got[i].Bots), len(a.Bots))
				continue
			}
			for j, bot := range a.Bots {
				if g := got[i].Bots[j]; g.ID != bot.ID || g.Name != bot.Name {
					t.Errorf("%s row %d is %s %q, want %s %q", a.Name, j, g.ID, g.Name, bot.ID, bot.Name)
				}
			}
		}
		states := map[string]string{}
		for _, e := range got {
			for _, bot := range e.Bots {
				states[bot.Name] = bot.State
			}
		}
		for name, want := range map[string]string{
			simulator.DemoNeverPublishedBot: "never",
			simulator.DemoFailedBot:         "failed",
			simulator.DemoPublishingBot:     "inprogress",
			"Banking Assistant":             "successful",
			simulator.DemoFailingBot:        "error",
		} {
			if states[name] != want {
				t.Errorf("%s shows state %q, want %q", name, states[name], want)
			}
		}
		// Summary tiles come from the API's summary: every bot counted.
		if total := eval[string](t, b, `document.querySelector('#overall [data-field="total"] .n').textContent`); total != fmt.Sprint(n) {
			t.Errorf("overall total tile shows %q, want %d", total, n)
		}
		never := eval[string](t, b, row(simulator.DemoBotID(simulator.DemoNeverPublishedBot))+`.querySelector('.c-state').textContent`)
		if !strings.Contains(never, "Never published") {
			t.Errorf("never-published bot's state cell reads %q", never)
		}
	})

	t.Run("failing bot shows its error code", func(t *testing.T) {
		id := simulator.DemoBotID(simulator.DemoFailingBot)
		b.waitFor(t, loadTimeout, "showing the failing bot's error", row(id)+`.dataset.state === 'error'`)
		text := eval[string](t, b, row(id)+`.querySelector('.c-state').textContent`)
		if !strings.Contains(text, "UPSTREAM_UNAVAILABLE") || !strings.Contains(text, "Error") {
			t.Errorf("failing bot's state cell reads %q, want the word Error and UPSTREAM_UNAVAILABLE", text)
		}
	})

	t.Run("progress bar advances without a reload", func(t *testing.T) {
		id := simulator.DemoBotID(simulator.DemoPublishingBot)
		bar := row(id) + `.querySelector('progress')`
		b.waitFor(t, loadTimeout, "showing a progress bar", `!!`+bar)
		start := eval[float64](t, b, `window.__sameDocument = true; `+bar+`.value`)
		label := eval[string](t, b, row(id)+`.querySelector('.pct').textContent`)
		if label != fmt.Sprintf("%d%%", int(start)) {
			t.Errorf("percentage label %q does not match the bar's value %v", label, start)
		}
		if start <= 0 || start >= 100 {
			t.Fatalf("publishing bot's bar starts at %v", start)
		}
		b.waitFor(t, 45*time.Second, "advancing the progress bar", fmt.Sprintf(`window.__sameDocument === true && %s.value > %v`, bar, start))
	})

	t.Run("shows per-resource statuses on click, by keyboard", func(t *testing.T) {
		id := simulator.DemoBotID("Banking Assistant")
		btn := fmt.Sprintf(`tr[data-bot-id=%q] .botname`, id)
		b.do(t, "focus a bot", chromedp.Focus(chromedp.CSS(btn)), chromedp.Evaluate[chromedp.Void](`
			window.__updates = 0;
			new MutationObserver(() => window.__updates++).observe(document.getElementById('envs'), {subtree: true, childList: true, characterData: true});`))
		// The board keeps updating under the focus: the focused bot keeps it.
		b.waitFor(t, 20*time.Second, "updating the board twice", `window.__updates >= 2`)
		if got := eval[string](t, b, `document.activeElement.closest('tr') ? document.activeElement.closest('tr').dataset.botId : document.activeElement.tagName`); got != id {
			t.Errorf("after updates the focus is on %q, want still on the bot %s", got, id)
		}
		b.do(t, "open a bot's details with the keyboard", chromedp.KeyEvent(kb.Enter))
		b.waitFor(t, loadTimeout, "listing the bot's resources",
			`document.getElementById('detail').open && document.querySelectorAll('#detail table.resources tbody tr').length > 0`)
		type resource struct{ Name, Type, State string }
		got := eval[[]resource](t, b, `[...document.querySelectorAll('#detail table.resources tbody tr')].map(tr => ({
			Name: tr.querySelector('th').textContent, Type: tr.querySelector('code').textContent, State: tr.dataset.state}))`)
		types := map[string]bool{}
		for _, r := range got {
			types[r.Type] = true
			if r.State != "successful" {
				t.Errorf("resource %+v of a successful publish is not successful", r)
			}
		}
		for _, want := range []string{"SETTINGS", "NL", "CHANNELS"} {
			if !types[want] {
				t.Errorf("details list no %s resource: %+v", want, got)
			}
		}
		b.do(t, "close the details with Escape", chromedp.KeyEvent(kb.Escape))
		b.waitFor(t, 5*time.Second, "closing the details", `!document.getElementById('detail').open`)
	})

	t.Run("filter narrows the table and survives a reload", func(t *testing.T) {
		b.do(t, "type a name filter", chromedp.SendKeys(chromedp.ID("f-q"), "bank"))
		b.waitFor(t, 5*time.Second, "narrowing to the banking bots",
			visibleRows+`.join('|') === 'Banking Assistant|Banking Assistant Dev'`)
		b.do(t, "pick an environment",
			chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById('f-env'); s.value = 'prod-us'; s.dispatchEvent(new Event('change')); })()`))
		b.waitFor(t, 5*time.Second, "narrowing to prod-us", visibleRows+`.join('|') === 'Banking Assistant'`)
		if search := eval[string](t, b, `location.search`); search != "?env=prod-us&q=bank" {
			t.Errorf("URL query is %q, want ?env=prod-us&q=bank", search)
		}
		b.do(t, "reload", chromedp.Reload())
		b.waitFor(t, loadTimeout, "showing the board again", loaded(n))
		if got := eval[[]string](t, b, visibleRows); strings.Join(got, "|") != "Banking Assistant" {
			t.Errorf("after a reload the board shows %q, want only Banking Assistant", got)
		}
		if q, env := eval[string](t, b, `document.getElementById('f-q').value`), eval[string](t, b, `document.getElementById('f-env').value`); q != "bank" || env != "prod-us" {
			t.Errorf("after a reload the filters read q=%q env=%q", q, env)
		}
		// A state filter from a summary tile: only the never-published bots.
		b.do(t, "clear the filters and pick a tile", chromedp.Click(chromedp.ID("f-clear")),
			chromedp.Click(chromedp.CSS(`#overall [data-field="neverPublished"]`)))
		b.waitFor(t, 5*time.Second, "narrowing to the never-published bots",
			visibleRows+`.join('|') === 'Returns Concierge|Onboarding Buddy|Sandbox Echo Bot'`)
		if search := eval[string](t, b, `location.search`); search != "?state=never" {
			t.Errorf("URL query is %q, want ?state=never", search)
		}
	})

	t.Run("screenshots light and dark", func(t *testing.T) {
		dir := t.TempDir()
		if *update {
			dir = filepath.Join("..", "docs")
		}
		b.do(t, "open the whole board", chromedp.Navigate(gw.URL+"/board"))
		b.waitFor(t, loadTimeout, "showing the board", loaded(n))
		for _, scheme := range []string{"light", "dark"} {
			b.do(t, "emulate "+scheme, colorScheme(scheme))
			want := map[string]string{"light": "rgb(243, 245, 248)", "dark": "rgb(13, 17, 23)"}[scheme]
			b.waitFor(t, 5*time.Second, "painting the "+scheme+" theme",
				fmt.Sprintf(`getComputedStyle(document.body).backgroundColor === %q`, want))
			shot, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			img, err := png.Decode(bytes.NewReader(shot))
			if err != nil {
				t.Fatalf("screenshot is no PNG: %v", err)
			}
			if sz := img.Bounds().Size(); sz.X != shotWidth || sz.Y != shotHeight {
				t.Errorf("screenshot is %v, want %dx%d", sz, shotWidth, shotHeight)
			}
			path := filepath.Join(dir, "board-"+scheme+".png")
			if err := os.WriteFile(path, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", path)
		}
	})

	if p := b.consoleProblems(); len(p) > 0 {
		t.Errorf("the page reported %d console errors:\n%s", len(p), strings.Join(p, "\n"))
	}
	if b.requestCount() == 0 {
		t.Error("no request was recorded: the network listener is not working")
	}
	if off := b.offLoopback(); len(off) > 0 {
		t.Errorf("the page asked for %d URLs off this machine: %q", len(off), off)
	}
}
