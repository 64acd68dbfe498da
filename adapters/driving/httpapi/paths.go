package httpapi

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// cleanPath reports whether p is a path net/http.ServeMux would route as
// it is: absolute, without empty, "." or ".." segments. ServeMux answers
// any other path with a redirect to its cleaned form (an HTML 301/307,
// which for "/v1/corps/a/../b/overview" points into another corp); the
// Server refuses it with a JSON 400 instead. p is the decoded path, so
// "%2e%2e" counts as "..".
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	// Segments between slashes; the last may be empty (a trailing slash).
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		switch {
		case s == "." || s == "..":
			return false
		case s == "" && i < len(segs)-1:
			return false
		}
	}
	return true
}

// errUncleanPath is the answer to a path cleanPath refuses.
var errUncleanPath = newError(http.StatusBadRequest, CodeBadRequest,
	"the path must be clean: no empty, '.' or '..' segments (encoded or not)")

// Listener wraps l so that the few answers net/http's server writes by
// itself, before any handler runs, have the API's JSON error shape too:
// a request line it cannot parse (a raw '%' or a malformed %-escape such as
// "%zz" in the path: 400), headers too large (431), an unsupported
// transfer encoding (501), a missing or malformed Host header (400).
// net/http writes those as text/plain and closes the connection; no
// handler can change them, so the connection rewrites them. Serve the
// Server on the wrapped listener (cmd/custody does).
func Listener(l net.Listener) net.Listener { return jsonErrorListener{l} }

type jsonErrorListener struct{ net.Listener }

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorConn{Conn: c}, nil
}

type jsonErrorConn struct{ net.Conn }

// netHTTPErrorHeaders is how net/http's own error answers continue after
// their status line (server.go, errorHeaders). A handler's answer never
// looks like it: net/http writes its headers sorted, Connection before
// Content-Type, and with a Date.
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// Write passes everything through except one of net/http's own error
// answers, which it replaces by the same status as a JSON error. net/http
// writes such an answer in one Write and then closes the connection.
func (c *jsonErrorConn) Write(b []byte) (int, error) {
	status, ok := netHTTPError(b)
	if !ok {
		return c.Conn.Write(b)
	}
	msg := "malformed HTTP request (for example a '%' that does not start a %XX escape in the path)"
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		msg = "request headers too large"
	case http.StatusNotImplemented:
		msg = "unsupported transfer encoding"
	case http.StatusBadRequest:
	default:
		msg = strings.ToLower(http.StatusText(status))
	}
	body := errorJSON(newError(status, CodeBadRequest, "%s", msg))
	var out bytes.Buffer
	fmt.Fprintf(&out, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		status, http.StatusText(status), len(body))
	out.Write(body)
	if _, err := c.Conn.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return len(b), nil
}

// netHTTPError recognises one of net/http's own error answers and returns
// its status.
func netHTTPError(b []byte) (int, bool) {
	const prefix = "HTTP/1.1 "
	if len(b) < len(prefix)+3 || string(b[:len(prefix)]) != prefix {
		return 0, false
	}
	line, _, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok || !bytes.HasPrefix(b[len(line):], []byte(netHTTPErrorHeaders)) {
		return 0, false
	}
	status, err := strconv.Atoi(string(b[len(prefix) : len(prefix)+3]))
	if err != nil || status < 400 || status > 599 {
		return 0, false
	}
	return status, true
}
