package apq

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// CodeBadUserInput is the extensions.code of every refusal here (SPEC §2).
const CodeBadUserInput = "BAD_USER_INPUT"

// NotFoundMessage is the message Apollo clients look for to send the
// document with its hash (apollo-link-persisted-queries).
const NotFoundMessage = "PersistedQueryNotFound"

// Extension is a gqlgen handler extension serving persisted queries. Without
// Allowed it is Automatic Persisted Queries over Store; with Allowed it runs
// only the documents listed there, and refuses every other operation, sent
// as text or as an unknown hash.
type Extension struct {
	// Store keeps automatically persisted documents.
	Store graphql.Cache[string]
	// Allowed, when not nil, is the persisted-only list: hash -> document.
	Allowed map[string]string
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = Extension{}

// ExtensionName implements graphql.HandlerExtension.
func (Extension) ExtensionName() string { return "PersistedQueries" }

// Validate implements graphql.HandlerExtension.
func (e Extension) Validate(graphql.ExecutableSchema) error {
	if e.Store == nil && e.Allowed == nil {
		return fmt.Errorf("apq: a Store or an Allowed list is required")
	}
	return nil
}

// MutateOperationParameters runs before parsing: it fills in the document
// of a hash, or refuses the operation.
func (e Extension) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	hash, sent, gerr := persistedHash(p.Extensions)
	if gerr != nil {
		return gerr
	}
	if e.Allowed != nil {
		return e.persistedOnly(p, hash, sent)
	}
	if !sent {
		return nil
	}
	if p.Query == "" {
		doc, ok := e.Store.Get(ctx, hash)
		if !ok {
			return badInput(NotFoundMessage, "PERSISTED_QUERY_NOT_FOUND")
		}
		p.Query = doc
		return nil
	}
	if Hash(p.Query) != hash {
		return badInput("provided persisted query hash does not match the query", "")
	}
	e.Store.Add(ctx, hash, p.Query)
	return nil
}

// persistedOnly runs a listed document and refuses everything else.
func (e Extension) persistedOnly(p *graphql.RawParams, hash string, sent bool) *gqlerror.Error {
	if !sent {
		// A document sent as text runs when it is listed: clients that do
		// not speak APQ can still send the exact documents of the list.
		if _, ok := e.Allowed[Hash(p.Query)]; ok && p.Query != "" {
			return nil
		}
		return badInput("persisted queries only", "PERSISTED_QUERY_REQUIRED")
	}
	doc, ok := e.Allowed[hash]
	if !ok {
		return badInput("persisted queries only", "PERSISTED_QUERY_NOT_LISTED")
	}
	if p.Query != "" && p.Query != doc {
		return badInput("provided persisted query hash does not match the query", "")
	}
	p.Query = doc
	return nil
}

// persistedHash reads extensions.persistedQuery ({version: 1, sha256Hash}).
func persistedHash(ext map[string]any) (hash string, sent bool, _ *gqlerror.Error) {
	raw, ok := ext["persistedQuery"]
	if !ok || raw == nil {
		return "", false, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return "", false, badInput("invalid persistedQuery extension", "")
	}
	if !isOne(m["version"]) {
		return "", false, badInput("unsupported persisted query version (1 is)", "")
	}
	h, _ := m["sha256Hash"].(string)
	if !validHash(h) {
		return "", false, badInput("persistedQuery.sha256Hash must be a lower-case hex SHA-256", "")
	}
	return h, true, nil
}

// isOne reports whether a decoded JSON value is the number 1 (gqlgen decodes
// numbers as json.Number; GET query strings as float64).
func isOne(v any) bool {
	switch v := v.(type) {
	case json.Number:
		return v.String() == "1"
	case float64:
		return v == 1
	case int:
		return v == 1
	case int64:
		return v == 1
	}
	return false
}

func badInput(msg, reason string) *gqlerror.Error {
	ext := map[string]any{"code": CodeBadUserInput}
	if reason != "" {
		ext["reason"] = reason
	}
	return &gqlerror.Error{Message: msg, Extensions: ext}
}

// LoadAllowed reads a persisted-only list: a JSON object mapping the hex
// SHA-256 of each document to the document (the format of Apollo's and
// Relay's persisted query manifests). Every hash is checked.
func LoadAllowed(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("persisted queries: %w", err)
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("persisted queries %s: not a JSON object of hash -> document: %w", path, err)
	}
	for h, doc := range m {
		if Hash(doc) != h {
			return nil, fmt.Errorf("persisted queries %s: the document listed under %.12s… does not hash to it", path, h)
		}
	}
	return m, nil
}
