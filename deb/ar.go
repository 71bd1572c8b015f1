package deb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// A small ar(5) reader of our own rather than github.com/blakesmith/ar:
// that package ignores the archive magic and the header terminator, turns
// unparsable sizes into 0 (so garbage reads as an empty member), reports a
// truncated member as a clean io.EOF, and knows neither GNU ("name/",
// "//" table) nor BSD ("#1/len") names. Speed is the same (see
// BenchmarkAr); correctness is the reason.

const (
	arMagic     = "!<arch>\n"
	arHeaderLen = 60
	arFmag      = "`\n"
	// Limits on metadata read into memory, against hostile input.
	maxNameTable = 1 << 20
	maxBSDName   = 4096
)

// arHeader is one member header, name already normalised.
type arHeader struct {
	Name string
	Mode uint32
	Size int64 // size of the member's data (without a BSD name)
}

// arReader reads the members of an ar archive front to back.
type arReader struct {
	br     *bufio.Reader
	hdr    [arHeaderLen]byte
	cur    arHeader
	remain int64 // unread data bytes of the current member
	pad    int64 // padding byte after the current member
	names  []byte
	offset int64 // bytes consumed from br, for error messages
	size   int64 // size of the whole file; -1 if unknown
}

func newArReader(r io.Reader) (*arReader, error) {
	a := &arReader{br: bufio.NewReaderSize(r, 64<<10), size: -1}
	var m [len(arMagic)]byte
	n, err := io.ReadFull(a.br, m[:])
	a.offset += int64(n)
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("empty file, not an ar archive")
		}
		return nil, fmt.Errorf("reading ar magic: %w", noEOF(err))
	}
	if string(m[:]) != arMagic {
		return nil, fmt.Errorf("not an ar archive: magic is %q, want %q", m[:], arMagic)
	}
	return a, nil
}

// next skips what is left of the current member and reads the next header.
// It returns io.EOF at a clean end of the archive.
func (a *arReader) next() (arHeader, error) {
	for {
		if err := a.skip(); err != nil {
			return arHeader{}, err
		}
		n, err := io.ReadFull(a.br, a.hdr[:])
		a.offset += int64(n)
		if err != nil {
			if err == io.EOF {
				return arHeader{}, io.EOF
			}
			return arHeader{}, fmt.Errorf("member header at offset %d: truncated (%d of %d bytes)", a.offset-int64(n), n, arHeaderLen)
		}
		at := a.offset - arHeaderLen
		h, err := a.parseHeader()
		if err != nil {
			return arHeader{}, fmt.Errorf("member header at offset %d: %w", at, err)
		}
		if a.size >= 0 && a.remain > a.size-a.offset {
			// Refused at the header, before a decompressor is started on
			// a member the file cannot hold.
			return arHeader{}, fmt.Errorf("member %q at offset %d: its header gives %d bytes, but only %d of the %d-byte file remain",
				h.Name, at, h.Size, a.size-a.offset, a.size)
		}
		if h.Name == "//" {
			// GNU long-name table: read it and go on to the real member.
			if h.Size > maxNameTable {
				return arHeader{}, fmt.Errorf("ar name table of %d bytes is too large", h.Size)
			}
			a.names = make([]byte, h.Size)
			if _, err := io.ReadFull(a, a.names); err != nil {
				return arHeader{}, fmt.Errorf("ar name table: %w", err)
			}
			continue
		}
		a.cur = h
		return h, nil
	}
}

func (a *arReader) parseHeader() (arHeader, error) {
	b := a.hdr[:]
	if string(b[58:60]) != arFmag {
		return arHeader{}, fmt.Errorf("bad header terminator %q, want %q", b[58:60], arFmag)
	}
	size, err := arNumber(b[48:58], 10)
	if err != nil {
		return arHeader{}, fmt.Errorf("bad size field %q: %w", b[48:58], err)
	}
	var mode int64
	if f := bytes.TrimRight(b[40:48], " "); len(f) > 0 {
		// GNU writes an empty mode for its name table; otherwise octal.
		if mode, err = arNumber(b[40:48], 8); err != nil {
			return arHeader{}, fmt.Errorf("bad mode field %q: %w", b[40:48], err)
		}
	}
	a.remain, a.pad = size, size&1
	raw := string(bytes.TrimRight(b[0:16], " "))
	h := arHeader{Name: raw, Mode: uint32(mode), Size: size}
	a.cur = h // for errors while reading a long name
	switch {
	case raw == "/" || raw == "//" || raw == "/SYM64/":
		h.Name = raw
	case len(raw) > 3 && raw[:3] == "#1/":
		// BSD: the name is the first N bytes of the member's data.
		n, err := strconv.ParseInt(raw[3:], 10, 64)
		if err != nil || n < 0 || n > maxBSDName || n > size {
			return arHeader{}, fmt.Errorf("bad BSD long name %q", raw)
		}
		name := make([]byte, n)
		if _, err := io.ReadFull(a, name); err != nil {
			return arHeader{}, fmt.Errorf("BSD long name: %w", err)
		}
		h.Name = string(bytes.TrimRight(name, "\x00"))
		h.Size -= n
	case len(raw) > 1 && raw[0] == '/' && isDigits(raw[1:]):
		// GNU: offset into the "//" table, entries end with "/\n".
		off, _ := strconv.ParseInt(raw[1:], 10, 64)
		if a.names == nil || off >= int64(len(a.names)) {
			return arHeader{}, fmt.Errorf("GNU long name %q without a matching name table", raw)
		}
		name := a.names[off:]
		if i := bytes.IndexByte(name, '\n'); i >= 0 {
			name = name[:i]
		}
		h.Name = string(bytes.TrimSuffix(name, []byte("/")))
	default:
		// GNU terminates short names with '/'; dpkg strips it too.
		h.Name = trimSlash(raw)
	}
	return h, nil
}

// arNumber parses a space-padded ASCII number as ar writes them.
func arNumber(f []byte, base int) (int64, error) {
	s := string(bytes.Trim(f, " "))
	if s == "" {
		return 0, errors.New("empty")
	}
	if !isDigits(s) {
		return 0, errors.New("not a number")
	}
	return strconv.ParseInt(s, base, 64)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func trimSlash(s string) string {
	if len(s) > 1 && s[len(s)-1] == '/' {
		return s[:len(s)-1]
	}
	return s
}

// skip discards the rest of the current member and its padding. A missing
// padding byte at the very end of the file is tolerated, as dpkg does.
func (a *arReader) skip() error {
	if a.remain > 0 {
		n, err := a.br.Discard(int(min(a.remain, 1<<62)))
		a.remain -= int64(n)
		a.offset += int64(n)
		if err != nil {
			return a.truncated()
		}
	}
	if a.pad > 0 {
		a.pad = 0
		n, err := a.br.Discard(1)
		a.offset += int64(n)
		if err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

func (a *arReader) truncated() error {
	return &truncatedError{remain: a.remain, size: a.cur.Size}
}

// truncatedError is a member cut short by the end of the file. It passes
// through the decompressors unchanged, so it is told apart from their own
// errors.
type truncatedError struct{ remain, size int64 }

func (e *truncatedError) Error() string {
	return fmt.Sprintf("truncated: file ends %d bytes before the end of the %d-byte member", e.remain, e.size)
}

func (e *truncatedError) Unwrap() error { return io.ErrUnexpectedEOF }

// Read reads the current member's data; io.EOF at its end.
func (a *arReader) Read(p []byte) (int, error) {
	if a.remain <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > a.remain {
		p = p[:a.remain]
	}
	n, err := a.br.Read(p)
	a.remain -= int64(n)
	a.offset += int64(n)
	if err == io.EOF {
		if a.remain > 0 {
			return n, a.truncated()
		}
		err = nil
	}
	return n, err
}

// ReadByte lets decompressors that want an io.ByteReader (flate, xz) read
// without another buffer in between.
func (a *arReader) ReadByte() (byte, error) {
	if a.remain <= 0 {
		return 0, io.EOF
	}
	c, err := a.br.ReadByte()
	if err != nil {
		if err == io.EOF {
			return 0, a.truncated()
		}
		return 0, err
	}
	a.remain--
	a.offset++
	return c, nil
}

// drain reads the underlying reader to its end, so that a hashing reader
// given to NewReader sees every byte of the file.
func (a *arReader) drain() error {
	a.remain, a.pad = 0, 0
	if a.size < 0 {
		n, err := io.Copy(io.Discard, a.br)
		a.offset += n
		return err
	}
	// Not a byte more than one past the promised size is read.
	n, err := io.CopyN(io.Discard, a.br, max(a.size-a.offset, 0)+1)
	a.offset += n
	if err != nil && err != io.EOF {
		return err
	}
	if a.offset != a.size {
		what := fmt.Sprint(a.offset)
		if err == nil {
			what = "more than " + fmt.Sprint(a.size)
		}
		return fmt.Errorf("file is %s bytes, expected %d", what, a.size)
	}
	return nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
