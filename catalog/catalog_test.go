package catalog_test

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/publishgate/publishgate/catalog"
)

const (
	idA = "st-00000000-0000-4000-8000-00000000000a"
	idB = "st-00000000-0000-4000-8000-00000000000b"
	idC = "st-00000000-0000-4000-8000-00000000000c"
	idD = "st-00000000-0000-4000-8000-00000000000d"
)

func newEnv(t *testing.T) *catalog.Environment {
	t.Helper()
	c, err := catalog.New([]catalog.Environment{{Name: "prod", Host: "https://bots.kore.ai", Bots: []catalog.Bot{
		{ID: idA, Name: "Configured A"},
		{ID: idB}, // configured without a name
	}}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := c.Lookup("prod")
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func ids(bots []catalog.Bot) []string {
	out := make([]string, len(bots))
	for i, b := range bots {
		out[i] = b.ID + "=" + b.Name
	}
	return out
}

func TestSetDiscoveredMergesWithConfiguredBots(t *testing.T) {
	tests := []struct {
		name       string
		discovered [][]catalog.Bot // successive lists
		want       []string
	}{
		{name: "without discovery the configured bots", want: []string{idA + "=Configured A", idB + "="}},
		{
			name:       "configured first, then the discovered in Kore's order",
			discovered: [][]catalog.Bot{{{ID: idD, Name: "D"}, {ID: idC, Name: "C"}}},
			want:       []string{idA + "=Configured A", idB + "=", idD + "=D", idC + "=C"},
		},
		{
			name:       "configured names win; Kore's only fills a missing one",
			discovered: [][]catalog.Bot{{{ID: idA, Name: "Kore A"}, {ID: idB, Name: "Kore B"}, {ID: idC, Name: "C"}}},
			want:       []string{idA + "=Configured A", idB + "=Kore B", idC + "=C"},
		},
		{
			name:       "a bot listed twice is kept once",
			discovered: [][]catalog.Bot{{{ID: idC, Name: "C"}, {ID: idC, Name: "C again"}}},
			want:       []string{idA + "=Configured A", idB + "=", idC + "=C"},
		},
		{
			name:       "a new list replaces the last one",
			discovered: [][]catalog.Bot{{{ID: idC, Name: "C"}}, {{ID: idD, Name: "D"}}},
			want:       []string{idA + "=Configured A", idB + "=", idD + "=D"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			for _, d := range tt.discovered {
				env.SetDiscovered(d)
			}
			if got := ids(env.Known()); !slices.Equal(got, tt.want) {
				t.Fatalf("Known = %q, want %q", got, tt.want)
			}
			for _, b := range env.Known() {
				if b.Environment != "prod" {
					t.Fatalf("%s has environment %q", b.ID, b.Environment)
				}
				if got := env.Bot(b.ID); got != b {
					t.Fatalf("Bot(%s) = %+v, want %+v", b.ID, got, b)
				}
			}
			if len(env.Bots) != 2 || env.Bots[1].Name != "" {
				t.Fatalf("the configured bots changed: %+v", env.Bots)
			}
		})
	}
}

func TestBotOfAnUnknownIDHasNoName(t *testing.T) {
	env := newEnv(t)
	env.SetDiscovered([]catalog.Bot{{ID: idC, Name: "C"}})
	if got := env.Bot(idD); got != (catalog.Bot{ID: idD, Environment: "prod"}) {
		t.Fatalf("Bot(unknown) = %+v", got)
	}
}

func TestKnownIsSafeWhileDiscoveryRefreshes(t *testing.T) {
	env := newEnv(t)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 1000 {
			if i%2 == 0 {
				env.SetDiscovered([]catalog.Bot{{ID: idC, Name: "C"}})
			} else {
				env.SetDiscovered(nil)
			}
		}
	})
	for range 1000 {
		if n := len(env.Known()); n != 2 && n != 3 {
			t.Fatalf("Known has %d bots", n)
		}
		_ = env.Bot(idC)
	}
	wg.Wait()
}

func TestLookupUnknownEnvironment(t *testing.T) {
	c, err := catalog.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup("nope"); !errors.Is(err, catalog.ErrUnknownEnvironment) {
		t.Fatalf("err = %v", err)
	}
}
