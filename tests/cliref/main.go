// Command testserver serves the Databricks CLI team's own fake workspace
// (github.com/databricks/cli/libs/testserver), the server their acceptance
// suite runs against, on a loopback port. It prints its URL on the first line
// of stdout and serves until stdin closes or it gets SIGTERM/SIGINT, so a test
// that spawns it and dies never leaves it behind.
//
// Each bearer token gets its own fake workspace (the server's own rule), so
// tests share one process and stay apart by using distinct tokens. Tokens
// that start with "dbapi0" act as the test user, "dbapi1" as a service
// principal.
//
// With -record FILE, every request is appended to FILE as one JSON line
// (method, path, query, body), for tests that compare what two tools sent.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/databricks/cli/libs/testserver"
)

func main() {
	record := flag.String("record", "", "append every request to this file as JSON lines")
	flag.Parse()

	t := newProcessT()
	server := testserver.New(t)
	testserver.AddDefaultHandlers(server)
	if *record != "" {
		rec, err := newRecorder(*record)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testserver:", err)
			os.Exit(1)
		}
		server.RequestCallback = rec.record
	}

	fmt.Println(server.URL)
	waitForEnd()
	t.cleanup()
}

// waitForEnd returns when stdin reaches EOF (the parent is gone) or a
// termination signal arrives.
func waitForEnd() {
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		done <- struct{}{}
	}()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		done <- struct{}{}
	}()
	<-done
}

type recorder struct {
	mu   sync.Mutex
	file *os.File
}

func newRecorder(path string) (*recorder, error) {
	file, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &recorder{file: file}, nil
}

// record writes one request. Headers are left out on purpose: they carry the
// bearer token.
func (r *recorder) record(req *testserver.Request) {
	line, err := json.Marshal(map[string]any{
		"method": req.Method,
		"path":   req.URL.Path,
		"query":  req.URL.RawQuery,
		"body":   string(req.Body),
	})
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.file.Write(append(line, '\n'))
}

// processT is the testing-like value testserver.New asks for: failures are
// logged to stderr (the server keeps serving, as a test would keep running
// until it ends), Fatal ends the process.
type processT struct {
	mu       sync.Mutex
	cleanups []func()
	dir      string
}

func newProcessT() *processT { return &processT{} }

func (t *processT) Log(args ...any)                 { fmt.Fprintln(os.Stderr, args...) }
func (t *processT) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (t *processT) Error(args ...any)               { t.Log(append([]any{"error:"}, args...)...) }
func (t *processT) Errorf(format string, args ...any) {
	t.Logf("error: "+format, args...)
}
func (t *processT) Fatal(args ...any)                 { t.Error(args...); t.FailNow() }
func (t *processT) Fatalf(format string, args ...any) { t.Errorf(format, args...); t.FailNow() }
func (t *processT) Skip(args ...any)                  { t.Log(args...) }
func (t *processT) Skipf(format string, args ...any)  { t.Logf(format, args...) }
func (t *processT) FailNow()                          { t.cleanup(); os.Exit(1) }
func (t *processT) Context() context.Context          { return context.Background() }
func (t *processT) Setenv(key, value string)          { _ = os.Setenv(key, value) }
func (t *processT) Helper()                           {}

func (t *processT) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *processT) TempDir() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dir == "" {
		dir, err := os.MkdirTemp("", "testserver")
		if err != nil {
			panic(err)
		}
		t.dir = dir
		t.cleanups = append(t.cleanups, func() { _ = os.RemoveAll(dir) })
	}
	return t.dir
}

// cleanup runs the registered functions last first, as testing.T does.
func (t *processT) cleanup() {
	t.mu.Lock()
	fns := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}
