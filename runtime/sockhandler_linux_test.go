package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// sockHandler is a SocketHandler: it writes the type of the connection
// it was given, then echoes until the client closes.
type sockHandler struct{ takes bool }

func (h *sockHandler) TakesSockets() bool { return h.takes }

func (h *sockHandler) ServeConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	fmt.Fprintf(c, "%T\n", c)
	io.Copy(c, c)
}

// A handler that takes sockets gets *tcpsock.Conn, others *net.TCPConn,
// on the same listener across reloads; shutting down ends the accept.
func TestSocketHandler(t *testing.T) {
	srv := NewServer(slog.New(slog.DiscardHandler))
	a := freeAddr(t)
	steps := []struct {
		h    ConnHandler
		want string
	}{
		{&sockHandler{takes: true}, "*tcpsock.Conn"},
		{&sockHandler{takes: false}, "*net.TCPConn"},
		{&tagHandler{tag: "*net.TCPConn"}, "*net.TCPConn"},
		{&sockHandler{takes: true}, "*tcpsock.Conn"},
	}
	for i, st := range steps {
		if err := srv.Apply(gen(100, Binding{Network: "tcp", Address: a, Handler: st.h})); err != nil {
			t.Fatal(err)
		}
		// the accept loop may be waiting in the previous kind of accept:
		// the connection after the first one is the new handler's kind
		var got string
		for try := 0; try < 3 && got != st.want; try++ {
			var c net.Conn
			c, got = dialTag(t, a)
			if c == nil {
				t.Fatalf("step %d: no answer", i)
			}
			if got == st.want {
				io.WriteString(c, "ping\n")
				buf := make([]byte, 5)
				if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping\n" {
					t.Errorf("step %d: echo %q, %v", i, buf, err)
				}
			}
			c.Close()
		}
		if got != st.want {
			t.Errorf("step %d: connection of type %s, want %s", i, got, st.want)
		}
	}
	done := make(chan struct{})
	go func() {
		srv.Shutdown(context.Background(), false)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not end the accept loop")
	}
	if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
		c.Close()
		t.Error("the address still accepts after Shutdown")
	}
}
