// Go's standard library FastCGI server (net/http/fcgi) serving the benchmark variants: a peer the package
// is measured against. bench/harness.js builds it with `go build` into the run's temp dir.
// Usage: go-fcgi SOCKET_PATH
package main

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: go-fcgi SOCKET_PATH")
	}
	ln, err := net.Listen("unix", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 65536)
	hello := []byte("Hello, world!")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		variant := p[strings.LastIndex(p, "/")+1:]
		w.Header().Set("Content-Type", "text/plain")
		switch variant {
		case "big":
			w.Write(big)
		case "echo":
			n, _ := io.Copy(io.Discard, r.Body)
			w.Write([]byte(strconv.FormatInt(n, 10)))
		default:
			w.Write(hello)
		}
	})
	log.Fatal(fcgi.Serve(ln, handler))
}
