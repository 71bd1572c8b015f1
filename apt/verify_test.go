package apt

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

var testNow = time.Date(2024, 2, 10, 12, 0, 0, 0, time.UTC)

const testReleaseText = `Origin: Test
Suite: stable
Codename: bookworm
Date: Sat, 10 Feb 2024 09:27:11 UTC
Architectures: all amd64
Components: main
SHA256:
 0e2b3ae6f1e54ed2b4bc4e8ab8c7c6e06ba1e3c5b7b9b9e3e9e0cb4bb3b6d3d1 10 main/binary-amd64/Packages
`

// newTestEntity makes a throw-away Ed25519 key (fast to generate) created
// at created and valid for lifetime (0: forever).
func newTestEntity(t testing.TB, name string, created time.Time, lifetime time.Duration) *openpgp.Entity {
	t.Helper()
	cfg := &packet.Config{
		Algorithm:       packet.PubKeyAlgoEdDSA,
		Time:            func() time.Time { return created },
		KeyLifetimeSecs: uint32(lifetime / time.Second),
	}
	e, err := openpgp.NewEntity(name, "test", "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var (
	keyOnce  sync.Once
	keyA     *openpgp.Entity // trusted
	keyB     *openpgp.Entity // not in the keyring
	keyClock = testNow.Add(-24 * time.Hour)
)

func testKeys(t testing.TB) (trusted, stranger *openpgp.Entity) {
	keyOnce.Do(func() {
		keyA = newTestEntity(t, "Trusted Archive Key", keyClock, 0)
		keyB = newTestEntity(t, "Stranger", keyClock, 0)
	})
	return keyA, keyB
}

type signOpts struct {
	at       time.Time // signature time; default testNow - 1h
	lifetime time.Duration
}

func (o signOpts) config() *packet.Config {
	at := o.at
	if at.IsZero() {
		at = testNow.Add(-time.Hour)
	}
	return &packet.Config{
		Time:            func() time.Time { return at },
		SigLifetimeSecs: uint32(o.lifetime / time.Second),
	}
}

func clearSign(t testing.TB, text string, o signOpts, signers ...*openpgp.Entity) []byte {
	t.Helper()
	var privs []*packet.PrivateKey
	for _, s := range signers {
		privs = append(privs, s.PrivateKey)
	}
	var buf bytes.Buffer
	w, err := clearsign.EncodeMulti(&buf, privs, o.config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func detachSign(t testing.TB, text string, armored bool, o signOpts, signer *openpgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if armored {
		err = openpgp.ArmoredDetachSign(&buf, signer, strings.NewReader(text), o.config())
	} else {
		err = openpgp.DetachSign(&buf, signer, strings.NewReader(text), o.config())
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func fpr(e *openpgp.Entity) string { return fmt.Sprintf("%X", e.PrimaryKey.Fingerprint) }

func wantProblem(t *testing.T, err error, p SignatureProblem, contains ...string) {
	t.Helper()
	var se *SignatureError
	if !errors.As(err, &se) {
		t.Fatalf("got error %v, want a SignatureError (%v)", err, p)
	}
	if se.Problem != p {
		t.Fatalf("got problem %v (%v), want %v", se.Problem, err, p)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error %q does not mention %q", err, c)
		}
	}
}

func TestVerifyInRelease(t *testing.T) {
	a, b := testKeys(t)
	keys := openpgp.EntityList{a}
	good := clearSign(t, testReleaseText, signOpts{}, a)

	t.Run("good", func(t *testing.T) {
		r, err := VerifyInRelease(good, keys, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if r.Suite != "stable" || r.Codename != "bookworm" || r.Signer != fpr(a) || len(r.SHA256) != 1 {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("blank lines around", func(t *testing.T) {
		data := append(append([]byte("\n\n"), good...), "\n\n"...)
		if _, err := VerifyInRelease(data, keys, testNow); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("several signers, one known", func(t *testing.T) {
		data := clearSign(t, testReleaseText, signOpts{}, b, a)
		r, err := VerifyInRelease(data, keys, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if r.Signer != fpr(a) {
			t.Errorf("signer %s, want %s", r.Signer, fpr(a))
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		_, err := VerifyInRelease([]byte(testReleaseText), keys, testNow)
		wantProblem(t, err, Unsigned)
	})
	t.Run("captive portal page", func(t *testing.T) {
		_, err := VerifyInRelease([]byte("<html>Please log in</html>"), keys, testNow)
		wantProblem(t, err, Unsigned, "authentication")
	})
	t.Run("unknown key", func(t *testing.T) {
		_, err := VerifyInRelease(clearSign(t, testReleaseText, signOpts{}, b), keys, testNow)
		wantProblem(t, err, UnknownKey, fpr(b), "--keyring")
	})
	t.Run("empty keyring", func(t *testing.T) {
		_, err := VerifyInRelease(good, nil, testNow)
		wantProblem(t, err, UnknownKey, fpr(a))
	})
	t.Run("tampered text", func(t *testing.T) {
		data := bytes.Replace(good, []byte("Suite: stable"), []byte("Suite: stabke"), 1)
		_, err := VerifyInRelease(data, keys, testNow)
		wantProblem(t, err, BadSignature, fpr(a))
	})
	t.Run("tampered checksum", func(t *testing.T) {
		data := bytes.Replace(good, []byte(" 10 main"), []byte(" 11 main"), 1)
		_, err := VerifyInRelease(data, keys, testNow)
		wantProblem(t, err, BadSignature)
	})
	t.Run("unsigned text after the signature", func(t *testing.T) {
		data := append(bytes.Clone(good), "SHA256:\n 1111111111111111111111111111111111111111111111111111111111111111 5 evil\n"...)
		_, err := VerifyInRelease(data, keys, testNow)
		wantProblem(t, err, Malformed, "after the signature")
	})
	t.Run("unsigned text before the message", func(t *testing.T) {
		data := append([]byte("Suite: evil\n\n"), good...)
		_, err := VerifyInRelease(data, keys, testNow)
		wantProblem(t, err, Malformed, "before")
	})
	t.Run("second signed message", func(t *testing.T) {
		data := append(bytes.Clone(good), clearSign(t, "Suite: other\n", signOpts{}, a)...)
		_, err := VerifyInRelease(data, keys, testNow)
		wantProblem(t, err, Malformed)
	})
	t.Run("expired signature", func(t *testing.T) {
		data := clearSign(t, testReleaseText, signOpts{lifetime: time.Minute}, a)
		_, err := VerifyInRelease(data, keys, testNow)
		wantProblem(t, err, Expired, fpr(a))
	})
	t.Run("expired key", func(t *testing.T) {
		old := newTestEntity(t, "Old", testNow.Add(-48*time.Hour), 24*time.Hour)
		data := clearSign(t, testReleaseText, signOpts{at: testNow.Add(-30 * time.Hour)}, old)
		_, err := VerifyInRelease(data, openpgp.EntityList{old}, testNow)
		wantProblem(t, err, Expired)
		// The same file was fine while the key was valid.
		if _, err := VerifyInRelease(data, openpgp.EntityList{old}, testNow.Add(-25*time.Hour)); err != nil {
			t.Errorf("before expiry: %v", err)
		}
	})
	t.Run("revoked key", func(t *testing.T) {
		k := newTestEntity(t, "Revoked", keyClock, 0)
		data := clearSign(t, testReleaseText, signOpts{}, k)
		if err := k.RevokeKey(packet.KeyCompromised, "test", &packet.Config{Time: func() time.Time { return testNow.Add(-time.Minute) }}); err != nil {
			t.Fatal(err)
		}
		_, err := VerifyInRelease(data, openpgp.EntityList{k}, testNow)
		wantProblem(t, err, Revoked)
	})
	t.Run("signed but not a Release", func(t *testing.T) {
		data := clearSign(t, "Hello: world\n", signOpts{}, a)
		if _, err := VerifyInRelease(data, keys, testNow); err == nil || !strings.Contains(err.Error(), "SHA256") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestVerifyRelease(t *testing.T) {
	a, b := testKeys(t)
	keys := openpgp.EntityList{a}
	for _, armored := range []bool{false, true} {
		t.Run(fmt.Sprint("armored=", armored), func(t *testing.T) {
			sig := detachSign(t, testReleaseText, armored, signOpts{}, a)
			r, err := VerifyRelease([]byte(testReleaseText), sig, keys, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if r.Codename != "bookworm" || r.Signer != fpr(a) {
				t.Errorf("got %+v", r)
			}
			_, err = VerifyRelease([]byte(strings.Replace(testReleaseText, "stable", "unstable", 1)), sig, keys, testNow)
			wantProblem(t, err, BadSignature)
			_, err = VerifyRelease([]byte(testReleaseText), detachSign(t, testReleaseText, armored, signOpts{}, b), keys, testNow)
			wantProblem(t, err, UnknownKey, fpr(b))
		})
	}
	t.Run("weak digest", func(t *testing.T) {
		// go-crypto refuses to sign with SHA-1, so relabel a signature:
		// the weak digest must be refused before any verification.
		sig := detachSign(t, testReleaseText, false, signOpts{}, a)
		if sig[0] != 0xc2 || sig[1] >= 192 || sig[2] != 4 {
			t.Fatalf("unexpected packet header % x", sig[:3])
		}
		sig[5] = 2 // hash algorithm 2 = SHA-1 (RFC 4880 9.4)
		_, err := VerifyRelease([]byte(testReleaseText), sig, keys, testNow)
		wantProblem(t, err, WeakDigest, "SHA-1")
	})
	t.Run("empty signature", func(t *testing.T) {
		_, err := VerifyRelease([]byte(testReleaseText), nil, keys, testNow)
		wantProblem(t, err, Unsigned)
	})
	t.Run("garbage signature", func(t *testing.T) {
		_, err := VerifyRelease([]byte(testReleaseText), []byte("not a signature"), keys, testNow)
		wantProblem(t, err, Malformed)
	})
}

func TestSplitPackets(t *testing.T) {
	a, b := testKeys(t)
	var buf bytes.Buffer
	for _, e := range []*openpgp.Entity{a, b} {
		buf.Write(detachSign(t, testReleaseText, false, signOpts{}, e))
	}
	pkts, err := splitPackets(buf.Bytes())
	if err != nil || len(pkts) != 2 {
		t.Fatalf("got %d packets, %v", len(pkts), err)
	}
	// Old-format header, one-octet length.
	if p, err := splitPackets([]byte{0x88, 2, 'a', 'b', 0x88, 0}); err != nil || len(p) != 2 {
		t.Errorf("old format: %d packets, %v", len(p), err)
	}
	for _, bad := range [][]byte{{0x01}, {0xc2}, {0xc2, 5, 1}, {0xc2, 0xe0}} {
		if _, err := splitPackets(bad); err == nil {
			t.Errorf("% x: no error", bad)
		}
	}
}
