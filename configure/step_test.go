package configure

import (
	"bytes"
	"testing"
)

// TestStepWriter: one step per "Setting up" line of dpkg, however the
// output is cut into writes; the output itself passes through.
func TestStepWriter(t *testing.T) {
	out := "Selecting previously unselected package x.\nSetting up base-files (12.4) ...\n" +
		"Setting up dash (0.5.12-2) ...\nno newline: Setting up x\nSetting up mawk (1.3.4) ..."
	for _, chunk := range []int{1, 7, len(out)} {
		var buf bytes.Buffer
		n := 0
		w := &stepWriter{w: &buf, step: func() { n++ }}
		for i := 0; i < len(out); i += chunk {
			w.Write([]byte(out[i:min(i+chunk, len(out))]))
		}
		w.flush()
		if n != 3 || buf.String() != out {
			t.Errorf("chunks of %d: %d steps, output %q", chunk, n, buf.String())
		}
	}
	w := &stepWriter{} // no writer, no step: nothing breaks
	w.Write([]byte("Setting up x\n"))
	w.flush()
}
