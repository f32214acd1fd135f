package engine

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// TestHPACKDecoderAgreesWithXNet encodes random response header blocks with
// x/net's encoder (dynamic table, Huffman, size updates, never-indexed
// fields) and checks that our decoder reads the same :status and
// grpc-status from each as x/net's decoder, block after block, so a table
// that drifted out of sync would show.
func TestHPACKDecoderAgreesWithXNet(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	ref := hpack.NewDecoder(4096, nil)
	ours := newHPACKDecoder()
	names := []string{"server", "date", "content-type", "content-length", "x-long", "grpc-message", "vary", "x-a", "x-b"}
	for block := range 2000 {
		buf.Reset()
		if rng.IntN(50) == 0 {
			enc.SetMaxDynamicTableSizeLimit(uint32(rng.IntN(4097)))
		}
		var fields []hpack.HeaderField
		status := []string{"200", "204", "404", "503", "201", "299"}[rng.IntN(6)]
		fields = append(fields, hpack.HeaderField{Name: ":status", Value: status})
		for range rng.IntN(8) {
			v := strconv.Itoa(rng.IntN(20))
			if rng.IntN(10) == 0 {
				v = string(bytes.Repeat([]byte("v"), rng.IntN(5000))) // sometimes larger than the table
			}
			fields = append(fields, hpack.HeaderField{Name: names[rng.IntN(len(names))], Value: v, Sensitive: rng.IntN(5) == 0})
		}
		if rng.IntN(2) == 0 {
			fields = append(fields, hpack.HeaderField{Name: "grpc-status", Value: strconv.Itoa(rng.IntN(17)), Sensitive: rng.IntN(4) == 0})
		}
		for _, f := range fields {
			if err := enc.WriteField(f); err != nil {
				t.Fatal(err)
			}
		}
		wantStatus, wantGRPC := 0, -1
		ref.SetEmitFunc(func(f hpack.HeaderField) {
			switch f.Name {
			case ":status":
				wantStatus, _ = strconv.Atoi(f.Value)
			case "grpc-status":
				wantGRPC, _ = strconv.Atoi(f.Value)
			}
		})
		if _, err := ref.Write(buf.Bytes()); err != nil || ref.Close() != nil {
			t.Fatalf("block %d: reference decoder: %v", block, err)
		}
		if err := ours.decode(buf.Bytes()); err != nil {
			t.Fatalf("block %d: %v", block, err)
		}
		if ours.status != wantStatus || ours.grpcStatus != wantGRPC {
			t.Fatalf("block %d: got status %d grpc %d, want %d %d (fields %v)", block, ours.status, ours.grpcStatus, wantStatus, wantGRPC, fields)
		}
	}
}

func TestHPACKDecoderRejectsMalformed(t *testing.T) {
	for _, b := range [][]byte{
		{0x80},             // index 0
		{0xff, 0xff},       // truncated integer
		{0xbf},             // dynamic index past the table
		{0x40, 0x85, 'a'},  // string longer than the block
		{0x3f, 0xe2, 0x1f}, // table size update above 4096
	} {
		if err := newHPACKDecoder().decode(b); err == nil {
			t.Errorf("% x: no error", b)
		}
	}
}

func BenchmarkHPACKNginxResponse(b *testing.B) {
	// nginx 1.22's header block for a 2-byte text/plain response: :status
	// indexed, then four literals with incremental indexing.
	block := []byte{0x88, 0x76, 0x89, 0xaa, 0x63, 0x55, 0xe5, 0x80, 0xae, 0x21, 0x2e, 0x1f, 0x61, 0x96, 0xdf, 0x3d,
		0xbf, 0x4a, 0x09, 0xc5, 0x34, 0x9f, 0xba, 0x82, 0x00, 0x9c, 0x50, 0x02, 0xb8, 0xd0, 0x2e, 0x05, 0xb5, 0x31,
		0x68, 0xdf, 0x5f, 0x87, 0x49, 0x7c, 0xa5, 0x8a, 0xe8, 0x19, 0xaa, 0x5c, 0x01, 0x32}
	b.Run("ours", func(b *testing.B) {
		d := newHPACKDecoder()
		b.ReportAllocs()
		for b.Loop() {
			if err := d.decode(block); err != nil || d.status != 200 {
				b.Fatal(err, d.status)
			}
		}
	})
	b.Run("x/net", func(b *testing.B) {
		status := ""
		d := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
			if f.Name == ":status" {
				status = f.Value
			}
		})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.Write(block); err != nil || d.Close() != nil || status != "200" {
				b.Fatal(err, status)
			}
		}
	})
}
