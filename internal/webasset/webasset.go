// Package webasset serves pages and files embedded in the binary (the
// Playground and the status board): content types fixed by extension,
// content-hash ETags and versioned URLs cached for a year, and the security
// headers every response carries.
package webasset

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Asset is one file ready to serve.
type Asset struct {
	Data        []byte
	ContentType string
	// Hash is the hex of the first 8 bytes of the SHA-256 of Data: the ETag
	// and the version in the file's URL.
	Hash string
}

// New returns data as an Asset.
func New(data []byte, contentType string) Asset {
	sum := sha256.Sum256(data)
	return Asset{Data: data, ContentType: contentType, Hash: hex.EncodeToString(sum[:8])}
}

// ContentType is the type of an embedded file, from its extension; the
// system's MIME tables are not consulted, so every machine serves the same.
func ContentType(name string) (string, bool) {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8", true
	case ".css":
		return "text/css; charset=utf-8", true
	case ".svg":
		return "image/svg+xml", true
	case ".txt", "": // licences, VERSIONS
		return "text/plain; charset=utf-8", true
	}
	return "", false
}

// Load reads every file under root of fsys into assets, keyed by its path
// under root, except those skip names. A name already in assets, or one with
// no known content type, is an error: embedded files are fixed at build
// time, so callers panic on it and their tests catch it.
func Load(fsys fs.FS, root string, skip func(name string) bool, assets map[string]Asset) error {
	sub, err := fs.Sub(fsys, root)
	if err != nil {
		return err
	}
	return fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (skip != nil && skip(name)) {
			return err
		}
		if _, dup := assets[name]; dup {
			return fmt.Errorf("two embedded files named %s", name)
		}
		ct, ok := ContentType(name)
		if !ok {
			return fmt.Errorf("no content type for %s", name)
		}
		data, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		assets[name] = New(data, ct)
		return nil
	})
}

// Site is a page served at Prefix and Prefix+"/", and files under
// FilesPrefix+"/".
type Site struct {
	Prefix      string
	FilesPrefix string
	CSP         string
	Page        Asset
	Files       map[string]Asset
}

// URL is the versioned URL of the named file; it reports false for a file
// the site does not have.
func (s *Site) URL(name string) (string, bool) {
	a, ok := s.Files[name]
	return s.FilesPrefix + "/" + name + "?v=" + a.Hash, ok
}

// ServeHTTP routes to the page or a file; anything else is 404, and methods
// other than GET and HEAD are 405.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", s.CSP)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	var (
		a         Asset
		ok        bool
		versioned bool
	)
	switch p := r.URL.Path; {
	case p == s.Prefix || p == s.Prefix+"/":
		a, ok = s.Page, true
	case strings.HasPrefix(p, s.FilesPrefix+"/"):
		a, ok = s.Files[strings.TrimPrefix(p, s.FilesPrefix+"/")]
		versioned = ok && r.URL.Query().Get("v") == a.Hash
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	a.Serve(w, r, versioned)
}

// Serve writes a with its ETag, answering conditional and range requests. A
// request that names the current version may keep the answer for a year;
// any other is told to revalidate.
func (a Asset) Serve(w http.ResponseWriter, r *http.Request, versioned bool) {
	h := w.Header()
	h.Set("Content-Type", a.ContentType)
	h.Set("ETag", `"`+a.Hash+`"`)
	if versioned {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.Data))
}
