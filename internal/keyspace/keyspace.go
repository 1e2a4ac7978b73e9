// Package keyspace owns the names of every Redis key and channel publishgate
// uses, and the hash tags that place them in a Redis Cluster.
//
// A bot's keys (its cached job, fill lock, budget windows and back-off) carry
// the hash tag of its bucket: one of Buckets groups of an environment's bots,
// chosen by a hash of the bot ID. Every key of one bucket lives in one slot,
// so the batch step of the cache (cache.Coordinator) reads and claims a whole
// bucket with one script, while the buckets of an environment spread over
// every master of a Cluster. A batch of any size is then at most Buckets
// multi-key calls per environment, which go-redis's cluster pipeline sends to
// each node in one round trip.
//
// The tags are striped: the tag of bucket b is salted so that its slot falls
// in the b-th sixteenth of the slot space. A Cluster created by
// `redis-cli --cluster create` gives each master one contiguous range of
// slots, so the buckets, and with them the keys of an environment, divide
// evenly over the masters (with 3 masters: 5 or 6 buckets each, 31–38% of
// the keys) whatever the environment is called.
//
// It imports nothing else from this module and must not: every package that
// talks to Redis imports it.
package keyspace

import (
	"hash/fnv"
	"strconv"
	"sync"
)

// Version is in every name: a change of a value's encoding or of the layout
// bumps it, so that old keys are ignored (and expire) rather than misread.
const Version = "v2"

// Prefix starts every key and channel name.
const Prefix = "publishgate:" + Version + ":"

// Buckets is how many hash-tag groups an environment's bots are split into.
// 16 spreads an environment over up to 16 masters and keeps a cold batch to
// at most 16 scripts per environment; a bot always falls in the same bucket.
const Buckets = 16

// Slots is the number of hash slots of a Redis Cluster.
const Slots = 16384

// Bucket is the bucket of a bot ID (FNV-1a, so stable across processes and
// releases).
func Bucket(botID string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(botID))
	return int(h.Sum32() % Buckets)
}

// Tag is the hash tag, braces included, of bucket b of env.
func Tag(env string, b int) string { return tagsOf(env)[b%Buckets] }

// BotTag is the hash tag of the bucket botID falls in.
func BotTag(env, botID string) string { return Tag(env, Bucket(botID)) }

// EnvTag is the hash tag of keys that belong to a whole environment and to
// no bucket (the watcher's lease, the discovered bot list): one slot.
func EnvTag(env string) string { return "{" + env + "}" }

// tags memoizes the striped tags of each environment. It holds the results of
// a pure function of the name, so it is safe to share; it grows with the
// number of environments configured, a few dozen at most.
var tags sync.Map // string -> *[Buckets]string

func tagsOf(env string) *[Buckets]string {
	if t, ok := tags.Load(env); ok {
		return t.(*[Buckets]string)
	}
	var t [Buckets]string
	for b := range Buckets {
		t[b] = stripedTag(env, b)
	}
	v, _ := tags.LoadOrStore(env, &t)
	return v.(*[Buckets]string)
}

// stripedTag finds the first salt that puts bucket b's tag in its stripe of
// the slot space. About Buckets tries on average: CRC16 spreads evenly.
func stripedTag(env string, b int) string {
	lo, hi := b*Slots/Buckets, (b+1)*Slots/Buckets
	base := env + "#" + strconv.Itoa(b) + "."
	for salt := 0; ; salt++ {
		inner := base + strconv.Itoa(salt)
		if s := int(crc16(inner) % Slots); s >= lo && s < hi {
			return "{" + inner + "}"
		}
	}
}

// Slot is the Cluster hash slot of key, by the Cluster specification: the
// CRC16 of the hash tag when the key has a non-empty one, else of the key.
func Slot(key string) int {
	for i := 0; i < len(key); i++ {
		if key[i] != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j > i+1 {
					key = key[i+1 : j]
				}
				return int(crc16(key) % Slots)
			}
		}
		break
	}
	return int(crc16(key) % Slots)
}

// crc16 is CRC16-XMODEM (polynomial 0x1021), the checksum Redis Cluster uses.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// Job is the key of a bot's cached publish job.
func Job(env, botID string) string { return Prefix + "job:" + BotTag(env, botID) + ":" + botID }

// FillLock is the key of the lock one replica holds while it fetches a bot.
func FillLock(env, botID string) string { return Prefix + "fill:" + BotTag(env, botID) + ":" + botID }

// FilledChannel is where replicas announce the results of their fills, one
// message per batch.
const FilledChannel = Prefix + "filled"

// BotBudget is the key of one budget window (bot-minute, bot-hour) of a bot.
func BotBudget(env, botID, window string) string {
	return Prefix + "budget:" + BotTag(env, botID) + ":" + botID + ":" + window
}

// Backoff is the key that refuses a bot's requests after Kore.ai answered 429.
func Backoff(env, botID string) string {
	return Prefix + "budget:" + BotTag(env, botID) + ":backoff:" + botID
}

// EnvBudget is the key of one environment-wide budget window's share kept
// with bucket b: the window is split evenly over the buckets, so that taking
// it stays in the bucket's slot.
func EnvBudget(env string, b int, window string) string {
	return Prefix + "budget:" + Tag(env, b) + ":" + window
}
