package playground

import (
	"embed"

	"github.com/publishgate/publishgate/internal/webasset"
)

// assetFS holds the vendored files (assets/, written by vendor.sh) and this package's own
// (web/). Both are served flat under prefix + "/assets/".
//
//go:embed assets web
var assetFS embed.FS

// loadAssets reads every embedded file, keyed by its path under assets/ or web/ (served flat).
// It panics on a name both directories hold or on an unknown extension: the embedded files are
// fixed at build time, so that is a programming error the tests catch.
func loadAssets() map[string]webasset.Asset {
	assets := make(map[string]webasset.Asset)
	for _, root := range []string{"assets", "web"} {
		if err := webasset.Load(assetFS, root, nil, assets); err != nil {
			panic("playground: reading embedded files: " + err.Error())
		}
	}
	return assets
}
