#!/usr/bin/env bash
# vendor.sh re-vendors the GraphiQL assets that package playground embeds, from the npm registry.
#
#   playground/vendor.sh          rewrite playground/assets from the versions pinned below
#   playground/vendor.sh --check  vendor into a temporary directory and fail if assets/ differs
#
# Each tarball is checked against the integrity pinned here, so the same versions always give
# byte-identical files. To upgrade: change a version, set its integrity from
# `npm view NAME@VERSION dist.integrity`, run this script, then `go test ./playground/` and look at
# the page in a browser (a new GraphiQL may need a different Content-Security-Policy).
set -euo pipefail

# GraphiQL 3.8.3 is the newest 3.x. Its UMD bundle (window.GraphiQL) expects React 18 as the globals
# window.React and window.ReactDOM. GraphiQL 5 ships no UMD bundle at all.
packages=(
	"graphiql 3.8.3 sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw=="
	"react 18.3.1 sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ=="
	"react-dom 18.3.1 sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw=="
)

# The file each package contributes, as "package path-in-tarball".
files=(
	"graphiql package/graphiql.min.js"
	"graphiql package/graphiql.min.css"
	"react package/umd/react.production.min.js"
	"react-dom package/umd/react-dom.production.min.js"
)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
assets="$here/assets"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

out="$work/assets"
mkdir -p "$out/LICENSES"

for entry in "${packages[@]}"; do
	read -r name version integrity <<<"$entry"
	tgz=$(cd "$work" && npm pack --silent "$name@$version")
	got="sha512-$(openssl dgst -sha512 -binary "$work/$tgz" | base64 -w0)"
	if [[ "$got" != "$integrity" ]]; then
		echo "vendor.sh: $name@$version: integrity $got, want $integrity" >&2
		exit 1
	fi
	mkdir -p "$work/$name"
	tar -xzf "$work/$tgz" -C "$work/$name"
	cp "$work/$name/package/LICENSE" "$out/LICENSES/$name.txt"
done

for entry in "${files[@]}"; do
	read -r name path <<<"$entry"
	cp "$work/$name/$path" "$out/"
done

{
	echo "# Written by vendor.sh from the npm registry; do not edit by hand."
	echo "# package version integrity"
	printf '%s\n' "${packages[@]}"
	echo "# sha256 of each vendored file (checked by the package's tests)"
	(cd "$out" && find . -type f ! -name VERSIONS | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum)
} >"$out/VERSIONS"

if [[ "${1:-}" == "--check" ]]; then
	if ! diff -r "$out" "$assets"; then
		echo "vendor.sh: $assets differs from the pinned packages; run playground/vendor.sh" >&2
		exit 1
	fi
	echo "vendor.sh: $assets matches the pinned packages"
	exit 0
fi

rm -rf "$assets"
cp -r "$out" "$assets"
echo "vendor.sh: wrote $assets ($(du -sh "$assets" | cut -f1))"
