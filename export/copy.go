package export

import (
	"context"
	"io"
)

// Copy writes the bytes of r to the file target as Write writes an image
// file: under a temporary name next to it, fsynced and renamed when
// whole, or to stdout for "-" (nil: os.Stdout). A stored result of an
// earlier build is put in place with it.
func Copy(ctx context.Context, r io.Reader, target string, stdout io.Writer) error {
	o, err := openOutput(ctx, target, stdout)
	if err != nil {
		return err
	}
	if _, err := io.Copy(ctxWriter{ctx: ctx, w: o}, r); err != nil {
		o.abort()
		return err
	}
	return o.commit()
}
