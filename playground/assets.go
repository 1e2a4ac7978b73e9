package playground

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// assetFS holds the vendored files (assets/, written by vendor.sh) and this package's own
// (web/). Both are served flat under prefix + "/assets/".
//
//go:embed assets web
var assetFS embed.FS

// asset is one file ready to serve.
type asset struct {
	data        []byte
	contentType string
	hash        string // hex of the first 8 bytes of the SHA-256 of data: the ETag and the URL version
}

// contentType is the type of an embedded file, from its extension. The system's MIME tables are
// not consulted, so every machine serves the same types.
func contentType(name string) (string, bool) {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8", true
	case ".css":
		return "text/css; charset=utf-8", true
	case ".txt", "": // licences, VERSIONS
		return "text/plain; charset=utf-8", true
	}
	return "", false
}

// loadAssets reads every embedded file, keyed by its path under assets/ or web/. It panics on a
// name that both directories hold or on an unknown extension: the embedded files are fixed at
// build time, so that is a programming error the tests catch.
func loadAssets() map[string]asset {
	assets := make(map[string]asset)
	for _, root := range []string{"assets", "web"} {
		sub, err := fs.Sub(assetFS, root)
		if err != nil {
			panic("playground: " + err.Error())
		}
		err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if _, dup := assets[name]; dup {
				panic("playground: two embedded files named " + name)
			}
			ct, ok := contentType(name)
			if !ok {
				panic("playground: no content type for " + name)
			}
			data, err := fs.ReadFile(sub, name)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			assets[name] = asset{data: data, contentType: ct, hash: hex.EncodeToString(sum[:8])}
			return nil
		})
		if err != nil {
			panic("playground: reading embedded files: " + err.Error())
		}
	}
	return assets
}

// serve writes a with its ETag, answering conditional and range requests. A request that names
// the current version may keep the answer for a year; any other is told to revalidate.
func (a asset) serve(w http.ResponseWriter, r *http.Request, versioned bool) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", `"`+a.hash+`"`)
	if versioned {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.data))
}
