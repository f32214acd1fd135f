package engine

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/net/http2/hpack"
)

// hpackDecoder decodes response header blocks (RFC 7541) for the HTTP/2
// client without allocating. golang.org/x/net/http2/hpack's Decoder turns
// every literal into a string; nginx sends server, date, content-type and
// content-length as literals with incremental indexing on every response,
// which cost ~2µs of client CPU per h2c request in profiles (allocation,
// garbage collection and string copies). Here the dynamic table lives in one
// fixed byte arena, values of fields that are neither indexed nor read are
// skipped undecoded, and only :status and grpc-status are reported.
type hpackDecoder struct {
	maxSize uint32 // SETTINGS_HEADER_TABLE_SIZE we advertise (the default, 4096)
	limit   uint32 // the encoder's current limit, ≤ maxSize
	size    uint32 // RFC 7541 §4.1 size of the table

	ents  [hpackMaxEntries]hpackEntry // ring of entries, oldest at first
	first int
	n     int // entries in the table

	arena []byte // entry bytes; live entries are contiguous runs in insertion order
	tail  int    // end of the newest entry in arena

	out   hpackSink // Huffman decoder output
	cache [hpackCacheSize]hpackCached

	// Results of the last block.
	status     int // :status, 0 = none
	grpcStatus int // grpc-status, -1 = none
}

const (
	hpackDefaultTableSize = 4096
	hpackMaxEntries       = hpackDefaultTableSize / 32 // every entry counts ≥ 32
	hpackArena            = 4 * hpackDefaultTableSize
)

// Servers send the same literals again and again (nginx re-sends server,
// content-type, content-length and a date that changes once a second, each
// Huffman-coded, on every response), so decoded strings are cached by their
// coded bytes: a hit costs a hash and a compare instead of ~250ns of
// Huffman decoding.
const (
	hpackCacheSize = 16
	hpackCacheRaw  = 48
	hpackCacheDec  = 64
)

type hpackCached struct {
	rawLen, decLen uint8
	raw            [hpackCacheRaw]byte
	dec            [hpackCacheDec]byte
}

// huff appends the Huffman decoding of raw to d.out.b.
func (d *hpackDecoder) huff(raw []byte) error {
	var c *hpackCached
	if len(raw) <= hpackCacheRaw {
		// The hash only picks a cache line; the compare decides.
		h := uint64(len(raw))
		if len(raw) >= 8 {
			h ^= binary.LittleEndian.Uint64(raw) ^ binary.LittleEndian.Uint64(raw[len(raw)-8:])*31
		} else if len(raw) > 0 {
			h ^= uint64(raw[0]) << 8
		}
		h *= 0x9E3779B97F4A7C15
		c = &d.cache[h>>60%hpackCacheSize]
		if int(c.rawLen) == len(raw) && c.decLen > 0 && bytes.Equal(c.raw[:c.rawLen], raw) {
			d.out.b = append(d.out.b, c.dec[:c.decLen]...)
			return nil
		}
	}
	start := len(d.out.b)
	if _, err := hpack.HuffmanDecode(&d.out, raw); err != nil {
		return errHPACK
	}
	if dec := d.out.b[start:]; c != nil && len(dec) > 0 && len(dec) <= hpackCacheDec {
		c.rawLen, c.decLen = uint8(copy(c.raw[:], raw)), uint8(copy(c.dec[:], dec))
	}
	return nil
}

type hpackEntry struct {
	off, nameLen, valLen int
}

// hpackSink collects the Huffman decoder's output in the arena (or in a
// scratch buffer for values that are only read).
type hpackSink struct{ b []byte }

func (s *hpackSink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

func newHPACKDecoder() *hpackDecoder {
	return &hpackDecoder{maxSize: hpackDefaultTableSize, limit: hpackDefaultTableSize,
		arena: make([]byte, hpackArena), out: hpackSink{b: make([]byte, 0, 256)}}
}

var errHPACK = &protocolError{"h2: malformed HPACK header block"}

// hpackInt reads an integer with an n-bit prefix (RFC 7541 §5.1).
func hpackInt(p []byte, n uint) (v uint64, rest []byte, err error) {
	if len(p) == 0 {
		return 0, nil, errHPACK
	}
	mask := uint64(1)<<n - 1
	v = uint64(p[0]) & mask
	p = p[1:]
	if v < mask {
		return v, p, nil
	}
	for m := uint(0); ; m += 7 {
		if len(p) == 0 || m > 56 {
			return 0, nil, errHPACK
		}
		b := p[0]
		p = p[1:]
		v += uint64(b&0x7f) << m
		if b&0x80 == 0 {
			return v, p, nil
		}
	}
}

// hpackString splits off a string literal: its raw bytes and whether they
// are Huffman-coded.
func hpackString(p []byte) (s []byte, huff bool, rest []byte, err error) {
	if len(p) == 0 {
		return nil, false, nil, errHPACK
	}
	huff = p[0]&0x80 != 0
	n, p, err := hpackInt(p, 7)
	if err != nil || uint64(len(p)) < n {
		return nil, false, nil, errHPACK
	}
	return p[:n], huff, p[n:], nil
}

// decode parses one complete header block.
func (d *hpackDecoder) decode(p []byte) error {
	d.status, d.grpcStatus = 0, -1
	for len(p) > 0 {
		b := p[0]
		var err error
		switch {
		case b&0x80 != 0: // indexed field
			var idx uint64
			if idx, p, err = hpackInt(p, 7); err != nil {
				return err
			}
			name, value, ok := d.at(idx)
			if !ok {
				return errHPACK
			}
			d.field(name, value)
		case b&0xc0 == 0x40: // literal with incremental indexing
			if p, err = d.literal(p, 6, true); err != nil {
				return err
			}
		case b&0xe0 == 0x20: // dynamic table size update
			var v uint64
			if v, p, err = hpackInt(p, 5); err != nil {
				return err
			}
			if v > uint64(d.maxSize) {
				return errHPACK
			}
			d.limit = uint32(v)
			d.evict(0)
		default: // literal without indexing (0000) or never indexed (0001)
			if p, err = d.literal(p, 4, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// literal handles a literal field with an n-bit name-index prefix.
func (d *hpackDecoder) literal(p []byte, n uint, index bool) ([]byte, error) {
	idx, p, err := hpackInt(p, n)
	if err != nil {
		return nil, err
	}
	var name, nameRaw, valRaw []byte
	var nameHuff, valHuff bool
	if idx > 0 {
		var ok bool
		if name, _, ok = d.at(idx); !ok {
			return nil, errHPACK
		}
	} else if nameRaw, nameHuff, p, err = hpackString(p); err != nil {
		return nil, err
	}
	if valRaw, valHuff, p, err = hpackString(p); err != nil {
		return nil, err
	}
	if !index {
		// Nothing is stored: decode only what is read.
		which := hpackWhich(name, nameRaw, nameHuff)
		if which == 0 {
			return p, nil
		}
		v := valRaw
		if valHuff {
			d.out.b = d.out.b[:0]
			if err := d.huff(valRaw); err != nil {
				return nil, err
			}
			v = d.out.b
		}
		d.set(which, v)
		return p, nil
	}
	// Insert: the decoded name and value go into the arena.
	name, value, err := d.insert(name, nameRaw, nameHuff, valRaw, valHuff)
	if err != nil {
		return nil, err
	}
	d.field(name, value)
	return p, nil
}

var (
	hpackStatusName     = []byte(":status")
	hpackGRPCStatusName = []byte("grpc-status")
	hpackStatusHuff     = hpack.AppendHuffmanString(nil, ":status")
	hpackGRPCStatusHuff = hpack.AppendHuffmanString(nil, "grpc-status")
)

// hpackWhich tells whether a field name is one the engine reads: 1
// :status, 2 grpc-status, 0 neither. A Huffman code is canonical, so an
// encoded name is compared with the encoding of the names looked for.
func hpackWhich(name, raw []byte, huff bool) int {
	switch {
	case name != nil:
		raw, huff = name, false
	case huff:
		switch {
		case bytes.Equal(raw, hpackStatusHuff):
			return 1
		case bytes.Equal(raw, hpackGRPCStatusHuff):
			return 2
		}
		return 0
	}
	switch {
	case bytes.Equal(raw, hpackStatusName):
		return 1
	case bytes.Equal(raw, hpackGRPCStatusName):
		return 2
	}
	return 0
}

func (d *hpackDecoder) field(name, value []byte) {
	if w := hpackWhich(name, nil, false); w != 0 {
		d.set(w, value)
	}
}

func (d *hpackDecoder) set(which int, v []byte) {
	n := atoiSmall(v)
	if which == 1 {
		d.status = n
		return
	}
	if n < 0 {
		n = grpcUnknown
	}
	d.grpcStatus = n
}

// atoiSmall parses a short decimal; -1 when it is not one.
func atoiSmall(v []byte) int {
	if len(v) == 0 || len(v) > 6 {
		return -1
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// at returns entry idx (1-based: static table, then dynamic newest first).
func (d *hpackDecoder) at(idx uint64) (name, value []byte, ok bool) {
	if idx == 0 {
		return nil, nil, false
	}
	if idx <= uint64(len(hpackStatic)) {
		e := &hpackStatic[idx-1]
		return e[0], e[1], true
	}
	i := idx - uint64(len(hpackStatic)) - 1
	if i >= uint64(d.n) {
		return nil, nil, false
	}
	e := d.ents[(d.first+d.n-1-int(i))%hpackMaxEntries]
	return d.arena[e.off : e.off+e.nameLen], d.arena[e.off+e.nameLen : e.off+e.nameLen+e.valLen], true
}

// insert adds an entry (RFC 7541 §4.4): evict until it fits, then store the
// decoded name and value contiguously in the arena, and return them. name,
// when not nil, is an indexed name and may alias the arena (it is copied
// first).
func (d *hpackDecoder) insert(name, nameRaw []byte, nameHuff bool, valRaw []byte, valHuff bool) ([]byte, []byte, error) {
	// Decode into the scratch buffer first: the lengths decide eviction.
	d.out.b = d.out.b[:0]
	if name != nil {
		d.out.b = append(d.out.b, name...)
	} else if nameHuff {
		if err := d.huff(nameRaw); err != nil {
			return nil, nil, err
		}
	} else {
		d.out.b = append(d.out.b, nameRaw...)
	}
	nameLen := len(d.out.b)
	if valHuff {
		if err := d.huff(valRaw); err != nil {
			return nil, nil, err
		}
	} else {
		d.out.b = append(d.out.b, valRaw...)
	}
	l := len(d.out.b)
	size := uint32(l) + 32
	if size > d.limit {
		// Larger than the table: it empties the table and is not stored.
		d.evict(d.limit + 1)
		return d.out.b[:nameLen], d.out.b[nameLen:], nil
	}
	d.evict(size)
	if d.n == 0 {
		d.tail = 0
	}
	if d.tail+l > len(d.arena) {
		d.compact()
	}
	off := d.tail
	copy(d.arena[off:], d.out.b)
	d.ents[(d.first+d.n)%hpackMaxEntries] = hpackEntry{off: off, nameLen: nameLen, valLen: l - nameLen}
	d.n++
	d.tail += l
	d.size += size
	return d.arena[off : off+nameLen], d.arena[off+nameLen : off+l], nil
}

// evict drops the oldest entries until room more bytes fit under the limit.
func (d *hpackDecoder) evict(room uint32) {
	for d.n > 0 && d.size+room > d.limit {
		e := d.ents[d.first]
		d.size -= uint32(e.nameLen+e.valLen) + 32
		d.first = (d.first + 1) % hpackMaxEntries
		d.n--
	}
}

// compact moves the live entries to the start of the arena. They are at
// most limit bytes, a quarter of it, so this runs once per several KiB of
// insertions.
func (d *hpackDecoder) compact() {
	if d.n == 0 {
		d.tail = 0
		return
	}
	start := d.ents[d.first].off
	d.tail = copy(d.arena, d.arena[start:d.tail])
	for i := range d.n {
		d.ents[(d.first+i)%hpackMaxEntries].off -= start
	}
}

// hpackStatic is RFC 7541 Appendix A.
var hpackStatic = func() [61][2][]byte {
	s := [61][2]string{
		{":authority", ""}, {":method", "GET"}, {":method", "POST"}, {":path", "/"}, {":path", "/index.html"},
		{":scheme", "http"}, {":scheme", "https"}, {":status", "200"}, {":status", "204"}, {":status", "206"},
		{":status", "304"}, {":status", "400"}, {":status", "404"}, {":status", "500"}, {"accept-charset", ""},
		{"accept-encoding", "gzip, deflate"}, {"accept-language", ""}, {"accept-ranges", ""}, {"accept", ""},
		{"access-control-allow-origin", ""}, {"age", ""}, {"allow", ""}, {"authorization", ""},
		{"cache-control", ""}, {"content-disposition", ""}, {"content-encoding", ""}, {"content-language", ""},
		{"content-length", ""}, {"content-location", ""}, {"content-range", ""}, {"content-type", ""},
		{"cookie", ""}, {"date", ""}, {"etag", ""}, {"expect", ""}, {"expires", ""}, {"from", ""}, {"host", ""},
		{"if-match", ""}, {"if-modified-since", ""}, {"if-none-match", ""}, {"if-range", ""},
		{"if-unmodified-since", ""}, {"last-modified", ""}, {"link", ""}, {"location", ""}, {"max-forwards", ""},
		{"proxy-authenticate", ""}, {"proxy-authorization", ""}, {"range", ""}, {"referer", ""}, {"refresh", ""},
		{"retry-after", ""}, {"server", ""}, {"set-cookie", ""}, {"strict-transport-security", ""},
		{"transfer-encoding", ""}, {"user-agent", ""}, {"vary", ""}, {"via", ""}, {"www-authenticate", ""},
	}
	var t [61][2][]byte
	for i, e := range s {
		t[i] = [2][]byte{[]byte(e[0]), []byte(e[1])}
	}
	return t
}()
