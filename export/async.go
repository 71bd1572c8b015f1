package export

import (
	"io"
	"sync"
)

// asyncWriter buffers writes and hands full buffers to a goroutine that
// writes them to w, so that making the stream (reading the staged files,
// tar headers, compression) and taking it (hashing, writing the target)
// run on two cores. Flush waits for everything written so far; the first
// error of w is returned by every later call.
type asyncWriter struct {
	w     io.Writer
	size  int
	buf   []byte
	full  chan []byte // to the writer goroutine
	free  chan []byte // back from it
	done  chan struct{}
	mu    sync.Mutex
	err   error
	flush chan chan struct{}
	close sync.Once
}

func newAsyncWriter(w io.Writer, size, buffers int) *asyncWriter {
	a := &asyncWriter{
		w:     w,
		size:  size,
		full:  make(chan []byte, buffers),
		free:  make(chan []byte, buffers+1),
		done:  make(chan struct{}),
		flush: make(chan chan struct{}),
	}
	for range buffers + 1 {
		a.free <- make([]byte, 0, size)
	}
	a.buf = <-a.free
	go a.run()
	return a
}

func (a *asyncWriter) run() {
	defer close(a.done)
	for {
		select {
		case b, ok := <-a.full:
			if !ok {
				return
			}
			a.write(b)
		case reply := <-a.flush:
			// Everything sent before the flush request is already in
			// full (sends happen-before the request): drain it.
			for {
				select {
				case b := <-a.full:
					a.write(b)
					continue
				default:
				}
				break
			}
			close(reply)
		}
	}
}

func (a *asyncWriter) write(b []byte) {
	if a.error() == nil {
		if _, err := a.w.Write(b); err != nil {
			a.mu.Lock()
			a.err = err
			a.mu.Unlock()
		}
	}
	a.free <- b[:0]
}

func (a *asyncWriter) error() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *asyncWriter) Write(p []byte) (int, error) {
	if err := a.error(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		m := copy(a.buf[len(a.buf):a.size], p)
		a.buf = a.buf[:len(a.buf)+m]
		p = p[m:]
		if len(a.buf) == a.size {
			a.full <- a.buf
			a.buf = <-a.free
		}
	}
	return n, nil
}

// Flush writes out what is buffered and waits until w has it all.
func (a *asyncWriter) Flush() error {
	if len(a.buf) > 0 {
		a.full <- a.buf
		a.buf = <-a.free
	}
	reply := make(chan struct{})
	a.flush <- reply
	<-reply
	return a.error()
}

// Close stops the goroutine after writing what was sent; it does not flush
// the partial buffer (call Flush for that). Later calls do nothing.
func (a *asyncWriter) Close() {
	a.close.Do(func() {
		close(a.full)
		<-a.done
	})
}
