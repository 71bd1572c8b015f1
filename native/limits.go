package native

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"mvdan.cc/sh/v3/expand"
)

// Limits bound what one maintainer script, with the scripts and
// subshells it runs, may use. Scripts are hostile: without a bound,
// "while :; do :; done" or a fork bomb would hang the build or exhaust
// the host. Going over one stops the script at once and leaves its
// package unconfigured with a *LimitError. A zero field takes the
// default of DefaultLimits.
type Limits struct {
	// Timeout is the wall-clock time a script may take.
	Timeout time.Duration
	// Memory is how much the Go heap may grow while the script runs
	// (variables, command substitutions, here-documents).
	Memory int64
	// Output is how many bytes the script may write to its standard
	// output and error.
	Output int64
	// Writes is how many bytes the script may write into the stage's
	// files (an append counts what it adds).
	Writes int64
	// Depth is how deeply functions, eval and source may nest.
	Depth int
	// Procs is how many subshells (pipelines, &) may run at once.
	Procs int
}

// DefaultLimits are generous for real maintainer scripts, which take
// well under a second and a few MiB each, and still stop a runaway one
// before it hurts the host.
var DefaultLimits = Limits{
	Timeout: 5 * time.Minute,
	Memory:  1 << 30,
	Output:  64 << 20,
	Writes:  1 << 30,
	Depth:   1000,
	Procs:   256,
}

// withDefaults fills l's zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	if l.Memory <= 0 {
		l.Memory = d.Memory
	}
	if l.Output <= 0 {
		l.Output = d.Output
	}
	if l.Writes <= 0 {
		l.Writes = d.Writes
	}
	if l.Depth <= 0 {
		l.Depth = d.Depth
	}
	if l.Procs <= 0 {
		l.Procs = d.Procs
	}
	return l
}

// LimitError is a script that went over one of its Limits.
type LimitError struct {
	Limit string // "time", "memory", "output", "writes", "depth", "procs"
	Max   string // the limit, as given
	Flag  string // the command-line flag that raises it, if any
}

func (e *LimitError) Error() string {
	msg := fmt.Sprintf("script went over its %s limit (%s)", e.Limit, e.Max)
	if e.Flag != "" {
		msg += "; raise it with " + e.Flag
	}
	return msg
}

// budget is what one top-level script has used of its Limits, shared by
// its subshells and the scripts it runs (all goroutines of the run).
type budget struct {
	lim     Limits
	cancel  context.CancelCauseFunc
	tripped atomic.Bool

	output atomic.Int64
	writes atomic.Int64

	baseHeap uint64
	baseG    int
	heap     []metrics.Sample // read by watchHeap only

	// maxFrames is Depth as Go stack frames of the interpreter.
	maxFrames int

	// psub holds the output of process substitutions, by the path
	// the script was given (see fixProcSubst).
	mu   sync.Mutex
	psub map[string][]byte
}

// framesPerLevel is roughly how many Go frames the interpreter uses for
// one level of function call (measured on mvdan.cc/sh v3.14; generous).
const framesPerLevel = 12

type budgetKey struct{}

// budgetCtx counts every statement the interpreter runs: it asks Err
// before each one, from whichever goroutine runs it.
type budgetCtx struct {
	context.Context
	b *budget
}

func (c budgetCtx) Err() error {
	c.b.check()
	return c.Context.Err()
}

func (c budgetCtx) Value(k any) any {
	if _, ok := k.(budgetKey); ok {
		return c.b
	}
	return c.Context.Value(k)
}

// budgetOf returns the budget of the script ctx belongs to, if any.
func budgetOf(ctx context.Context) *budget {
	b, _ := ctx.Value(budgetKey{}).(*budget)
	return b
}

// newBudget starts the budget of a top-level script: the returned
// context ends when the script goes over a limit (its cause a
// *LimitError) or its time is up.
func newBudget(ctx context.Context, lim Limits) (context.Context, *budget, func()) {
	lim = lim.withDefaults()
	b := &budget{lim: lim, maxFrames: lim.Depth * framesPerLevel,
		heap: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}}
	b.baseHeap = b.readHeap()
	tctx, tcancel := context.WithTimeoutCause(ctx, lim.Timeout,
		&LimitError{Limit: "time", Max: lim.Timeout.String(), Flag: "--native-script-timeout"})
	cctx, cancel := context.WithCancelCause(tctx)
	b.cancel = cancel
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		b.watchHeap(cctx)
	}()
	b.baseG = runtime.NumGoroutine()
	return budgetCtx{cctx, b}, b, func() {
		cancel(nil)
		tcancel()
		<-watched
		// Subshells left running (a fork bomb's) stop at their next
		// statement now: give them a moment, so that the next script
		// does not count them.
		for i := 0; i < 100 && runtime.NumGoroutine() > b.baseG; i++ {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// orphanGrace is how long subshells a script left behind may run on
// after it ended (a subshell's own background jobs are waited by no one:
// "f() { f | f & }; f; exit 0") before they are stopped.
const orphanGrace = 200 * time.Millisecond

// settle watches the subshells a finished script left running for up to
// orphanGrace, so that a fork bomb whose main part returned still trips
// the procs limit instead of passing because it was cut short.
func (b *budget) settle(ctx context.Context) {
	deadline := time.Now().Add(orphanGrace)
	for runtime.NumGoroutine() > b.baseG && time.Now().Before(deadline) && ctx.Err() == nil {
		b.check()
		time.Sleep(time.Millisecond)
	}
}

// limitErr is the *LimitError that ended ctx, or nil.
func limitErr(ctx context.Context) *LimitError {
	var le *LimitError
	if errors.As(context.Cause(ctx), &le) {
		return le
	}
	return nil
}

func (b *budget) trip(limit, max, flag string) *LimitError {
	le := &LimitError{Limit: limit, Max: max, Flag: flag}
	if b.tripped.CompareAndSwap(false, true) {
		b.cancel(le)
	}
	return le
}

func (b *budget) readHeap() uint64 {
	metrics.Read(b.heap)
	if b.heap[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return b.heap[0].Value.Uint64()
}

// check is run before every statement: concurrent goroutines. It must
// be cheap: the interpreter asks several times per statement.
func (b *budget) check() {
	if b.tripped.Load() {
		return
	}
	if runtime.NumGoroutine()-b.baseG > b.lim.Procs {
		b.trip("procs", fmt.Sprintf("%d concurrent subshells", b.lim.Procs), "")
	}
}

// heapInterval is how often watchHeap looks: in that time a script can
// allocate only some MiB more (a statement doubling a string of 1 GiB
// takes far longer), and a reading costs about a microsecond.
const heapInterval = time.Millisecond

// watchHeap trips the memory limit when the heap has grown by more than
// it since the script started, until ctx ends.
func (b *budget) watchHeap(ctx context.Context) {
	t := time.NewTicker(heapInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if h := b.readHeap(); h > b.baseHeap && int64(h-b.baseHeap) > b.lim.Memory {
			// Garbage counts until it is collected: look again after a
			// collection before blaming the script.
			runtime.GC()
			if h := b.readHeap(); h > b.baseHeap && int64(h-b.baseHeap) > b.lim.Memory {
				b.trip("memory", sizeString(b.lim.Memory), "--native-script-memory")
				return
			}
		}
	}
}

// checkDepth fails when the calling goroutine's stack is deeper than the
// Depth limit allows: deep recursion (g(){ g; }; g) would otherwise grow
// the Go stack until the process dies.
func (b *budget) checkDepth() error {
	var pc [1]uintptr
	if runtime.Callers(b.maxFrames, pc[:]) > 0 {
		return b.trip("depth", fmt.Sprintf("%d nested calls", b.lim.Depth), "")
	}
	return nil
}

// addOutput counts n bytes of output; false when over the limit.
func (b *budget) addOutput(n int) bool {
	if b.output.Add(int64(n)) > b.lim.Output {
		b.trip("output", sizeString(b.lim.Output), "--native-script-output")
		return false
	}
	return true
}

// canWrite reports whether n more bytes may go into the stage; pending
// are bytes written but not yet counted.
func (b *budget) canWrite(pending int64) bool {
	if b.writes.Load()+pending > b.lim.Writes {
		b.trip("writes", sizeString(b.lim.Writes), "--native-script-writes")
		return false
	}
	return true
}

func (b *budget) addWrites(n int64) bool {
	if n <= 0 {
		return true
	}
	if b.writes.Add(n) > b.lim.Writes {
		b.trip("writes", sizeString(b.lim.Writes), "--native-script-writes")
		return false
	}
	return true
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// limitWriter counts what a script writes to its standard streams.
type limitWriter struct {
	w io.Writer
	b *budget
}

var errOutputLimit = errors.New("output limit reached")

func (w limitWriter) Write(p []byte) (int, error) {
	if !w.b.addOutput(len(p)) {
		return 0, errOutputLimit
	}
	return w.w.Write(p)
}

// sandboxEnv is the environment the interpreter sees: the script's, plus
// what the interpreter would otherwise take from the host process.
type sandboxEnv struct {
	expand.Environ
	// tmpdir is told once, to the interpreter's Reset, which takes it
	// as the directory of its own FIFOs and opens any path under it
	// directly on the host, bypassing the open handler. A fresh path
	// under /nonexistent that the script never learns makes that
	// bypass lead nowhere; process substitutions, the only users of
	// those FIFOs, are rewritten away (fixProcSubst).
	tmpdir  string
	toldTmp atomic.Bool
}

// idVars are set by the interpreter from the host process's ids unless
// the environment has them: the script runs as root.
var idVars = map[string]bool{"UID": true, "EUID": true, "GID": true}

// secretDir returns a fresh absolute path that exists nowhere: under
// /nonexistent (the conventional home of nobody) and random.
func secretDir() (string, error) {
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	return "/nonexistent/debstrap-" + hex.EncodeToString(rnd[:]), nil
}

func (e *sandboxEnv) Get(name string) expand.Variable {
	if name == "TMPDIR" && e.toldTmp.CompareAndSwap(false, true) {
		return expand.Variable{Set: true, Kind: expand.String, Str: e.tmpdir}
	}
	if idVars[name] {
		return expand.Variable{Set: true, Kind: expand.String, ReadOnly: true, Str: "0"}
	}
	return e.Environ.Get(name)
}

func (e *sandboxEnv) Each(f func(name string, vr expand.Variable) bool) {
	for _, n := range []string{"EUID", "GID", "UID"} {
		if !f(n, e.Get(n)) {
			return
		}
	}
	e.Environ.Each(func(name string, vr expand.Variable) bool {
		if idVars[name] {
			return true
		}
		return f(name, vr)
	})
}

// addPsub keeps the output of a process substitution and returns the path
// it is read from, like bash's /dev/fd/63.
func (b *budget) addPsub(data []byte) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.psub == nil {
		b.psub = map[string][]byte{}
	}
	p := fmt.Sprintf("/dev/fd/%d", 63+len(b.psub))
	b.psub[p] = data
	return p
}

func (b *budget) psubData(p string) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.psub[p]
	return d, ok
}
