package simulator

import (
	"time"

	"github.com/google/uuid"
)

// Bots of the demo data set that tests look for by name; DemoBotID gives their IDs.
const (
	// DemoFailingBot (prod-eu) always answers 503: its every call fails.
	DemoFailingBot = "Legacy Claims Bot"
	// DemoNeverPublishedBot (prod-us) has never been published: its status is {}.
	DemoNeverPublishedBot = "Returns Concierge"
	// DemoFailedBot (prod-us) ended its last publish FAILED.
	DemoFailedBot = "Insurance Quote Bot"
	// DemoPublishingBot (prod-us) is publishing when the simulator starts and republishes forever.
	DemoPublishingBot = "IT Service Desk"
)

// demoNamespace is the UUID namespace of the demo bots' IDs
// (5d1f0c4a-8e2b-4b7f-a36d-91c0e4f25b18), fixed so IDs are the same on every run.
var demoNamespace = uuid.UUID{0x5d, 0x1f, 0x0c, 0x4a, 0x8e, 0x2b, 0x4b, 0x7f, 0xa3, 0x6d, 0x91, 0xc0, 0xe4, 0xf2, 0x5b, 0x18}

// DemoBotID is the stable ID of the demo bot with that name: "st-" and a name-based (version 5)
// UUID, the shape of Kore.ai's own.
func DemoBotID(name string) string {
	return "st-" + uuid.NewSHA1(demoNamespace, []byte(name)).String()
}

// DemoAccounts is the demo data set: three accounts, "prod-us", "prod-eu" (which serves status
// values upper-case) and "dev", with 32 bots in mixed states. Six bots are publishing when the
// simulator starts and republish a minute or so after each publish ends, and a publish takes two
// to three minutes, so progress shows between two queries seconds apart. Client IDs are
// "cs-demo-<name>", secrets "demo-secret-<name>-..."; every app has every scope and does not
// enforce JTI.
func DemoAccounts() []Account {
	done := func(name string) Bot { return Bot{Name: name, State: StateSuccessful} }
	failed := func(name string) Bot { return Bot{Name: name, State: StateFailed} }
	never := func(name string) Bot { return Bot{Name: name, State: StateNeverPublished} }
	publishing := func(name string, pct int, took, again time.Duration) Bot {
		return Bot{Name: name, State: StateInProgress, Percentage: pct, PublishDuration: took, Republish: again}
	}
	accts := []Account{
		{
			Name: "prod-us", ClientID: "cs-demo-prod-us", ClientSecret: "demo-secret-prod-us-4f9c2a7e1b",
			Bots: []Bot{
				done("Banking Assistant"),
				done("HR Helpdesk"),
				publishing(DemoPublishingBot, 20, 150*time.Second, 60*time.Second),
				done("Mortgage Advisor"),
				done("Card Services"),
				publishing("Travel Concierge", 55, 180*time.Second, 45*time.Second),
				done("Retail Order Tracker"),
				failed(DemoFailedBot),
				done("Payroll Assistant"),
				done("Customer Onboarding"),
				done("Fraud Alert Bot"),
				never(DemoNeverPublishedBot),
			},
		},
		{
			Name: "prod-eu", ClientID: "cs-demo-prod-eu", ClientSecret: "demo-secret-prod-eu-8d3b6e0f5c",
			UpperCase: true,
			Bots: []Bot{
				{Name: DemoFailingBot, State: StateSuccessful, Fault: &Fault{ErrorRate: 1, ErrorStatus: 503}},
				done("Energy Billing Helper"),
				publishing("Telco Support Agent", 80, 150*time.Second, 60*time.Second),
				done("Patient Appointment Bot"),
				done("Pension Advisor"),
				done("Parcel Delivery Assistant"),
				func() Bot {
					b := publishing("Hotel Reservations", 30, 150*time.Second, 90*time.Second)
					b.FailPublish = true // keeps failing, so the demo always shows a red one moving
					return b
				}(),
				failed("Tax Filing Assistant"),
				done("Car Rental Desk"),
				done("Utility Outage Reporter"),
				done("Multilingual FAQ Bot"),
			},
		},
		{
			Name: "dev", ClientID: "cs-demo-dev", ClientSecret: "demo-secret-dev-2a7c9e4d1f",
			Bots: []Bot{
				publishing("Banking Assistant Dev", 5, 120*time.Second, 30*time.Second),
				done("HR Helpdesk Staging"),
				never("Onboarding Buddy"),
				never("Sandbox Echo Bot"),
				failed("Chat QA Harness"),
				done("Voice IVR Prototype"),
				done("Knowledge Search Pilot"),
				publishing("Sales Lead Qualifier", 65, 150*time.Second, 60*time.Second),
				done("Accessibility Assistant"),
			},
		},
	}
	for i := range accts {
		for j := range accts[i].Bots {
			accts[i].Bots[j].ID = DemoBotID(accts[i].Bots[j].Name)
		}
	}
	return accts
}

// PlausibleBot is a bot with a publish history picked from its ID, mixed as the demo's are: most
// published successfully, about one in seven publishing (and republishing, so it keeps moving),
// one in twenty failed, one in twenty never published. It lets `publishgate simulate --config`
// serve a configuration's bots without the file saying anything about their state; the same ID
// always gets the same history.
func PlausibleBot(id, name string) Bot {
	h := hash(id)
	b := Bot{ID: id, Name: name, State: StateSuccessful}
	switch h % 20 {
	case 0:
		b.State = StateNeverPublished
	case 1:
		b.State = StateFailed
	case 2, 3, 4:
		b.State = StateInProgress
		b.Percentage = int(h/20) % 95
		b.PublishDuration = 150 * time.Second
		b.Republish = time.Minute
	}
	return b
}
