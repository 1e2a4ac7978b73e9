package main

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// binary is one publishgate build the gateway replicas run from. A run has
// the new one and, with -baseline, the old one; every cell runs with both,
// alternately, repetition by repetition.
type binary struct {
	// name is "new" or "old", as the report's rows say.
	name string
	// label says where it came from: a source directory at a revision, or
	// a git revision.
	label string
	// path is the publishgate binary; "" runs the replicas as roles of the
	// harness's own binary (-self).
	path string
}

// Binary names.
const (
	binNew = "new"
	binOld = "old"
)

// buildBinaries builds (or finds) the new binary and, with -baseline, the
// old one. The new one is -gateway-bin, or built from -src (default: the
// module the harness runs in); the old one is built from a copy of the
// -baseline revision of the new source's repository (git archive, so that
// no worktree is left behind).
func buildBinaries(ctx context.Context, opts options, dir string, log *slog.Logger) ([]binary, error) {
	var bins []binary
	src := opts.src
	switch {
	case opts.self:
		bins = append(bins, binary{name: binNew, label: "roles of the harness binary (-self)"})
	case opts.gatewayBin != "":
		bins = append(bins, binary{name: binNew, label: opts.gatewayBin, path: opts.gatewayBin})
	default:
		if src == "" {
			var err error
			if src, err = moduleDir(ctx); err != nil {
				return nil, err
			}
		}
		bin := filepath.Join(dir, "publishgate-new")
		if err := goBuild(ctx, src, bin, log); err != nil {
			return nil, err
		}
		bins = append(bins, binary{name: binNew, label: describeSource(ctx, src), path: bin})
	}
	switch {
	case opts.selfBaseline && opts.self:
		bins = append(bins, binary{name: binOld, label: "roles of the harness binary (-self, test)"})
	case opts.baseline != "":
		if src == "" {
			var err error
			if src, err = moduleDir(ctx); err != nil {
				return nil, err
			}
		}
		old, err := buildRevision(ctx, src, opts.baseline, dir, log)
		if err != nil {
			return nil, err
		}
		bins = append(bins, old)
	}
	return bins, nil
}

// moduleDir is the directory of the module the harness is run in.
func moduleDir(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the harness inside the publishgate module, or pass -src or -gateway-bin")
	}
	return filepath.Dir(mod), nil
}

// goBuild builds the publishgate command of the module in src into bin.
func goBuild(ctx context.Context, src, bin string, log *slog.Logger) error {
	log.Info("building the gateway", "src", src, "bin", bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build in %s: %w\n%s", src, err, b)
	}
	return nil
}

// git runs git in dir and returns its trimmed output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// describeSource says what src is for the report: its directory, and its
// revision when it is a git checkout ("+ uncommitted changes" when tracked
// files differ from it).
func describeSource(ctx context.Context, src string) string {
	rev, err := git(ctx, src, "rev-parse", "--short", "HEAD")
	if err != nil {
		return src
	}
	if st, err := git(ctx, src, "status", "--porcelain", "--untracked-files=no"); err == nil && st != "" {
		return fmt.Sprintf("%s at %s + uncommitted changes", src, rev)
	}
	return fmt.Sprintf("%s at %s", src, rev)
}

// buildRevision extracts rev of the repository holding src into a directory
// under dir and builds its publishgate binary there.
func buildRevision(ctx context.Context, src, rev, dir string, log *slog.Logger) (binary, error) {
	full, err := git(ctx, src, "rev-parse", "--verify", rev+"^{commit}")
	if err != nil {
		return binary{}, fmt.Errorf("-baseline %s: %w", rev, err)
	}
	short := full[:min(len(full), 12)]
	tree := filepath.Join(dir, "src-"+short)
	if err := extractRevision(ctx, src, full, tree); err != nil {
		return binary{}, fmt.Errorf("-baseline %s: %w", rev, err)
	}
	bin := filepath.Join(dir, "publishgate-"+short)
	if err := goBuild(ctx, tree, bin, log); err != nil {
		return binary{}, fmt.Errorf("-baseline %s: %w", rev, err)
	}
	label := rev
	if !strings.HasPrefix(full, rev) {
		label = fmt.Sprintf("%s (%s)", rev, short)
	}
	return binary{name: binOld, label: label, path: bin}, nil
}

// extractRevision writes the tree of commit rev of the repository holding
// src into dst (git archive, read here rather than by tar).
func extractRevision(ctx context.Context, src, rev, dst string) (err error) {
	cmd := exec.CommandContext(ctx, "git", "-C", src, "archive", "--format=tar", rev)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("git archive: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git archive: %w", err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, out) // let git finish writing
		if werr := cmd.Wait(); werr != nil && err == nil {
			err = fmt.Errorf("git archive: %w: %s", werr, strings.TrimSpace(stderr.String()))
		}
	}()
	return untar(out, dst)
}

// untar writes the regular files, directories and symbolic links of r under
// dst, refusing names that leave it.
func untar(r io.Reader, dst string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("untar: %w", err)
		}
		name := filepath.Clean(hdr.Name)
		if name == "." || filepath.IsAbs(name) || strings.HasPrefix(name, ".."+string(filepath.Separator)) || name == ".." {
			return fmt.Errorf("untar: unsafe name %q", hdr.Name)
		}
		path := filepath.Join(dst, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, 0o755)
		case tar.TypeReg:
			err = writeFile(path, tr, hdr.FileInfo().Mode().Perm())
		case tar.TypeSymlink:
			if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
				err = os.Symlink(hdr.Linkname, path)
			}
		default: // pax headers (the commit ID git archive writes) and the like
		}
		if err != nil {
			return fmt.Errorf("untar %s: %w", hdr.Name, err)
		}
	}
}

func writeFile(path string, r io.Reader, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm|0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
