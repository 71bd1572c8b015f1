package testarchive

import (
	"bytes"
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// A Key is a throw-away OpenPGP key that signs archives.
type Key struct {
	// Entity holds the private key, for tests that need more than the
	// methods below.
	Entity *openpgp.Entity
	name   string
}

// KeyOptions tune NewKeyWith.
type KeyOptions struct {
	// Created is the key's creation time; default 2020-01-01 so that
	// signatures over any plausible Date verify.
	Created time.Time
	// Lifetime, if non-zero, makes the key expire Created+Lifetime (for
	// expired-key tests: a past Created and a short Lifetime).
	Lifetime time.Duration
	// RSA makes a 3072-bit RSA key (slow: seconds) instead of Ed25519.
	RSA bool
}

var defaultKeyCreated = time.Date(2020, time.January, 1, 0, 0, 0, 0, time.UTC)

// NewKey generates an Ed25519 (EdDSA, v4: readable by gpgv and sqv) key with
// the user id "<name> <name@example.org>".
func NewKey(name string) (*Key, error) { return NewKeyWith(name, KeyOptions{}) }

// NewKeyWith generates a key as tuned by o.
func NewKeyWith(name string, o KeyOptions) (*Key, error) {
	created := o.Created
	if created.IsZero() {
		created = defaultKeyCreated
	}
	cfg := &packet.Config{
		Algorithm:   packet.PubKeyAlgoEdDSA,
		DefaultHash: crypto.SHA256,
		Time:        func() time.Time { return created },
	}
	if o.RSA {
		cfg.Algorithm = packet.PubKeyAlgoRSA
		cfg.RSABits = 3072
	}
	if o.Lifetime > 0 {
		cfg.KeyLifetimeSecs = uint32(o.Lifetime / time.Second)
	}
	email := strings.ToLower(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, name)) + "@example.org"
	e, err := openpgp.NewEntity(name, "", email, cfg)
	if err != nil {
		return nil, fmt.Errorf("testarchive: generating key %q: %w", name, err)
	}
	return &Key{Entity: e, name: name}, nil
}

var defaultKey struct {
	once sync.Once
	key  *Key
	err  error
}

// DefaultKey returns the key generated once per process and shared by all
// archives that do not name their own.
func DefaultKey() (*Key, error) {
	defaultKey.once.Do(func() {
		defaultKey.key, defaultKey.err = NewKey("testarchive signing key")
	})
	return defaultKey.key, defaultKey.err
}

// Fingerprint is the key's fingerprint in upper-case hex.
func (k *Key) Fingerprint() string {
	return strings.ToUpper(fmt.Sprintf("%x", k.Entity.PrimaryKey.Fingerprint))
}

// Public returns the public key as a binary keyring, like the files in
// /usr/share/keyrings/*.gpg.
func (k *Key) Public() []byte {
	var b bytes.Buffer
	if err := k.Entity.Serialize(&b); err != nil {
		// Serializing a freshly generated entity to memory cannot fail.
		panic(fmt.Sprintf("testarchive: serializing public key: %v", err))
	}
	return b.Bytes()
}

// ArmoredPublic returns the public key ASCII-armored (.asc).
func (k *Key) ArmoredPublic() []byte {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err == nil {
		_, err = w.Write(k.Public())
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		panic(fmt.Sprintf("testarchive: armoring public key: %v", err))
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// KeyRing returns the public key as a go-crypto key ring.
func (k *Key) KeyRing() openpgp.EntityList {
	el, err := openpgp.ReadKeyRing(bytes.NewReader(k.Public()))
	if err != nil {
		panic(fmt.Sprintf("testarchive: reading back public key: %v", err))
	}
	return el
}

// WriteKeyring writes the binary public keyring into dir (created if
// needed) and returns its path, <dir>/<name>.gpg.
func (k *Key) WriteKeyring(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '-'
		}
		return r
	}, k.name)
	p := filepath.Join(dir, name+".gpg")
	if err := os.WriteFile(p, k.Public(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func signConfig() *packet.Config {
	now := time.Now().Truncate(time.Second)
	return &packet.Config{DefaultHash: crypto.SHA256, Time: func() time.Time { return now }}
}

// ClearSign returns data as an InRelease-style cleartext-signed message,
// signed by k and then by each of also.
func (k *Key) ClearSign(data []byte, also ...*Key) ([]byte, error) {
	keys := []*packet.PrivateKey{k.Entity.PrivateKey}
	for _, a := range also {
		keys = append(keys, a.Entity.PrivateKey)
	}
	var b bytes.Buffer
	w, err := clearsign.EncodeMulti(&b, keys, signConfig())
	if err != nil {
		return nil, fmt.Errorf("testarchive: clearsign: %w", err)
	}
	// As gpg --clearsign does, the final line ending of data belongs to the
	// armor, not to the signed text: InRelease then reads as Release.
	if _, err := w.Write(bytes.TrimSuffix(data, []byte("\n"))); err != nil {
		return nil, fmt.Errorf("testarchive: clearsign: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("testarchive: clearsign: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// DetachSign returns an armored detached signature of data (a Release.gpg)
// by k and each of also. It signs with the primary key directly, so an
// expired key still signs (for expired-key tests).
func (k *Key) DetachSign(data []byte, also ...*Key) ([]byte, error) {
	var sigs bytes.Buffer
	for _, s := range append([]*Key{k}, also...) {
		if err := detachSign(&sigs, s.Entity.PrivateKey, data); err != nil {
			return nil, fmt.Errorf("testarchive: detach-sign with %s: %w", s.name, err)
		}
	}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.SignatureType, nil)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(sigs.Bytes()); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func detachSign(w *bytes.Buffer, priv *packet.PrivateKey, data []byte) error {
	cfg := signConfig()
	pub := &priv.PublicKey
	sig := &packet.Signature{
		Version:           pub.Version,
		SigType:           packet.SigTypeBinary,
		PubKeyAlgo:        pub.PubKeyAlgo,
		Hash:              crypto.SHA256,
		CreationTime:      cfg.Now(),
		IssuerKeyId:       &pub.KeyId,
		IssuerKeyVersion:  uint8(pub.Version),
		IssuerFingerprint: pub.Fingerprint,
	}
	h, err := sig.PrepareSign(cfg)
	if err != nil {
		return err
	}
	h.Write(data)
	if err := sig.Sign(h, priv, cfg); err != nil {
		return err
	}
	return sig.Serialize(w)
}
