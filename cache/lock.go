package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A key names one thing written to the cache: "sha256-<hex>" for a blob,
// "signed-<hex of the URL's sha256>" for signed metadata. The key names its
// lock file, <Dir>/locks/<key>.lock, and prefixes the temporary files of its
// writer, <Dir>/tmp/<key>.<random>.

// lock takes the key's lock against other goroutines of this process (a
// channel, so that waiting respects ctx) and then against other processes
// (flock on the lock file). It returns the function that releases both.
func (c *Cache) lock(ctx context.Context, key string) (func(), error) {
	release, err := c.locks.acquire(ctx, key)
	if err != nil {
		return nil, err
	}
	f, err := lockFile(ctx, c.lockPath(key), true)
	if err != nil {
		release()
		return nil, err
	}
	return func() {
		unlockFile(f)
		release()
	}, nil
}

func (c *Cache) lockPath(key string) string {
	return filepath.Join(c.lockDir(), key+".lock")
}

var errLocked = errors.New("locked by another writer")

// lockFile opens and flocks path. flock has no timeout, so a busy lock is
// polled (LOCK_NB) to honour ctx; with wait false it fails with errLocked.
//
// The holder removes the lock file when it is done (unlockFile), so lock files
// do not pile up one per blob. A waiter may therefore win the lock on a file
// that is no longer at path; it checks that and starts over.
func lockFile(ctx context.Context, path string, wait bool) (*os.File, error) {
	delay := time.Millisecond
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open lock file: %w", err)
		}
		for {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			if err == syscall.EINTR {
				continue
			}
			if err != syscall.EWOULDBLOCK {
				break
			}
			if !wait {
				f.Close()
				return nil, errLocked
			}
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				f.Close()
				return nil, ctx.Err()
			case <-t.C:
			}
			delay = min(2*delay, 100*time.Millisecond)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		held, herr := f.Stat()
		now, nerr := os.Stat(path)
		if herr == nil && nerr == nil && os.SameFile(held, now) {
			return f, nil
		}
		f.Close()
	}
}

// unlockFile removes the lock file while still holding its lock, then
// releases it (see lockFile).
func unlockFile(f *os.File) {
	os.Remove(f.Name())
	f.Close()
}

// cleanTemp removes temporary files whose writer is gone (a crash, a kill):
// a writer holds its key's lock for as long as its temp file exists, so a
// temp file whose lock can be taken is stale.
func (c *Cache) cleanTemp() {
	entries, err := os.ReadDir(c.tmpDir())
	if err != nil {
		c.log.Warn("cannot list temporary files", "dir", c.tmpDir(), "err", err)
		return
	}
	for _, e := range entries {
		p := filepath.Join(c.tmpDir(), e.Name())
		key, _, ok := strings.Cut(e.Name(), ".")
		if ok && validKey(key) {
			f, err := lockFile(context.Background(), c.lockPath(key), false)
			if err != nil {
				continue // still being written, or the lock is unusable: leave it
			}
			c.removeStale(p)
			unlockFile(f)
			continue
		}
		c.removeStale(p)
	}
}

func (c *Cache) removeStale(p string) {
	if err := os.RemoveAll(p); err != nil {
		c.log.Warn("cannot remove stale temporary file", "path", p, "err", err)
		return
	}
	c.log.Debug("removed stale temporary file", "path", p)
}

func validKey(key string) bool {
	for _, prefix := range []string{"sha256-", "signed-", "derived-"} {
		if rest, ok := strings.CutPrefix(key, prefix); ok {
			_, err := normSHA256(rest)
			return err == nil && rest == strings.ToLower(rest)
		}
	}
	return false
}

// keyLocks are per-key mutexes within one process. flock alone would do, as
// each lockFile call opens its own file description, but waiting on a
// channel wakes up at once instead of polling.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{}
	refs int
}

func (k *keyLocks) acquire(ctx context.Context, key string) (func(), error) {
	l := k.ref(key)

	select {
	case l.ch <- struct{}{}:
		return k.releaser(key, l), nil
	case <-ctx.Done():
		k.put(key, l)
		return nil, ctx.Err()
	}
}

// tryAcquire is acquire without waiting: it fails with errLocked if the
// key is held.
func (k *keyLocks) tryAcquire(key string) (func(), error) {
	l := k.ref(key)
	select {
	case l.ch <- struct{}{}:
		return k.releaser(key, l), nil
	default:
		k.put(key, l)
		return nil, errLocked
	}
}

// releaser releases a held key lock.
func (k *keyLocks) releaser(key string, l *keyLock) func() {
	return func() {
		<-l.ch
		k.put(key, l)
	}
}

// ref returns the key's lock, counting one more user of it.
func (k *keyLocks) ref(key string) *keyLock {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = make(map[string]*keyLock)
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.refs++
	return l
}

func (k *keyLocks) put(key string, l *keyLock) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(k.m, key)
	}
}
