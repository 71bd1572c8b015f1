package deb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// commandDecompressor runs `path --decompress --stdout` over r. The
// command's output is the decompressor's; at its end the command is waited
// for, so that a failure (corrupt or truncated data, which xz reports only
// on exit) becomes the read's error, and so that nothing reads r any more
// once the output has ended.
func commandDecompressor(path string, r io.Reader) (decompressor, error) {
	cmd := exec.Command(path, "--decompress", "--stdout", "--quiet", "--no-warn")
	cmd.Stdin = r
	c := &cmdReader{cmd: cmd}
	cmd.Stderr = &c.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return decompressor{}, err
	}
	c.out = out
	if err := cmd.Start(); err != nil {
		return decompressor{}, fmt.Errorf("starting the xz command: %w", err)
	}
	return decompressor{Reader: &decodeErrors{r: c, c: XZ}, release: c.release}, nil
}

// cmdReader reads a decompressing command's output.
type cmdReader struct {
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr bytes.Buffer
	done   bool
	err    error // how the command ended, if it failed
}

func (c *cmdReader) Read(p []byte) (int, error) {
	if c.done {
		if c.err != nil {
			return 0, c.err
		}
		return 0, io.EOF
	}
	n, err := c.out.Read(p)
	if err == io.EOF {
		c.wait()
		if c.err != nil {
			err = c.err
		}
	}
	return n, err
}

func (c *cmdReader) wait() {
	if c.done {
		return
	}
	c.done = true
	if err := c.cmd.Wait(); err != nil {
		// xz's message starts with its own name.
		if msg := strings.TrimSpace(c.stderr.String()); msg != "" {
			c.err = errors.New(msg)
		} else {
			c.err = fmt.Errorf("%s: %w", c.cmd.Path, err)
		}
	}
}

// release stops the command if its output was not read to the end.
func (c *cmdReader) release() {
	if !c.done {
		c.cmd.Process.Kill()
		c.wait()
	}
}
