// Package jks reads and writes Java's JKS keystores of trusted
// certificates, as ca-certificates-java's updater (through Java's
// sun.security.provider.JavaKeyStore) writes /etc/ssl/certs/java/cacerts:
// the same entries, in the same order, with the same integrity digest.
// Only the entries' dates are the caller's (Java writes the time of the
// run; a reproducible build gives SOURCE_DATE_EPOCH).
package jks

import (
	"bytes"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf16"
)

const (
	magic   = 0xfeedfeed
	version = 2
	// tagTrusted marks a trusted certificate entry; tagKey (1) a private
	// key entry, which cacerts never holds.
	tagTrusted = 2
	tagKey     = 1
	// maxEntries and maxCert bound what a keystore read from the image
	// may claim, before anything is allocated for it.
	maxEntries = 1 << 16
	maxCert    = 1 << 20
)

// ErrNotJKS: the data is not a JKS keystore (PKCS12, say).
var ErrNotJKS = errors.New("not a JKS keystore")

// ErrPassword: the keystore's digest does not match its password (Java's
// "Keystore was tampered with, or password was incorrect").
var ErrPassword = errors.New("keystore was tampered with, or password was incorrect")

// Entry is one trusted certificate.
type Entry struct {
	Alias string
	Date  time.Time // millisecond precision
	Type  string    // "X.509"
	Cert  []byte    // DER
}

// Store is a keystore's entries, kept as java.util.Hashtable keeps them,
// so that Write gives Java's order.
type Store struct {
	buckets   [][]*Entry // each chain head first
	count     int
	threshold int
}

// New returns an empty store (new Hashtable(): capacity 11, load 0.75).
func New() *Store {
	return &Store{buckets: make([][]*Entry, 11), threshold: 8}
}

// javaHash is String.hashCode over the UTF-16 code units.
func javaHash(s string) int32 {
	var h int32
	for _, c := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(c)
	}
	return h
}

func index(alias string, n int) int {
	return int(uint32(javaHash(alias))&0x7fffffff) % n
}

// Lower is JavaKeyStore's convertAlias: aliases are kept in lower case
// (Locale.ENGLISH).
func Lower(alias string) string { return strings.ToLower(alias) }

// Get returns the entry under alias (as stored: see Lower), or nil.
func (s *Store) Get(alias string) *Entry {
	for _, e := range s.buckets[index(alias, len(s.buckets))] {
		if e.Alias == alias {
			return e
		}
	}
	return nil
}

// Put is Hashtable.put: an existing alias keeps its place, a new one goes
// at the head of its bucket, growing the table first when full.
func (s *Store) Put(e *Entry) {
	i := index(e.Alias, len(s.buckets))
	for j, old := range s.buckets[i] {
		if old.Alias == e.Alias {
			s.buckets[i][j] = e
			return
		}
	}
	if s.count >= s.threshold {
		s.rehash()
		i = index(e.Alias, len(s.buckets))
	}
	s.buckets[i] = append([]*Entry{e}, s.buckets[i]...)
	s.count++
}

// rehash is Hashtable.rehash: capacity 2n+1, old buckets walked from the
// last, each chain from its head, every entry put at the head of its new
// chain.
func (s *Store) rehash() {
	n := len(s.buckets)*2 + 1
	nb := make([][]*Entry, n)
	for i := len(s.buckets) - 1; i >= 0; i-- {
		for _, e := range s.buckets[i] {
			j := index(e.Alias, n)
			nb[j] = append([]*Entry{e}, nb[j]...)
		}
	}
	s.buckets = nb
	s.threshold = int(float32(n) * 0.75)
}

// Delete is Hashtable.remove.
func (s *Store) Delete(alias string) bool {
	i := index(alias, len(s.buckets))
	for j, e := range s.buckets[i] {
		if e.Alias == alias {
			s.buckets[i] = append(s.buckets[i][:j:j], s.buckets[i][j+1:]...)
			s.count--
			return true
		}
	}
	return false
}

// Entries lists the entries in Hashtable.keys() order: buckets from the
// last, each chain from its head.
func (s *Store) Entries() []*Entry {
	out := make([]*Entry, 0, s.count)
	for i := len(s.buckets) - 1; i >= 0; i-- {
		out = append(out, s.buckets[i]...)
	}
	return out
}

// digest starts the keystore's SHA-1: the password's UTF-16 code units,
// big-endian, then "Mighty Aphrodite".
func digest(password string) interface {
	io.Writer
	Sum([]byte) []byte
} {
	h := sha1.New()
	for _, c := range utf16.Encode([]rune(password)) {
		h.Write([]byte{byte(c >> 8), byte(c)})
	}
	h.Write([]byte("Mighty Aphrodite"))
	return h
}

// Write writes the store as JavaKeyStore.engineStore does.
func (s *Store) Write(w io.Writer, password string) error {
	var b bytes.Buffer
	put32 := func(v uint32) { binary.Write(&b, binary.BigEndian, v) }
	putUTF := func(v string) error {
		m := modifiedUTF8(v)
		if len(m) > 0xffff {
			return fmt.Errorf("jks: string of %d bytes", len(m))
		}
		binary.Write(&b, binary.BigEndian, uint16(len(m)))
		b.Write(m)
		return nil
	}
	put32(magic)
	put32(version)
	put32(uint32(s.count))
	for _, e := range s.Entries() {
		put32(tagTrusted)
		if err := putUTF(e.Alias); err != nil {
			return err
		}
		binary.Write(&b, binary.BigEndian, e.Date.UnixMilli())
		if err := putUTF(e.Type); err != nil {
			return err
		}
		put32(uint32(len(e.Cert)))
		b.Write(e.Cert)
	}
	h := digest(password)
	h.Write(b.Bytes())
	b.Write(h.Sum(nil))
	_, err := w.Write(b.Bytes())
	return err
}

// Read parses a JKS keystore of trusted certificates and checks its
// digest against password; entries go into the store in file order, as
// engineLoad puts them.
func Read(data []byte, password string) (*Store, error) {
	es, err := FileOrder(data, password)
	if err != nil {
		return nil, err
	}
	s := New()
	for _, e := range es {
		s.Put(e)
	}
	return s, nil
}

// FileOrder is Read's list of entries, in the order of the file.
func FileOrder(data []byte, password string) ([]*Entry, error) {
	if len(data) < 12+sha1.Size {
		if len(data) >= 4 && binary.BigEndian.Uint32(data) == magic {
			return nil, errors.New("jks: truncated keystore")
		}
		return nil, ErrNotJKS
	}
	body, sum := data[:len(data)-sha1.Size], data[len(data)-sha1.Size:]
	r := &reader{b: body}
	if r.u32() != magic {
		return nil, ErrNotJKS
	}
	if v := r.u32(); v != 1 && v != 2 {
		return nil, fmt.Errorf("jks: version %d", v)
	}
	n := r.u32()
	if n > maxEntries {
		return nil, fmt.Errorf("jks: %d entries", n)
	}
	var out []*Entry
	for i := uint32(0); i < n && r.err == nil; i++ {
		switch tag := r.u32(); tag {
		case tagTrusted:
		case tagKey:
			return nil, errors.New("jks: a private key entry (not a store of trusted certificates)")
		default:
			if r.err == nil {
				return nil, fmt.Errorf("jks: entry %d: tag %d", i, tag)
			}
		}
		e := &Entry{Alias: r.utf()}
		e.Date = time.UnixMilli(int64(r.u64())).UTC()
		e.Type = r.utf()
		l := r.u32()
		if l > maxCert {
			return nil, fmt.Errorf("jks: entry %s: certificate of %d bytes", e.Alias, l)
		}
		e.Cert = r.bytes(int(l))
		if r.err == nil {
			out = append(out, e)
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("jks: %w", r.err)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("jks: %d bytes after the entries", len(r.b))
	}
	h := digest(password)
	h.Write(body)
	if subtle.ConstantTimeCompare(h.Sum(nil), sum) != 1 {
		return nil, ErrPassword
	}
	return out, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n > len(r.b) {
		r.err = io.ErrUnexpectedEOF
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) utf() string {
	b := r.bytes(2)
	if b == nil {
		return ""
	}
	return decodeModifiedUTF8(r.bytes(int(binary.BigEndian.Uint16(b))))
}

// modifiedUTF8 is DataOutput.writeUTF's encoding: UTF-16 code units,
// each 1–3 bytes, NUL as two.
func modifiedUTF8(s string) []byte {
	var out []byte
	for _, c := range utf16.Encode([]rune(s)) {
		switch {
		case c >= 1 && c <= 0x7f:
			out = append(out, byte(c))
		case c <= 0x7ff:
			out = append(out, byte(0xc0|c>>6), byte(0x80|c&0x3f))
		default:
			out = append(out, byte(0xe0|c>>12), byte(0x80|(c>>6)&0x3f), byte(0x80|c&0x3f))
		}
	}
	return out
}

func decodeModifiedUTF8(b []byte) string {
	var units []uint16
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c < 0x80:
			units = append(units, uint16(c))
			i++
		case c&0xe0 == 0xc0 && i+1 < len(b):
			units = append(units, uint16(c&0x1f)<<6|uint16(b[i+1]&0x3f))
			i += 2
		case c&0xf0 == 0xe0 && i+2 < len(b):
			units = append(units, uint16(c&0x0f)<<12|uint16(b[i+1]&0x3f)<<6|uint16(b[i+2]&0x3f))
			i += 3
		default:
			units = append(units, 0xfffd)
			i++
		}
	}
	return string(utf16.Decode(units))
}
