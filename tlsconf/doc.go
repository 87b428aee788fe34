// Package tlsconf holds the TLS building blocks that Sluice's stream and
// http proxies share, in plain Go values: OpenSSL cipher lists and
// ssl_protocols lists turned into Go's settings, certificates and keys
// loaded with nginx's error texts (legacy encrypted keys decrypted with
// the passwords of ssl_password_file), the choice of a certificate for a
// client (ECDSA for clients that can use it, RSA for the others),
// session resumption (tickets bounded by ssl_session_timeout, or a
// server-side session cache), certificate chain checks that report
// OpenSSL's error codes and texts (ssl_verify_client, ssl_verify_depth,
// proxy_ssl_verify), and the values of the $ssl_* variables.
//
// It knows nothing of configuration files: callers pass paths, names
// and durations.
package tlsconf
