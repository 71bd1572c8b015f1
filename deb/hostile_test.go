package deb

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestHostileSizes: members that claim or decompress to more than the
// file, its tar headers or a sane bound allow end in an error naming the
// file and member, quickly and in bounded memory.
func TestHostileSizes(t *testing.T) {
	db := arMember{Name: "debian-binary", Data: []byte("2.0\n")}
	c, d := tdeb{Data: sampleData, CComp: Gzip, DComp: Gzip}.members(t)
	good := arFile(db, c, d)
	// The data member's header claims 10 GB (9,999,999,999 bytes) in a file of a few KB.
	sizeField := fmt.Sprintf("%-10d", len(d.Data))
	i := bytes.LastIndex(good, []byte(sizeField+"`\n"))
	if i < 0 {
		t.Fatal("no data member header")
	}
	lying := bytes.Clone(good)
	copy(lying[i:], fmt.Sprintf("%-10d", int64(9_999_999_999)))
	// A control archive of 65 MB (a zero-filled md5sums), a few KB
	// compressed.
	bigControl := compress(t, Gzip, buildTar(t, []tfile{{Name: "./control", Body: defaultControl}, {Name: "./md5sums", Body: string(make([]byte, maxControl+1))}}))
	// A data member with 20 MB of zeros after the tar's end.
	tail := compress(t, Gzip, append(buildTar(t, sampleData), make([]byte, 20<<20)...))
	for _, tc := range []struct {
		name   string
		raw    []byte
		size   int64 // given to NewReaderSize
		member string
		want   string
	}{
		{"member larger than the file", lying, int64(len(lying)), "", fmt.Sprintf(`member "data.tar.gz" at offset %d: its header gives 9999999999 bytes, but only %d of the %d-byte file remain`, i-48, len(lying)-i-12, len(lying))},
		{"file longer than its Size", good, int64(len(good)) - 1, "", ""},
		{"file shorter than its Size", good, int64(len(good)) + 10, "", fmt.Sprintf("file is %d bytes, expected %d", len(good), len(good)+10)},
		{"control past its bound", arFile(db, arMember{Name: "control.tar.gz", Data: bigControl}, d), -1, "control.tar.gz", fmt.Sprintf(`entry "./md5sums": control archive larger than %d bytes`, maxControl)},
		{"data past the tar end", arFile(db, c, arMember{Name: "data.tar.gz", Data: tail}), -1, "data.tar.gz", "more than 16777216 bytes after the end of the tar archive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			r, err := NewReaderSize(bytes.NewReader(tc.raw), "bad.deb", tc.size)
			if err == nil {
				defer r.Close()
				if _, err = r.Control(); err == nil {
					_, err = readData(r)
				}
			}
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error (as expected): %v", err)
			var de *Error
			if !errors.As(err, &de) || de.File != "bad.deb" || de.Member != tc.member {
				t.Errorf("error %q does not name bad.deb and member %q", err, tc.member)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %v", took)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3*maxControl {
				t.Errorf("allocated %d MB", alloc>>20)
			}
		})
	}
	// Open knows the file's size: the lying header is refused there too.
	p := filepath.Join(t.TempDir(), "lying.deb")
	if err := os.WriteFile(p, lying, 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := Open(p); err == nil {
		_, err = r.Data()
		r.Close()
		if err == nil || !strings.Contains(err.Error(), "its header gives 9999999999 bytes") {
			t.Errorf("Open: %v", err)
		}
	}
	// An honest file with its true size reads to the end.
	r, err := NewReaderSize(bytes.NewReader(good), "good.deb", int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readData(r); err != nil {
		t.Errorf("honest file: %v", err)
	}
}
