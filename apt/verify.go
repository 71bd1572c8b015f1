package apt

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// SignatureProblem classifies why a Release could not be trusted.
type SignatureProblem int

const (
	// Unsigned: no OpenPGP signature at all (often a captive portal or a
	// proxy error page served in place of InRelease).
	Unsigned SignatureProblem = iota + 1
	// Malformed: the signed message or signature cannot be parsed, or the
	// file carries data outside the signed part.
	Malformed
	// UnknownKey: every signature was made by a key not in the keyring.
	UnknownKey
	// BadSignature: a key in the keyring made a signature that does not
	// match the text.
	BadSignature
	// Expired: the signature, or the key that made it, has expired.
	Expired
	// Revoked: the key that made the signature is revoked.
	Revoked
	// WeakDigest: the only good signatures use a broken hash (SHA-1, MD5),
	// which apt refuses as well.
	WeakDigest
)

func (p SignatureProblem) String() string {
	switch p {
	case Unsigned:
		return "not signed"
	case Malformed:
		return "malformed signed file"
	case UnknownKey:
		return "signed by an unknown key"
	case BadSignature:
		return "bad signature"
	case Expired:
		return "expired signature or key"
	case Revoked:
		return "signed by a revoked key"
	case WeakDigest:
		return "signed with a weak digest algorithm"
	}
	return "signature problem"
}

// SignatureError says why a Release is not trusted. Issuers lists the
// signing keys named by the signatures (fingerprint when the signature
// carries it, else the 64-bit key ID), so the user can find the right
// keyring.
type SignatureError struct {
	Problem SignatureProblem
	Issuers []string
	Err     error // underlying detail, may be nil
}

func (e *SignatureError) Error() string {
	var b strings.Builder
	b.WriteString(e.Problem.String())
	if len(e.Issuers) > 0 {
		fmt.Fprintf(&b, " (signer %s)", strings.Join(e.Issuers, ", "))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	switch e.Problem {
	case UnknownKey:
		b.WriteString("; pass --keyring with the archive's public key")
	case Unsigned:
		b.WriteString(" (does the network require authentication, or is this not an archive?)")
	}
	return b.String()
}

func (e *SignatureError) Unwrap() error { return e.Err }

// VerifyInRelease checks the clear-signed InRelease data against keys and
// parses the signed text only. Anything but blank lines outside the signed
// message is refused, as apt does, so unsigned lines can never reach the
// parser. now is the time signatures and keys must be valid at.
func VerifyInRelease(data []byte, keys openpgp.EntityList, now time.Time) (*Release, error) {
	before, _, found := bytes.Cut(data, []byte("-----BEGIN PGP SIGNED MESSAGE-----"))
	if !found {
		return nil, &SignatureError{Problem: Unsigned, Err: errors.New("no \"-----BEGIN PGP SIGNED MESSAGE-----\"")}
	}
	if len(bytes.TrimSpace(before)) > 0 {
		return nil, &SignatureError{Problem: Malformed, Err: errors.New("data before the signed message")}
	}
	block, rest := clearsign.Decode(data)
	if block == nil {
		return nil, &SignatureError{Problem: Malformed, Err: errors.New("cannot parse the clear-signed message")}
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, &SignatureError{Problem: Malformed, Err: errors.New("data after the signature")}
	}
	if block.ArmoredSignature.Type != openpgp.SignatureType {
		return nil, &SignatureError{Problem: Malformed, Err: fmt.Errorf("armored block is %q, expected %q", block.ArmoredSignature.Type, openpgp.SignatureType)}
	}
	sig, err := io.ReadAll(block.ArmoredSignature.Body)
	if err != nil {
		return nil, &SignatureError{Problem: Malformed, Err: fmt.Errorf("reading signature: %w", err)}
	}
	signer, err := verifySignatures(block.Bytes, sig, keys, now)
	if err != nil {
		return nil, err
	}
	rel, err := ParseRelease(block.Plaintext)
	if err != nil {
		return nil, err
	}
	rel.Signer = signer
	return rel, nil
}

// VerifyRelease checks a Release file against its detached signature
// (Release.gpg, armored or binary) and parses it.
func VerifyRelease(release, sig []byte, keys openpgp.EntityList, now time.Time) (*Release, error) {
	raw := sig
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN PGP")) {
		block, err := armor.Decode(bytes.NewReader(sig))
		if err != nil {
			return nil, &SignatureError{Problem: Malformed, Err: fmt.Errorf("reading armored signature: %w", err)}
		}
		if block.Type != openpgp.SignatureType {
			return nil, &SignatureError{Problem: Malformed, Err: fmt.Errorf("armored block is %q, expected %q", block.Type, openpgp.SignatureType)}
		}
		if raw, err = io.ReadAll(block.Body); err != nil {
			return nil, &SignatureError{Problem: Malformed, Err: fmt.Errorf("reading signature: %w", err)}
		}
	}
	if len(raw) == 0 {
		return nil, &SignatureError{Problem: Unsigned, Err: errors.New("empty signature")}
	}
	signer, err := verifySignatures(release, raw, keys, now)
	if err != nil {
		return nil, err
	}
	rel, err := ParseRelease(release)
	if err != nil {
		return nil, err
	}
	rel.Signer = signer
	return rel, nil
}

// weakDigests are refused for the message signature, as apt refuses them
// (gpgv --weak-digest). Key self-signatures are go-crypto's business.
var weakDigests = map[crypto.Hash]string{
	crypto.MD5:       "MD5",
	crypto.SHA1:      "SHA-1",
	crypto.RIPEMD160: "RIPEMD-160",
}

// verifySignatures checks every signature packet in sig (binary) over
// signed. Archives often sign with several keys (the current and the next
// release's); like apt, one good signature by a trusted key is enough, but
// a signature by a trusted key that does not verify fails the whole file.
// It returns the fingerprint of a good signer.
func verifySignatures(signed, sig []byte, keys openpgp.EntityList, now time.Time) (string, error) {
	pkts, err := splitPackets(sig)
	if err != nil {
		return "", &SignatureError{Problem: Malformed, Err: err}
	}
	if now.IsZero() {
		now = time.Now()
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	var (
		good      string
		unknown   []string
		firstFail *SignatureError
		weak      []string
	)
	for _, raw := range pkts {
		p, err := packet.Read(bytes.NewReader(raw))
		if err != nil {
			var unsupported pgperrors.UnsupportedError
			if errors.As(err, &unsupported) {
				// A signature made with an algorithm go-crypto lacks is
				// like one by an unknown key: others may still verify.
				unknown = append(unknown, "unsupported signature: "+err.Error())
				continue
			}
			return "", &SignatureError{Problem: Malformed, Err: fmt.Errorf("reading signature packet: %w", err)}
		}
		s, ok := p.(*packet.Signature)
		if !ok {
			return "", &SignatureError{Problem: Malformed, Err: fmt.Errorf("signature data holds a %T packet", p)}
		}
		issuer := issuerName(s)
		if len(keys.KeysByIdUsage(issuerID(s), packet.KeyFlagSign)) == 0 {
			if len(keys.KeysById(issuerID(s))) > 0 {
				// Known key, but its self-signature does not allow signing.
				if firstFail == nil {
					firstFail = &SignatureError{Problem: BadSignature, Issuers: []string{issuer}, Err: errors.New("key is not marked for signing")}
				}
				continue
			}
			unknown = append(unknown, issuer)
			continue
		}
		if name, bad := weakDigests[s.Hash]; bad {
			weak = append(weak, issuer+" uses "+name)
			continue
		}
		_, signer, err := openpgp.VerifyDetachedSignature(keys, bytes.NewReader(signed), bytes.NewReader(raw), cfg)
		if err == nil {
			if good == "" {
				good = fmt.Sprintf("%X", signer.PrimaryKey.Fingerprint)
			}
			continue
		}
		se := classify(err, issuer)
		if se.Problem == BadSignature || se.Problem == Malformed {
			return "", se // a forged or damaged signature by a trusted key is never outweighed
		}
		if firstFail == nil {
			firstFail = se
		}
	}
	switch {
	case good != "":
		return good, nil
	case firstFail != nil:
		return "", firstFail
	case len(weak) > 0:
		return "", &SignatureError{Problem: WeakDigest, Err: errors.New(strings.Join(weak, "; "))}
	case len(unknown) > 0:
		return "", &SignatureError{Problem: UnknownKey, Issuers: unknown}
	}
	return "", &SignatureError{Problem: Unsigned, Err: errors.New("no signature packet")}
}

func classify(err error, issuer string) *SignatureError {
	iss := []string{issuer}
	switch {
	case errors.Is(err, pgperrors.ErrKeyExpired), errors.Is(err, pgperrors.ErrSignatureExpired):
		return &SignatureError{Problem: Expired, Issuers: iss, Err: err}
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return &SignatureError{Problem: Revoked, Issuers: iss, Err: err}
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return &SignatureError{Problem: UnknownKey, Issuers: iss}
	}
	var sigErr pgperrors.SignatureError
	if errors.As(err, &sigErr) {
		return &SignatureError{Problem: BadSignature, Issuers: iss, Err: err}
	}
	var structural pgperrors.StructuralError
	if errors.As(err, &structural) {
		return &SignatureError{Problem: Malformed, Issuers: iss, Err: err}
	}
	// Anything else (unsupported algorithm, signature older than the
	// key, unknown critical notation…) means the signature is not good.
	return &SignatureError{Problem: BadSignature, Issuers: iss, Err: err}
}

func issuerID(s *packet.Signature) uint64 {
	if s.IssuerKeyId != nil {
		return *s.IssuerKeyId
	}
	if n := len(s.IssuerFingerprint); n >= 8 {
		// v4 key ID = low 64 bits of the fingerprint.
		var id uint64
		for _, b := range s.IssuerFingerprint[n-8:] {
			id = id<<8 | uint64(b)
		}
		return id
	}
	return 0
}

func issuerName(s *packet.Signature) string {
	if len(s.IssuerFingerprint) > 0 {
		return fmt.Sprintf("%X", s.IssuerFingerprint)
	}
	if s.IssuerKeyId != nil {
		return fmt.Sprintf("key ID %016X", *s.IssuerKeyId)
	}
	return "no issuer"
}

// splitPackets cuts binary OpenPGP data into whole packets (header
// included), so each signature can be checked on its own: go-crypto stops
// at the first signature whose key it knows.
func splitPackets(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		tag := b[0]
		if tag&0x80 == 0 {
			return nil, fmt.Errorf("signature data: bad packet tag byte 0x%02x", tag)
		}
		var hdr, body int
		if tag&0x40 != 0 { // new format
			if len(b) < 2 {
				return nil, errors.New("signature data: truncated packet header")
			}
			switch l := int(b[1]); {
			case l < 192:
				hdr, body = 2, l
			case l < 224:
				if len(b) < 3 {
					return nil, errors.New("signature data: truncated packet header")
				}
				hdr, body = 3, (l-192)<<8+int(b[2])+192
			case l == 255:
				if len(b) < 6 {
					return nil, errors.New("signature data: truncated packet header")
				}
				hdr, body = 6, int(uint32(b[2])<<24|uint32(b[3])<<16|uint32(b[4])<<8|uint32(b[5]))
			default:
				return nil, errors.New("signature data: partial body length in a signature packet")
			}
		} else { // old format
			switch tag & 3 {
			case 0:
				if len(b) < 2 {
					return nil, errors.New("signature data: truncated packet header")
				}
				hdr, body = 2, int(b[1])
			case 1:
				if len(b) < 3 {
					return nil, errors.New("signature data: truncated packet header")
				}
				hdr, body = 3, int(b[1])<<8|int(b[2])
			case 2:
				if len(b) < 5 {
					return nil, errors.New("signature data: truncated packet header")
				}
				hdr, body = 5, int(uint32(b[1])<<24|uint32(b[2])<<16|uint32(b[3])<<8|uint32(b[4]))
			default: // indeterminate: to the end
				hdr, body = 1, len(b)-1
			}
		}
		if body < 0 || hdr+body > len(b) {
			return nil, errors.New("signature data: truncated packet")
		}
		out = append(out, b[:hdr+body])
		b = b[hdr+body:]
	}
	if len(out) == 0 {
		return nil, errors.New("signature data is empty")
	}
	return out, nil
}
