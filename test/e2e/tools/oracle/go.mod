module modelgate.local/e2e/oracle

go 1.25.0

require (
	github.com/cyphar/filepath-securejoin v0.6.1
	github.com/distribution/reference v0.6.0
	go.podman.io/image/v5 v5.38.0
)

require (
	github.com/containers/libtrust v0.0.0-20230121012942-c1716e8a8d01 // indirect
	github.com/containers/ocicrypt v1.2.1 // indirect
	github.com/docker/docker v28.5.1+incompatible // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	github.com/sirupsen/logrus v1.9.3 // indirect
	go.podman.io/storage v1.61.0 // indirect
	golang.org/x/sys v0.37.0 // indirect
)
