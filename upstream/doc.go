// Package upstream is the client for Kore.ai's Bot Publish Status API.
//
// It mints the per-environment JWT that Kore.ai expects in the auth header,
// validates and path-escapes bot IDs, decodes publish jobs tolerantly and
// turns every upstream outcome into a typed error that callers branch on with
// errors.Is and errors.As. It imports nothing else from this module.
package upstream
