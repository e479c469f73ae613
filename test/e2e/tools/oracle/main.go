// Command oracle decodes inputs the way the Go programs users run decode them,
// for modelgate's differential tests. It reads one base64 input per line on
// stdin and writes one JSON result per line on stdout:
//
//	oracle manifest   # containers/image's OCI1FromManifest (CRI-O's decoder: encoding/json
//	                  # into image-spec v1.Manifest plus its ambiguity check) and, per layer,
//	                  # the file CRI-O would write (title, else org.cncf.model.filepath,
//	                  # joined with filepath-securejoin as CRI-O's mountArtifact does)
//	oracle reference  # github.com/distribution/reference ParseNormalizedNamed
//
// It is modelgate's own test code, built by test/e2e/tools/install.sh.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/cyphar/filepath-securejoin"
	"github.com/distribution/reference"
	"go.podman.io/image/v5/manifest"
)

const (
	annotationTitle    = "org.opencontainers.image.title"
	annotationFilepath = "org.cncf.model.filepath"
	// A root that exists nowhere: securejoin then only cleans the path lexically.
	mountRoot = "/nonexistent-modelgate-oracle-root"
)

type layer struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	// File is the path CRI-O mounts the layer at, relative to the volume; null when CRI-O skips the layer.
	File *string `json:"file"`
}

type manifestResult struct {
	OK           bool              `json:"ok"`
	Error        string            `json:"error,omitempty"`
	MediaType    string            `json:"mediaType,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
	ConfigType   string            `json:"configType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Layers       []layer           `json:"layers"`
}

type referenceResult struct {
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	Name   string `json:"name,omitempty"`
	Domain string `json:"domain,omitempty"`
	Path   string `json:"path,omitempty"`
	Tag    string `json:"tag,omitempty"`
	Digest string `json:"digest,omitempty"`
}

// crioName is CRI-O's artifactName (internal/ociartifact/store.go): the title if the key
// exists, else the model file path if that key exists.
func crioName(annotations map[string]string) string {
	if name, ok := annotations[annotationTitle]; ok {
		return name
	}
	if name, ok := annotations[annotationFilepath]; ok {
		return name
	}
	return ""
}

func decodeManifest(input []byte) manifestResult {
	m, err := manifest.OCI1FromManifest(input)
	if err != nil {
		return manifestResult{Error: err.Error(), Layers: []layer{}}
	}
	out := manifestResult{OK: true, MediaType: m.MediaType, ArtifactType: m.ArtifactType, ConfigType: m.Config.MediaType, Annotations: m.Annotations, Layers: []layer{}}
	for _, l := range m.Layers {
		entry := layer{MediaType: l.MediaType, Digest: l.Digest.String(), Size: l.Size, Annotations: l.Annotations}
		if name := crioName(l.Annotations); name != "" {
			dest, err := securejoin.SecureJoin(mountRoot, name)
			if err == nil {
				rel := strings.TrimPrefix(strings.TrimPrefix(dest, mountRoot), "/")
				entry.File = &rel
			}
		}
		out.Layers = append(out.Layers, entry)
	}
	return out
}

func parseReference(input string) referenceResult {
	named, err := reference.ParseNormalizedNamed(input)
	if err != nil {
		return referenceResult{Error: err.Error()}
	}
	out := referenceResult{OK: true, Name: named.Name(), Domain: reference.Domain(named), Path: reference.Path(named)}
	if tagged, ok := named.(reference.Tagged); ok {
		out.Tag = tagged.Tag()
	}
	if digested, ok := named.(reference.Digested); ok {
		out.Digest = digested.Digest().String()
	}
	return out
}

func main() {
	if len(os.Args) != 2 || (os.Args[1] != "manifest" && os.Args[1] != "reference") {
		fmt.Fprintln(os.Stderr, "usage: oracle manifest|reference < base64 lines")
		os.Exit(2)
	}
	mode := os.Args[1]
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64*1024), 64*1024*1024)
	out := bufio.NewWriter(os.Stdout)
	encoder := json.NewEncoder(out)
	for in.Scan() {
		input, err := base64.StdEncoding.DecodeString(in.Text())
		if err != nil {
			fmt.Fprintln(os.Stderr, "oracle: input is not base64:", err)
			os.Exit(2)
		}
		var result any
		if mode == "manifest" {
			result = decodeManifest(input)
		} else {
			result = parseReference(string(input))
		}
		if err := encoder.Encode(result); err != nil {
			fmt.Fprintln(os.Stderr, "oracle:", err)
			os.Exit(1)
		}
		// One answer per question: the caller waits for it.
		out.Flush()
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "oracle:", err)
		os.Exit(1)
	}
}
