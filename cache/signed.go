package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// signedMeta heads a stored signed file: the validators for the next
// conditional GET. Validators and bytes share one file, renamed into place
// at once, so an ETag is never paired with other bytes than its own.
type signedMeta struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
}

// FetchSigned fetches a metadata file that is not content addressed
// (InRelease, Release) with a conditional GET, using the ETag and
// Last-Modified remembered from the previous fetch. verify is the caller's
// signature check: bytes are stored only after it succeeds. On 304 Not
// Modified the stored copy is verified again (its Valid-Until may have passed
// since) and returned; should that fail, the file is fetched unconditionally
// once more.
func (c *Cache) FetchSigned(ctx context.Context, url string, verify func([]byte) error) ([]byte, error) {
	key := signedKey(url)
	unlock, err := c.lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	defer unlock()

	path := c.signedPath(url)
	stored, meta, err := readSigned(path, url)
	if err != nil {
		c.log.Warn("ignoring unreadable stored copy", "url", url, "path", path, "err", err)
		stored = nil
	}
	if c.offline && !isFileURL(url) {
		// The stored copy, checked again (its Valid-Until, the keys).
		if stored == nil {
			return nil, &OfflineError{URL: url}
		}
		if err := verify(stored); err != nil {
			return nil, fmt.Errorf("verify the stored copy of %s: %w", url, err)
		}
		return stored, nil
	}
	hdr := http.Header{}
	if stored != nil {
		if meta.ETag != "" {
			hdr.Set("If-None-Match", meta.ETag)
		}
		if meta.LastModified != "" {
			hdr.Set("If-Modified-Since", meta.LastModified)
		}
	}
	body, newMeta, notModified, err := c.getSmall(ctx, url, hdr)
	if err != nil {
		return nil, err
	}
	if notModified {
		if stored == nil {
			return nil, fmt.Errorf("%w (without a conditional request)", &HTTPError{URL: url, StatusCode: http.StatusNotModified, Status: "304 Not Modified"})
		}
		verr := verify(stored)
		if verr == nil {
			c.log.Debug("not modified", "url", url)
			return stored, nil
		}
		c.log.Warn("stored copy no longer verifies; fetching it again", "url", url, "err", verr)
		body, newMeta, notModified, err = c.getSmall(ctx, url, nil)
		if err != nil {
			return nil, err
		}
		if notModified {
			return nil, fmt.Errorf("%w (without a conditional request)", &HTTPError{URL: url, StatusCode: http.StatusNotModified, Status: "304 Not Modified"})
		}
	}
	if err := verify(body); err != nil {
		return nil, fmt.Errorf("verify %s: %w", url, err)
	}
	if err := c.storeSigned(key, path, newMeta, body); err != nil {
		// The bytes are verified and the caller can go on; the next run just
		// cannot make a conditional request.
		c.log.Warn("cannot store verified file in cache", "url", url, "err", err)
	}
	return body, nil
}

// signedKey is the lock key of url's stored copy.
func signedKey(url string) string {
	h := sha256.Sum256([]byte(url))
	return "signed-" + hex.EncodeToString(h[:])
}

// signedPath is where url's verified copy is stored.
func (c *Cache) signedPath(url string) string {
	return filepath.Join(c.signedDir(), strings.TrimPrefix(signedKey(url), "signed-"))
}

// FetchBytes GETs a small file that is not stored (e.g. Release.gpg, which
// the caller verifies together with Release), with retries.
func (c *Cache) FetchBytes(ctx context.Context, url string) ([]byte, error) {
	body, _, notModified, err := c.getSmall(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	if notModified {
		return nil, &HTTPError{URL: url, StatusCode: http.StatusNotModified, Status: "304 Not Modified"}
	}
	return body, nil
}

// getSmall reads a whole body of at most MaxMetaSize bytes, with retries.
func (c *Cache) getSmall(ctx context.Context, url string, hdr http.Header) (body []byte, meta signedMeta, notModified bool, err error) {
	err = c.retry(ctx, url, func(ctx context.Context) error {
		resp, err := c.open(ctx, url, hdr, c.maxMetaSize)
		if err != nil {
			return err
		}
		defer resp.close()
		if resp.StatusCode == http.StatusNotModified {
			notModified = true
			return nil
		}
		if resp.ContentLength > c.maxMetaSize {
			return fmt.Errorf("GET %s: body of %d bytes exceeds the limit of %d", url, resp.ContentLength, c.maxMetaSize)
		}
		b, err := io.ReadAll(io.LimitReader(resp, c.maxMetaSize+1))
		if err != nil {
			return resp.bodyError(ctx, err)
		}
		if int64(len(b)) > c.maxMetaSize {
			return fmt.Errorf("GET %s: body exceeds the limit of %d bytes", url, c.maxMetaSize)
		}
		body = b
		meta = signedMeta{URL: url, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
		return nil
	})
	return body, meta, notModified, err
}

// readSigned returns the stored copy of url, or nil if there is none.
func readSigned(path, url string) ([]byte, signedMeta, error) {
	var meta signedMeta
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, meta, nil
	}
	if err != nil {
		return nil, meta, err
	}
	head, data, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return nil, meta, fmt.Errorf("%s: no header line", path)
	}
	if err := json.Unmarshal(head, &meta); err != nil {
		return nil, meta, fmt.Errorf("%s: header: %w", path, err)
	}
	if meta.URL != url {
		return nil, meta, fmt.Errorf("%s: stored for %s, not %s", path, meta.URL, url)
	}
	return data, meta, nil
}

func (c *Cache) storeSigned(key, path string, meta signedMeta, body []byte) error {
	head, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.tmpDir(), key+".*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	_, err = tmp.Write(append(append(head, '\n'), body...))
	if err == nil {
		err = commit(tmp, path)
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// Stored returns the verified copy of url kept by an earlier FetchSigned,
// or nil. Callers use it to refuse going back in time (apt refuses a
// Release older than the one it has).
func (c *Cache) Stored(url string) []byte {
	b, _, err := readSigned(c.signedPath(url), url)
	if err != nil {
		return nil
	}
	return b
}
