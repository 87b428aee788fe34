package accesslog

import (
	"sync"

	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/vars"
)

// Log is one access_log directive ready to run: a file writer or a syslog
// sender, a compiled format and an optional if= condition. Safe for
// concurrent use.
type Log[T vars.Context] struct {
	W      *Writer
	S      *errlog.Syslog // a "syslog:" target; W is then nil
	Format *vars.LogFormat[T]
	If     *vars.Template[T] // nil: always log
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Write formats the line for ctx and appends it to the file, or sends it
// to syslog, unless the if= condition evaluates to "" or "0".
func (l *Log[T]) Write(ctx T) {
	bp := linePool.Get().(*[]byte)
	if l.If != nil {
		var ok bool
		ok, *bp = l.If.Truthy(ctx, *bp)
		if !ok {
			linePool.Put(bp)
			return
		}
	}
	if l.S != nil {
		// One datagram: the header, then the line without a line feed.
		*bp = l.S.AppendHeader((*bp)[:0], l.S.Severity())
		*bp = l.Format.Append(*bp, ctx)
		l.S.Write(*bp)
	} else {
		*bp = l.Format.AppendLine((*bp)[:0], ctx)
		l.W.Write(*bp)
	}
	if cap(*bp) <= 64<<10 {
		linePool.Put(bp)
	}
}
