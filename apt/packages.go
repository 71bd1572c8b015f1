package apt

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strconv"
)

// parseParallel reads r in pieces of about chunkSize bytes, each ending at
// a blank line, and parses them with workers goroutines.
func parseParallel(r io.Reader, idx *Index, workers, chunkSize int) ([]*Package, error) {
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
			cut := len(b)
			if !eof {
				i := bytes.LastIndex(b, []byte("\n\n"))
				if i < 0 {
					carry = b // one stanza longer than a chunk: read on
					continue
				}
				cut = i + 2
			}
			c := &chunk{data: b[:cut], line: line, done: make(chan struct{})}
			line += bytes.Count(c.data, []byte("\n"))
			carry = b[cut:]
			inOrder <- c
			toParse <- c
			if eof {
				return
			}
		}
	}()
	for range workers {
		go func() {
			for c := range toParse {
				c.pkgs, c.err = parseStanzas(bytes.NewReader(c.data), idx, c.line)
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

// ParsePackages reads a Packages index. It keeps only the fields in
// Package and copies each value out of the read buffer, so memory is
// proportional to what is kept, not to the index. It is hand-written
// because the reflection-based decoder of pault.ag/go/debian/control is the
// bottleneck of a warm build (see BenchmarkParsePackages*).
//
// The index is cut into chunks at blank lines and the chunks are parsed on
// all cores while the next is read (and decompressed); the result is in
// index order and the same as a sequential parse.
func ParsePackages(r io.Reader, idx *Index) ([]*Package, error) {
	return parseParallel(r, idx, runtime.GOMAXPROCS(0), 1<<20)
}

// parseStanzas parses whole stanzas; firstLine is the number of lines
// before them in the index, for messages.
func parseStanzas(r io.Reader, idx *Index, firstLine int) ([]*Package, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var (
		pkgs   []*Package
		cur    *Package
		field  *string // field being continued by indented lines
		lineNo = firstLine
		intern = map[string]string{}
	)
	str := func(b []byte) string {
		if s, ok := intern[string(b)]; ok {
			return s
		}
		s := string(b)
		intern[s] = s
		return s
	}
	finish := func() error {
		if cur == nil {
			return nil
		}
		if cur.Name == "" || cur.Version == "" || cur.Architecture == "" {
			return fmt.Errorf("line %d: stanza without Package, Version or Architecture (Package %q)", lineNo, cur.Name)
		}
		pkgs = append(pkgs, cur)
		cur, field = nil, nil
		return nil
	}
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A field longer than the buffer (some Description or Provides
			// lines are); gather it whole.
			long := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("reading Packages index: %w", err)
		}
		if len(line) == 0 && err == io.EOF {
			break
		}
		lineNo++
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(bytes.TrimSpace(line)) == 0:
			if ferr := finish(); ferr != nil {
				return nil, ferr
			}
		case line[0] == ' ' || line[0] == '\t':
			if cur == nil {
				return nil, fmt.Errorf("line %d: continuation line outside a stanza", lineNo)
			}
			if field != nil {
				*field += " " + string(bytes.TrimSpace(line))
			}
		default:
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 {
				return nil, fmt.Errorf("line %d: malformed field %q", lineNo, truncate(line))
			}
			if cur == nil {
				cur = &Package{Index: idx}
			}
			name, val := line[:colon], bytes.TrimSpace(line[colon+1:])
			field = nil
			switch string(name) {
			case "Package":
				cur.Name = str(val)
			case "Version":
				cur.Version = string(val)
			case "Architecture":
				cur.Architecture = str(val)
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
				n, perr := strconv.ParseInt(string(val), 10, 64)
				if perr != nil {
					return nil, fmt.Errorf("line %d: package %s: bad Installed-Size %q", lineNo, cur.Name, val)
				}
				cur.InstalledSize = n
			case "Depends":
				cur.Depends, field = string(val), &cur.Depends
			case "Pre-Depends":
				cur.PreDepends, field = string(val), &cur.PreDepends
			case "Recommends":
				cur.Recommends, field = string(val), &cur.Recommends
			case "Suggests":
				cur.Suggests, field = string(val), &cur.Suggests
			case "Conflicts":
				cur.Conflicts, field = string(val), &cur.Conflicts
			case "Breaks":
				cur.Breaks, field = string(val), &cur.Breaks
			case "Provides":
				cur.Provides, field = string(val), &cur.Provides
			case "Replaces":
				cur.Replaces, field = string(val), &cur.Replaces
			case "Filename":
				cur.Filename = string(val)
			case "Size":
				n, perr := strconv.ParseInt(string(val), 10, 64)
				if perr != nil {
					return nil, fmt.Errorf("line %d: package %s: bad Size %q", lineNo, cur.Name, val)
				}
				cur.Size = n
			case "SHA256":
				cur.SHA256 = string(val)
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

func truncate(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}
