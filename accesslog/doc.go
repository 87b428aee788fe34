// Package accesslog writes access logs the way nginx's access_log does.
//
// A configuration says, per server or location,
//
//	access_log /var/log/sluice/access.log main buffer=32k flush=5s if=$loggable;
//	access_log off;
//
// ParseDirective reads those arguments. Files opens each path once and hands
// the same Writer to every place that logs there, so lines from different
// servers interleave whole. With buffer=, lines collect in memory and are
// written together when the buffer fills, when flush= has passed since the
// first buffered line, on Reopen (the USR1 signal) and on Close; a line is
// never split between two writes. gzip compresses each write as one gzip
// member, which zcat reads as one stream. Log joins a Writer with a compiled
// log_format and the if= condition (a line is skipped when it evaluates to
// "" or "0").
//
// A "syslog:" target sends each line as one datagram through an
// errlog.Syslog that Files.OpenSyslog shares per target (see Log.S); such
// logs cannot be buffered, as in nginx.
//
// Not supported yet: paths containing variables; they are refused with an
// error when the configuration is loaded.
package accesslog
