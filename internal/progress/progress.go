// Package progress draws a one-line progress display on a terminal
// (rewritten in place with \r): for downloads files done, bytes, rate and
// the latest file; for other phases a line of their own (Status). It
// implements cache.Progress and cache.Planner, and is an io.Writer for log
// lines, which it prints above the progress line. When the output is not a
// terminal it draws nothing, so logs and CI output stay plain lines.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Bar is a progress line. The zero value and a nil *Bar are silent. Its
// methods may be called from several goroutines.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	width    int
	interval time.Duration
	now      func() time.Time

	planned  int   // downloads announced by Plan
	plannedB int64 // bytes announced by Plan
	done     int
	failed   int
	bytes    int64
	current  string
	status   string // a phase's own line (Status), drawn instead
	begin    time.Time
	lastDraw time.Time
	drawn    bool
}

// New returns a Bar drawing on f if f is a terminal (and TERM is not
// "dumb"), else a silent one.
func New(f *os.File) *Bar {
	if f == nil || os.Getenv("TERM") == "dumb" || !isTerminal(f.Fd()) {
		return &Bar{}
	}
	w := termWidth(f.Fd())
	if w <= 0 {
		w = 80
	}
	return NewWriter(f, w)
}

// NewWriter returns a Bar that always draws on w, lines cut to width columns.
func NewWriter(w io.Writer, width int) *Bar {
	return &Bar{w: w, width: width, interval: 100 * time.Millisecond, now: time.Now}
}

// Enabled reports whether the bar draws anything.
func (b *Bar) Enabled() bool { return b != nil && b.w != nil }

// Plan announces how many downloads and bytes lie ahead. The first Plan
// starts the count afresh: downloads before it (indexes, Release files)
// were shown on a line of their own and are not counted against the plan,
// so done never exceeds the total.
func (b *Bar) Plan(items int, bytes int64) {
	if !b.Enabled() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.planned == 0 && b.plannedB == 0 {
		b.endLine()
		b.reset()
	}
	b.planned += items
	b.plannedB += bytes
}

// Start records the start of a download.
func (b *Bar) Start(name string, size int64) {
	if !b.Enabled() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.begin.IsZero() {
		b.begin = b.now()
	}
	b.current = name
	b.draw(false)
}

// Add counts n bytes received (negative when a failed attempt is undone).
func (b *Bar) Add(n int64) {
	if !b.Enabled() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bytes += n
	b.draw(false)
}

// Done records the end of a download.
func (b *Bar) Done(name string, err error) {
	if !b.Enabled() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.failed++
	} else {
		b.done++
	}
	b.draw(false)
}

// Status draws line as the progress line (a phase's "unpack 37/96"),
// at most once per interval.
func (b *Bar) Status(line string) {
	if !b.Enabled() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status = line
	b.draw(false)
}

// Write prints p (whole log lines) above the progress line: the line is
// cleared, p written, and the line drawn again.
func (b *Bar) Write(p []byte) (int, error) {
	if b == nil || b.w == nil {
		return len(p), nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprint(b.w, "\r\x1b[K")
	}
	n, err := b.w.Write(p)
	if b.drawn {
		fmt.Fprintf(b.w, "%s\x1b[K", fit(b.line(b.now()), b.width-1))
	}
	return n, err
}

// Finish draws the final state and ends the line; the next download or
// Status starts a new count. Call it at the end of each phase.
func (b *Bar) Finish() {
	if !b.Enabled() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.endLine()
	b.reset()
	b.planned, b.plannedB = 0, 0
}

// endLine draws the final state of a drawn line and moves below it.
func (b *Bar) endLine() {
	if !b.drawn {
		return
	}
	b.current = ""
	b.draw(true)
	fmt.Fprint(b.w, "\n")
	b.drawn = false
}

func (b *Bar) reset() {
	b.done, b.failed, b.bytes = 0, 0, 0
	b.current, b.status = "", ""
	b.begin = time.Time{}
}

// draw rewrites the line, at most once per interval unless forced.
func (b *Bar) draw(force bool) {
	now := b.now()
	if !force && b.drawn && now.Sub(b.lastDraw) < b.interval {
		return
	}
	b.lastDraw, b.drawn = now, true
	fmt.Fprintf(b.w, "\r%s\x1b[K", fit(b.line(now), b.width-1))
}

func (b *Bar) line(now time.Time) string {
	if b.status != "" {
		return b.status
	}
	var s string
	if b.planned > 0 {
		s = fmt.Sprintf("downloaded %d/%d", b.done, b.planned)
	} else {
		s = fmt.Sprintf("fetched %d", b.done)
	}
	if b.failed > 0 {
		s += fmt.Sprintf(" (%d failed)", b.failed)
	}
	if b.plannedB > 0 {
		s += "  " + size(b.bytes) + "/" + size(b.plannedB)
	} else {
		s += "  " + size(b.bytes)
	}
	if el := now.Sub(b.begin); el > 0 && !b.begin.IsZero() {
		s += "  " + size(int64(float64(b.bytes)/el.Seconds())) + "/s"
	}
	if b.current != "" {
		s += "  " + b.current
	}
	return s
}

func fit(s string, width int) string {
	if width <= 0 {
		return s
	}
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return string(r[:width])
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
