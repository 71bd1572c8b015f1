package rootfs

import (
	"fmt"
	"os"
	"path"
	"sync"
)

// Reader opens the stage's regular files as Open does, for export, which
// reads every file in path order: it keeps the directory of the last
// file open (an os.Root of its own, as confined as the stage's), so that
// an open resolves one name instead of every component of the path
// again (os.Root walks each with openat: 2.3 s of CPU for the 70,000
// files of a large image). Use it only while the stage does not change.
type Reader struct {
	s    *Stage
	mu   sync.Mutex
	dir  string
	root *os.Root
}

// Reader returns a Reader of s; Close it when done.
func (s *Stage) Reader() *Reader { return &Reader{s: s} }

// Entries is the stage's.
func (r *Reader) Entries() []Entry { return r.s.Entries() }

// Open opens the regular file p resolves to.
func (r *Reader) Open(p string) (*os.File, error) {
	s := r.s
	s.mu.Lock()
	real, err := s.regular(p)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	dir, base := path.Split(real)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil || r.dir != dir {
		if r.root != nil {
			r.root.Close()
			r.root = nil
		}
		root, err := s.root.OpenRoot(rel(path.Clean(dir)))
		if err != nil {
			return nil, fmt.Errorf("rootfs: open %s: %w", p, err)
		}
		r.root, r.dir = root, dir
	}
	f, err := r.root.Open(base)
	if err != nil {
		return nil, fmt.Errorf("rootfs: open %s: %w", p, err)
	}
	return f, nil
}

// Close closes the directory kept open.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil {
		return nil
	}
	err := r.root.Close()
	r.root = nil
	return err
}
