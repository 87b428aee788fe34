package httpproxy

import (
	"strconv"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/vars"
)

// The response rate limit: limit_rate, limit_rate_after, $limit_rate and
// the upstream header X-Accel-Limit-Rate, as nginx's write filter applies
// them. A request's rate is fixed when its response body starts: the
// value X-Accel-Limit-Rate or `set $limit_rate` gave, else limit_rate.
// With a rate, the first limit_rate_after body bytes go out at once and
// each later piece of at most an eighth of a second's worth waits until
// the bytes sent before it are due at that rate, counted from the start of
// the request (nginx sends, then waits until what it sent is due). Without
// a rate, the default, bodies go out as before: no timer, no extra write.

// rateConf is a location's limit_rate and limit_rate_after; nil when both
// are a constant 0.
type rateConf struct {
	rate, after         int64
	rateTmpl, afterTmpl *vars.Template[*request] // when given with variables
}

// rateState is the response rate limit of one request.
type rateState struct {
	set   bool  // $limit_rate was set or X-Accel-Limit-Rate came: limit_rate is not evaluated
	rate  int64 // bytes per second; 0: no limit
	after int64 // body bytes sent before the limit applies
	sent  int64 // body bytes sent under the limit so far
}

// buildRate compiles the limit_rate and limit_rate_after of a level.
func (p *proxy) buildRate(st *config.HTTPSettings, pos string) (*rateConf, error) {
	if st.LimitRate == (config.HTTPSize{}) && st.LimitRateAfter == (config.HTTPSize{}) {
		return nil, nil
	}
	rc := &rateConf{rate: st.LimitRate.Size, after: st.LimitRateAfter.Size}
	var err error
	if st.LimitRate.Value != "" {
		if rc.rateTmpl, err = p.tab.Compile(st.LimitRate.Value, pos); err != nil {
			return nil, vars.NginxError(err)
		}
	}
	if st.LimitRateAfter.Value != "" {
		if rc.afterTmpl, err = p.tab.Compile(st.LimitRateAfter.Value, pos); err != nil {
			return nil, vars.NginxError(err)
		}
	}
	return rc, nil
}

// defineRateVars defines $limit_rate: the response rate of the request in
// bytes per second, which `set $limit_rate` changes.
func defineRateVars(t *vars.Table[*request]) error {
	return t.Define("limit_rate", func(dst []byte, r *request) ([]byte, bool) {
		return strconv.AppendInt(dst, r.rate.rate, 10), true
	}, vars.Changeable)
}

// size evaluates a limit_rate or limit_rate_after with variables as
// nginx's ngx_http_complex_value_size: an invalid size is logged and
// counts as 0.
func (c *conn) size(r *request, t *vars.Template[*request]) int64 {
	var buf [32]byte
	v := t.Append(buf[:0], r)
	n, err := config.ParseSize(string(v))
	if err != nil {
		c.logf(r.srv, errlog.LevelError, `invalid size "`+string(v)+`"`)
		return 0
	}
	return n
}

// setLimitRate runs `set $limit_rate value;`.
func (c *conn) setLimitRate(r *request, t *vars.Template[*request]) {
	var buf [32]byte
	v := t.Append(buf[:0], r)
	n, err := config.ParseSize(string(v))
	if err != nil {
		c.logf(r.srv, errlog.LevelError, `invalid $limit_rate "`+string(v)+`"`)
		return
	}
	r.rate.rate, r.rate.set = n, true
}

// xAccelLimitRate takes the rate of an upstream's X-Accel-Limit-Rate: a
// number of bytes per second (0: no limit); other values are ignored, as
// by nginx.
func xAccelLimitRate(r *request, v []byte) {
	n, ok := config.ParseDigits(string(v))
	if ok {
		r.rate.rate, r.rate.set = n, true
	}
}

// startRate fixes the rate limit of a response whose body is about to be
// sent.
func (c *conn) startRate(r *request, l *location) {
	rs := &r.rate
	rc := l.rate
	if !rs.set {
		if rc == nil {
			return
		}
		rs.rate = rc.rate
		if rc.rateTmpl != nil {
			rs.rate = c.size(r, rc.rateTmpl)
		}
	}
	if rs.rate == 0 || rc == nil {
		return
	}
	rs.after = rc.after
	if rc.afterTmpl != nil {
		rs.after = c.size(r, rc.afterTmpl)
	}
}

// piece is the most body bytes written at once under a rate limit: an
// eighth of a second's worth.
func (rs *rateState) piece() int {
	return int(max(min(rs.rate/8, 1<<20), 1))
}

// free is how many more body bytes may go out before the limit applies.
func (rs *rateState) free() int64 { return rs.after - rs.sent }

// limit waits, under a rate limit, until the body bytes sent so far are
// due, then counts n more as sent.
func (c *conn) limit(r *request, n int) {
	rs := &r.rate
	if rs.rate == 0 {
		return
	}
	if over := rs.sent - rs.after; over > 0 {
		due := r.start.Add(time.Duration(float64(over) / float64(rs.rate) * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
	}
	rs.sent += int64(n)
}

// writeBody writes response body bytes to the client, in pieces paced by
// the rate limit when there is one.
func (c *conn) writeBody(r *request, b []byte) error {
	if r.rate.rate == 0 {
		_, err := c.write(r, b)
		return err
	}
	for len(b) > 0 {
		k := min(len(b), r.rate.piece())
		c.limit(r, k)
		if _, err := c.write(r, b[:k]); err != nil {
			return err
		}
		b = b[k:]
	}
	return nil
}

// writeFirst writes a response head and the body bytes that follow it in
// out: in one write without a rate limit, else the head at once and the
// body paced.
func (c *conn) writeFirst(r *request, out []byte, head int) error {
	if r.rate.rate == 0 || len(out) == head {
		_, err := c.write(r, out)
		return err
	}
	if _, err := c.write(r, out[:head]); err != nil {
		return err
	}
	return c.writeBody(r, out[head:])
}
