package cache

import (
	"encoding/binary"
	"errors"
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
//	byte 0       'P', the format marker: any other first byte (garbage,
//	             a JSON value) is errBadEntry, read as a miss
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
// empty StatusSummary and Modules stay distinct (GraphQL writes both as
// []). The state codes
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
