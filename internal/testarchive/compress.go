package testarchive

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os/exec"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// compress returns data compressed with the named method and the file name
// extension that goes with it ("" for none).
//
// Methods: "gz", "xz", "zst", "lzma", "bz2", and "none" (or "") for none.
// Go has no bzip2 encoder, so "bz2" runs the host's bzip2 program and fails
// when there is none; tests that use it should skip on that error
// (errors.Is(err, ErrNoBzip2)).
func compress(method string, data []byte) (out []byte, ext string, err error) {
	var buf bytes.Buffer
	switch method {
	case "", "none":
		return data, "", nil
	case "gz", "gzip":
		w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		return finish(w, err, data, &buf, ".gz")
	case "xz":
		w, err := xz.NewWriter(&buf)
		return finish(w, err, data, &buf, ".xz")
	case "lzma":
		w, err := lzma.NewWriter(&buf)
		return finish(w, err, data, &buf, ".lzma")
	case "zst", "zstd":
		w, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
		return finish(w, err, data, &buf, ".zst")
	case "bz2", "bzip2":
		path, err := exec.LookPath("bzip2")
		if err != nil {
			return nil, "", ErrNoBzip2
		}
		cmd := exec.Command(path, "-c", "-9")
		cmd.Stdin = bytes.NewReader(data)
		cmd.Stdout = &buf
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return nil, "", fmt.Errorf("bzip2: %w: %s", err, stderr.Bytes())
		}
		return buf.Bytes(), ".bz2", nil
	}
	return nil, "", fmt.Errorf("unknown compression %q (want gz, xz, zst, lzma, bz2 or none)", method)
}

// finish writes data through the compressor w (made with error err) into
// buf and returns buf's bytes with the extension ext.
func finish(w io.WriteCloser, err error, data []byte, buf *bytes.Buffer, ext string) ([]byte, string, error) {
	if err != nil {
		return nil, "", err
	}
	if _, err := w.Write(data); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), ext, nil
}

// ErrNoBzip2 is returned when bz2 compression is asked for and the host has
// no bzip2 program (Go has no bzip2 encoder).
var ErrNoBzip2 = errors.New("testarchive: bz2 compression needs the bzip2 program, not found in PATH")
