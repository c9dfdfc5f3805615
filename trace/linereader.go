package trace

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// lineReader is the part of the text readers (JSONLReader, RMMReader) that
// reads lines: it skips blank ones, counts them, and makes the errors that
// name the file and the line.
type lineReader struct {
	sc   *bufio.Scanner
	file string // names the trace in errors; may be empty
	line int    // lines consumed
	// unended is set when the last line scanned has no newline: the input
	// ended, or failed, in it.
	unended *bool
}

func newLineReader(r io.Reader, file string) lineReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLineBytes)
	unended := new(bool)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		n, tok, err := bufio.ScanLines(data, atEOF)
		// a line ended by a newline is the data up to and including it
		*unended = tok != nil && (n == 0 || data[n-1] != '\n')
		return n, tok, err
	})
	return lineReader{sc: sc, file: file, unended: unended}
}

// nextLine returns the next line that is not blank (valid until the next
// call), or what ends the input: io.EOF, an *Error for a line longer than
// MaxLineBytes, or the read error naming the file and line (a line cut
// short by a read error is that error, not a line).
func (l *lineReader) nextLine() ([]byte, error) {
	for l.sc.Scan() {
		l.line++
		if l.cutShort() {
			return nil, l.readError(l.line)
		}
		if b := l.sc.Bytes(); !isBlank(b) {
			return b, nil
		}
	}
	return nil, l.end()
}

// cutShort reports whether the line just scanned ended with a read error
// rather than a newline or the end of the input.
func (l *lineReader) cutShort() bool {
	err := l.sc.Err()
	return *l.unended && err != nil && !errors.Is(err, bufio.ErrTooLong)
}

// end is the error that ends the input, once Scan has returned false.
func (l *lineReader) end() error {
	err := l.sc.Err()
	switch {
	case err == nil:
		return io.EOF
	case errors.Is(err, bufio.ErrTooLong):
		l.line++
		return l.fail("line longer than %d bytes", MaxLineBytes)
	}
	return l.readError(l.line + 1)
}

// readError is the read error that stopped the input at line n.
func (l *lineReader) readError(n int) error {
	return fmt.Errorf("%s: reading line %d: %w", l.name(), n, l.sc.Err())
}

// name is the file, or "trace" when it has no name.
func (l *lineReader) name() string {
	if l.file == "" {
		return "trace"
	}
	return l.file
}

// fail returns an *Error at the current line.
func (l *lineReader) fail(format string, args ...any) error {
	return &Error{File: l.file, Line: l.line, Msg: fmt.Sprintf(format, args...)}
}

// isBlank reports whether b holds white space only.
func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
