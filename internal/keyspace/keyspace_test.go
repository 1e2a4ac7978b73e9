package keyspace

import (
	"fmt"
	"strings"
	"testing"
)

func TestSlotFollowsTheClusterSpecification(t *testing.T) {
	cases := []struct {
		key  string
		slot int
	}{
		{"foo", 12182},        // redis.io, CLUSTER KEYSLOT
		{"somekey", 11058},    // redis.io, CLUSTER KEYSLOT
		{"{foo}bar", 12182},   // the tag alone is hashed
		{"{foo}{bar}", 12182}, // the first tag counts
		{"foo{}{bar}", Slot("foo{}{bar}")},
		{"{}foo", int(crc16("{}foo") % Slots)}, // an empty tag hashes the whole key
	}
	for _, tc := range cases {
		if got := Slot(tc.key); got != tc.slot {
			t.Errorf("Slot(%q) = %d, want %d", tc.key, got, tc.slot)
		}
	}
}

func TestABotsKeysShareOneSlot(t *testing.T) {
	for i := range 200 {
		bot := fmt.Sprintf("st-%08d-0000-4000-8000-000000000000", i)
		want := Slot(Job("prod", bot))
		for _, k := range []string{FillLock("prod", bot), BotBudget("prod", bot, "bot-minute"), Backoff("prod", bot), EnvBudget("prod", Bucket(bot), "env-minute")} {
			if got := Slot(k); got != want {
				t.Fatalf("%s is in slot %d, its job key %s in %d", k, got, Job("prod", bot), want)
			}
		}
	}
}

func TestBucketTagsAreStripedOverTheSlotSpace(t *testing.T) {
	for _, env := range []string{"prod", "prod-us", "eu", "a", strings.Repeat("x", 80)} {
		for b := range Buckets {
			tag := Tag(env, b)
			s := Slot("k" + tag)
			if lo, hi := b*Slots/Buckets, (b+1)*Slots/Buckets; s < lo || s >= hi {
				t.Errorf("bucket %d of %q: slot %d outside its stripe [%d, %d)", b, env, s, lo, hi)
			}
		}
	}
	if Tag("prod", 3) == Tag("prod-us", 3) {
		t.Fatal("two environments share a tag")
	}
}

func TestBotsSpreadOverTheBuckets(t *testing.T) {
	var n [Buckets]int
	for i := range 16000 {
		n[Bucket(fmt.Sprintf("st-%08x-1111-4222-8333-444455556666", i))]++
	}
	for b, c := range n {
		if c < 800 || c > 1200 {
			t.Errorf("bucket %d holds %d of 16,000 bots, want about 1,000", b, c)
		}
	}
}
