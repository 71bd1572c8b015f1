package export

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestAsyncWriter(t *testing.T) {
	for _, size := range []int{1, 7, 4096} {
		var out bytes.Buffer
		a := newAsyncWriter(&out, size, 2)
		var want bytes.Buffer
		for i := range 500 {
			chunk := bytes.Repeat([]byte{byte(i)}, i%37)
			want.Write(chunk)
			if n, err := a.Write(chunk); n != len(chunk) || err != nil {
				t.Fatalf("Write: %d, %v", n, err)
			}
			if i%100 == 0 {
				if err := a.Flush(); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), want.Bytes()) {
					t.Fatalf("size %d: after Flush %d bytes out, want %d", size, out.Len(), want.Len())
				}
			}
		}
		if err := a.Flush(); err != nil {
			t.Fatal(err)
		}
		a.Close()
		a.Close()
		if !bytes.Equal(out.Bytes(), want.Bytes()) {
			t.Errorf("size %d: %d bytes out, want %d", size, out.Len(), want.Len())
		}
	}
}

type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestAsyncWriterError(t *testing.T) {
	a := newAsyncWriter(&failAfter{n: 100}, 16, 2)
	defer a.Close()
	var err error
	for range 100 {
		if _, err = a.Write(make([]byte, 10)); err != nil {
			break
		}
	}
	if err == nil {
		err = a.Flush()
	}
	if err == nil || err.Error() != "disk full" {
		t.Errorf("err = %v, want the writer's", err)
	}
	if _, err := io.WriteString(a, "more"); err == nil {
		t.Error("a write after the failure succeeded")
	}
}
