package cache

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/publishgate/publishgate/upstream"
)

// Decoding of the binary entry format described in codec.go.

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
