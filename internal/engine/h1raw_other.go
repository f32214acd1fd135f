//go:build !unix

package engine

import "errors"

// rawExchange: elsewhere requests use conn.Write then conn.Read.
const rawExchange = false

// h1RawState is unused outside unix.
type h1RawState struct{}

// Never called: c.raw stays nil when rawExchange is false.
func (c *h1Caller) exchangeRaw([]byte) (int, error) { return 0, errors.ErrUnsupported }
func (c *h1Caller) rawStep(uintptr) bool            { return true }
