package export

import (
	"context"
	"io"
)

// Copy writes the bytes of r to the file target as Write writes an image
// file: under a temporary name next to it, fsynced and renamed when
// whole, or to stdout for "-" (nil: os.Stdout). If r fails, even at its
// very end (a digest that does not match), nothing is renamed. A stored
// result of an earlier build is put in place with it.
func Copy(ctx context.Context, r io.Reader, target string, stdout io.Writer) error {
	o, err := openOutput(ctx, target, stdout)
	if err != nil {
		return err
	}
	if err := pipe(ctx, r, o); err != nil {
		o.abort()
		return err
	}
	return o.commit()
}

// copyChunk and copyChunks size pipe's buffers.
const (
	copyChunk  = 1 << 20
	copyChunks = 4
)

// pipe copies r to w with reading (and whatever r does with the bytes,
// such as checking a digest) and writing on two goroutines, so that the
// two overlap. It returns the first error of either side.
func pipe(ctx context.Context, r io.Reader, w io.Writer) error {
	full := make(chan []byte, copyChunks)
	free := make(chan []byte, copyChunks)
	for range copyChunks {
		free <- make([]byte, copyChunk)
	}
	readErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(full)
		for {
			var b []byte
			select {
			case b = <-free:
			case <-done:
				readErr <- nil
				return
			}
			n, err := io.ReadFull(r, b)
			if n > 0 {
				select {
				case full <- b[:n]:
				case <-done:
					readErr <- nil
					return
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				readErr <- nil
				return
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	for b := range full {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		free <- b[:cap(b)]
	}
	return <-readErr
}
