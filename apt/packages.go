package apt

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strconv"
)

// Bounds on one Packages index, against hostile input: the longest line
// (a Provides or Built-Using of the biggest Debian packages is tens of KB)
// and the longest stanza (the biggest are about 100 KB). Without them a
// file of zeros would be gathered into one line until memory runs out.
const (
	maxLine   = 1 << 20
	maxStanza = 4 << 20
)

// limits are the bounds a parse applies; tests use small ones.
type limits struct{ line, stanza int }

func defaultLimits() limits { return limits{line: maxLine, stanza: maxStanza} }

// parseParallel reads r in pieces of about chunkSize bytes, each ending at
// a blank line, and parses them with workers goroutines.
func parseParallel(r io.Reader, idx *Index, workers, chunkSize int, lim limits) ([]*Package, error) {
	type chunk struct {
		data []byte
		line int // lines before it
		pkgs []*Package
		err  error
		done chan struct{}
	}
	toParse := make(chan *chunk, workers)
	inOrder := make(chan *chunk, 2*workers) // bounds the read-ahead
	var readErr error
	go func() {
		defer close(toParse)
		defer close(inOrder)
		var carry []byte
		line := 0
		for {
			b := make([]byte, len(carry)+chunkSize)
			copy(b, carry)
			n, err := io.ReadFull(r, b[len(carry):])
			b = b[:len(carry)+n]
			eof := err == io.EOF || err == io.ErrUnexpectedEOF
			if err != nil && !eof {
				readErr = fmt.Errorf("reading Packages index: %w", err)
				return
			}
			cut, last := len(b), eof
			if !eof {
				if i := lastBlankLine(b); i >= 0 {
					cut = i
				} else if len(b) <= lim.stanza+lim.line {
					carry = b // one stanza longer than a chunk: read on
					continue
				} else {
					// No blank line in more than a stanza and a line may
					// hold: the parser refuses this chunk exactly as a
					// sequential parse would (a line or the stanza is too
					// long), so nothing after it need be read.
					last = true
				}
			}
			c := &chunk{data: b[:cut], line: line, done: make(chan struct{})}
			line += bytes.Count(c.data, []byte("\n"))
			carry = b[cut:]
			inOrder <- c
			toParse <- c
			if last {
				return
			}
		}
	}()
	for range workers {
		go func() {
			for c := range toParse {
				c.pkgs, c.err = parseStanzas(bytes.NewReader(c.data), idx, c.line, lim)
				c.data = nil
				close(c.done)
			}
		}()
	}
	var (
		pkgs     []*Package
		firstErr error
	)
	for c := range inOrder {
		<-c.done
		if c.err != nil && firstErr == nil {
			firstErr = c.err
		}
		if firstErr == nil {
			pkgs = append(pkgs, c.pkgs...)
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if readErr != nil {
		return nil, readErr
	}
	return pkgs, nil
}

// lastBlankLine returns the offset just past the newline of the last
// blank line of b (which starts at the start of a line), or -1. Blank is
// what parseStanzas takes for a stanza separator.
func lastBlankLine(b []byte) int {
	end := bytes.LastIndexByte(b, '\n')
	for end >= 0 {
		start := bytes.LastIndexByte(b[:end], '\n') + 1
		if isBlank(b[start:end]) {
			return end + 1
		}
		end = start - 1
	}
	return -1
}

// isBlank: deb822 separates stanzas by lines of only spaces and tabs (a
// CR of a CRLF file is allowed too).
func isBlank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// ParsePackages reads a Packages index. It keeps only the fields in
// Package and copies each value out of the read buffer, so memory is
// proportional to what is kept, not to the index. It is hand-written
// because the reflection-based decoder of pault.ag/go/debian/control is the
// bottleneck of a warm build (see BenchmarkParsePackages*).
//
// Every stanza is checked as it is read (see checkStanza): a malformed
// one fails the whole index, with its line, package and field, as apt
// refuses a malformed file rather than skip part of it silently.
//
// The index is cut into chunks at blank lines and the chunks are parsed on
// all cores while the next is read (and decompressed); the result is in
// index order and the same as a sequential parse.
func ParsePackages(r io.Reader, idx *Index) ([]*Package, error) {
	return parseParallel(r, idx, runtime.GOMAXPROCS(0), 1<<20, defaultLimits())
}

// Fields whose value is checked, with the line each was read from.
const (
	fPackage = iota
	fVersion
	fArchitecture
	fFilename
	fSize
	fSHA256
	fInstalledSize
	nChecked
)

var checkedNames = [nChecked]string{"Package", "Version", "Architecture", "Filename", "Size", "SHA256", "Installed-Size"}

// parseStanzas parses whole stanzas; firstLine is the number of lines
// before them in the index, for messages.
func parseStanzas(r io.Reader, idx *Index, firstLine int, lim limits) ([]*Package, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var (
		pkgs   []*Package
		cur    *Package
		lines  [nChecked]int // line of each checked field of cur; 0: absent
		start  int           // line cur started at
		size   int           // bytes of cur so far
		lineNo = firstLine
		intern = map[string]string{}
		// A field continued over several lines is gathered in cont and
		// stored in *field once it ends: appending to a string line by
		// line would copy it again for every line.
		field *string
		cont  []byte
	)
	str := func(b []byte) string {
		if s, ok := intern[string(b)]; ok {
			return s
		}
		s := string(b)
		intern[s] = s
		return s
	}
	endField := func() {
		if field != nil {
			*field = string(cont)
			field, cont = nil, cont[:0]
		}
	}
	finish := func() error {
		if cur == nil {
			return nil
		}
		endField()
		if err := checkStanza(cur, &lines); err != nil {
			return fmt.Errorf("stanza at line %d (Package %q): %w", start, cur.Name, err)
		}
		pkgs = append(pkgs, cur)
		cur, lines, size = nil, [nChecked]int{}, 0
		return nil
	}
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A field longer than the buffer (some Provides lines are);
			// gather it whole, up to the bound.
			long := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull && len(long) <= lim.line {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			return nil, fmt.Errorf("reading Packages index: %w", err)
		}
		if len(line) == 0 && err == io.EOF {
			break
		}
		lineNo++
		if len(line) > lim.line {
			return nil, fmt.Errorf("line %d: longer than %d bytes (Package %q)", lineNo, lim.line, pkgName(cur))
		}
		if cur != nil || !isBlank(line) {
			if size == 0 {
				start = lineNo
			}
			if size += len(line); size > lim.stanza {
				return nil, fmt.Errorf("line %d: stanza at line %d (Package %q) is longer than %d bytes", lineNo, start, pkgName(cur), lim.stanza)
			}
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case isBlank(line):
			if ferr := finish(); ferr != nil {
				return nil, ferr
			}
		case line[0] == ' ' || line[0] == '\t':
			if cur == nil {
				return nil, fmt.Errorf("line %d: continuation line outside a stanza", lineNo)
			}
			if field != nil {
				cont = append(append(cont, ' '), bytes.TrimSpace(line)...)
			}
		default:
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 {
				return nil, fmt.Errorf("line %d: malformed field %q", lineNo, truncate(line))
			}
			if cur == nil {
				cur = &Package{Index: idx}
			}
			endField()
			name, val := line[:colon], bytes.TrimSpace(line[colon+1:])
			checked := -1
			switch string(name) {
			case "Package":
				cur.Name, checked = str(val), fPackage
			case "Version":
				cur.Version, checked = string(val), fVersion
			case "Architecture":
				cur.Architecture, checked = str(val), fArchitecture
			case "Multi-Arch":
				cur.MultiArch = str(val)
			case "Essential":
				cur.Essential = string(val) == "yes"
			case "Protected":
				cur.Protected = string(val) == "yes"
			case "Priority":
				cur.Priority = str(val)
			case "Section":
				cur.Section = str(val)
			case "Source":
				cur.Source = str(val)
			case "Installed-Size":
				n, ok := parseCount(val)
				if !ok {
					return nil, fmt.Errorf("line %d: package %s: bad Installed-Size %q, want a number of KiB", lineNo, cur.Name, truncate(val))
				}
				cur.InstalledSize, checked = n, fInstalledSize
			case "Depends":
				field = &cur.Depends
			case "Pre-Depends":
				field = &cur.PreDepends
			case "Recommends":
				field = &cur.Recommends
			case "Suggests":
				field = &cur.Suggests
			case "Conflicts":
				field = &cur.Conflicts
			case "Breaks":
				field = &cur.Breaks
			case "Provides":
				field = &cur.Provides
			case "Replaces":
				field = &cur.Replaces
			case "Filename":
				cur.Filename, checked = string(val), fFilename
			case "Size":
				n, ok := parseCount(val)
				if !ok || n == 0 {
					return nil, fmt.Errorf("line %d: package %s: bad Size %q, want a positive number of bytes", lineNo, cur.Name, truncate(val))
				}
				cur.Size, checked = n, fSize
			case "SHA256":
				cur.SHA256, checked = string(val), fSHA256
			}
			if field != nil {
				cont = append(cont[:0], val...)
			}
			if checked >= 0 {
				if lines[checked] != 0 {
					return nil, fmt.Errorf("line %d: package %s: field %s appears twice (first at line %d)", lineNo, cur.Name, name, lines[checked])
				}
				lines[checked] = lineNo
			}
		}
		if err == io.EOF {
			break
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return pkgs, nil
}

func pkgName(p *Package) string {
	if p == nil {
		return ""
	}
	return p.Name
}

// parseCount parses a non-negative decimal number, digits only (no sign,
// unlike strconv).
func parseCount(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

func truncate(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}
