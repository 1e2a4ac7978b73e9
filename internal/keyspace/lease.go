package keyspace

// The keys of the leases (and the channels and lists next to them) that
// elect one replica for a piece of background work. Each is read and
// written on its own, one key per command or script, so each is safe in a
// Cluster whatever slot it falls in; the tags only choose where.

// LiveLease is the key of the lease on bucket b of env's live polling: its
// holder (value: the live hub's ID) polls the watched bots of the bucket for
// every replica. It carries the bucket's tag, so an environment's 16 leases
// spread over the masters like its jobs.
func LiveLease(env string, b int) string { return Prefix + "live:lease:" + Tag(env, b) }

// LiveChannel is the pub/sub channel on which the holder of LiveLease(env,
// b), and any replica that read a job of the bucket itself, publishes the
// jobs it saw. Classic PUBLISH reaches every node of a Cluster whatever the
// name; the bucket's tag keeps it ready for sharded pub/sub (SPUBLISH).
func LiveChannel(env string, b int) string { return Prefix + "live:jobs:" + Tag(env, b) }

// WatchLease is the key of the lease on polling env (watchInterval): one
// key per environment, in the environment's slot.
func WatchLease(env string) string { return Prefix + "watch:lease:" + EnvTag(env) }

// WatchReadChannel is where the holder of WatchLease(env) names the bots it
// has just read, for the other replicas to pull.
func WatchReadChannel(env string) string { return Prefix + "watch:read:" + EnvTag(env) }

// BotList is the key of env's shared bot list (discoverBots).
func BotList(env string) string { return Prefix + "bots:" + EnvTag(env) }

// BotListLock is the key of the lock held by the replica listing env's bots
// with Kore.ai; it shares the list's slot.
func BotListLock(env string) string { return BotList(env) + ":lock" }
