package mail

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"net/textproto"
	"testing"
)

// dotWriter is what lock-step sends for raw: textproto's DotWriter.
func dotWriter(raw []byte) []byte {
	var b bytes.Buffer
	bw := bufio.NewWriter(&b)
	dw := textproto.NewWriter(bw).DotWriter()
	dw.Write(raw)
	dw.Close()
	return b.Bytes()
}

// TestDotStuffingIsDotWritersByteForByte: the pipelined path writes the content itself (so
// that the next commands share its write) and must send what lock-step sends, for any bytes,
// including DotWriter's handling of lone CR and LF and of empty content.
func TestDotStuffingIsDotWritersByteForByte(t *testing.T) {
	cases := []string{"", ".", "\r", "\n", "\r\n", ".\r\n", "a", "a\r\n.b\r\n..c\n.\n", "x\r\r\n.y\rz.", "\n\n.", "end."}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(".\r\nab")
	for range 5000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		if got, want := appendDotStuffed(nil, []byte(c)), dotWriter([]byte(c)); !bytes.Equal(got, want) {
			t.Fatalf("content %q: pipelined writes %q, DotWriter %q", c, got, want)
		}
		// BDAT carries what the server gets out of DATA: the stuffed form without the final
		// dot and with each line's doubled leading dot undone.
		stuffed := dotWriter([]byte(c))
		unstuffed := bytes.ReplaceAll(append([]byte("\n"), stuffed[:len(stuffed)-3]...), []byte("\n.."), []byte("\n."))[1:]
		if got := canonical([]byte(c)); !bytes.Equal(got, unstuffed) {
			t.Fatalf("content %q: BDAT sends %q, DATA delivers %q", c, got, unstuffed)
		}
	}
}
