package keyspace

// The keys below belong to no bot and no environment, and every command that
// touches them names one key alone (GET, SET, SET NX, DEL), so they carry no
// hash tag: each falls in the slot of its own name, which spreads them over
// every master of a Cluster. A command naming two of them would answer
// CROSSSLOT in a Cluster; give both the same tag before writing one.

// APQPrefix starts the key of every persisted query document; APQ is the key.
const APQPrefix = Prefix + "apq:"

// APQ is the key of the persisted query document whose SHA-256, in
// lower-case hex, is hash (apq.Store).
func APQ(hash string) string { return APQPrefix + hash }

// IdempotencyPrefix starts the key of every publish idempotency key;
// Idempotency is the key.
const IdempotencyPrefix = Prefix + "idem:"

// Idempotency is the key that holds the answer of the publish made under
// key, a caller-scoped hash (publish.Store).
func Idempotency(key string) string { return IdempotencyPrefix + key }
