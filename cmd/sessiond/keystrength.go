package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/trustelem/zxcvbn/frequency"
)

// The cluster key is the root of every node-to-node secret: it signs
// internal calls, authenticates Raft streams and, unless a dedicated seal
// key is set, seals the JWT keyring and MACs backups. Each of those is an
// offline oracle (a backup, a sealed key, a captured signature), so a key
// a person made up falls to a guessing script (finding N7). The rule
// below wants at least 128 bits that look like a random generator's:
//
//  1. the key is hex or base64/base64url (padded or not) text that
//     decodes to at least 16 bytes, so it can hold 128 bits at all;
//  2. estimated randomness: 4 bits per hex or 6 per base64 character,
//     except inside patterns a person makes, each counted as a few bits:
//     runs of 5+ characters with a constant step of -1, 0 or +1 ("aaaaa",
//     "12345", "fedcb"), repeats of an earlier 5+ character stretch, and
//     words of 5+ letters from zxcvbn's frequency lists (English words,
//     names, common passwords; lower, upper or capitalised);
//  3. the decoded bytes are not all printable text (an encoded phrase),
//     the estimate reaches 128 bits, patterns cover under a quarter of
//     the key, and it has at least 8 distinct characters.
//
// `sessiond keygen` prints 32 random bytes as base64url (256 bits), far
// above the bar. A random 16-byte key carries about 128 bits, so the rare
// one that happens to hold a pattern (measured: 1 in 600 in hex, 1 in
// 1,000 in base64) is refused too: its message says to use keygen.
const (
	minKeyBytes    = 16
	minKeyBits     = 128
	minPatternLen  = 5
	minKeyDistinct = 8
	keygenBytes    = 32
	maxKeyScan     = 1024 // longer keys are judged on their first 1 KiB
)

// keyAdvice ends every refusal: the one fix that always works.
const keyAdvice = "make one with `sessiond keygen` (32 random bytes, base64url)"

// checkKeyStrength refuses a key that is not random enough; name is the
// variable it came from, for the message. The message never holds any
// part of the key.
func checkKeyStrength(name, key string) error {
	if key == "" {
		return nil
	}
	raw, perChar, ok := decodeKeyText(key)
	n := len(raw)
	if !ok {
		return fmt.Errorf("%s is not a random key: it must be hex or base64/base64url text of at least %d random bytes; %s",
			name, minKeyBytes, keyAdvice)
	}
	if n < minKeyBytes {
		return fmt.Errorf("%s is too short: it decodes to %d bytes, under the %d (128 bits) required; %s", name, n, minKeyBytes, keyAdvice)
	}
	if printable(raw) {
		return fmt.Errorf("%s decodes to printable text, not random bytes: an encoded phrase is as weak as the phrase; %s", name, keyAdvice)
	}
	scan := strings.TrimRight(key, "=") // padding carries no randomness
	scan = scan[:min(len(scan), maxKeyScan)]
	if d := distinct(scan); d < minKeyDistinct {
		return fmt.Errorf("%s has only %d distinct characters, which no random generator makes; %s", name, d, keyAdvice)
	}
	bits, covered := estimateKeyBits(scan, perChar)
	if covered*4 >= len(scan) {
		return fmt.Errorf("%s looks made by a person: %d of its %d characters are words, runs or repeats; %s",
			name, covered, len(scan), keyAdvice)
	}
	if bits < minKeyBits {
		return fmt.Errorf("%s holds about %.0f bits of randomness (its words, runs and repeats count little), under the %d required; %s",
			name, math.Floor(bits), minKeyBits, keyAdvice)
	}
	return nil
}

// decodeKeyText reports how many bytes key decodes to, and how many bits
// each of its characters can carry: 4 for hex, 6 for base64.
func decodeKeyText(key string) (raw []byte, perChar float64, ok bool) {
	if b, err := hex.DecodeString(key); err == nil {
		return b, 4, true
	}
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(key); err == nil {
			return b, 6, true
		}
	}
	return nil, 0, false
}

// printable reports whether b is all printable ASCII: encoded text, not
// random bytes (16 random bytes are all printable once in ten million).
func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func distinct(s string) int {
	var seen [256]bool
	n := 0
	for i := 0; i < len(s); i++ {
		if !seen[s[i]] {
			seen[s[i]], n = true, n+1
		}
	}
	return n
}

// keyPattern finds one kind of pattern at i (its length, 0 or 1 for
// none) and prices it: what a guesser pays to name it.
type keyPattern struct {
	find func(s string, i int) int
	cost func(s string, i, n int, perChar float64) float64
}

var keyPatterns = []keyPattern{
	{runAt, func(_ string, _, n int, perChar float64) float64 { // first char, step, length
		return perChar + math.Log2(3) + math.Log2(float64(n))
	}},
	{repeatAt, func(_ string, i, n int, _ float64) float64 { // where from, length
		return math.Log2(float64(i)) + math.Log2(float64(n))
	}},
	{wordAt, func(string, int, int, float64) float64 { // which word, which case
		return math.Log2(float64(len(keyWords()))) + math.Log2(3)
	}},
}

// estimateKeyBits parses s left to right, taking at each position the
// pattern that saves the most bits over plain characters (an LZ-style
// estimate, the idea behind zxcvbn), and returns the total and how many
// characters fell inside patterns.
func estimateKeyBits(s string, perChar float64) (bits float64, covered int) {
	for i := 0; i < len(s); {
		l, cost := 1, perChar
		for _, p := range keyPatterns {
			if n := p.find(s, i); n >= minPatternLen {
				c := p.cost(s, i, n, perChar)
				if float64(n)*perChar-c > float64(l)*perChar-cost {
					l, cost = n, c
				}
			}
		}
		if l > 1 {
			covered += l
		}
		bits += cost
		i += l
	}
	return bits, covered
}

// runAt is the length of the run at i whose characters step by a
// constant -1, 0 or +1.
func runAt(s string, i int) int {
	if i+1 >= len(s) {
		return 1
	}
	d := int(s[i+1]) - int(s[i])
	if d < -1 || d > 1 {
		return 1
	}
	n := 2
	for i+n < len(s) && int(s[i+n])-int(s[i+n-1]) == d {
		n++
	}
	return n
}

// repeatAt is the length of the longest earlier stretch that s[i:]
// repeats (it may overlap, as "abababab" repeats "ab").
func repeatAt(s string, i int) int {
	best := 0
	for j := 0; j < i; j++ {
		n := 0
		for i+n < len(s) && s[j+n] == s[i+n] {
			n++
		}
		best = max(best, n)
	}
	return best
}

// wordAt is the length of the longest listed word at i, written in lower,
// upper or capitalised case.
func wordAt(s string, i int) int {
	words := keyWords()
	for n := min(len(s)-i, maxKeyWordLen); n >= minPatternLen; n-- {
		tok := s[i : i+n]
		low := strings.ToLower(tok)
		if _, ok := words[low]; !ok {
			continue
		}
		if tok == low || tok == strings.ToUpper(tok) || tok == strings.ToUpper(tok[:1])+low[1:] {
			return n
		}
	}
	return 0
}

const maxKeyWordLen = 24

// keyWords is the set of words of 5+ characters in zxcvbn's frequency
// lists, without the all-digit ones (digit runs and repeats are patterns
// of their own, and a random key holds 5-digit strings too often). Built
// once, on first use: only a start with a cluster key pays for it.
var keyWords = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 1<<17)
	for _, list := range frequency.FrequencyLists {
		for _, w := range list {
			if len(w) >= minPatternLen && len(w) <= maxKeyWordLen && strings.Trim(w, "0123456789") != "" {
				m[strings.ToLower(w)] = struct{}{}
			}
		}
	}
	return m
})

// newClusterKey returns a fresh key that passes checkKeyStrength.
func newClusterKey() (string, error) {
	for {
		var b [keygenBytes]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		k := base64.RawURLEncoding.EncodeToString(b[:])
		if checkKeyStrength("key", k) == nil {
			return k, nil
		}
	}
}

// runKeygen is `sessiond keygen`: one new key on stdout, nothing else, so
// it can be redirected into a file.
func (m *Main) runKeygen(_ context.Context, raw []string) error {
	if len(raw) > 0 {
		return usageErr("keygen takes no arguments")
	}
	k, err := newClusterKey()
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	_, err = fmt.Fprintln(m.Stdout, k)
	return err
}
