package native

import (
	"archive/tar"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/debstrap/debstrap/rootfs"
)

// openssl rehash (used by update-ca-certificates): in a directory of
// certificates, the HASH.N symlinks OpenSSL looks certificates up by,
// HASH being OpenSSL's X509_NAME_hash of the subject (SHA-1 of its
// canonical encoding: strings as UTF-8, trimmed, white space collapsed,
// ASCII lower-cased).

func init() {
	register(opensslCmd, "openssl")
}

func opensslCmd(c *cmd) error {
	args := c.args[1:]
	if len(args) == 0 || args[0] != "rehash" {
		return c.unsupported("only openssl rehash is implemented")
	}
	var dirs []string
	for _, a := range args[1:] {
		switch {
		case a == "-v":
		case strings.HasPrefix(a, "-"):
			return c.unsupported("openssl rehash %s", a)
		default:
			dirs = append(dirs, a)
		}
	}
	if len(dirs) == 0 {
		dirs = []string{"/usr/lib/ssl/certs"}
	}
	errs := 0
	for _, d := range dirs {
		n, err := c.s.rehash(c.abs(d))
		if err != nil {
			return err
		}
		errs += n
	}
	return status(min(errs, 1))
}

// certHashLink parses a hash link name, HHHHHHHH.N or HHHHHHHH.rN.
func certHashLink(name string) (hash uint32, crl bool, id int, ok bool) {
	if len(name) < 10 || name[8] != '.' {
		return 0, false, 0, false
	}
	h, err := strconv.ParseUint(name[:8], 16, 32)
	if err != nil {
		return 0, false, 0, false
	}
	rest := name[9:]
	if strings.HasPrefix(strings.ToLower(rest), "r") {
		crl, rest = true, rest[1:]
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return 0, false, 0, false
	}
	return uint32(h), crl, n, true
}

type rehashEntry struct {
	file   string
	digest [20]byte
	oldID  int // -1: no existing link
	need   bool
}

// rehash is OpenSSL's do_dir for certificates (CRLs are not handled).
func (s *sys) rehash(dir string) (int, error) {
	real, _, ok, err := s.resolve("/", dir, true)
	if err != nil || !ok {
		return 1, nil
	}
	ents, err := s.list(real)
	if err != nil {
		return 1, nil
	}
	names := make([]string, 0, len(ents))
	byName := map[string]rootfs.Entry{}
	for _, e := range ents {
		n := path.Base(e.Path)
		names = append(names, n)
		byName[n] = e
	}
	sort.Strings(names)
	type bucket struct {
		hash    uint32
		entries []*rehashEntry
	}
	var buckets []*bucket
	find := func(h uint32) *bucket {
		for _, b := range buckets {
			if b.hash == h {
				return b
			}
		}
		b := &bucket{hash: h}
		buckets = append(buckets, b)
		return b
	}
	entryFor := func(b *bucket, file string) *rehashEntry {
		for _, e := range b.entries {
			if e.file == file {
				return e
			}
		}
		e := &rehashEntry{file: file, oldID: -1}
		b.entries = append(b.entries, e)
		return e
	}
	for _, n := range names {
		e := byName[n]
		if h, crl, id, ok := certHashLink(n); ok && e.Type == tar.TypeSymlink && !crl {
			en := entryFor(find(h), e.Linkname)
			if en.oldID < 0 || id < en.oldID {
				en.oldID = id
			}
			continue
		}
		ext := strings.ToLower(path.Ext(n))
		if ext != ".pem" && ext != ".crt" && ext != ".cer" {
			continue
		}
		data, err := s.readFile(path.Join(real, n))
		if err != nil {
			continue
		}
		cert, ok := singleCert(data)
		if !ok {
			continue
		}
		h, err := subjectHash(cert.RawSubject)
		if err != nil {
			continue
		}
		digest := sha1.Sum(cert.Raw)
		b := find(h)
		dup := false
		for _, other := range b.entries {
			if other.need && other.digest == digest {
				dup = true
			}
		}
		if dup {
			continue
		}
		en := entryFor(b, n)
		en.need, en.digest = true, digest
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].hash < buckets[j].hash })
	for _, b := range buckets {
		needed := 0
		for _, e := range b.entries {
			if e.need {
				needed++
			}
		}
		used := map[int]bool{}
		for _, e := range b.entries {
			if e.oldID >= 0 && e.oldID < needed && e.need {
				used[e.oldID] = true
			}
		}
		next := 0
		for _, e := range b.entries {
			link := func(id int) string { return fmt.Sprintf("%s/%08x.%d", real, b.hash, id) }
			switch {
			case e.need && e.oldID >= 0 && e.oldID < needed:
				// The link exists and is kept.
			case e.need:
				for used[next] {
					next++
				}
				if err := s.st.Symlink(e.file, link(next), rootfs.Entry{Mode: 0o777}); err != nil {
					return 0, &stageError{err}
				}
				used[next] = true
			case e.oldID >= 0:
				if _, ok := s.st.Lookup(link(e.oldID)); ok {
					if err := s.st.Remove(link(e.oldID)); err != nil {
						return 0, &stageError{err}
					}
				}
			}
		}
	}
	return 0, nil
}

// singleCert parses a PEM file holding exactly one certificate.
func singleCert(data []byte) (*x509.Certificate, bool) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, false
			}
			certs = append(certs, c)
		case "X509 CRL":
			return nil, false
		}
	}
	if len(certs) != 1 {
		return nil, false
	}
	return certs[0], true
}

// subjectHash is X509_NAME_hash_ex.
func subjectHash(raw []byte) (uint32, error) {
	canon, err := canonicalName(raw)
	if err != nil {
		return 0, err
	}
	sum := sha1.Sum(canon)
	return binary.LittleEndian.Uint32(sum[:4]), nil
}

// String types OpenSSL canonicalises (ASN1_MASK_CANON).
var canonTags = map[int]bool{12: true, 30: true, 28: true, 19: true, 20: true, 22: true, 26: true}

// canonicalName is x509_name_canon: every RDN set re-encoded with its
// values canonicalised, the sets concatenated without the outer
// SEQUENCE.
func canonicalName(raw []byte) ([]byte, error) {
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(raw, &seq); err != nil {
		return nil, err
	}
	var out []byte
	rest := seq.Bytes
	for len(rest) > 0 {
		var set asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &set); err != nil {
			return nil, err
		}
		var elems [][]byte
		inner := set.Bytes
		for len(inner) > 0 {
			var atv asn1.RawValue
			if inner, err = asn1.Unmarshal(inner, &atv); err != nil {
				return nil, err
			}
			var oid, val asn1.RawValue
			r, err := asn1.Unmarshal(atv.Bytes, &oid)
			if err != nil {
				return nil, err
			}
			if _, err := asn1.Unmarshal(r, &val); err != nil {
				return nil, err
			}
			vbytes := val.FullBytes
			if val.Class == 0 && canonTags[val.Tag] {
				enc, err := asn1.Marshal(asn1.RawValue{Class: 0, Tag: 12, Bytes: canonString(val.Tag, val.Bytes)})
				if err != nil {
					return nil, err
				}
				vbytes = enc
			}
			e, err := asn1.Marshal(asn1.RawValue{Class: 0, Tag: 16, IsCompound: true, Bytes: append(append([]byte{}, oid.FullBytes...), vbytes...)})
			if err != nil {
				return nil, err
			}
			elems = append(elems, e)
		}
		// DER SET OF: elements in order of their encodings.
		sort.Slice(elems, func(i, j int) bool { return string(elems[i]) < string(elems[j]) })
		var body []byte
		for _, e := range elems {
			body = append(body, e...)
		}
		enc, err := asn1.Marshal(asn1.RawValue{Class: 0, Tag: 17, IsCompound: true, Bytes: body})
		if err != nil {
			return nil, err
		}
		out = append(out, enc...)
	}
	return out, nil
}

// canonString converts a string value to UTF-8 and canonicalises it as
// asn1_string_canon does.
func canonString(tag int, b []byte) []byte {
	var u []byte
	switch tag {
	case 30: // BMPString: UCS-2 big endian
		var u16 []uint16
		for i := 0; i+1 < len(b); i += 2 {
			u16 = append(u16, binary.BigEndian.Uint16(b[i:]))
		}
		u = []byte(string(utf16.Decode(u16)))
	case 28: // UniversalString: UCS-4 big endian
		var rs []rune
		for i := 0; i+3 < len(b); i += 4 {
			rs = append(rs, rune(binary.BigEndian.Uint32(b[i:])))
		}
		u = []byte(string(rs))
	case 20: // T61String, read as Latin-1
		var rs []rune
		for _, c := range b {
			rs = append(rs, rune(c))
		}
		u = []byte(string(rs))
	default:
		u = append([]byte{}, b...)
	}
	isSpace := func(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }
	for len(u) > 0 && isSpace(u[0]) {
		u = u[1:]
	}
	for len(u) > 0 && isSpace(u[len(u)-1]) {
		u = u[:len(u)-1]
	}
	var out []byte
	for i := 0; i < len(u); {
		c := u[i]
		switch {
		case c >= 0x80:
			out = append(out, c)
			i++
		case isSpace(c):
			out = append(out, ' ')
			for i < len(u) && isSpace(u[i]) {
				i++
			}
		default:
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			out = append(out, c)
			i++
		}
	}
	return out
}
