package export

import (
	"context"
	"io"
)

// writeNull is the null format, mmdebstrap's --format=null: the root is
// streamed as the tar would be, so every check runs (the table is a tree,
// every file has the length its entry says and can be read), and the
// stream is thrown away. Nothing is created, whatever the target names.
func writeNull(ctx context.Context, src Source, p *plan, opts Options) error {
	return writeTar(ctx, io.Discard, src, p, opts.Progress)
}
