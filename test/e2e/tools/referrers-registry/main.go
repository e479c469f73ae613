// Command referrers-registry is the OCI 1.1 registry of the modelgate e2e
// test bed: an in-memory registry that serves the referrers API
// (GET /v2/<name>/referrers/<digest>).
//
// Why our own main: no registry that implements the referrers API can be had
// here as a ready binary (zot, olareg are not served by the Go module proxy;
// distribution v3.1.x has no referrers API; `crane registry serve` builds
// go-containerregistry's pkg/registry WITHOUT its referrers option). So this
// wraps pkg/registry with WithReferrersSupport(true) and corrects the places
// where that handler departs from the OCI distribution spec v1.1, because
// the webhook under test must be exercised against spec behaviour:
//
//   - the listing's artifactType is taken from the manifest's artifactType
//     (falling back to config.mediaType), where pkg/registry always reports
//     config.mediaType (which is application/vnd.oci.empty.v1+json for a
//     cosign v3 bundle);
//   - the ?artifactType= filter is applied and announced with the
//     OCI-Filters-Applied header;
//   - a repository without referrers answers 200 with an empty index, never
//     404 (a 404 tells clients "no referrers API, use the tag schema");
//   - a manifest PUT that carries a subject answers with the OCI-Subject
//     header, so that clients (oras, cosign v3 through go-containerregistry)
//     know the registry indexes referrers and skip the tag-schema fallback;
//   - descriptors are listed in a stable (digest) order.
//
// Optional TLS (--tls-cert/--tls-key) and HTTP basic auth (--basic-auth
// user:password) let tests exercise credentials and CA bundles against an
// OCI 1.1 registry too.
package main

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

const indexMediaType = "application/vnd.oci.image.index.v1+json"

// descriptor is the subset of an OCI descriptor that the referrers listing uses.
type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

// manifestFields are the manifest fields the wrapper needs to read.
type manifestFields struct {
	ArtifactType string `json:"artifactType"`
	Config       *struct {
		MediaType string `json:"mediaType"`
	} `json:"config"`
	Subject *struct {
		Digest string `json:"digest"`
	} `json:"subject"`
}

// splitAPIPath returns (repository, kind, reference) for /v2/<repo>/<kind>/<ref>.
func splitAPIPath(p string) (string, string, string, bool) {
	elems := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(elems) < 4 || elems[0] != "v2" {
		return "", "", "", false
	}
	n := len(elems)
	return strings.Join(elems[1:n-2], "/"), elems[n-2], elems[n-1], true
}

type server struct {
	inner http.Handler
	user  string
	pass  string
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.user != "" && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="referrers-registry"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
		return
	}
	repo, kind, ref, ok := splitAPIPath(r.URL.Path)
	switch {
	case ok && kind == "referrers" && r.Method == http.MethodGet:
		s.referrers(w, r, repo, ref)
	case ok && kind == "manifests" && r.Method == http.MethodPut:
		s.putManifest(w, r)
	default:
		s.inner.ServeHTTP(w, r)
	}
}

func (s *server) authorized(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	return ok &&
		subtle.ConstantTimeCompare([]byte(u), []byte(s.user)) == 1 &&
		subtle.ConstantTimeCompare([]byte(p), []byte(s.pass)) == 1
}

// subjectWriter adds OCI-Subject to a successful manifest PUT response.
type subjectWriter struct {
	http.ResponseWriter
	subject string
}

func (sw *subjectWriter) WriteHeader(code int) {
	if code == http.StatusCreated && sw.subject != "" {
		sw.Header().Set("OCI-Subject", sw.subject)
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (s *server) putManifest(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var m manifestFields
	subject := ""
	if json.Unmarshal(body, &m) == nil && m.Subject != nil {
		subject = m.Subject.Digest
	}
	s.inner.ServeHTTP(&subjectWriter{ResponseWriter: w, subject: subject}, r)
}

// get performs an in-process GET against the wrapped registry.
func (s *server) get(path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Accept", strings.Join([]string{
		"application/vnd.oci.image.manifest.v1+json",
		indexMediaType,
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
	}, ","))
	s.inner.ServeHTTP(rec, req)
	return rec
}

func (s *server) referrers(w http.ResponseWriter, r *http.Request, repo, dgst string) {
	rec := s.get("/v2/" + repo + "/referrers/" + dgst)
	out := index{SchemaVersion: 2, MediaType: indexMediaType, Manifests: []descriptor{}}
	switch rec.Code {
	case http.StatusOK:
		var listed index
		if err := json.Unmarshal(rec.Body.Bytes(), &listed); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, d := range listed.Manifests {
			d.ArtifactType = s.artifactType(repo, d)
			out.Manifests = append(out.Manifests, d)
		}
	case http.StatusNotFound:
		// Unknown repository: the spec wants an empty list, not a 404.
	default:
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	if want := r.URL.Query().Get("artifactType"); want != "" {
		kept := []descriptor{}
		for _, d := range out.Manifests {
			if d.ArtifactType == want {
				kept = append(kept, d)
			}
		}
		out.Manifests = kept
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	sort.Slice(out.Manifests, func(i, j int) bool { return out.Manifests[i].Digest < out.Manifests[j].Digest })
	b, _ := json.Marshal(out)
	w.Header().Set("Content-Type", indexMediaType)
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// artifactType implements the spec rule: the manifest's artifactType, else
// its config mediaType.
func (s *server) artifactType(repo string, d descriptor) string {
	rec := s.get("/v2/" + repo + "/manifests/" + d.Digest)
	var m manifestFields
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &m) != nil {
		return d.ArtifactType
	}
	if m.ArtifactType != "" {
		return m.ArtifactType
	}
	if m.Config != nil {
		return m.Config.MediaType
	}
	return ""
}

func main() {
	addr := flag.String("address", "127.0.0.1:5000", "host:port to listen on")
	tlsCert := flag.String("tls-cert", "", "PEM certificate (chain) to serve HTTPS with")
	tlsKey := flag.String("tls-key", "", "PEM private key for --tls-cert")
	basicAuth := flag.String("basic-auth", "", "require HTTP basic auth as user:password")
	quiet := flag.Bool("quiet", false, "do not log each request")
	flag.Parse()

	logger := log.New(os.Stderr, "", log.LstdFlags)
	if *quiet {
		logger = log.New(io.Discard, "", 0)
	}
	s := &server{inner: registry.New(registry.WithReferrersSupport(true), registry.Logger(logger))}
	if *basicAuth != "" {
		u, p, ok := strings.Cut(*basicAuth, ":")
		if !ok || u == "" {
			log.Fatal("--basic-auth must be user:password")
		}
		s.user, s.pass = u, p
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		log.Fatal("--tls-cert and --tls-key go together")
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	// One line on stdout that tests may wait for.
	fmt.Printf("referrers-registry listening on %s://%s\n", scheme, ln.Addr())

	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		<-ch
		_ = srv.Close()
	}()
	if *tlsCert != "" {
		err = srv.ServeTLS(ln, *tlsCert, *tlsKey)
	} else {
		err = srv.Serve(ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
