// tuf-repo: a small TUF repository for the modelgate e2e tests, on go-tuf v2's metadata
// package. It publishes a Sigstore trusted_root.json as a TUF target, rotates keys, tampers
// with its own metadata the ways an attacker would, and serves the repository over HTTP on
// loopback, laid out as Sigstore's repository is (consistent snapshots).
//
//	tuf-repo init    -dir D -trusted-root FILE   keys, root v1, targets/snapshot/timestamp v1
//	tuf-repo publish -dir D -trusted-root FILE [-rotate-online-key]
//	                 a new targets/snapshot/timestamp with FILE as trusted_root.json; with
//	                 -rotate-online-key, first a new root version (signed by the root key)
//	                 that names a new key for targets, snapshot and timestamp
//	tuf-repo tamper  -dir D -mode bad-signature|rollback|forged-target
//	tuf-repo serve   -dir D -addr 127.0.0.1:0    prints "listening on http://ADDR"
//
// The start of trust for a client is D/repository/1.root.json.
package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

const target = "trusted_root.json"

// state is what the tool remembers between runs (the keys are test keys, kept in the run dir).
type state struct {
	RootKey   []byte `json:"rootKey"`
	OnlineKey []byte `json:"onlineKey"`
	Targets   int64  `json:"targets"`
	Snapshot  int64  `json:"snapshot"`
	Timestamp int64  `json:"timestamp"`
}

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: tuf-repo init|publish|tamper|serve -dir D ..."))
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := flags.String("dir", "", "state and repository directory")
	trustedRoot := flags.String("trusted-root", "", "trusted_root.json to publish")
	rotate := flags.Bool("rotate-online-key", false, "rotate the targets/snapshot/timestamp key first")
	mode := flags.String("mode", "", "bad-signature, rollback or forged-target")
	addr := flags.String("addr", "127.0.0.1:0", "listen address")
	_ = flags.Parse(os.Args[2:])
	if *dir == "" {
		fail(errors.New("-dir is required"))
	}
	var err error
	switch os.Args[1] {
	case "init":
		err = initRepo(*dir, *trustedRoot)
	case "publish":
		err = publish(*dir, *trustedRoot, *rotate)
	case "tamper":
		err = tamper(*dir, *mode)
	case "serve":
		err = serve(*dir, *addr)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tuf-repo:", err)
	os.Exit(1)
}

func expires() time.Time { return time.Now().UTC().Add(7 * 24 * time.Hour).Truncate(time.Second) }

func repo(dir string, name string) string { return filepath.Join(dir, "repository", name) }

func newKey() ([]byte, error) {
	_, private, err := ed25519.GenerateKey(nil)
	return private.Seed(), err
}

func signerOf(seed []byte) (signature.Signer, *metadata.Key, error) {
	private := ed25519.NewKeyFromSeed(seed)
	signer, err := signature.LoadSigner(private, crypto.Hash(0))
	if err != nil {
		return nil, nil, err
	}
	key, err := metadata.KeyFromPublicKey(private.Public())
	return signer, key, err
}

func loadState(dir string) (*state, error) {
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	var s state
	return &s, json.Unmarshal(data, &s)
}

func saveState(dir string, s *state) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "state.json"), data, 0o600)
}

func initRepo(dir, trustedRoot string) error {
	if err := os.MkdirAll(filepath.Join(dir, "repository", "targets"), 0o755); err != nil {
		return err
	}
	rootKey, err := newKey()
	if err != nil {
		return err
	}
	onlineKey, err := newKey()
	if err != nil {
		return err
	}
	s := &state{RootKey: rootKey, OnlineKey: onlineKey}
	rootSigner, rootPublic, err := signerOf(rootKey)
	if err != nil {
		return err
	}
	_, onlinePublic, err := signerOf(onlineKey)
	if err != nil {
		return err
	}
	root := metadata.Root(expires())
	if err := root.Signed.AddKey(rootPublic, "root"); err != nil {
		return err
	}
	for _, role := range []string{"targets", "snapshot", "timestamp"} {
		if err := root.Signed.AddKey(onlinePublic, role); err != nil {
			return err
		}
	}
	if _, err := root.Sign(rootSigner); err != nil {
		return err
	}
	if err := writeRoot(dir, root); err != nil {
		return err
	}
	if err := publishTargets(dir, s, trustedRoot); err != nil {
		return err
	}
	return saveState(dir, s)
}

func writeRoot(dir string, root *metadata.Metadata[metadata.RootType]) error {
	if err := root.ToFile(repo(dir, fmt.Sprintf("%d.root.json", root.Signed.Version)), true); err != nil {
		return err
	}
	return root.ToFile(repo(dir, "root.json"), true)
}

// publishTargets writes targets, snapshot and timestamp one version up, signed with the online key.
func publishTargets(dir string, s *state, trustedRoot string) error {
	data, err := os.ReadFile(trustedRoot)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if err := os.WriteFile(repo(dir, "targets/"+hex.EncodeToString(sum[:])+"."+target), data, 0o644); err != nil {
		return err
	}
	info, err := metadata.TargetFile().FromBytes(target, data, "sha256")
	if err != nil {
		return err
	}
	signer, _, err := signerOf(s.OnlineKey)
	if err != nil {
		return err
	}
	s.Targets++
	targets := metadata.Targets(expires())
	targets.Signed.Version = s.Targets
	targets.Signed.Targets[target] = info
	if _, err := targets.Sign(signer); err != nil {
		return err
	}
	if err := targets.ToFile(repo(dir, fmt.Sprintf("%d.targets.json", s.Targets)), true); err != nil {
		return err
	}
	s.Snapshot++
	snapshot := metadata.Snapshot(expires())
	snapshot.Signed.Version = s.Snapshot
	snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(s.Targets)
	if _, err := snapshot.Sign(signer); err != nil {
		return err
	}
	if err := snapshot.ToFile(repo(dir, fmt.Sprintf("%d.snapshot.json", s.Snapshot)), true); err != nil {
		return err
	}
	s.Timestamp++
	timestamp := metadata.Timestamp(expires())
	timestamp.Signed.Version = s.Timestamp
	timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(s.Snapshot)
	if _, err := timestamp.Sign(signer); err != nil {
		return err
	}
	// Every timestamp is kept aside, so that `tamper -mode rollback` can serve an old one.
	if err := timestamp.ToFile(filepath.Join(dir, fmt.Sprintf("timestamp.%d.json", s.Timestamp)), true); err != nil {
		return err
	}
	return timestamp.ToFile(repo(dir, "timestamp.json"), true)
}

func publish(dir, trustedRoot string, rotate bool) error {
	s, err := loadState(dir)
	if err != nil {
		return err
	}
	if rotate {
		if err := rotateOnlineKey(dir, s); err != nil {
			return err
		}
	}
	if err := publishTargets(dir, s, trustedRoot); err != nil {
		return err
	}
	return saveState(dir, s)
}

// rotateOnlineKey publishes root N+1: the old online key revoked from targets, snapshot and timestamp, a new one added.
func rotateOnlineKey(dir string, s *state) error {
	root, err := metadata.Root().FromFile(repo(dir, "root.json"))
	if err != nil {
		return err
	}
	_, oldPublic, err := signerOf(s.OnlineKey)
	if err != nil {
		return err
	}
	oldID, err := oldPublic.ID()
	if err != nil {
		return err
	}
	newOnline, err := newKey()
	if err != nil {
		return err
	}
	_, newPublic, err := signerOf(newOnline)
	if err != nil {
		return err
	}
	for _, role := range []string{"targets", "snapshot", "timestamp"} {
		if err := root.Signed.RevokeKey(oldID, role); err != nil {
			return err
		}
		if err := root.Signed.AddKey(newPublic, role); err != nil {
			return err
		}
	}
	root.Signed.Version++
	root.Signed.Expires = expires()
	root.ClearSignatures()
	rootSigner, _, err := signerOf(s.RootKey)
	if err != nil {
		return err
	}
	if _, err := root.Sign(rootSigner); err != nil {
		return err
	}
	s.OnlineKey = newOnline
	return writeRoot(dir, root)
}

func tamper(dir, mode string) error {
	s, err := loadState(dir)
	if err != nil {
		return err
	}
	switch mode {
	case "bad-signature":
		// A newer timestamp whose signature no longer covers its content.
		timestamp, err := metadata.Timestamp().FromFile(repo(dir, "timestamp.json"))
		if err != nil {
			return err
		}
		timestamp.Signed.Version = s.Timestamp + 100
		return timestamp.ToFile(repo(dir, "timestamp.json"), true)
	case "rollback":
		// A properly signed but older timestamp: the version before the current one.
		if s.Timestamp < 2 {
			return errors.New("rollback needs two published timestamps")
		}
		data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("timestamp.%d.json", s.Timestamp-1)))
		if err != nil {
			return err
		}
		return os.WriteFile(repo(dir, "timestamp.json"), data, 0o644)
	case "forged-target":
		// The target's bytes replaced under the same name, the metadata untouched.
		targets, err := metadata.Targets().FromFile(repo(dir, fmt.Sprintf("%d.targets.json", s.Targets)))
		if err != nil {
			return err
		}
		info := targets.Signed.Targets[target]
		file := repo(dir, "targets/"+info.Hashes["sha256"].String()+"."+target)
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		return os.WriteFile(file, append(data, ' '), 0o644)
	default:
		return fmt.Errorf("unknown -mode %q", mode)
	}
}

func serve(dir, addr string) error {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	files := http.FileServer(http.Dir(filepath.Join(dir, "repository")))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		files.ServeHTTP(w, r)
	})
	fmt.Printf("listening on http://%s\n", listener.Addr())
	return http.Serve(listener, handler)
}
