package manifest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// squashfsMagic starts a squashfs image ("hsqs", little-endian).
const squashfsMagic = "hsqs"

// readSquashfs describes a squashfs image through sqfs2tar
// (squashfs-tools-ng), which turns it into a tar stream with the image's
// owners, modes, device numbers, hardlinks and xattrs; -r . keeps the
// root directory's own metadata as the "./" member. The stream is read as
// any tarball.
func readSquashfs(ctx context.Context, name string, k *keeper) (*Manifest, error) {
	bin, err := exec.LookPath("sqfs2tar")
	if err != nil {
		return nil, errors.New("reading a squashfs image needs sqfs2tar, which is not installed: install the Debian package squashfs-tools-ng")
	}
	cmd := exec.CommandContext(ctx, bin, "--root-becomes", ".", "--no-skip", name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &limitWriter{w: &stderr, n: 8 << 10}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sqfs2tar: %w", err)
	}
	t := newTree(k)
	rerr := readTar(ctx, bufio.NewReaderSize(out, 1<<20), t, false)
	if rerr != nil {
		// Stop the tool rather than wait for it to write into a pipe
		// nobody reads.
		cmd.Process.Kill()
	}
	werr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case werr != nil && rerr == nil:
		return nil, fmt.Errorf("sqfs2tar: %w: %s", werr, strings.TrimSpace(stderr.String()))
	case rerr != nil:
		if s := strings.TrimSpace(stderr.String()); s != "" {
			return nil, fmt.Errorf("%w (sqfs2tar: %s)", rerr, s)
		}
		return nil, rerr
	}
	return fromTree(t), nil
}

// limitWriter keeps the first n bytes written to it.
type limitWriter struct {
	w interface{ WriteString(string) (int, error) }
	n int
}

func (l *limitWriter) Write(b []byte) (int, error) {
	if l.n > 0 {
		s := string(b[:min(len(b), l.n)])
		l.n -= len(s)
		l.w.WriteString(s)
	}
	return len(b), nil
}

// isSquashfs tells a squashfs image by its first bytes.
func isSquashfs(f *os.File) bool {
	b := make([]byte, 4)
	n, _ := f.ReadAt(b, 0)
	return n == 4 && string(b) == squashfsMagic
}
