package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// loadHTTP compiles "events {} http { body }" from a temporary file and
// returns the configuration or the error text with the file name replaced
// by FILE.
func loadHTTP(t *testing.T, body string) (*Config, string) {
	t.Helper()
	cfg, err := loadText(t, "events {}\nhttp {\n"+body+"\n}\n")
	if err != nil {
		return nil, err.Error()
	}
	return cfg, ""
}

// httpErrorCases are http {} bodies nginx 1.22 refuses, with its message
// ("FILE" stands for the configuration file; line 3 is the first line of
// the body). diff names a deliberate difference from nginx.
var httpErrorCases = []errorCase{
	{name: "limit_rate_value", body: "limit_rate 1x;", want: `"limit_rate" directive invalid value in FILE:3`},
	{name: "limit_rate_empty", body: `limit_rate "";`, want: `"limit_rate" directive invalid value in FILE:3`},
	{name: "limit_rate_negative", body: "limit_rate -1;", want: `"limit_rate" directive invalid value in FILE:3`},
	{name: "limit_rate_args", body: "limit_rate 1k 2;", want: `invalid number of arguments in "limit_rate" directive in FILE:3`},
	{name: "limit_rate_duplicate", body: "limit_rate 1k; limit_rate 2k;", want: `"limit_rate" directive is duplicate in FILE:3`},
	{name: "limit_rate_server_if", body: "server { listen 127.0.0.1:18080; if ($args) { limit_rate 1k; } }", want: `"limit_rate" directive is not allowed here in FILE:3`},
	{name: "limit_rate_after_value", body: "limit_rate_after 1x;", want: `"limit_rate_after" directive invalid value in FILE:3`},
	{name: "client_body_in_file_only_value", body: "client_body_in_file_only x;", want: `invalid value "x" in FILE:3`},
	{name: "keepalive_disable_value", body: "keepalive_disable msie6 x;", want: `invalid value "x" in FILE:3`},
	{name: "keepalive_disable_args", body: "keepalive_disable msie6 safari none;", want: `invalid number of arguments in "keepalive_disable" directive in FILE:3`},
	{name: "sub_filter_empty", body: `sub_filter "" x;`, want: `empty search pattern in FILE:3`},
	{name: "sub_filter_args", body: "sub_filter a;", want: `invalid number of arguments in "sub_filter" directive in FILE:3`},
	{name: "sub_filter_if", body: "server { listen 127.0.0.1:18080; location / { if ($args) { sub_filter a b; } } }", want: `"sub_filter" directive is not allowed here in FILE:3`},
	{name: "sub_filter_many", body: "sub_filter a0 b; sub_filter a1 b; sub_filter a2 b; sub_filter a3 b; sub_filter a4 b; sub_filter a5 b; sub_filter a6 b; sub_filter a7 b; sub_filter a8 b; sub_filter a9 b; sub_filter a10 b; sub_filter a11 b; sub_filter a12 b; sub_filter a13 b; sub_filter a14 b; sub_filter a15 b; sub_filter a16 b; sub_filter a17 b; sub_filter a18 b; sub_filter a19 b; sub_filter a20 b; sub_filter a21 b; sub_filter a22 b; sub_filter a23 b; sub_filter a24 b; sub_filter a25 b; sub_filter a26 b; sub_filter a27 b; sub_filter a28 b; sub_filter a29 b; sub_filter a30 b; sub_filter a31 b; sub_filter a32 b; sub_filter a33 b; sub_filter a34 b; sub_filter a35 b; sub_filter a36 b; sub_filter a37 b; sub_filter a38 b; sub_filter a39 b; sub_filter a40 b; sub_filter a41 b; sub_filter a42 b; sub_filter a43 b; sub_filter a44 b; sub_filter a45 b; sub_filter a46 b; sub_filter a47 b; sub_filter a48 b; sub_filter a49 b; sub_filter a50 b; sub_filter a51 b; sub_filter a52 b; sub_filter a53 b; sub_filter a54 b; sub_filter a55 b; sub_filter a56 b; sub_filter a57 b; sub_filter a58 b; sub_filter a59 b; sub_filter a60 b; sub_filter a61 b; sub_filter a62 b; sub_filter a63 b; sub_filter a64 b; sub_filter a65 b; sub_filter a66 b; sub_filter a67 b; sub_filter a68 b; sub_filter a69 b; sub_filter a70 b; sub_filter a71 b; sub_filter a72 b; sub_filter a73 b; sub_filter a74 b; sub_filter a75 b; sub_filter a76 b; sub_filter a77 b; sub_filter a78 b; sub_filter a79 b; sub_filter a80 b; sub_filter a81 b; sub_filter a82 b; sub_filter a83 b; sub_filter a84 b; sub_filter a85 b; sub_filter a86 b; sub_filter a87 b; sub_filter a88 b; sub_filter a89 b; sub_filter a90 b; sub_filter a91 b; sub_filter a92 b; sub_filter a93 b; sub_filter a94 b; sub_filter a95 b; sub_filter a96 b; sub_filter a97 b; sub_filter a98 b; sub_filter a99 b; sub_filter a100 b; sub_filter a101 b; sub_filter a102 b; sub_filter a103 b; sub_filter a104 b; sub_filter a105 b; sub_filter a106 b; sub_filter a107 b; sub_filter a108 b; sub_filter a109 b; sub_filter a110 b; sub_filter a111 b; sub_filter a112 b; sub_filter a113 b; sub_filter a114 b; sub_filter a115 b; sub_filter a116 b; sub_filter a117 b; sub_filter a118 b; sub_filter a119 b; sub_filter a120 b; sub_filter a121 b; sub_filter a122 b; sub_filter a123 b; sub_filter a124 b; sub_filter a125 b; sub_filter a126 b; sub_filter a127 b; sub_filter a128 b; sub_filter a129 b; sub_filter a130 b; sub_filter a131 b; sub_filter a132 b; sub_filter a133 b; sub_filter a134 b; sub_filter a135 b; sub_filter a136 b; sub_filter a137 b; sub_filter a138 b; sub_filter a139 b; sub_filter a140 b; sub_filter a141 b; sub_filter a142 b; sub_filter a143 b; sub_filter a144 b; sub_filter a145 b; sub_filter a146 b; sub_filter a147 b; sub_filter a148 b; sub_filter a149 b; sub_filter a150 b; sub_filter a151 b; sub_filter a152 b; sub_filter a153 b; sub_filter a154 b; sub_filter a155 b; sub_filter a156 b; sub_filter a157 b; sub_filter a158 b; sub_filter a159 b; sub_filter a160 b; sub_filter a161 b; sub_filter a162 b; sub_filter a163 b; sub_filter a164 b; sub_filter a165 b; sub_filter a166 b; sub_filter a167 b; sub_filter a168 b; sub_filter a169 b; sub_filter a170 b; sub_filter a171 b; sub_filter a172 b; sub_filter a173 b; sub_filter a174 b; sub_filter a175 b; sub_filter a176 b; sub_filter a177 b; sub_filter a178 b; sub_filter a179 b; sub_filter a180 b; sub_filter a181 b; sub_filter a182 b; sub_filter a183 b; sub_filter a184 b; sub_filter a185 b; sub_filter a186 b; sub_filter a187 b; sub_filter a188 b; sub_filter a189 b; sub_filter a190 b; sub_filter a191 b; sub_filter a192 b; sub_filter a193 b; sub_filter a194 b; sub_filter a195 b; sub_filter a196 b; sub_filter a197 b; sub_filter a198 b; sub_filter a199 b; sub_filter a200 b; sub_filter a201 b; sub_filter a202 b; sub_filter a203 b; sub_filter a204 b; sub_filter a205 b; sub_filter a206 b; sub_filter a207 b; sub_filter a208 b; sub_filter a209 b; sub_filter a210 b; sub_filter a211 b; sub_filter a212 b; sub_filter a213 b; sub_filter a214 b; sub_filter a215 b; sub_filter a216 b; sub_filter a217 b; sub_filter a218 b; sub_filter a219 b; sub_filter a220 b; sub_filter a221 b; sub_filter a222 b; sub_filter a223 b; sub_filter a224 b; sub_filter a225 b; sub_filter a226 b; sub_filter a227 b; sub_filter a228 b; sub_filter a229 b; sub_filter a230 b; sub_filter a231 b; sub_filter a232 b; sub_filter a233 b; sub_filter a234 b; sub_filter a235 b; sub_filter a236 b; sub_filter a237 b; sub_filter a238 b; sub_filter a239 b; sub_filter a240 b; sub_filter a241 b; sub_filter a242 b; sub_filter a243 b; sub_filter a244 b; sub_filter a245 b; sub_filter a246 b; sub_filter a247 b; sub_filter a248 b; sub_filter a249 b; sub_filter a250 b; sub_filter a251 b; sub_filter a252 b; sub_filter a253 b; sub_filter a254 b; sub_filter a255 b;", want: `number of search patterns exceeds 255 in FILE:3`},
	{name: "sub_filter_once_value", body: "sub_filter_once x;", want: `invalid value "x" in "sub_filter_once" directive, it must be "on" or "off" in FILE:3`},
	{name: "sub_filter_once_duplicate", body: "sub_filter_once on; sub_filter_once off;", want: `"sub_filter_once" directive is duplicate in FILE:3`},
	{name: "sub_filter_last_modified_value", body: "server { listen 127.0.0.1:18080; sub_filter_last_modified 1; }", want: `invalid value "1" in "sub_filter_last_modified" directive, it must be "on" or "off" in FILE:3`},
	{name: "sub_filter_types_stream", body: "server { listen 127.0.0.1:18080; location / { sub_filter_types; } }", want: `invalid number of arguments in "sub_filter_types" directive in FILE:3`},
	{name: "gzip_static_value", body: "gzip_static x;", want: `invalid value "x" in FILE:3`},
	{name: "open_file_cache_param", body: "open_file_cache max=10 inactive=x;", want: `invalid "open_file_cache" parameter "inactive=x" in FILE:3`},
	{name: "open_file_cache_max0", body: "open_file_cache max=0;", want: `invalid "open_file_cache" parameter "max=0" in FILE:3`},
	{name: "open_file_cache_nomax", body: "open_file_cache inactive=10s;", want: `"open_file_cache" must have the "max" parameter in FILE:3`},
	{name: "open_file_cache_valid_ms", body: "open_file_cache_valid 100ms;", want: `"open_file_cache_valid" directive invalid value in FILE:3`},
	{name: "open_log_file_cache_param", body: "open_log_file_cache max=1 min_uses=x;", want: `invalid "open_log_file_cache" parameter "min_uses=x" in FILE:3`},
	{name: "open_log_file_cache_nomax", body: "open_log_file_cache inactive=1;", want: `"open_log_file_cache" must have "max" parameter in FILE:3`},
	{name: "output_buffers_args", body: "output_buffers 1;", want: `invalid number of arguments in "output_buffers" directive in FILE:3`},
	{name: "output_buffers_value", body: "output_buffers x 32k;", want: `"output_buffers" directive invalid value in FILE:3`},
	{name: "aio_value", body: "aio x;", want: `"aio" directive invalid value in FILE:3`},
	{name: "aio_if", body: "server { listen 127.0.0.1:18080; location / { if ($args) { aio threads; } } }", want: `"aio" directive is not allowed here in FILE:3`},
	{name: "directio_value", body: "directio x;", want: `"directio" directive invalid value in FILE:3`},
	{name: "directio_alignment_value", body: "directio_alignment x;", want: `"directio_alignment" directive invalid value in FILE:3`},
	{name: "postpone_output_value", body: "postpone_output x;", want: `"postpone_output" directive invalid value in FILE:3`},
	{name: "read_ahead_value", body: "read_ahead x;", want: `"read_ahead" directive invalid value in FILE:3`},
	{name: "msie_padding_value", body: "msie_padding x;", want: `invalid value "x" in "msie_padding" directive, it must be "on" or "off" in FILE:3`},
	{name: "connection_pool_size_min", body: "connection_pool_size 10;", want: `the pool size must be no less than 112 in FILE:3`},
	{name: "request_pool_size_align", body: "request_pool_size 1000;", want: `the pool size must be a multiple of 16 in FILE:3`},
	{name: "connection_pool_size_location", body: "server { listen 127.0.0.1:18080; location / { connection_pool_size 1k; } }", want: `"connection_pool_size" directive is not allowed here in FILE:3`},
	{name: "ssl_stapling_location", body: "server { listen 127.0.0.1:18080; location / { ssl_stapling on; } }", want: `"ssl_stapling" directive is not allowed here in FILE:3`},
	{name: "ssl_stapling_verify_value", body: "ssl_stapling_verify x;", want: `invalid value "x" in "ssl_stapling_verify" directive, it must be "on" or "off" in FILE:3`},
	{name: "client_body_temp_path_args", body: "client_body_temp_path /x 1 2 3 4;", want: `invalid number of arguments in "client_body_temp_path" directive in FILE:3`},
	{name: "auth_basic_args", body: "auth_basic;", want: `invalid number of arguments in "auth_basic" directive in FILE:3`},
	{name: "auth_basic_args2", body: "auth_basic a b;", want: `invalid number of arguments in "auth_basic" directive in FILE:3`},
	{name: "auth_basic_duplicate", body: "auth_basic a; auth_basic b;", want: `"auth_basic" directive is duplicate in FILE:3`},
	{name: "auth_basic_in_if", body: "server { listen 127.0.0.1:18080; location / { if ($host) { auth_basic x; } } }", want: `"auth_basic" directive is not allowed here in FILE:3`},
	{name: "auth_basic_user_file_args", body: "auth_basic_user_file;", want: `invalid number of arguments in "auth_basic_user_file" directive in FILE:3`},
	{name: "auth_basic_user_file_duplicate", body: "auth_basic_user_file a; auth_basic_user_file b;", want: `"auth_basic_user_file" directive is duplicate in FILE:3`},
	{name: "satisfy_value", body: "satisfy foo;", want: `invalid value "foo" in FILE:3`},
	{name: "satisfy_args", body: "satisfy;", want: `invalid number of arguments in "satisfy" directive in FILE:3`},
	{name: "satisfy_duplicate", body: "satisfy all; satisfy any;", want: `"satisfy" directive is duplicate in FILE:3`},
	{name: "satisfy_in_if", body: "server { listen 127.0.0.1:18080; location / { if ($host) { satisfy any; } } }", want: `"satisfy" directive is not allowed here in FILE:3`},
	{name: "satisfy_in_limit_except", body: "server { listen 127.0.0.1:18080; location / { limit_except GET { satisfy any; } } }", want: `"satisfy" directive is not allowed here in FILE:3`},
	{name: "limit_except_method", body: "server { listen 127.0.0.1:18080; location / { limit_except GET FOO { } } }", want: `invalid method "FOO" in FILE:3`},
	{name: "limit_except_connect", body: "server { listen 127.0.0.1:18080; location / { limit_except CONNECT { } } }", want: `invalid method "CONNECT" in FILE:3`},
	{name: "limit_except_duplicate", body: "server { listen 127.0.0.1:18080; location / { limit_except GET { } limit_except POST { } } }", want: `"limit_except" directive is duplicate in FILE:3`},
	{name: "limit_except_args", body: "server { listen 127.0.0.1:18080; location / { limit_except { } } }", want: `invalid number of arguments in "limit_except" directive in FILE:3`},
	{name: "limit_except_no_block", body: "server { listen 127.0.0.1:18080; location / { limit_except GET; } }", want: `directive "limit_except" has no opening "{" in FILE:3`},
	{name: "limit_except_in_server", body: "server { listen 127.0.0.1:18080; limit_except GET { } }", want: `"limit_except" directive is not allowed here in FILE:3`},
	{name: "limit_except_in_if", body: "server { listen 127.0.0.1:18080; location / { if ($host) { limit_except GET { } } } }", want: `"limit_except" directive is not allowed here in FILE:3`},
	{name: "limit_except_nested", body: "server { listen 127.0.0.1:18080; location / { limit_except GET { limit_except POST { } } } }", want: `"limit_except" directive is not allowed here in FILE:3`},
	{name: "limit_except_return", body: "server { listen 127.0.0.1:18080; location / { limit_except GET { return 403; } } }", want: `"return" directive is not allowed here in FILE:3`},
	{name: "limit_except_root", body: "server { listen 127.0.0.1:18080; location / { limit_except GET { root /x; } } }", want: `"root" directive is not allowed here in FILE:3`},
	{name: "limit_except_add_header", body: "server { listen 127.0.0.1:18080; location / { limit_except GET { add_header a b; } } }", want: `"add_header" directive is not allowed here in FILE:3`},
	{name: "limit_except_access_log", body: "server { listen 127.0.0.1:18080; location / { limit_except GET { access_log off; } } }", want: `"access_log" directive inside "limit_except" is not supported by sluice in FILE:3`, diff: "nginx takes access_log inside limit_except; sluice refuses it by name"},
	{name: "limit_except_proxy_pass", body: "server { listen 127.0.0.1:18080; location / { limit_except GET { proxy_pass http://127.0.0.1:1; } } }", want: `"proxy_pass" directive inside "limit_except" is not supported by sluice in FILE:3`, diff: "nginx takes proxy_pass inside limit_except; sluice refuses it by name"},
	{name: "charset_args", body: "charset a b;", want: `invalid number of arguments in "charset" directive in FILE:3`},
	{name: "charset_duplicate", body: "charset utf-8; charset utf-8;", want: `"charset" directive is duplicate in FILE:3`},
	{name: "charset_types_args", body: "charset_types;", want: `invalid number of arguments in "charset_types" directive in FILE:3`},
	{name: "override_charset_value", body: "override_charset maybe;", want: `invalid value "maybe" in "override_charset" directive, it must be "on" or "off" in FILE:3`},
	{name: "source_charset_args", body: "source_charset;", want: `invalid number of arguments in "source_charset" directive in FILE:3`},
	{name: "charset_no_map", body: "source_charset koi8-r; charset KOI8-R; server { listen 127.0.0.1:18080; charset utf-8; location / { charset koi8-r; } }", want: `no "charset_map" between the charsets "koi8-r" and "utf-8"`},
	{name: "charset_no_map_off", body: "server { listen 127.0.0.1:18080; source_charset off; charset utf-8; location / { charset off; } }", want: `no "charset_map" between the charsets "off" and "utf-8"`},
	{name: "charset_bad_variable", body: "charset $;", want: `invalid variable name "$" in FILE:3`},
	{name: "expires_args", body: "expires modified 1h x;", want: `invalid number of arguments in "expires" directive in FILE:3`},
	{name: "expires_duplicate", body: "expires 1h; expires 2h;", want: `"expires" directive is duplicate in FILE:3`},
	{name: "expires_value", body: "expires foo;", want: `"expires" directive invalid value in FILE:3`},
	{name: "expires_not_modified", body: "expires access 1h;", want: `"expires" directive invalid value in FILE:3`},
	{name: "expires_modified_epoch", body: "expires modified epoch;", want: `"expires" directive invalid value in FILE:3`},
	{name: "expires_modified_daily", body: "expires modified @1h;", want: `"expires" directive daily time cannot be used with "modified" parameter in FILE:3`},
	{name: "expires_daily_max", body: "expires @24h1s;", want: `"expires" directive daily time value must be less than 24 hours in FILE:3`},
	{name: "expires_daily_sign", body: "expires @-1h;", want: `"expires" directive invalid value in FILE:3`},
	{name: "expires_ms", body: "expires 10ms;", want: `"expires" directive invalid value in FILE:3`},
	{name: "expires_sign_alone", body: "expires -;", want: `"expires" directive invalid value in FILE:3`},
	{name: "proxy_cookie_domain_one", body: "proxy_cookie_domain a;", want: `invalid parameter "a" in FILE:3`},
	{name: "proxy_cookie_domain_off_off", body: "proxy_cookie_domain off;\nproxy_cookie_domain off;", want: `"proxy_cookie_domain" directive is duplicate in FILE:4`},
	{name: "proxy_cookie_domain_rule_off", body: "proxy_cookie_domain a b;\nproxy_cookie_domain off;", want: `"proxy_cookie_domain" directive is duplicate in FILE:4`},
	{name: "proxy_cookie_domain_off_rule", body: "proxy_cookie_domain off;\nproxy_cookie_domain a b;", want: `"proxy_cookie_domain" directive is duplicate in FILE:4`},
	{name: "proxy_cookie_domain_args", body: "proxy_cookie_domain a b c;", want: `invalid number of arguments in "proxy_cookie_domain" directive in FILE:3`},
	{name: "proxy_cookie_domain_regex", body: "proxy_cookie_domain ~( x;", want: `invalid regular expression "(": missing closing ) at "(" in FILE:3`, diff: "regular expressions are Go's (RE2); the message differs"},
	{name: "proxy_cookie_path_OFF", body: "proxy_cookie_path OFF;", want: `invalid parameter "OFF" in FILE:3`},
	{name: "proxy_cookie_path_off_rule", body: "server { listen 127.0.0.1:18080; location / { proxy_cookie_path off; proxy_cookie_path a b; } }", want: `"proxy_cookie_path" directive is duplicate in FILE:3`},
	{name: "proxy_cookie_path_regex", body: "proxy_cookie_path ~*( x;", want: `invalid regular expression "(": missing closing ) at "(" in FILE:3`, diff: "regular expressions are Go's (RE2); the message differs"},
	{name: "proxy_cookie_flags_one", body: "proxy_cookie_flags a;", want: `invalid parameter "a" in FILE:3`},
	{name: "proxy_cookie_flags_args", body: "proxy_cookie_flags a b c d e;", want: `invalid number of arguments in "proxy_cookie_flags" directive in FILE:3`},
	{name: "proxy_cookie_flags_off_rule", body: "proxy_cookie_flags off;\nproxy_cookie_flags a secure;", want: `"proxy_cookie_flags" directive is duplicate in FILE:4`},
	{name: "proxy_ignore_client_abort_value", body: "proxy_ignore_client_abort yes;", want: `invalid value "yes" in "proxy_ignore_client_abort" directive, it must be "on" or "off" in FILE:3`},
	{name: "proxy_ignore_client_abort_twice", body: "proxy_ignore_client_abort on;\nproxy_ignore_client_abort on;", want: `"proxy_ignore_client_abort" directive is duplicate in FILE:4`},
	{name: "chunked_transfer_encoding_value", body: "chunked_transfer_encoding yes;", want: `invalid value "yes" in "chunked_transfer_encoding" directive, it must be "on" or "off" in FILE:3`},
	{name: "lingering_close_value", body: "lingering_close maybe;", want: `invalid value "maybe" in FILE:3`},
	{name: "lingering_close_twice", body: "server { listen 127.0.0.1:18080; location / { lingering_close always; lingering_close off; } }", want: `"lingering_close" directive is duplicate in FILE:3`},
	{name: "lingering_time_value", body: "lingering_time x;", want: `"lingering_time" directive invalid value in FILE:3`},
	{name: "lingering_timeout_args", body: "lingering_timeout;", want: `invalid number of arguments in "lingering_timeout" directive in FILE:3`},
	{name: "reset_timedout_connection_value", body: "reset_timedout_connection yes;", want: `invalid value "yes" in "reset_timedout_connection" directive, it must be "on" or "off" in FILE:3`},
	{name: "merge_slashes_in_location", body: "server { listen 127.0.0.1:18080; location / { merge_slashes off; } }", want: `"merge_slashes" directive is not allowed here in FILE:3`},
	{name: "absolute_redirect_value", body: "server { listen 127.0.0.1:18080; absolute_redirect maybe; }", want: `invalid value "maybe" in "absolute_redirect" directive, it must be "on" or "off" in FILE:3`},
	{name: "port_in_redirect_args", body: "port_in_redirect on off;", want: `invalid number of arguments in "port_in_redirect" directive in FILE:3`},
	{name: "log_not_found_value", body: "server { listen 127.0.0.1:18080; location / { log_not_found maybe; } }", want: `invalid value "maybe" in "log_not_found" directive, it must be "on" or "off" in FILE:3`},
	{name: "proxy_max_temp_file_size_value", body: "proxy_max_temp_file_size 1x;", want: `"proxy_max_temp_file_size" directive invalid value in FILE:3`},
	{name: "proxy_temp_path_args", body: "proxy_temp_path /x 1 2 3 4;", want: `invalid number of arguments in "proxy_temp_path" directive in FILE:3`},
	{name: "duplicate_location", body: "server { listen 127.0.0.1:18080; location /a {}\nlocation /a {} }", want: `duplicate location "/a" in FILE:4`},
	{name: "duplicate_location_sorted", body: "server { listen 127.0.0.1:18080; location = /a {}\nlocation /a {} location ^~ /b {}\nlocation /b {} }", want: `duplicate location "/b" in FILE:5`},
	{name: "inside_exact", body: "server { listen 127.0.0.1:18080; location = /a { location /a/b {} } }", want: `location "/a/b" cannot be inside the exact location "/a" in FILE:3`},
	{name: "inside_named", body: "server { listen 127.0.0.1:18080; location @a { location /a/b {} } }", want: `location "/a/b" cannot be inside the named location "@a" in FILE:3`},
	{name: "named_nested", body: "server { listen 127.0.0.1:18080; location /a { location @b {} } }", want: `named location "@b" can be on the server level only in FILE:3`},
	{name: "outside", body: "server { listen 127.0.0.1:18080;\n location /b { location /a {} } }", want: `location "/a" is outside location "/b" in FILE:4`},
	{name: "outside_regex_parent", body: "server { listen 127.0.0.1:18080; location ~ ^/a { location /b {} } }", want: `location "/b" is outside location "^/a" in FILE:3`},
	{name: "location_modifier", body: "server { listen 127.0.0.1:18080; location ! /a {} }", want: `invalid location modifier "!" in FILE:3`},
	{name: "empty_upstream", body: "upstream u {\n}", want: `no servers are inside upstream in FILE:4`},
	{name: "backup_hash", body: "upstream u { hash $remote_addr; server 127.0.0.1 backup; }", want: `balancing method does not support parameter "backup" in FILE:3`},
	{name: "backup_ip_hash", body: "upstream u { ip_hash; server 127.0.0.1 backup; }", want: `balancing method does not support parameter "backup" in FILE:3`},
	{name: "backup_random", body: "upstream u { random; server 127.0.0.1 backup; }", want: `balancing method does not support parameter "backup" in FILE:3`},
	{name: "only_backup", body: "upstream u { server 127.0.0.1 backup; }", want: `no servers in upstream "u" in FILE:3`},
	{name: "zone_no_size", body: "upstream u { zone z; server 127.0.0.1; }", want: `zero size shared memory zone "z"`},
	{name: "zone_small", body: "upstream u { zone z 1k; server 127.0.0.1; }", want: `zone "z" is too small in FILE:3`},
	{name: "weight_zero", body: "upstream u { server 127.0.0.1 weight=0; }", want: `invalid parameter "weight=0" in FILE:3`},
	{name: "fail_timeout_ms", body: "upstream u { server 127.0.0.1 fail_timeout=10ms; }", want: `invalid parameter "fail_timeout=10ms" in FILE:3`},
	{name: "resolve_no_zone", body: "upstream u { server localhost resolve; }", want: `resolving names at run time requires upstream "u" to be in shared memory in FILE:3`, diff: "resolve needs nginx 1.27.3"},
	{name: "queue_zero", body: "upstream u { server 127.0.0.1; queue 0; }", want: `invalid value "0" in "queue" directive in FILE:3`, diff: "queue is NGINX Plus"},
	{name: "queue_word", body: "upstream u { server 127.0.0.1; queue abc; }", want: `invalid value "abc" in "queue" directive in FILE:3`, diff: "queue is NGINX Plus"},
	{name: "queue_negative", body: "upstream u { server 127.0.0.1; queue -5; }", want: `invalid value "-5" in "queue" directive in FILE:3`, diff: "queue is NGINX Plus"},
	{name: "queue_timeout_empty", body: "upstream u { server 127.0.0.1; queue 10 timeout=; }", want: `invalid timeout "" in FILE:3`, diff: "queue is NGINX Plus"},
	{name: "queue_timeout_bad", body: "upstream u { server 127.0.0.1; queue 10 timeout=abc; }", want: `invalid timeout "abc" in FILE:3`, diff: "queue is NGINX Plus"},
	{name: "queue_param", body: "upstream u { server 127.0.0.1; queue 10 badparam=5s; }", want: `invalid parameter "badparam=5s" in FILE:3`, diff: "queue is NGINX Plus"},
	{name: "queue_args", body: "upstream u { server 127.0.0.1; queue 10 timeout=1s x; }", want: `invalid number of arguments in "queue" directive in FILE:3`, diff: "queue is NGINX Plus"},
	{name: "queue_duplicate", body: "upstream u { server 127.0.0.1; queue 10; queue 20; }", want: `"queue" directive is duplicate in FILE:3`, diff: "queue is NGINX Plus"},
	{name: "queue_location", body: "server { listen 127.0.0.1:18080; location / { queue 10; } }", want: `"queue" directive is not allowed here in FILE:3`, diff: "queue is NGINX Plus"},
	{name: "sticky_duplicate", body: "upstream u { server 127.0.0.1; sticky cookie a; sticky cookie b; }", want: `"sticky" directive is duplicate in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_args", body: "upstream u { server 127.0.0.1; sticky cookie; }", want: `invalid number of arguments in "sticky" directive in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_method", body: "upstream u { server 127.0.0.1; sticky hash x; }", want: `unknown parameter "hash" in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_learn_zone_used", body: "upstream u { server 127.0.0.1; sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=s:1m; } upstream v { server 127.0.0.1; sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=s:1m; }", want: `sticky zone "s" is already used in upstream "u" in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_learn_sync", body: "upstream u { server 127.0.0.1; sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=s:1m sync; }", want: `the "sync" parameter of the "sticky" directive is not supported by sluice in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_learn_param", body: "upstream u { server 127.0.0.1; sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=s:1m x; }", want: `unknown parameter "x" in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_learn_no_lookup", body: "upstream u { server 127.0.0.1; sticky learn create=$upstream_cookie_a zone=s:1m; }", want: `"sticky" directive "lookup" parameter is not specified in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_learn_no_create", body: "upstream u { server 127.0.0.1; sticky learn lookup=$cookie_a zone=s:1m; }", want: `"sticky" directive "create" parameter is not specified in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_learn_no_zone", body: "upstream u { server 127.0.0.1; sticky learn create=$upstream_cookie_a lookup=$cookie_a; }", want: `"sticky" directive "zone" parameter is not specified in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_learn_create_var", body: "upstream u { server 127.0.0.1; sticky learn create=a lookup=$cookie_a zone=s:1m; }", want: `"sticky" directive missing variable in the "create" parameter in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_learn_zone_size", body: "upstream u { server 127.0.0.1; sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=s; }", want: `"sticky" directive zone size is not specified in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_learn_zone_small", body: "upstream u { server 127.0.0.1; sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=s:16k; }", want: `"sticky" directive zone is too small in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_learn_zone_twice", body: "upstream u { server 127.0.0.1; sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=s:1m zone=t:1m; }", want: `"sticky" directive duplicate zone in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_learn_timeout", body: "upstream u { server 127.0.0.1; sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=s:1m timeout=0; }", want: `"sticky" directive invalid timeout in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_cookie_empty", body: "upstream u { server 127.0.0.1; sticky cookie \"\"; }", want: `"sticky" directive empty cookie name in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_cookie_param", body: "upstream u { server 127.0.0.1; sticky cookie a max-age=1; }", want: `unknown parameter "max-age=1" in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_cookie_expires", body: "upstream u { server 127.0.0.1; sticky cookie a expires=1x; }", want: `"sticky" directive invalid "expires" parameter value in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_cookie_expires_twice", body: "upstream u { server 127.0.0.1; sticky cookie a expires=1h expires=max; }", want: `"sticky" directive parameter "expires" is duplicate in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_cookie_domain_empty", body: "upstream u { server 127.0.0.1; sticky cookie a domain=; }", want: `"sticky" directive no value for "domain" in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_cookie_path_twice", body: "upstream u { server 127.0.0.1; sticky cookie a path=/ path=/x; }", want: `"sticky" directive parameter "path" is duplicate in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_cookie_httponly_twice", body: "upstream u { server 127.0.0.1; sticky cookie a httponly httponly; }", want: `"sticky" directive parameter "httponly" is duplicate in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_cookie_samesite", body: "upstream u { server 127.0.0.1; sticky cookie a samesite=loose; }", want: `"sticky" directive invalid "samesite" parameter value in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_route_var", body: "upstream u { server 127.0.0.1; sticky route route; }", want: `invalid variable name "route" in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "sticky_server", body: "server { listen 127.0.0.1:18080; sticky route $a; }", want: `"sticky" directive is not allowed here in FILE:3`, diff: "sticky is NGINX Plus"},
	{name: "server_route_empty", body: "upstream u { server 127.0.0.1 route=; }", want: `invalid parameter "route=" in FILE:3`},
	{name: "server_route_long", body: "upstream u { server 127.0.0.1 route=rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr; }", want: `invalid parameter "route=rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr" in FILE:3`},
	{name: "keepalive_zero", body: "upstream u { server 127.0.0.1; keepalive 0; }", want: `invalid value "0" in "keepalive" directive in FILE:3`},
	{name: "upstream_port", body: "upstream u { server 127.0.0.1:abc; }", want: `invalid port in upstream "127.0.0.1:abc" in FILE:3`},
	{name: "upstream_unix", body: "upstream u { server unix:; }", want: `no path in the unix domain socket in upstream "unix:" in FILE:3`},
	{name: "hash_param", body: "upstream u { hash $remote_addr foo; server 127.0.0.1; }", want: `invalid parameter "foo" in FILE:3`},
	{name: "duplicate_upstream", body: "upstream b { server 127.0.0.1; } upstream b { server 127.0.0.1; }", want: `duplicate upstream "b" in FILE:3`},
	{name: "proxy_pass_regex_uri", body: "server { listen 127.0.0.1:18080; location ~ /a { proxy_pass http://127.0.0.1/x; } }", want: `"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block in FILE:3`},
	{name: "proxy_pass_named_uri", body: "server { listen 127.0.0.1:18080; location @a { proxy_pass http://127.0.0.1/; } }", want: `"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block in FILE:3`},
	{name: "proxy_pass_prefix", body: "server { listen 127.0.0.1:18080; location /a { proxy_pass ftp://127.0.0.1/x; } }", want: `invalid URL prefix in FILE:3`},
	{name: "proxy_pass_upstream_port", body: "upstream b { server 127.0.0.1; } server { listen 127.0.0.1:18080; location /a { proxy_pass http://b:8080; } }", want: `upstream "b" may not have port 8080 in FILE:3`},
	{name: "proxy_pass_upstream_port_later", body: "server { listen 127.0.0.1:18080; location /a { proxy_pass http://b:8080; } }\nupstream b { server 127.0.0.1; }", want: `upstream "b" may not have port 8080 in FILE:3`},
	{name: "proxy_pass_bad_port", body: "server { listen 18092; location / { proxy_pass http://127.0.0.1:99999; } }", want: `invalid port in upstream "127.0.0.1:99999" in FILE:3`},
	{name: "proxy_pass_no_host", body: "server { listen 18092; location / { proxy_pass http://; } }", want: `no host in upstream "" in FILE:3`},
	{name: "proxy_pass_in_server", body: "server { listen 18092; proxy_pass http://127.0.0.1; }", want: `"proxy_pass" directive is not allowed here in FILE:3`},
	{name: "proxy_pass_duplicate", body: "server { listen 18092; location / { proxy_pass http://127.0.0.1; proxy_pass http://127.0.0.1; } }", want: `"proxy_pass" directive is duplicate in FILE:3`},
	{name: "duplicate_default", body: "server { listen 127.0.0.1:18080 default_server; }\nserver { listen 127.0.0.1:18080 default_server; }", want: `a duplicate default server for 127.0.0.1:18080 in FILE:4`},
	{name: "duplicate_listen", body: "server { listen 127.0.0.1:18080; listen 127.0.0.1:18080; }", want: `a duplicate listen 127.0.0.1:18080 in FILE:3`},
	{name: "duplicate_listen_options", body: "server { listen 127.0.0.1:18080 backlog=10; }\nserver { listen 127.0.0.1:18080 rcvbuf=10; }", want: `duplicate listen options for 127.0.0.1:18080 in FILE:4`},
	{name: "listen_parameter", body: "server { listen 127.0.0.1:18080 foo; }", want: `invalid parameter "foo" in FILE:3`},
	{name: "listen_port_zero", body: "server { listen 127.0.0.1:0; }", want: `invalid port in "127.0.0.1:0" of the "listen" directive in FILE:3`},
	{name: "listen_bad_v6", body: "server { listen [::1:18081; }", want: `invalid host in "[::1:18081" of the "listen" directive in FILE:3`},
	{name: "listen_spdy", body: "server { listen 18082 spdy; }", want: `invalid parameter "spdy" in FILE:3`},
	{name: "listen_backlog", body: "server { listen 18082 backlog=x; }", want: `invalid backlog "backlog=x" in FILE:3`, diff: ""},
	{name: "listen_fastopen", body: "server { listen 18082 fastopen=x; }", want: `invalid fastopen "fastopen=x" in FILE:3`, diff: ""},
	{name: "listen_fastopen_negative", body: "server { listen 18082 fastopen=-1; }", want: `invalid fastopen "fastopen=-1" in FILE:3`, diff: ""},
	{name: "server_name_star", body: "server { listen 18083; server_name *x; }", want: `server name "*x" is invalid in FILE:3`},
	{name: "server_name_dot", body: "server { listen 18083; server_name .; }", want: `server name "." is invalid in FILE:3`},
	{name: "server_name_regex", body: "server { listen 18083; server_name ~(a; }", want: `invalid regular expression "(a": missing closing ) at "(a" in FILE:3`, diff: "regular expressions are Go's (RE2); the message differs"},
	{name: "location_regex", body: "server { listen 18083; location ~ \"(?<=a b\" {} }", want: `invalid regular expression "(?<=a b": invalid named capture at "(?<=a b" in FILE:3`, diff: "RE2's words"},
	{name: "return_code", body: "server { listen 18084; return 1000; }", want: `invalid return code "1000" in FILE:3`},
	{name: "return_word", body: "server { listen 18084; return foo; }", want: `invalid return code "foo" in FILE:3`},
	{name: "return_url_text", body: "server { listen 18084; return http://x extra; }", want: `invalid return code "http://x" in FILE:3`},
	{name: "error_page_range", body: "server { listen 18085; error_page 200 /x; }", want: `value "200" must be between 300 and 599 in FILE:3`},
	{name: "error_page_overwrite", body: "server { listen 18085; error_page 404 =abc /x; }", want: `invalid value "=abc" in FILE:3`},
	{name: "error_page_args", body: "server { listen 18085; error_page 404; }", want: `invalid number of arguments in "error_page" directive in FILE:3`},
	{name: "error_page_code", body: "server { listen 18085; error_page 404 = /x; error_page x /y; }", want: `invalid value "x" in FILE:3`},
	{name: "log_format_combined", body: `log_format combined "$remote_addr";`, want: `duplicate "log_format" name "combined" in FILE:3`},
	{name: "log_format_escape", body: `log_format a escape=foo "$remote_addr";`, want: `unknown log format escaping "foo" in FILE:3`},
	{name: "log_format_duplicate", body: `log_format a "x"; log_format a "y";`, want: `duplicate "log_format" name "a" in FILE:3`},
	{name: "access_log_format", body: `access_log /tmp/a.log nosuch;`, want: `unknown log format "nosuch" in FILE:3`},
	{name: "access_log_off_args", body: `access_log off foo;`, want: `invalid parameter "foo" in FILE:3`},
	{name: "access_log_param", body: `access_log /tmp/a.log combined bad=1;`, want: `invalid parameter "bad=1" in FILE:3`},
	{name: "access_log_buffer", body: `access_log /tmp/a.log combined buffer=x;`, want: `invalid buffer size "x" in FILE:3`},
	{name: "access_log_flush", body: `access_log /tmp/a.log combined flush=1s;`, want: `no buffer is defined for access_log "/tmp/a.log" in FILE:3`},
	{name: "limit_conn_zone_size", body: `limit_conn_zone $binary_remote_addr zone=a;`, want: `invalid zone size "zone=a" in FILE:3`},
	{name: "limit_conn_zone_small", body: `limit_conn_zone $binary_remote_addr zone=a:1k;`, want: `zone "zone=a:1k" is too small in FILE:3`},
	{name: "limit_conn_zone_param", body: `limit_conn_zone $binary_remote_addr foo=a:1m;`, want: `invalid parameter "foo=a:1m" in FILE:3`},
	{name: "limit_conn_zone_bound", body: `limit_conn_zone $binary_remote_addr zone=a:1m; limit_conn_zone $remote_addr zone=a:1m;`, want: `limit_conn_zone "a" is already bound to key "$binary_remote_addr" in FILE:3`},
	{name: "limit_conn_zero", body: `limit_conn a 0;`, want: `invalid number of connections "0" in FILE:3`},
	{name: "limit_conn_no_zone", body: "limit_conn a 1;\nserver { listen 18086; }", want: `zero size shared memory zone "a"`},
	{name: "limit_conn_duplicate", body: `limit_conn_zone $binary_remote_addr zone=a:1m; limit_conn a 1; limit_conn a 2;`, want: `"limit_conn" directive is duplicate in FILE:3`},
	{name: "limit_conn_status", body: `limit_conn_status 300;`, want: `value must be between 400 and 599 in FILE:3`},
	{name: "limit_conn_log_level", body: `limit_conn_log_level foo;`, want: `invalid value "foo" in FILE:3`},
	{name: "limit_req_zone_rate", body: `limit_req_zone $binary_remote_addr zone=a:1m rate=x;`, want: `invalid rate "rate=x" in FILE:3`},
	{name: "limit_req_zone_args", body: `limit_req_zone $binary_remote_addr zone=a:1m;`, want: `invalid number of arguments in "limit_req_zone" directive in FILE:3`},
	{name: "limit_req_zone_hour", body: `limit_req_zone $binary_remote_addr zone=a:1m rate=10r/h;`, want: `invalid rate "rate=10r/h" in FILE:3`},
	{name: "limit_req_burst", body: `limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s; limit_req zone=a burst=x;`, want: `invalid burst value "burst=x" in FILE:3`},
	{name: "limit_req_duplicate", body: `limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s; limit_req zone=a; limit_req zone=a;`, want: `"limit_req" directive is duplicate in FILE:3`},
	{name: "limit_req_no_zone_param", body: `limit_req burst=1;`, want: `"limit_req" must have "zone" parameter in FILE:3`},
	{name: "limit_req_delay", body: `limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s; limit_req zone=a delay=x;`, want: `invalid delay value "delay=x" in FILE:3`},
	{name: "keepalive_timeout_header", body: `keepalive_timeout 10s x;`, want: `"keepalive_timeout" directive invalid value in FILE:3`},
	{name: "large_client_header_buffers", body: `large_client_header_buffers 0 8k;`, want: `"large_client_header_buffers" directive invalid value in FILE:3`},
	{name: "server_tokens", body: `server_tokens foo;`, want: `invalid value "foo" in FILE:3`},
	{name: "proxy_http_version", body: `proxy_http_version 2.0;`, want: `invalid value "2.0" in FILE:3`},
	{name: "proxy_next_upstream", body: `proxy_next_upstream foo;`, want: `invalid value "foo" in FILE:3`},
	{name: "proxy_buffers_zero", body: `proxy_buffers 0 4k;`, want: `"proxy_buffers" directive invalid value in FILE:3`},
	{name: "proxy_busy_buffers", body: "server { listen 18086; location / { proxy_buffers 2 4k; } }", want: `"proxy_busy_buffers_size" must be less than the size of all "proxy_buffers" minus one buffer in FILE:4`},
	{name: "proxy_buffer_size", body: `proxy_buffer_size x;`, want: `"proxy_buffer_size" directive invalid value in FILE:3`},
	{name: "proxy_redirect_default_http", body: `proxy_redirect default;`, want: `"proxy_redirect default" should be placed after the "proxy_pass" directive in FILE:3`},
	{name: "proxy_redirect_default_vars", body: "server { listen 18087; location / { proxy_pass http://127.0.0.1$uri; proxy_redirect default; } }", want: `"proxy_redirect default" cannot be used with "proxy_pass" directive with variables in FILE:3`},
	{name: "proxy_redirect_one", body: `proxy_redirect a;`, want: `invalid parameter "a" in FILE:3`},
	{name: "proxy_bind", body: `proxy_bind foo;`, want: `invalid address "foo" in FILE:3`},
	{name: "ssl_no_certificate", body: "server { listen 18090 ssl; }", want: `no "ssl_certificate" is defined for the "listen ... ssl" directive in FILE:3`},
	{name: "ssl_no_key", body: "server { listen 18090; ssl_certificate /nonexist.pem; }", want: `no "ssl_certificate_key" is defined for certificate "/nonexist.pem"`},
	{name: "ssl_protocols", body: `ssl_protocols TLSv1.4;`, want: `invalid value "TLSv1.4" in FILE:3`},
	{name: "ssl_session_cache", body: `ssl_session_cache foo;`, want: `invalid session cache "foo" in FILE:3`},
	{name: "ssl_session_cache_shared", body: `ssl_session_cache shared:x;`, want: `invalid session cache "shared:x" in FILE:3`},
	{name: "ssl_verify_client", body: `ssl_verify_client maybe;`, want: `invalid value "maybe" in FILE:3`},
	{name: "ssl_session_timeout", body: `ssl_session_timeout 10ms;`, want: `"ssl_session_timeout" directive invalid value in FILE:3`},
	{name: "try_files_args", body: "server { listen 18091; location / { try_files $uri; } }", want: `invalid number of arguments in "try_files" directive in FILE:3`},
	{name: "alias_duplicate", body: "server { listen 18091; location /a/ { alias /x/; alias /y/; } }", want: `"alias" directive is duplicate in FILE:3`},
	{name: "alias_then_root", body: "server { listen 18091; location /a/ { alias /x/; root /y; } }", want: `"root" directive is duplicate, "alias" directive was specified earlier in FILE:3`},
	{name: "root_then_alias", body: "server { listen 18091; location /a/ { root /y; alias /x/; } }", want: `"alias" directive is duplicate, "root" directive was specified earlier in FILE:3`},
	{name: "alias_named", body: "server { listen 18091; location @a { alias /x/; } }", want: `the "alias" directive cannot be used inside the named location in FILE:3`},
	{name: "root_document_root", body: "root $document_root/x;", want: `the $document_root variable cannot be used in the "root" directive in FILE:3`},
	{name: "alias_realpath_root", body: "server { listen 18091; location /a/ { alias $realpath_root/x; } }", want: `the $realpath_root variable cannot be used in the "alias" directive in FILE:3`},
	{name: "if_modified_since_value", body: "if_modified_since sometimes;", want: `invalid value "sometimes" in FILE:3`},
	{name: "max_ranges_value", body: "max_ranges x;", want: `"max_ranges" directive invalid number in FILE:3`},
	{name: "etag_value", body: "etag maybe;", want: `invalid value "maybe" in "etag" directive, it must be "on" or "off" in FILE:3`},
	{name: "default_type_args", body: "default_type a b;", want: `invalid number of arguments in "default_type" directive in FILE:3`},
	{name: "types_nested_block", body: "types { text/html { } }", want: `unexpected "{" in FILE:3`},
	{name: "autoindex_format_value", body: "autoindex_format yaml;", want: `invalid value "yaml" in FILE:3`},
	{name: "autoindex_value", body: "autoindex yes;", want: `invalid value "yes" in "autoindex" directive, it must be "on" or "off" in FILE:3`},
	{name: "autoindex_if", body: "server { listen 18091; location / { if ($args) { autoindex on; } } }", want: `"autoindex" directive is not allowed here in FILE:3`},
	{name: "try_files_code", body: "server { listen 18091; try_files $uri =abc; }", want: `invalid code "=abc" in FILE:3`},
	{name: "alias_in_server", body: "server { listen 18091; alias /x; }", want: `"alias" directive is not allowed here in FILE:3`},
	{name: "map_variable", body: `map $a b { }`, want: `invalid variable name "b" in FILE:3`},
	{name: "map_block", body: `map $a $b { x { } }`, want: `unexpected "{" in FILE:3`},
	{name: "add_header_param", body: `add_header X a foo;`, want: `invalid parameter "foo" in FILE:3`},
	{name: "proxy_set_header_args", body: `proxy_set_header X;`, want: `invalid number of arguments in "proxy_set_header" directive in FILE:3`},
	{name: "allow", body: `allow foo;`, want: `invalid parameter "foo" in FILE:3`},
	{name: "server_in_server", body: "server { listen 18093; server { } }", want: `"server" directive is not allowed here in FILE:3`},
	{name: "rewrite_flag", body: "server { listen 127.0.0.1:18080; rewrite ^ /x lost; }", want: `invalid parameter "lost" in FILE:3`},
	{name: "rewrite_args", body: "server { listen 127.0.0.1:18080; rewrite ^; }", want: `invalid number of arguments in "rewrite" directive in FILE:3`},
	{name: "rewrite_empty", body: "server { listen 127.0.0.1:18080; rewrite ^ \"\"; }", want: `empty replacement in FILE:3`},
	{name: "rewrite_in_http", body: "rewrite ^ /x;", want: `"rewrite" directive is not allowed here in FILE:3`},
	{name: "rewrite_regex", body: "server { listen 127.0.0.1:18080; rewrite ( /x; }", want: `invalid regular expression "(": missing closing ) at "(" in FILE:3`, diff: "regular expressions are Go's (RE2); the message differs"},
	{name: "set_name", body: "server { listen 127.0.0.1:18080; set a 1; }", want: `invalid variable name "a" in FILE:3`},
	{name: "set_args", body: "server { listen 127.0.0.1:18080; set $a; }", want: `invalid number of arguments in "set" directive in FILE:3`},
	{name: "break_args", body: "server { listen 127.0.0.1:18080; break 1; }", want: `invalid number of arguments in "break" directive in FILE:3`},
	{name: "if_no_paren", body: "server { listen 127.0.0.1:18080; if $a { } }", want: `invalid condition "$a" in FILE:3`},
	{name: "if_no_close", body: "server { listen 127.0.0.1:18080; if ($a { } }", want: `invalid condition "$a" in FILE:3`},
	{name: "if_operator", body: "server { listen 127.0.0.1:18080; if ($a == b) { } }", want: `unexpected "==" in condition in FILE:3`},
	{name: "if_args", body: "server { listen 127.0.0.1:18080; if ($a = b c) { } }", want: `invalid condition "$a" in FILE:3`},
	{name: "if_file_op", body: "server { listen 127.0.0.1:18080; if (-q /x) { } }", want: `invalid condition "-q" in FILE:3`},
	{name: "if_file_args", body: "server { listen 127.0.0.1:18080; if (-f) { } }", want: `invalid condition "-f" in FILE:3`},
	{name: "if_word", body: "server { listen 127.0.0.1:18080; if (abc) { } }", want: `invalid condition "abc" in FILE:3`},
	{name: "if_empty", body: "server { listen 127.0.0.1:18080; if () { } }", want: `invalid condition ")" in FILE:3`},
	{name: "if_empty_spaced", body: "server { listen 127.0.0.1:18080; if ( ) { } }", want: `invalid condition ")" in FILE:3`},
	{name: "if_nested", body: "server { listen 127.0.0.1:18080; location / { if ($a) { if ($b) { } } } }", want: `"if" directive is not allowed here in FILE:3`},
	{name: "if_in_http", body: "if ($a) { }", want: `"if" directive is not allowed here in FILE:3`},
	{name: "if_no_block", body: "server { listen 127.0.0.1:18080; if ($a); }", want: `directive "if" has no opening "{" in FILE:3`},
	{name: "if_regex", body: "server { listen 127.0.0.1:18080; if ($uri ~ \"(\") { } }", want: `invalid regular expression "(": missing closing ) at "(" in FILE:3`, diff: "regular expressions are Go's (RE2); the message differs"},
	{name: "if_server_proxy_pass", body: "server { listen 127.0.0.1:18080; if ($a) { proxy_pass http://127.0.0.1; } }", want: `"proxy_pass" directive is not allowed here in FILE:3`},
	{name: "if_location_proxy_set_header", body: "server { listen 127.0.0.1:18080; location / { if ($a) { proxy_set_header X 1; } } }", want: `"proxy_set_header" directive is not allowed here in FILE:3`},
	{name: "if_location_proxy_pass_uri", body: "server { listen 127.0.0.1:18080; location / { if ($host) { proxy_pass http://127.0.0.1/x; } } }", want: `"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block in FILE:3`},
	{name: "if_location_proxy_pass_duplicate", body: "server { listen 127.0.0.1:18080; location / { if ($host) { proxy_pass http://127.0.0.1; proxy_pass http://127.0.0.2; } } }", want: `"proxy_pass" directive is duplicate in FILE:3`},
	{name: "if_location_grpc_pass_duplicate", body: "server { listen 127.0.0.1:18080; location / { if ($host) { grpc_pass grpc://127.0.0.1:50051; grpc_pass grpc://127.0.0.1:50052; } } }", want: `"grpc_pass" directive is duplicate in FILE:3`},
	{name: "if_location_keepalive_timeout", body: "server { listen 127.0.0.1:18080; location / { if ($host) { keepalive_timeout 5; } } }", want: `"keepalive_timeout" directive is not allowed here in FILE:3`},
	{name: "if_location_location", body: "server { listen 127.0.0.1:18080; location / { if ($host) { location /a { } } } }", want: `"location" directive is not allowed here in FILE:3`},
	{name: "if_server_add_header", body: "server { listen 127.0.0.1:18080; if ($host) { add_header X 1; } }", want: `"add_header" directive is not allowed here in FILE:3`},
	{name: "rewrite_log_value", body: "rewrite_log maybe;", want: `invalid value "maybe" in "rewrite_log" directive, it must be "on" or "off" in FILE:3`},
	{name: "mirror_off_then_uri", body: "server { listen 127.0.0.1:18080; location / { mirror off; mirror /a; } }", want: `"mirror" directive is duplicate in FILE:3`},
	{name: "mirror_uri_then_off", body: "server { listen 127.0.0.1:18080; location / { mirror /a; mirror off; } }", want: `"mirror" directive is duplicate in FILE:3`},
	{name: "mirror_in_if", body: "server { listen 127.0.0.1:18080; location / { if ($a) { mirror /x; } } }", want: `"mirror" directive is not allowed here in FILE:3`},
	{name: "mirror_request_body_value", body: "mirror_request_body maybe;", want: `invalid value "maybe" in "mirror_request_body" directive, it must be "on" or "off" in FILE:3`},
	{name: "auth_request_duplicate", body: "auth_request /a; auth_request off;", want: `"auth_request" directive is duplicate in FILE:3`},
	{name: "auth_request_limit_except", body: "server { listen 127.0.0.1:18080; location / { limit_except GET { auth_request /x; } } }", want: `"auth_request" directive is not allowed here in FILE:3`},
	{name: "auth_request_server_if", body: "server { listen 127.0.0.1:18080; if ($a) { auth_request /x; } }", want: `"auth_request" directive is not allowed here in FILE:3`},
	{name: "auth_request_args", body: "auth_request /a /b;", want: `invalid number of arguments in "auth_request" directive in FILE:3`},
	{name: "auth_request_set_name", body: "server { listen 127.0.0.1:18080; location / { auth_request_set x y; } }", want: `invalid variable name "x" in FILE:3`},
	{name: "auth_request_set_args", body: "auth_request_set $x;", want: `invalid number of arguments in "auth_request_set" directive in FILE:3`},
	{name: "internal_server", body: "server { listen 127.0.0.1:18080; internal; }", want: `"internal" directive is not allowed here in FILE:3`},
	{name: "internal_duplicate", body: "server { listen 127.0.0.1:18080; location / { internal; internal; } }", want: `"internal" directive is duplicate in FILE:3`},
	{name: "internal_args", body: "server { listen 127.0.0.1:18080; location / { internal x; } }", want: `invalid number of arguments in "internal" directive in FILE:3`},
	{name: "uninitialized_variable_warn_value", body: "uninitialized_variable_warn maybe;", want: `invalid value "maybe" in "uninitialized_variable_warn" directive, it must be "on" or "off" in FILE:3`},
	{name: "ssl_dhparam_location", body: "server { listen 127.0.0.1:18080; location / { ssl_dhparam /x; } }", want: `"ssl_dhparam" directive is not allowed here in FILE:3`},
	{name: "ssl_dhparam_duplicate", body: "ssl_dhparam /x; ssl_dhparam /y;", want: `"ssl_dhparam" directive is duplicate in FILE:3`},
	{name: "ssl_dhparam_args", body: "ssl_dhparam /x /y;", want: `invalid number of arguments in "ssl_dhparam" directive in FILE:3`},
	{name: "ssl_ecdh_curve_unknown", body: "server { listen 127.0.0.1:18443 ssl; ssl_reject_handshake on; ssl_ecdh_curve X25519:foo; }", want: `SSL_CTX_set1_curves_list("X25519:foo") failed (SSL: error:0A080106:SSL routines::passed invalid argument:group 'foo' cannot be set)`},
	{name: "ssl_ecdh_curve_case", body: "ssl_ecdh_curve SECP384R1; server { listen 127.0.0.1:18443 ssl; ssl_reject_handshake on; }", want: `SSL_CTX_set1_curves_list("SECP384R1") failed (SSL: error:0A080106:SSL routines::passed invalid argument:group 'SECP384R1' cannot be set)`},
	{name: "ssl_ecdh_curve_auto_in_list", body: "server { listen 127.0.0.1:18443 ssl; ssl_reject_handshake on; ssl_ecdh_curve auto:X25519; }", want: `SSL_CTX_set1_curves_list("auto:X25519") failed (SSL: error:0A080106:SSL routines::passed invalid argument:group 'auto' cannot be set)`},
	{name: "ssl_ecdh_curve_repeat", body: "server { listen 127.0.0.1:18443 ssl; ssl_reject_handshake on; ssl_ecdh_curve P-256:prime256v1; }", want: `SSL_CTX_set1_curves_list("P-256:prime256v1") failed`},
	{name: "ssl_ecdh_curve_empty_name", body: "server { listen 127.0.0.1:18443 ssl; ssl_reject_handshake on; ssl_ecdh_curve X25519:; }", want: `SSL_CTX_set1_curves_list("X25519:") failed`},
	{name: "ssl_ecdh_curve_unsupported_only", body: "server { listen 127.0.0.1:18443 ssl; ssl_reject_handshake on; ssl_ecdh_curve X448:brainpoolP256r1; }",
		want: `SSL_CTX_set1_curves_list("X448:brainpoolP256r1") failed (sluice supports only the curves X25519, prime256v1, secp384r1 and secp521r1)`, diff: "Go's TLS stack has none of the curves listed"},
	{name: "ssl_ecdh_curve_empty", body: `ssl_ecdh_curve "";`, want: `SSL_CTX_set1_curves_list("") failed in FILE:3`, diff: "an empty curve list is refused where it is written, also in an http block without TLS servers"},
	{name: "ssl_ecdh_curve_args", body: "ssl_ecdh_curve X25519 X448;", want: `invalid number of arguments in "ssl_ecdh_curve" directive in FILE:3`},
	{name: "ssl_on_no_certificate", body: "server { listen 127.0.0.1:18080; ssl on; }", want: `no "ssl_certificate" is defined for the "ssl" directive in FILE:3`},
	{name: "ssl_on_http_no_certificate", body: "ssl on;\nserver { listen 127.0.0.1:18080; }", want: `no "ssl_certificate" is defined for the "ssl" directive in FILE:3`},
	{name: "ssl_on_non_default", body: "server { listen 127.0.0.1:18080; }\nserver { listen 127.0.0.1:18080; server_name x; ssl on; }", want: `no "ssl_certificate" is defined for the "ssl" directive in FILE:4`},
	{name: "ssl_on_no_key", body: "server { listen 127.0.0.1:18080; ssl_certificate /x.pem;\nssl on; }", want: `no "ssl_certificate_key" is defined for the "ssl" directive in FILE:4`},
	{name: "ssl_on_missing_key", body: "ssl_certificate /x.pem; ssl_certificate_key /x.key; ssl on; server { listen 127.0.0.1:18080; ssl_certificate /y.pem; ssl_certificate /z.pem; ssl_certificate_key /y.key; }", want: `no "ssl_certificate_key" is defined for certificate "/z.pem" and the "ssl" directive in FILE:3`},
	{name: "ssl_value", body: "server { listen 127.0.0.1:18080; ssl maybe; }", want: `invalid value "maybe" in "ssl" directive, it must be "on" or "off" in FILE:3`},
	{name: "ssl_location", body: "server { listen 127.0.0.1:18080; location / { ssl on; } }", want: `"ssl" directive is not allowed here in FILE:3`},
	{name: "ssl_duplicate", body: "server { listen 127.0.0.1:18080; ssl on; ssl off; }", want: `"ssl" directive is duplicate in FILE:3`},
	{name: "proxy_store_on", body: "proxy_store on;", want: `"proxy_store" directive is not supported by sluice in FILE:3`, diff: "sluice does not save responses to files"},
	{name: "proxy_store_path", body: "server { listen 127.0.0.1:18080; location / { proxy_store /data$uri; } }", want: `"proxy_store" directive is not supported by sluice in FILE:3`, diff: "sluice does not save responses to files"},
	{name: "proxy_store_duplicate", body: "proxy_store off; proxy_store off;", want: `"proxy_store" directive is duplicate in FILE:3`},
	{name: "proxy_store_if", body: "server { listen 127.0.0.1:18080; location / { if ($a) { proxy_store off; } } }", want: `"proxy_store" directive is not allowed here in FILE:3`},
	{name: "health_check_match_unknown", body: `upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 127.0.0.1:18080; location / { proxy_pass http://u; health_check match=nope; } }`, want: `match "nope" not found in FILE:3`, diff: "NGINX Plus directive"},
	{name: "health_check_interval", body: `upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 127.0.0.1:18080; location / { proxy_pass http://u; health_check interval=x; } }`, want: `invalid parameter "interval=x" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "health_check_interval_zero", body: `upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 127.0.0.1:18080; location / { proxy_pass http://u; health_check interval=0; } }`, want: `invalid parameter "interval=0" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "health_check_fails", body: `upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 127.0.0.1:18080; location / { proxy_pass http://u; health_check fails=0; } }`, want: `invalid parameter "fails=0" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "health_check_passes", body: `upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 127.0.0.1:18080; location / { proxy_pass http://u; health_check passes=x; } }`, want: `invalid parameter "passes=x" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "health_check_port", body: `upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 127.0.0.1:18080; location / { proxy_pass http://u; health_check port=65536; } }`, want: `invalid parameter "port=65536" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "health_check_uri", body: `upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 127.0.0.1:18080; location / { proxy_pass http://u; health_check uri=; } }`, want: `invalid parameter "uri=" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "health_check_param", body: `upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 127.0.0.1:18080; location / { proxy_pass http://u; health_check always; } }`, want: `invalid parameter "always" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "health_check_persistent", body: `upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 127.0.0.1:18080; location / { proxy_pass http://u; health_check persistent; } }`, want: `"persistent" requires "mandatory" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "health_check_grpc", body: `upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 127.0.0.1:18080; location / { proxy_pass http://u; health_check type=grpc; } }`, want: `the "type" parameter of the "health_check" directive is not supported by sluice in FILE:3`, diff: "NGINX Plus directive"},
	{name: "health_check_implicit", body: `server { listen 127.0.0.1:18080; location / { proxy_pass http://127.0.0.1:1; health_check; } }`, want: `"health_check" requires "proxy_pass" to an upstream group, not to "127.0.0.1:1" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "health_check_no_pass", body: `server { listen 127.0.0.1:18080; location / { health_check; } }`, want: `"health_check" requires "proxy_pass" to an upstream group in FILE:3`, diff: "NGINX Plus directive"},
	{name: "health_check_vars", body: `server { listen 127.0.0.1:18080; location / { proxy_pass http://$host; health_check; } }`, want: `"health_check" requires "proxy_pass" to an upstream group in FILE:3`, diff: "NGINX Plus directive"},
	{name: "health_check_no_zone", body: `upstream u { server 127.0.0.1:1; } server { listen 127.0.0.1:18080; location / { proxy_pass http://u; health_check; } }`, want: `health checks require upstream "u" to be in shared memory in FILE:3`, diff: "NGINX Plus directive"},
	{name: "health_check_server", body: `server { listen 127.0.0.1:18080; health_check; }`, want: `"health_check" directive is not allowed here in FILE:3`, diff: "NGINX Plus directive"},
	{name: "match_status", body: `match m { status 99; }`, want: `invalid status "99" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "match_status_range", body: `match m { status 400-300; }`, want: `invalid status "400-300" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "match_status_empty", body: `match m { status !; }`, want: `invalid number of arguments in "status" directive in FILE:3`, diff: "NGINX Plus directive"},
	{name: "match_header_op", body: `match m { header X ^ y; }`, want: `invalid parameter "^" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "match_header_args", body: `match m { header X = y z; }`, want: `invalid number of arguments in "header" directive in FILE:3`, diff: "NGINX Plus directive"},
	{name: "match_header_regex", body: `match m { header X ~ "("; }`, want: `invalid regular expression "(": missing closing ) at "(" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "match_body_op", body: `match m { body = x; }`, want: `invalid parameter "=" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "match_body_regex", body: `match m { body !~ "("; }`, want: `invalid regular expression "(": missing closing ) at "(" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "match_require", body: `match m { require $x; }`, want: `"require" in "match" is not supported by sluice in FILE:3`, diff: "NGINX Plus directive"},
	{name: "match_unknown", body: `match m { send x; }`, want: `unknown directive "send" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "match_duplicate", body: `match m { status 200; } match m { status 204; }`, want: `duplicate match "m" in FILE:3`, diff: "NGINX Plus directive"},
	{name: "match_server", body: `server { listen 127.0.0.1:18080; match m { } }`, want: `"match" directive is not allowed here in FILE:3`, diff: "NGINX Plus directive"},
}

func TestHTTPErrors(t *testing.T) { checkErrors(t, httpErrorCases) }

// checkErrors checks that sluice refuses every case with its want
// message.
func checkErrors(t *testing.T, cases []errorCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, got := loadHTTP(t, tc.body); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestHTTPErrorsNginx checks the expected messages of httpErrorCases
// against nginx itself, so the table cannot drift from nginx.
func TestHTTPErrorsNginx(t *testing.T) { checkErrorsNginx(t, httpErrorCases) }

// errorCase is an http {} body nginx refuses: sluice must refuse it with
// want, nginx's message ("FILE" standing for the file), unless diff names a
// deliberate difference.
type errorCase struct {
	name, body, want, diff string
}

// checkErrorsNginx checks that nginx refuses every case with its want
// message, or differs where the case says so.
func checkErrorsNginx(t *testing.T, cases []errorCase) {
	testutil.NeedNginx(t)
	prefix := t.TempDir()
	if err := os.Mkdir(filepath.Join(prefix, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "t.conf")
			if err := os.WriteFile(file, []byte("events {}\nhttp {\n"+tc.body+"\n}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ok, msg := runNginx(t, file, prefix, "")
			msg = strings.ReplaceAll(msg, file, "FILE")
			if tc.diff != "" {
				if !ok && msg == tc.want {
					t.Errorf("listed as a difference (%s) but nginx says the same: %q", tc.diff, msg)
				}
				return
			}
			if ok || msg != tc.want {
				t.Errorf("nginx: ok=%v %q\nwant %q", ok, msg, tc.want)
			}
		})
	}
}

// httpAccepted are http {} bodies nginx accepts; sluice must too.
var httpAccepted = []acceptedCase{
	{"nested_regex_in_regex", "server { listen 127.0.0.1:18080; location ~ ^/a { location ^/a/b {} location ~ c {} } }"},
	{"duplicate_named", "server { listen 127.0.0.1:18080; location @a { return 200; }\nlocation @a { return 201; } }"},
	{"exact_and_prefix", "server { listen 127.0.0.1:18080; location = /a {} location /a {} }"},
	{"backup_before_ip_hash", "upstream u { server 127.0.0.1 backup; server 127.0.0.2; ip_hash; }"},
	{"backup_before_random", "upstream u { server 127.0.0.1 backup; server 127.0.0.2; random; }"},
	{"upstream_case", "upstream Back { server 127.0.0.1; } server { listen 127.0.0.1:18080; location /a { proxy_pass http://back; } }"},
	{"keepalive_all", "upstream u { server 127.0.0.1; keepalive 2; keepalive_requests 0; keepalive_time 1h; keepalive_timeout 60s; }"},
	{"ip_hash_params", "upstream u { ip_hash; server 127.0.0.1 weight=2 max_conns=3 max_fails=0 fail_timeout=5 down; }"},
	{"random_two", "upstream u { random two least_conn; server 127.0.0.1; }"},
	{"hash_consistent", "upstream u { hash $remote_addr consistent; server 127.0.0.1; }"},
	{"proxy_pass_unix", "server { listen 18092; location / { proxy_pass http://unix:/tmp/x.sock:/foo; } }"},
	{"proxy_pass_unix_regex", "server { listen 18092; location ~ / { proxy_pass http://unix:/tmp/x.sock; } }"},
	{"proxy_pass_vars_regex", "server { listen 18092; location ~ ^/(.*)$ { proxy_pass http://127.0.0.1/$1; } }"},
	{"server_names", `server { listen 18083; server_name "" _ example.com *.example.com .example.org www.example.* ~^(?<sub>\w+)\.example\.net$; }`},
	{"listen_forms", "server { listen 127.0.0.1:18094; listen 18095; listen [::1]:18096; listen [::]:18097 ipv6only=off; listen unix:/tmp/sluice-test.sock; listen 18098 default_server reuseport backlog=100 rcvbuf=64k sndbuf=64k so_keepalive=30s:10s:3 proxy_protocol http2; }"},
	{"return_forms", "server { listen 18084; location /a { return 200 \"ok\"; } location /b { return 301 https://$host$request_uri; } location /c { return $scheme://x; } location /d { return 204; } }"},
	{"rewrite_module", `server { listen 18087; rewrite_log on; uninitialized_variable_warn off; rewrite ^/a/(.*)$ /b/$1 last; set $x 1; if ($x) { set $y 2; break; rewrite_log off; } if ($http_a ~* "^(?<v>\\d+)$") { return 301 /v/$v; }
		location / { rewrite ^ /x? break; rewrite "^/(?P<n>[a-z]{2,3})$" http://example.com/$n permanent; if (!-e /nonexistent) { add_header X-A 1 always; proxy_pass http://127.0.0.1:1; access_log off; error_page 502 =200 /ok; gzip on; root /tmp; rewrite_log on; set $z 3; }
		if ($request_method = OPTIONS) { add_header Access-Control-Allow-Origin *; return 204; } if ( $uri != "/x" ) { return 403; } if ($args) { } } }`},
	{"if_grpc_pass", "server { listen 18088 http2; location / { if ($http_x_alt) { grpc_pass grpc://127.0.0.1:50051; } grpc_pass grpc://127.0.0.1:50052; } }"},
	{"error_pages", "server { listen 18085; error_page 404 = /x; error_page 500 502 503 504 =200 @fallback; location @fallback { return 200; } }"},
	{"proxy_next_upstream_off", "proxy_next_upstream off error;"},
	{"real_ip", "set_real_ip_from 10.0.0.0/8; set_real_ip_from unix:; real_ip_header X-Forwarded-For; real_ip_recursive on;"},
	{"limits", "limit_conn_zone $binary_remote_addr zone=c:1m; limit_req_zone $binary_remote_addr zone=r:1m rate=30r/m; server { listen 18086; limit_conn c 10; limit_req zone=r burst=5 nodelay; limit_conn_status 429; limit_req_status 429; }"},
	{"ssl_settings", "ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers HIGH; ssl_prefer_server_ciphers on; ssl_session_cache builtin:1000 shared:SSL:10m; ssl_session_timeout 10m; ssl_session_tickets off; ssl_verify_client optional; ssl_verify_depth 2;"},
	{"stub_status", "server { listen 18093; location /s { stub_status; } location /t { stub_status on; } }"},
	{"variables_blocks", "map $http_upgrade $connection_upgrade { default upgrade; '' close; } geo $geo { default 0; 127.0.0.1 1; } split_clients \"${remote_addr}\" $variant { 50% a; * b; }"},
	{"charset_expires", "charset utf-8; charset_types text/css *; override_charset on; source_charset UTF-8; expires @24h; server { listen 18087; charset $arg_cs; expires modified -1y; location / { expires 1h30m; } location /e { expires epoch; } location /m { expires max; } location /o { expires off; charset off; } location /v { expires $arg_e; } }"},
	{"charset_expires_if", "server { listen 18088; location / { if ($arg_x) { expires 1h; charset utf-8; override_charset on; source_charset utf-8; } } }"},
	{"lingering", "lingering_close always; lingering_time 10s; server { listen 18089; lingering_timeout 1s; location / { lingering_close off; } }"},
	{"auth_access", `satisfy any; auth_basic "Restricted \"x\""; auth_basic_user_file htpasswd; server { listen 18090; auth_basic off; auth_basic_user_file /etc/$host.htpasswd; satisfy all;
		location / { auth_basic $arg_realm; allow 10.0.0.0/8; deny all; limit_except get post { allow 127.0.0.1; deny all; auth_basic le; auth_basic_user_file "";} }
		location @n { limit_except PUT DELETE MKCOL COPY MOVE OPTIONS PROPFIND PROPPATCH LOCK UNLOCK PATCH HEAD { } } location ~ /r { limit_except GET { auth_basic off; } } }`},
	{"ssl_dhparam_no_tls", "ssl_dhparam /nonexistent/dh.pem; server { listen 127.0.0.1:18080; ssl_dhparam relative/none.pem; }"},
	{"ssl_ecdh_curve_no_tls", "ssl_ecdh_curve foo; server { listen 127.0.0.1:18080; }"},
	{"ssl_ecdh_curve_lists", "ssl_ecdh_curve auto; server { listen 127.0.0.1:18443 ssl; ssl_reject_handshake on; ssl_ecdh_curve ' X25519:prime256v1:secp384r1:P-521:X448'; } server { listen 127.0.0.1:18444 ssl; ssl_reject_handshake on; ssl_ecdh_curve x25519; }"},
	{"ssl_off", "ssl off; server { listen 127.0.0.1:18080; ssl off; }"},
	{"ssl_on_reject", "server { listen 127.0.0.1:18080; ssl on; ssl_reject_handshake on; }"},
	{"proxy_store_off", "proxy_store off; server { listen 127.0.0.1:18080; proxy_store off; location / { proxy_store off; proxy_pass http://127.0.0.1:1; } }"},
	{"client_side", "keepalive_timeout 65 60; keepalive_requests 100; keepalive_time 30m; client_max_body_size 2g; client_header_buffer_size 2k; large_client_header_buffers 8 16k; client_header_timeout 10s; client_body_timeout 10s; client_body_buffer_size 32k; send_timeout 5s; server_tokens build; underscores_in_headers on; ignore_invalid_headers off; tcp_nodelay off;"},
}

func TestHTTPAccepted(t *testing.T) { checkAccepted(t, httpAccepted) }

// acceptedCase is an http {} body that nginx and sluice both accept.
type acceptedCase struct{ name, body string }

// checkAccepted checks that sluice accepts every case, and nginx too when
// it is installed.
func checkAccepted(t *testing.T, cases []acceptedCase) {
	nginx := true
	if _, err := os.Stat(testutil.NginxPath); err != nil {
		nginx = false
	}
	prefix := t.TempDir()
	if err := os.Mkdir(filepath.Join(prefix, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, msg := loadHTTP(t, tc.body); msg != "" {
				t.Errorf("sluice refused: %s", msg)
			}
			if nginx {
				file := filepath.Join(t.TempDir(), "t.conf")
				if err := os.WriteFile(file, []byte("events {}\nhttp {\n"+tc.body+"\n}\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				if ok, msg := runNginx(t, file, prefix, ""); !ok {
					t.Errorf("nginx refused: %s", msg)
				}
			}
		})
	}
}

func TestHTTPInheritance(t *testing.T) {
	cfg, msg := loadHTTP(t, `
proxy_set_header X-A a;
proxy_set_header X-B b;
add_header X-Upstream $upstream_addr always;
proxy_read_timeout 30s;
access_log off;
proxy_cookie_domain a b;
proxy_cookie_path /a /b;
server {
	listen 127.0.0.1:18080;
	proxy_connect_timeout 5s;
	proxy_socket_keepalive on;
	proxy_ignore_client_abort on;
	chunked_transfer_encoding off;
	location / {
		proxy_set_header Host $host;
		proxy_cookie_path /c /d;
		proxy_cookie_path ~*^/e /f;
		location /n/ {
			proxy_read_timeout 1s;
			access_log /tmp/x.log;
			proxy_cookie_domain off;
			proxy_cookie_flags ~. secure $x;
		}
	}
	location /other {
		add_header X-Other 1;
	}
}
server { listen 127.0.0.1:18081; }
`)
	if msg != "" {
		t.Fatal(msg)
	}
	h := cfg.HTTP
	s0, s1 := h.Servers[0], h.Servers[1]
	root, nested, other := s0.Locations[0], s0.Locations[0].Locations[0], s0.Locations[1]
	hdr := func(list ...string) []HTTPHeader {
		var out []HTTPHeader
		for i := 0; i < len(list); i += 2 {
			out = append(out, HTTPHeader{Name: list[i], Value: list[i+1]})
		}
		return out
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"http headers reach the server", s0.Settings.ProxySetHeaders, hdr("X-A", "a", "X-B", "b", "Host", "$proxy_host", "Connection", "close")},
		{"a level that sets a header replaces the list", root.Settings.ProxySetHeaders, hdr("Host", "$host", "Connection", "close")},
		{"nested location inherits the replaced list", nested.Settings.ProxySetHeaders, hdr("Host", "$host", "Connection", "close")},
		{"sibling keeps the http list", other.Settings.ProxySetHeaders, hdr("X-A", "a", "X-B", "b", "Host", "$proxy_host", "Connection", "close")},
		{"add_header after the server applies to it", root.Settings.AddHeaders, []HTTPHeader{{Name: "X-Upstream", Value: "$upstream_addr", Always: true}}},
		{"add_header at a level replaces", other.Settings.AddHeaders, []HTTPHeader{{Name: "X-Other", Value: "1"}}},
		{"timeout from http", root.Settings.ProxyReadTimeout, 30 * time.Second},
		{"timeout from nested", nested.Settings.ProxyReadTimeout, time.Second},
		{"timeout from server", nested.Settings.ProxyConnectTimeout, 5 * time.Second},
		{"default timeout", s1.Settings.ProxyConnectTimeout, 60 * time.Second},
		{"proxy_socket_keepalive from server", nested.Settings.ProxySocketKeepalive, true},
		{"proxy_socket_keepalive off by default", s1.Settings.ProxySocketKeepalive, false},
		{"proxy_ignore_client_abort from server", nested.Settings.ProxyIgnoreClientAbort, true},
		{"proxy_ignore_client_abort off by default", s1.Settings.ProxyIgnoreClientAbort, false},
		{"chunked_transfer_encoding from server", nested.Settings.ChunkedTransferEncoding, false},
		{"chunked_transfer_encoding on by default", s1.Settings.ChunkedTransferEncoding, true},
		{"proxy_cookie_domain from http", root.Settings.ProxyCookieDomain, []HTTPCookieRewrite{{From: "a", To: "b"}}},
		{"proxy_cookie_domain off", nested.Settings.ProxyCookieDomain, []HTTPCookieRewrite{{Off: true}}},
		{"proxy_cookie_path at a level replaces the list", root.Settings.ProxyCookiePath, []HTTPCookieRewrite{{From: "/c", To: "/d"}, {From: "~*^/e", To: "/f"}}},
		{"proxy_cookie_path inherited", nested.Settings.ProxyCookiePath, []HTTPCookieRewrite{{From: "/c", To: "/d"}, {From: "~*^/e", To: "/f"}}},
		{"sibling keeps the http cookie paths", other.Settings.ProxyCookiePath, []HTTPCookieRewrite{{From: "/a", To: "/b"}}},
		{"proxy_cookie_flags", nested.Settings.ProxyCookieFlags, []HTTPCookieFlags{{Cookie: "~.", Flags: []string{"secure", "$x"}}}},
		{"no proxy_cookie_flags by default", s1.Settings.ProxyCookieFlags, []HTTPCookieFlags(nil)},
		{"access_log off inherited", root.Settings.AccessLogOff, true},
		{"access_log at a level replaces off", nested.Settings.AccessLogOff, false},
		{"default keepalive_timeout", s1.Settings.KeepaliveTimeout, 75 * time.Second},
		{"default proxy_http_version", s1.Settings.ProxyHTTPVersion, "1.0"},
		{"default busy buffers", s1.Settings.ProxyBusyBuffersSize, int64(8 << 10)},
		{"default next upstream", s1.Settings.ProxyNextUpstream, []string{"error", "timeout"}},
		{"implicit server name", s1.Names, []HTTPServerName{{Name: ""}}},
		{"header timeout default", s1.ClientHeaderTimeout, 60 * time.Second},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if n := len(nested.Settings.AccessLogs); n != 1 || nested.Settings.AccessLogs[0].Path != "/tmp/x.log" || nested.Settings.AccessLogs[0].Format != "combined" {
		t.Errorf("nested access log: %+v", nested.Settings.AccessLogs)
	}
}

func TestHTTPDefaultListen(t *testing.T) {
	cfg, msg := loadHTTP(t, "server { server_name a; }")
	if msg != "" {
		t.Fatal(msg)
	}
	got := cfg.HTTP.Servers[0].Listens
	if len(got) != 1 || got[0].Address != "0.0.0.0:80" || !got[0].Implicit {
		t.Errorf("listens = %+v, want the implicit *:80", got)
	}
}

func TestHTTPProxyPass(t *testing.T) {
	restore := LookupHost
	t.Cleanup(func() { LookupHost = restore })
	LookupHost = func(host string) ([]string, error) {
		switch host {
		case "api.internal":
			return []string{"10.0.0.1", "10.0.0.2", "::ffff:10.0.0.3"}, nil
		case "localhost":
			return []string{"127.0.0.1"}, nil
		}
		return nil, errors.New("no such host")
	}
	cfg, msg := loadHTTP(t, `
upstream backend { least_conn; server api.internal:8001 weight=3 max_fails=2 fail_timeout=30s; server 127.0.0.1:8002 backup; keepalive 16; }
server {
	listen 127.0.0.1:18080;
	location / { proxy_pass http://backend; }
	location /v1/ { proxy_pass http://api.internal:9000/api/; }
	location /local { proxy_pass http://localhost; }
	location /again { proxy_pass http://LOCALHOST:80; }
	location /sock { proxy_pass http://unix:/run/app.sock:/x; }
	location ~ ^/re/(.*)$ { proxy_pass http://backend/$1; }
	location /tls { proxy_pass https://127.0.0.1; }
}`)
	if msg != "" {
		t.Fatal(msg)
	}
	h := cfg.HTTP
	u := h.UpstreamByName("backend")
	if u == nil || u.Method != "least_conn" || u.Keepalive != 16 || len(u.Servers) != 4 {
		t.Fatalf("backend = %+v", u)
	}
	wantAddrs := []string{"10.0.0.1:8001", "10.0.0.2:8001", "10.0.0.3:8001", "127.0.0.1:8002"}
	for i, s := range u.Servers {
		if s.Addr != wantAddrs[i] {
			t.Errorf("server %d addr %s, want %s", i, s.Addr, wantAddrs[i])
		}
	}
	if s := u.Servers[0]; s.Weight != 3 || s.MaxFails != 2 || s.FailTimeout != 30*time.Second || s.Name != "api.internal:8001" {
		t.Errorf("server 0 = %+v", s)
	}
	if !u.Servers[3].Backup {
		t.Errorf("server 3 not backup")
	}
	locs := h.Servers[0].Locations
	type want struct {
		upstream, uri string
		hasURI, vars  bool
		auto          bool
	}
	wants := []want{
		{upstream: "backend", auto: true},
		{upstream: "api.internal:9000", uri: "/api/", hasURI: true, auto: true},
		{upstream: "localhost:80"},
		{upstream: "localhost:80"},
		{upstream: "unix:/run/app.sock", uri: "/x", hasURI: true},
		{vars: true},
		{upstream: "127.0.0.1:443"},
	}
	for i, w := range wants {
		pp := locs[i].ProxyPass
		if pp.Upstream != w.upstream || pp.URI != w.uri || pp.HasURI != w.hasURI || pp.HasVars != w.vars || locs[i].AutoRedirect != w.auto {
			t.Errorf("location %s: proxy_pass %+v auto=%v, want %+v", locs[i].Name, pp, locs[i].AutoRedirect, w)
		}
	}
	impl := h.UpstreamByName("api.internal:9000")
	if impl == nil || !impl.Implicit || len(impl.Servers) != 3 {
		t.Errorf("implicit upstream = %+v", impl)
	}
	n := 0
	for _, u := range h.Upstreams {
		if strings.EqualFold(u.Name, "localhost:80") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d implicit upstreams for localhost:80, want 1 shared", n)
	}

	_, msg = loadHTTP(t, "server { listen 127.0.0.1:18080; location / { proxy_pass http://nosuch; } }")
	if want := `host not found in upstream "nosuch" in FILE:3`; msg != want {
		t.Errorf("got %q, want %q", msg, want)
	}
	_, msg = loadHTTP(t, "upstream u { server webtest001:6969; }")
	if want := `host not found in upstream "webtest001:6969" in FILE:3`; msg != want {
		t.Errorf("got %q, want %q", msg, want)
	}
}

func TestHTTPWarnings(t *testing.T) {
	cfg, msg := loadHTTP(t, "server { listen 18083; server_name a a/b; }\nserver { listen 18083; server_name a; location / { root /x; } }\nupstream u { server 127.0.0.1; keepalive 2; least_conn; }")
	if msg != "" {
		t.Fatal(msg)
	}
	want := []string{
		`server name "a/b" has suspicious symbols in FILE:3`,
		`load balancing method redefined in FILE:5`,
		`conflicting server name "a" on 0.0.0.0:18083, ignored`,
	}
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, strings.ReplaceAll(w, cfg.File, "FILE"))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHTTPSSLWarnings: ssl_dhparam is ignored, curves Go does not have
// are left out of ssl_ecdh_curve, and "ssl" is deprecated, each with a
// warning at its line.
func TestHTTPSSLWarnings(t *testing.T) {
	cfg, msg := loadHTTP(t, "ssl_dhparam /x.pem;\nssl_ecdh_curve X25519:X448:brainpoolP256r1:secp384r1;\nserver { listen 18084;\nssl off; }")
	if msg != "" {
		t.Fatal(msg)
	}
	want := []string{
		`the "ssl_dhparam" directive is ignored: sluice offers no DHE cipher suites (ECDHE ones are used) in FILE:3`,
		`the curves "X448:brainpoolP256r1" of the "ssl_ecdh_curve" directive are not supported by sluice and are ignored in FILE:4`,
		`the "ssl" directive is deprecated, use the "listen ... ssl" directive instead in FILE:6`,
	}
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, strings.ReplaceAll(w, cfg.File, "FILE"))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHTTPSSLOnListens: "ssl on" makes TLS every address whose default
// server has it, listens written before or after it alike, and leaves
// plain an address where its server is not the default one; the ssl and
// http2 of one listen apply to the whole address.
func TestHTTPSSLOnListens(t *testing.T) {
	cfg, msg := loadHTTP(t, `server { listen 127.0.0.1:18082; }
server { listen 127.0.0.1:18080; ssl on; ssl_certificate /c.pem; ssl_certificate_key /k.pem;
    listen 127.0.0.1:18081; listen 127.0.0.1:18082; }
server { listen 127.0.0.1:18083; server_name other; }
server { listen 127.0.0.1:18084; ssl_certificate /c.pem; ssl_certificate_key /k.pem; }
server { listen 127.0.0.1:18084 ssl http2; server_name b; ssl_certificate /c.pem; ssl_certificate_key /k.pem; }`)
	if msg != "" {
		t.Fatal(msg)
	}
	got := map[string]string{}
	for _, srv := range cfg.HTTP.Servers {
		for _, l := range srv.Listens {
			got[srv.Pos()+" "+l.Key()] = fmt.Sprintf("ssl=%v http2=%v", l.SSL, l.HTTP2)
		}
	}
	p := func(line int) string { return fmt.Sprintf("%s:%d ", cfg.File, line) }
	want := map[string]string{
		p(3) + "127.0.0.1:18082": "ssl=false http2=false",
		p(4) + "127.0.0.1:18080": "ssl=true http2=false",
		p(4) + "127.0.0.1:18081": "ssl=true http2=false",
		p(4) + "127.0.0.1:18082": "ssl=false http2=false",
		p(6) + "127.0.0.1:18083": "ssl=false http2=false",
		// ssl and http2 belong to the address, whichever listen says so
		p(7) + "127.0.0.1:18084": "ssl=true http2=true",
		p(8) + "127.0.0.1:18084": "ssl=true http2=true",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("listens %v, want %v", got, want)
	}
}

// TestHTTPIgnoredTempFiles: the temporary-file directives of proxy
// configurations load, with one warning each; the static-file ones
// (log_not_found, etag) load without one.
func TestHTTPIgnoredTempFiles(t *testing.T) {
	cfg, msg := loadHTTP(t, "proxy_max_temp_file_size 0;\nproxy_temp_path /tmp/x 1 2;\nserver { listen 18084; proxy_temp_file_write_size 64k; location / { log_not_found off; etag off; return 200; } }")
	if msg != "" {
		t.Fatal(msg)
	}
	want := []string{
		`the "proxy_max_temp_file_size" directive is ignored: responses are never written to temporary files (as with 0) in FILE:3`,
		`the "proxy_temp_path" directive is ignored: responses are never written to temporary files in FILE:4`,
		`the "proxy_temp_file_write_size" directive is ignored: responses are never written to temporary files in FILE:5`,
	}
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, strings.ReplaceAll(w, cfg.File, "FILE"))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHTTPGoldenNginx runs nginx -t on every http_* golden case and checks
// that it agrees with sluice (same acceptance, same first error).
func TestHTTPGoldenNginx(t *testing.T) {
	testutil.NeedNginx(t)
	dir, err := filepath.Abs("testdata/golden")
	if err != nil {
		t.Fatal(err)
	}
	confs, _ := filepath.Glob(filepath.Join(dir, "http_*.conf"))
	if len(confs) < 5 {
		t.Fatalf("only %d http golden cases", len(confs))
	}
	prefix := t.TempDir()
	if err := os.Mkdir(filepath.Join(prefix, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, conf := range confs {
		name := strings.TrimSuffix(filepath.Base(conf), ".conf")
		t.Run(name, func(t *testing.T) {
			nginxOK, nginxMsg := runNginx(t, conf, prefix, "")
			_, err := Load(Options{File: conf, Prefix: dir})
			sluiceOK, sluiceMsg := err == nil, ""
			if err != nil {
				sluiceMsg = err.Error()
			}
			if nginxOK != sluiceOK || nginxMsg != sluiceMsg {
				t.Errorf("sluice and nginx disagree\n nginx:  ok=%v %s\n sluice: ok=%v %s", nginxOK, nginxMsg, sluiceOK, sluiceMsg)
			}
		})
	}
}
