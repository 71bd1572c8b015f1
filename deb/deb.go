// Package deb reads Debian binary packages (.deb) as a stream: the file is
// read once, front to back, so a download can be unpacked while it
// arrives, with no temporary copy.
//
// A .deb is an ar archive of "debian-binary" (format "2.x\n"), then
// "control.tar[.gz|.xz|.zst|.bz2|.lzma]", then
// "data.tar[.gz|.xz|.zst|.bz2|.lzma]". Members whose name starts with "_"
// are skipped, as dpkg-deb does; any other member out of that order is an
// error.
//
//	d, err := deb.NewReader(body, "foo_1.0_amd64.deb")
//	defer d.Close()
//	ctrl, err := d.Control()
//	tr, err := d.Data()
//	for {
//		h, err := tr.Next() // io.EOF only once the whole file checked out
//		…
//		io.Copy(f, tr)
//	}
package deb

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Error is a failure reading a .deb; it names the file and, once known,
// the ar member.
type Error struct {
	File   string // the name given to NewReader
	Member string // e.g. "data.tar.xz"; "" before the first member
	Err    error
}

func (e *Error) Error() string {
	if e.Member == "" {
		return e.File + ": " + e.Err.Error()
	}
	return e.File + ": " + e.Member + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

type state int

const (
	atControl   state = iota // control member header read, data not touched
	controlRead              // control member consumed
	inData                   // Data returned a tar reader
	finished
	closed
)

// Reader reads one .deb. It is not safe for concurrent use; use one
// Reader per package and run several at once.
type Reader struct {
	name    string
	ar      *arReader
	closer  io.Closer // the file opened by Open
	version string    // from debian-binary, e.g. "2.0"

	controlMember string
	controlComp   Compression
	control       *Control

	dataMember string
	dec        decompressor
	tee        io.Writer // gets the decompressed data member, see TeeData
	ctee       io.Writer // gets the decompressed control member, see TeeControl
	xzCommand  string    // decompresses an xz data member, see UseXZCommand
	state      state
	err        error // sticky
}

// NewReader starts reading a .deb from r; name (a path, URL or package
// name) is used in errors. It reads up to the control member's header and
// checks the format version and member order.
func NewReader(r io.Reader, name string) (*Reader, error) {
	return NewReaderSize(r, name, -1)
}

// NewReaderSize is NewReader for a file known to be size bytes (the Size
// its index gives; -1 for unknown): a member whose header claims more than
// the rest of the file is refused at once, and so is data past the end.
func NewReaderSize(r io.Reader, name string, size int64) (*Reader, error) {
	d := &Reader{name: name}
	a, err := newArReader(r)
	if err != nil {
		return nil, d.errorf("", err)
	}
	a.size = size
	d.ar = a
	h, err := a.next()
	if err != nil {
		if err == io.EOF {
			err = errors.New("empty ar archive, not a Debian package")
		}
		return nil, d.errorf("", err)
	}
	if h.Name != "debian-binary" {
		return nil, d.errorf(h.Name, fmt.Errorf("first member is %q, not \"debian-binary\": not a Debian binary package", h.Name))
	}
	if h.Size > 64<<10 {
		return nil, d.errorf(h.Name, fmt.Errorf("%d bytes is too large", h.Size))
	}
	buf := make([]byte, h.Size)
	if _, err := io.ReadFull(a, buf); err != nil {
		return nil, d.errorf(h.Name, noEOF(err))
	}
	if d.version, err = parseFormat(buf); err != nil {
		return nil, d.errorf(h.Name, err)
	}
	h, err = d.nextMember()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = d.errorf("", errors.New("no control.tar member after debian-binary"))
		}
		return nil, err
	}
	if !strings.HasPrefix(h.Name, "control.tar") {
		return nil, d.errorf(h.Name, errors.New("unexpected member before control.tar"))
	}
	c, ok := compressionOf(h.Name[len("control.tar"):])
	if !ok {
		return nil, d.errorf(h.Name, errors.New("unknown compression for the control member"))
	}
	d.controlMember, d.controlComp = h.Name, c
	return d, nil
}

// Open opens a .deb file; Close closes it.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	d, err := NewReaderSize(f, path, fi.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	d.closer = f
	return d, nil
}

// parseFormat checks debian-binary as dpkg-deb does: the first line is
// MAJOR.MINOR and MAJOR must be 2; later lines are ignored.
func parseFormat(b []byte) (string, error) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return "", fmt.Errorf("format version %q has no newline", b)
	}
	v := string(b[:i])
	major, minor, ok := strings.Cut(v, ".")
	if !ok || !isDigits(major) || !isDigits(minor) {
		return "", fmt.Errorf("invalid format version %q", v)
	}
	if n, _ := strconv.Atoi(major); n != 2 {
		return "", fmt.Errorf("format version %s is not supported (only 2.x)", v)
	}
	return v, nil
}

// nextMember returns the next member that is not a "_" extension member.
func (d *Reader) nextMember() (arHeader, error) {
	for {
		h, err := d.ar.next()
		if err != nil {
			return arHeader{}, d.errorf("", err)
		}
		if strings.HasPrefix(h.Name, "_") {
			continue
		}
		return h, nil
	}
}

// FormatVersion returns the package format from debian-binary ("2.0").
func (d *Reader) FormatVersion() string { return d.version }

// Members returns the names of the control and data members; the data
// member's name is known only once Data has been called.
func (d *Reader) Members() (control, data string) { return d.controlMember, d.dataMember }

// Control reads and parses the control archive. It must be called before
// Data; later calls return the same result.
func (d *Reader) Control() (*Control, error) {
	if d.control != nil {
		return d.control, nil
	}
	if d.err != nil {
		return nil, d.err
	}
	if d.state != atControl {
		return nil, d.fail(d.errorf(d.controlMember, errors.New("Control called after Data")))
	}
	dec, err := newDecompressor(d.controlComp, d.ar)
	if err != nil {
		return nil, d.fail(d.errorf(d.controlMember, err))
	}
	var r io.Reader = dec
	if d.ctee != nil {
		r = io.TeeReader(dec, d.ctee)
	}
	c, err := readControl(r)
	if err == nil {
		// Read to the end so the compressor's checksum is verified.
		err = drainTail(r)
	}
	dec.release()
	if err != nil {
		return nil, d.fail(d.errorf(d.controlMember, err))
	}
	d.control, d.state = c, controlRead
	return c, nil
}

// Data starts reading the data member: a tar stream to iterate with Next
// and Read, as with archive/tar. If Control was not called the control
// member is skipped.
func (d *Reader) Data() (*DataReader, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.state != atControl && d.state != controlRead {
		return nil, d.fail(d.errorf(d.dataMember, errors.New("Data called twice")))
	}
	h, err := d.nextMember()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = d.errorf("", errors.New("no data.tar member after "+d.controlMember))
		}
		return nil, d.fail(err)
	}
	if strings.HasPrefix(h.Name, "control.tar") {
		return nil, d.fail(d.errorf(h.Name, errors.New("second control member")))
	}
	if !strings.HasPrefix(h.Name, "data.tar") {
		return nil, d.fail(d.errorf(h.Name, errors.New("unexpected member before data.tar")))
	}
	c, ok := compressionOf(h.Name[len("data.tar"):])
	if !ok {
		return nil, d.fail(d.errorf(h.Name, errors.New("unknown compression for the data member")))
	}
	d.dataMember = h.Name
	d.state = inData
	var dec decompressor
	if c == XZ && d.xzCommand != "" {
		dec, err = commandDecompressor(d.xzCommand, d.ar)
	} else {
		dec, err = newDecompressor(c, d.ar)
	}
	if err != nil {
		return nil, d.fail(d.errorf(h.Name, err))
	}
	d.dec = dec
	return &DataReader{d: d, tr: tar.NewReader(&dataReader{d: d})}, nil
}

// TeeControl has the decompressed control member written to w as Control
// reads it; once Control has succeeded, w has seen all of it. Call it
// before Control.
func (d *Reader) TeeControl(w io.Writer) { d.ctee = w }

// TeeData has every byte of the decompressed data member written to w as
// it is read, up to and including what follows the tar archive's end: once
// Next has returned io.EOF, w has seen the whole member. An error from w
// fails the read. Call it before reading the data member.
func (d *Reader) TeeData(w io.Writer) { d.tee = w }

// UseXZCommand has an xz data member decompressed by the program at path
// (xz(1) or a compatible one) instead of in Go: xz-utils decodes about
// twice as fast as the Go decoder (BenchmarkDecompress, xz/xz-command),
// and most of Debian's data members are xz. The bytes are the same; an
// error names the program and what it printed. "" keeps the Go decoder.
// Call it before Data.
func (d *Reader) UseXZCommand(path string) { d.xzCommand = path }

// DataReader iterates over the data member's tar entries like a
// *tar.Reader. Every error it returns is a *Error naming the package and
// member, tar format errors included (corrupt data often shows first as a
// bad tar header). At the end of the tar stream Next calls Finish and
// returns io.EOF only if that succeeds.
type DataReader struct {
	d  *Reader
	tr *tar.Reader
}

// Next advances to the next entry; io.EOF after the last one.
func (t *DataReader) Next() (*tar.Header, error) {
	d := t.d
	if d.err != nil {
		return nil, d.err
	}
	h, err := t.tr.Next()
	if err == io.EOF {
		if err := d.Finish(); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	if err != nil {
		return nil, d.fail(d.errorf(d.dataMember, err))
	}
	return h, nil
}

// Read reads the current entry's content.
func (t *DataReader) Read(p []byte) (int, error) {
	n, err := t.tr.Read(p)
	if err != nil && err != io.EOF {
		err = t.d.fail(t.d.errorf(t.d.dataMember, err))
	}
	return n, err
}

// Finish completes reading after the tar stream's last entry (Next calls it
// on reaching the end; calling it again is harmless): it reads the
// rest of the decompressed stream (so truncation and the compressor's
// checksum are checked) and the rest of the input (so a hashing reader
// wrapped around it sees every byte). Trailing members are ignored, as
// dpkg-deb does.
func (d *Reader) Finish() error {
	if d.err != nil {
		return d.err
	}
	switch d.state {
	case finished:
		return nil
	case inData:
	default:
		return d.fail(d.errorf(d.dataMember, errors.New("Finish called before Data")))
	}
	if err := drainTail(&dataReader{d: d}); err != nil {
		return d.fail(d.errorf(d.dataMember, err))
	}
	d.releaseDecoder()
	if d.ar.remain > 0 {
		return d.fail(d.errorf(d.dataMember, fmt.Errorf("%d bytes of trailing garbage after the compressed data", d.ar.remain)))
	}
	if err := d.ar.drain(); err != nil {
		return d.fail(d.errorf("", err))
	}
	d.state = finished
	return nil
}

// Close releases the decoders and closes the file opened by Open. It does
// not read the rest of the input; see Finish.
func (d *Reader) Close() error {
	if d.state == closed {
		return nil
	}
	d.releaseDecoder()
	d.state = closed
	if d.err == nil {
		d.err = d.errorf("", errors.New("reader is closed"))
	}
	if d.closer != nil {
		return d.closer.Close()
	}
	return nil
}

// maxTail bounds what may follow the end of a tar archive in its
// decompressed stream: record padding, 10 KiB as tar writes it. The bound
// keeps a small compressed "bomb" from being inflated for nothing.
const maxTail = 16 << 20

// drainTail reads the rest of a decompressed member after the tar end.
func drainTail(r io.Reader) error {
	n, err := io.CopyN(io.Discard, r, maxTail+1)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("more than %d bytes after the end of the tar archive", n-1)
}

func (d *Reader) releaseDecoder() {
	if d.dec.release != nil {
		d.dec.release()
		d.dec = decompressor{}
	}
}

func (d *Reader) errorf(member string, err error) error {
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	return &Error{File: d.name, Member: member, Err: err}
}

func (d *Reader) fail(err error) error {
	d.err = err
	return err
}

// dataReader annotates errors from the data decompressor with the file and
// member, and stops at a sticky error.
type dataReader struct{ d *Reader }

func (r *dataReader) Read(p []byte) (int, error) {
	d := r.d
	if d.err != nil {
		return 0, d.err
	}
	if d.dec.Reader == nil {
		return 0, d.errorf(d.dataMember, errors.New("data reader used after Close"))
	}
	n, err := d.dec.Read(p)
	if n > 0 && d.tee != nil {
		if _, werr := d.tee.Write(p[:n]); werr != nil && (err == nil || err == io.EOF) {
			err = werr
		}
	}
	if err != nil && err != io.EOF {
		err = d.fail(d.errorf(d.dataMember, err))
	}
	return n, err
}
