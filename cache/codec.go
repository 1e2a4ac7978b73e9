package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/publishgate/publishgate/upstream"
)

// errBadEntry means a stored value is not an entry in the binary format
// (garbage, truncated, or written by a newer version): callers count it as
// a miss.
var errBadEntry = errors.New("bad encoded cache entry")

// The binary format of an Entry, built to be decoded fast (a fresh replica
// decodes a thousand of them for its first query over a warm Redis).
//
// Header, entryHeaderLen bytes, fixed (other code reads it without this
// package: a Lua script takes the fetch time in microseconds with
// tonumber(string.sub(v, 2, 17)), exact as a Lua double until 2255):
//
//	byte 0       'P', the format marker; a JSON entry starts with '{', so
//	             both can be told apart while a rollout mixes them
//	bytes 1..19  FetchedAt as UnixNano in exactly 19 ASCII decimal digits,
//	             zero-padded. A fetch time at or before 1970-01-01 (the zero
//	             Time too) is written as 19 zeros, which decodes as the zero
//	             Time; one after 2262-04-11 is written as math.MaxInt64.
//
// Body: integers are uvarints, or zig-zag varints where signed
// (encoding/binary); a string is a uvarint byte length and the bytes, as
// they are (not checked to be UTF-8); a list is a uvarint count plus one,
// so that 0 is a nil list and 1 an empty one.
//
//	version/flags  one byte: bits 7..4 the version, entryVersion; bit 0 set
//	               when there is a job (clear: never published, and the
//	               value ends here); bits 3..1 zero
//	times          one byte: two bits per time, RequestedTime in bits 1..0,
//	               InitiatedOn in 3..2, LastModifiedOn in 5..4; bits 7..6
//	               zero. timeAbsent, timeNano (a varint UnixNano follows),
//	               timeWide (a varint of Unix seconds and a uvarint of
//	               nanoseconds below 1e9 follow: for times UnixNano cannot
//	               hold, before 1678 or after 2262)
//	status         one byte, a stateCode; stateLiteral is followed by the
//	               State as a string
//	pct            PercentageComplete, varint
//	strings        ID, JobType, StreamID, Action, CreatedBy, RawStatus
//	time values    those the times byte marks present, in that order
//	summary        list count of StatusSummary; when not 0:
//	modules total  uvarint, the number of modules over every resource
//	resources      each: ResourceID, ResourceType, Name, RawStatus, its
//	               status (a stateCode, a ResourceState when literal), then
//	               Modules: a list count and as many strings
//
// Nothing may follow. Decoded times are in UTC (their instant and
// nanoseconds are kept, not their Location or monotonic reading); nil and
// empty StatusSummary and Modules stay distinct, although JSON merged
// empty Modules into nil and GraphQL writes both as []. The state codes
// are frozen: a new state takes a new code, none is ever renumbered.
const (
	// entryHeaderLen is the length of the header: the marker and the
	// 19 digits of the fetch time.
	entryHeaderLen = 20
	// entryMarker is the first byte of every binary entry.
	entryMarker = 'P'
	// entryVersion is the body version this code writes and reads.
	entryVersion = 1
	// flagJob marks an entry that holds a job.
	flagJob = 0x01
)

// Time forms, two bits per time in the times byte.
const (
	timeAbsent = 0
	timeNano   = 1
	timeWide   = 2
	timeForms  = 0x3f // every bit a time form may use
)

// State codes, shared by upstream.State and upstream.ResourceState (whose
// values are strings).
const (
	stateEmpty      = 0 // the zero value, ""
	stateSuccessful = 1 // StateSuccessful, ResourceSuccess
	stateFailed     = 2 // StateFailed, ResourceFailed
	stateInProgress = 3 // StateInProgress, ResourceInProgress
	stateUnknown    = 4 // StateUnknown, ResourceUnknown
	stateLiteral    = 5 // any other value, written out as a string
)

// unixToInternal is the seconds from year 1 to 1970, as package time
// counts them: a wide time of more seconds than math.MaxInt64 less these
// would overflow time.Unix.
const unixToInternal = (1969*365 + 1969/4 - 1969/100 + 1969/400) * 86400

// minResourceLen is the fewest bytes one resource takes (four empty
// strings, a status, nil modules): a count is checked against it before
// anything is allocated for garbage.
const minResourceLen = 6

// appendEntry appends the binary encoding of e to dst.
func appendEntry(dst []byte, e Entry) []byte {
	dst = slices.Grow(dst, encodedLen(e))
	dst = appendHeader(dst, e.FetchedAt)
	j := e.Job
	if j == nil {
		return append(dst, entryVersion<<4)
	}
	dst = append(dst, entryVersion<<4|flagJob)
	times := [3]*time.Time{j.RequestedTime, j.InitiatedOn, j.LastModifiedOn}
	var forms byte
	for i, t := range times {
		forms |= timeForm(t) << (2 * i)
	}
	dst = append(dst, forms)
	dst = appendState(dst, string(j.Status), stateCode(j.Status, jobStates()))
	dst = binary.AppendVarint(dst, int64(j.PercentageComplete))
	for _, s := range [...]string{j.ID, j.JobType, j.StreamID, j.Action, j.CreatedBy, j.RawStatus} {
		dst = appendString(dst, s)
	}
	for i, t := range times {
		switch forms >> (2 * i) & 3 {
		case timeNano:
			dst = binary.AppendVarint(dst, t.UnixNano())
		case timeWide:
			dst = binary.AppendVarint(dst, t.Unix())
			dst = binary.AppendUvarint(dst, uint64(t.Nanosecond()))
		}
	}
	dst = appendListLen(dst, j.StatusSummary == nil, len(j.StatusSummary))
	if len(j.StatusSummary) == 0 {
		return dst
	}
	total := 0
	for _, r := range j.StatusSummary {
		total += len(r.Modules)
	}
	dst = binary.AppendUvarint(dst, uint64(total))
	for _, r := range j.StatusSummary {
		for _, s := range [...]string{r.ResourceID, r.ResourceType, r.Name, r.RawStatus} {
			dst = appendString(dst, s)
		}
		dst = appendState(dst, string(r.Status), stateCode(r.Status, resourceStates()))
		dst = appendListLen(dst, r.Modules == nil, len(r.Modules))
		for _, m := range r.Modules {
			dst = appendString(dst, m)
		}
	}
	return dst
}

// encodedLen is the length of e's encoding, so that appendEntry grows its
// buffer once, to the size it needs.
func encodedLen(e Entry) int {
	n := entryHeaderLen + 1
	j := e.Job
	if j == nil {
		return n
	}
	n += 1 + stateLen(string(j.Status), stateCode(j.Status, jobStates())) + varintLen(int64(j.PercentageComplete))
	n += strLen(j.ID) + strLen(j.JobType) + strLen(j.StreamID) + strLen(j.Action) + strLen(j.CreatedBy) + strLen(j.RawStatus)
	for _, t := range [...]*time.Time{j.RequestedTime, j.InitiatedOn, j.LastModifiedOn} {
		switch timeForm(t) {
		case timeNano:
			n += varintLen(t.UnixNano())
		case timeWide:
			n += varintLen(t.Unix()) + uvarintLen(uint64(t.Nanosecond()))
		}
	}
	n += listLen(j.StatusSummary == nil, len(j.StatusSummary))
	if len(j.StatusSummary) == 0 {
		return n
	}
	total := 0
	for _, r := range j.StatusSummary {
		n += strLen(r.ResourceID) + strLen(r.ResourceType) + strLen(r.Name) + strLen(r.RawStatus)
		n += stateLen(string(r.Status), stateCode(r.Status, resourceStates())) + listLen(r.Modules == nil, len(r.Modules))
		for _, m := range r.Modules {
			n += strLen(m)
		}
		total += len(r.Modules)
	}
	return n + uvarintLen(uint64(total))
}

func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func varintLen(x int64) int { return uvarintLen(uint64(x<<1) ^ uint64(x>>63)) }

func strLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

func listLen(isNil bool, n int) int {
	if isNil {
		return 1
	}
	return uvarintLen(uint64(n) + 1)
}

func stateLen(s string, code byte) int {
	if code == stateLiteral {
		return 1 + strLen(s)
	}
	return 1
}

// appendHeader appends the marker and at as 19 digits of UnixNano.
func appendHeader(dst []byte, at time.Time) []byte {
	n := at.UnixNano()
	if n <= 0 || !time.Unix(0, n).Equal(at) {
		// UnixNano overflowed (its result is undefined then) or the time
		// is not after 1970: clamp.
		n = 0
		if at.After(time.Unix(0, 0)) {
			n = math.MaxInt64
		}
	}
	dst = append(dst, entryMarker, '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0')
	for i := len(dst) - 1; n > 0; i-- {
		dst[i] = byte('0' + n%10)
		n /= 10
	}
	return dst
}

// timeForm is how t is written: absent, as UnixNano when that holds it
// exactly, as seconds and nanoseconds otherwise.
func timeForm(t *time.Time) byte {
	switch {
	case t == nil:
		return timeAbsent
	case time.Unix(0, t.UnixNano()).Equal(*t):
		return timeNano
	default:
		return timeWide
	}
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendListLen(dst []byte, isNil bool, n int) []byte {
	if isNil {
		return append(dst, 0)
	}
	return binary.AppendUvarint(dst, uint64(n)+1)
}

func appendState(dst []byte, s string, code byte) []byte {
	dst = append(dst, code)
	if code == stateLiteral {
		dst = appendString(dst, s)
	}
	return dst
}

// jobStates and resourceStates are the values of the state codes below
// stateLiteral, by code.
func jobStates() [stateLiteral]upstream.State {
	return [...]upstream.State{"", upstream.StateSuccessful, upstream.StateFailed, upstream.StateInProgress, upstream.StateUnknown}
}

func resourceStates() [stateLiteral]upstream.ResourceState {
	return [...]upstream.ResourceState{"", upstream.ResourceSuccess, upstream.ResourceFailed, upstream.ResourceInProgress, upstream.ResourceUnknown}
}

// stateCode is the code of s among the known states, stateLiteral for
// any other value.
func stateCode[S ~string](s S, known [stateLiteral]S) byte {
	for i, k := range known {
		if s == k {
			return byte(i)
		}
	}
	return stateLiteral
}

// entryFetchedAt reads the fetch time of an encoded entry from its header
// alone; ok is false when raw does not start with a valid header.
func entryFetchedAt(raw []byte) (time.Time, bool) {
	n, ok := headerNanos(raw)
	if !ok {
		return time.Time{}, false
	}
	return nanosFetchedAt(n), true
}

// headerNanos parses the header of raw.
func headerNanos[T string | []byte](raw T) (int64, bool) {
	if len(raw) < entryHeaderLen || raw[0] != entryMarker {
		return 0, false
	}
	var n uint64
	for i := 1; i < entryHeaderLen; i++ {
		d := raw[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + uint64(d) // 19 digits cannot overflow a uint64
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// nanosFetchedAt is the fetch time of a header holding n; 0 stands for
// the zero Time.
func nanosFetchedAt(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// decodeEntry decodes an entry appendEntry wrote. It copies raw once into
// a string that every string of the entry shares.
func decodeEntry(raw []byte) (Entry, error) { return decodeEntryString(string(raw)) }

// decodeEntryString is decodeEntry for a value already held as a string
// (go-redis returns MGET values as strings): it copies nothing, and the
// entry's strings keep s alive.
func decodeEntryString(s string) (Entry, error) {
	n, ok := headerNanos(s)
	if !ok {
		return Entry{}, fmt.Errorf("%w: no header", errBadEntry)
	}
	e := Entry{FetchedAt: nanosFetchedAt(n)}
	if len(s) == entryHeaderLen {
		return Entry{}, fmt.Errorf("%w: no body", errBadEntry)
	}
	vf := s[entryHeaderLen]
	if vf>>4 != entryVersion {
		return Entry{}, fmt.Errorf("%w: version %d", errBadEntry, vf>>4)
	}
	if vf&0x0f&^flagJob != 0 {
		return Entry{}, fmt.Errorf("%w: unknown flags %#x", errBadEntry, vf&0x0f)
	}
	r := entryReader{s: s, off: entryHeaderLen + 1}
	if vf&flagJob != 0 {
		e.Job = r.job()
	}
	if r.problem == "" && r.off != len(s) {
		r.fail("trailing bytes")
	}
	if r.problem != "" {
		return Entry{}, fmt.Errorf("%w: %s at byte %d", errBadEntry, r.problem, r.at)
	}
	return e, nil
}

// jobBlock is a decoded job and its times, allocated at once.
type jobBlock struct {
	job   upstream.Job
	times [3]time.Time
}

// entryReader reads a body. After the first problem every read returns a
// zero value and the caller checks problem once it is done.
type entryReader struct {
	s       string
	off     int
	problem string
	at      int
}

func (r *entryReader) fail(problem string) {
	if r.problem == "" {
		r.problem, r.at = problem, r.off
	}
	r.off = len(r.s)
}

func (r *entryReader) job() *upstream.Job {
	b := new(jobBlock)
	j := &b.job
	forms := r.byte()
	if forms&^timeForms != 0 {
		r.fail("unknown time forms")
		return nil
	}
	j.Status = readState(r, jobStates())
	pct := r.varint()
	if int64(int(pct)) != pct {
		r.fail("percentage out of range")
	}
	j.PercentageComplete = int(pct)
	j.ID, j.JobType, j.StreamID = r.str(), r.str(), r.str()
	j.Action, j.CreatedBy, j.RawStatus = r.str(), r.str(), r.str()
	for i, p := range [...]**time.Time{&j.RequestedTime, &j.InitiatedOn, &j.LastModifiedOn} {
		switch forms >> (2 * i) & 3 {
		case timeAbsent:
			continue
		case timeNano:
			b.times[i] = time.Unix(0, r.varint()).UTC()
		case timeWide:
			sec, nsec := r.varint(), r.uvarint()
			if nsec >= 1e9 || sec > math.MaxInt64-unixToInternal {
				r.fail("time out of range")
			}
			b.times[i] = time.Unix(sec, int64(nsec)).UTC()
		default:
			r.fail("unknown time form")
		}
		*p = &b.times[i]
	}
	j.StatusSummary = r.summary()
	return j
}

func (r *entryReader) summary() []upstream.ResourceStatus {
	n := r.uvarint()
	if n == 0 {
		return nil
	}
	n--
	if n > uint64(len(r.s)-r.off)/minResourceLen {
		r.fail("more resources than bytes")
		return nil
	}
	rs := make([]upstream.ResourceStatus, n)
	if n == 0 {
		return rs
	}
	total := r.uvarint()
	if total > uint64(len(r.s)-r.off) {
		r.fail("more modules than bytes")
		return nil
	}
	var mods []string
	if total > 0 {
		mods = make([]string, total)
	}
	for i := range rs {
		p := &rs[i]
		p.ResourceID, p.ResourceType, p.Name, p.RawStatus = r.str(), r.str(), r.str(), r.str()
		p.Status = readState(r, resourceStates())
		k := r.uvarint()
		if k == 0 {
			continue
		}
		k--
		if k > uint64(len(mods)) {
			r.fail("more modules than the total")
			return nil
		}
		// Capped, so that appending to one resource's modules never
		// writes over the next one's.
		m := mods[:k:k]
		mods = mods[k:]
		for j := range m {
			m[j] = r.str()
		}
		if m == nil {
			m = []string{} // empty, not nil; allocates nothing
		}
		p.Modules = m
	}
	if len(mods) != 0 {
		r.fail("fewer modules than the total")
	}
	if r.problem != "" {
		return nil
	}
	return rs
}

func (r *entryReader) byte() byte {
	if r.off >= len(r.s) {
		r.fail("truncated")
		return 0
	}
	b := r.s[r.off]
	r.off++
	return b
}

func (r *entryReader) uvarint() uint64 {
	// Lengths, counts and codes mostly take one byte: this much inlines.
	if rest := r.s[r.off:]; len(rest) > 0 && rest[0] < 0x80 {
		r.off++
		return uint64(rest[0])
	}
	return r.uvarintLong()
}

func (r *entryReader) uvarintLong() uint64 {
	var x uint64
	for i := range binary.MaxVarintLen64 {
		if r.off >= len(r.s) {
			r.fail("truncated")
			return 0
		}
		b := r.s[r.off]
		r.off++
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break
			}
			return x | uint64(b)<<(7*i)
		}
		x |= uint64(b&0x7f) << (7 * i)
	}
	r.fail("varint overflows 64 bits")
	return 0
}

func (r *entryReader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *entryReader) str() string {
	// A string shorter than 128 bytes has a one-byte length: this much
	// inlines.
	if rest := r.s[r.off:]; len(rest) > 0 && rest[0] < 0x80 && int(rest[0]) < len(rest) {
		end := 1 + int(rest[0])
		r.off += end
		return rest[1:end]
	}
	return r.strLong()
}

func (r *entryReader) strLong() string {
	n := r.uvarint()
	if n > uint64(len(r.s)-r.off) {
		r.fail("string past the end")
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// readState reads a state code, and the literal that may follow it.
func readState[S ~string](r *entryReader, known [stateLiteral]S) S {
	switch c := r.byte(); {
	case c < stateLiteral:
		return known[c]
	case c == stateLiteral:
		return S(r.str())
	default:
		r.fail("unknown state code")
		return ""
	}
}
