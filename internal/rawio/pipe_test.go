package rawio

import (
	"errors"
	"io"
	"net"
	"testing"
)

// TestConnSetCloseAll: CloseAll closes what is held, not what was removed, and refuses
// what comes after it.
func TestConnSetCloseAll(t *testing.T) {
	var s ConnSet
	held, heldPeer := net.Pipe()
	removed, removedPeer := net.Pipe()
	late, _ := net.Pipe()
	defer heldPeer.Close()
	defer removed.Close()
	defer removedPeer.Close()
	defer late.Close()
	if !s.Add(held) || !s.Add(removed) {
		t.Fatal("Add refused before CloseAll")
	}
	s.Remove(removed)
	s.CloseAll()
	if _, err := held.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("held connection: write %v, want it closed", err)
	}
	go removedPeer.Read(make([]byte, 1))
	if _, err := removed.Write([]byte("x")); err != nil {
		t.Errorf("removed connection was closed: %v", err)
	}
	if s.Add(late) {
		t.Error("Add accepted a connection after CloseAll")
	}
}
