package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/publishgate/publishgate/config"
)

// runToken mints a caller JWT (HS256) for trying the gateway with auth on.
// The secret is read from an environment variable, never from a flag, so it
// does not end up in shell history or process listings.
func runToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token", "token [flags]", "Mint a caller JWT (HS256) for trying the gateway with auth on.")
	secretEnv := fs.String("secret-env", "PUBLISHGATE_JWT_SECRET", "environment variable holding the HS256 secret (auth.hmacSecret)")
	cfgPath := fs.String("config", getenv("PUBLISHGATE_CONFIG"), "take issuer, audience and claim names from this configuration's auth section")
	envs := fs.String("environments", "*", `comma-separated environments the caller may see, or "*" for all`)
	publish := fs.Bool("publish", false, "grant the publish claim (publishBot)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	sub := fs.String("sub", "publishgate-cli", "subject (who the caller is)")
	issuer := fs.String("issuer", "", "iss claim (default: auth.issuer of --config)")
	audience := fs.String("audience", "", "aud claim (default: auth.audience of --config)")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	auth := config.DefaultAuth()
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath, getenv)
		if err != nil {
			return err
		}
		if cfg.Auth != nil {
			auth = *cfg.Auth
		}
	}
	if *cfgPath != "" && auth.HMACSecret == "" && auth.JWKSURL != "" {
		return errors.New("token: this gateway verifies tokens with keys from auth.jwksURL only; get tokens from that identity provider")
	}
	secret := getenv(*secretEnv)
	if secret == "" && auth.HMACSecret.Reveal() != "" {
		secret = auth.HMACSecret.Reveal()
	}
	if secret == "" {
		return fmt.Errorf("token: no secret: set %s (the gateway's auth.hmacSecret)", *secretEnv)
	}
	if len(secret) < 32 {
		return errors.New("token: the secret must be at least 32 bytes")
	}
	if *ttl <= 0 || *ttl > 30*24*time.Hour {
		return errors.New("token: --ttl must be between 1s and 720h")
	}
	if *issuer == "" {
		*issuer = auth.Issuer
	}
	if *audience == "" {
		*audience = auth.Audience
	}
	var granted []string
	for _, e := range strings.Split(*envs, ",") {
		if e = strings.TrimSpace(e); e != "" {
			granted = append(granted, e)
		}
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"sub":                  *sub,
		"iat":                  now.Unix(),
		"nbf":                  now.Unix(),
		"exp":                  now.Add(*ttl).Unix(),
		auth.EnvironmentsClaim: granted,
		auth.PublishClaim:      *publish,
	}
	if *issuer != "" {
		claims["iss"] = *issuer
	}
	if *audience != "" {
		claims["aud"] = *audience
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
