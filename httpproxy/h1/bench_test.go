package h1

import (
	"strings"
	"testing"
)

const curlHead = "GET /api/v1/models?limit=10 HTTP/1.1\r\n" +
	"Host: localhost:8080\r\n" +
	"User-Agent: curl/7.88.1\r\n" +
	"Accept: */*\r\n\r\n"

const browserHead = "GET /static/app.js?v=3 HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"Connection: keep-alive\r\n" +
	"sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n" +
	"sec-ch-ua-mobile: ?0\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n" +
	"sec-ch-ua-platform: \"Linux\"\r\n" +
	"Accept: */*\r\n" +
	"Sec-Fetch-Site: same-origin\r\n" +
	"Sec-Fetch-Mode: no-cors\r\n" +
	"Sec-Fetch-Dest: script\r\n" +
	"Referer: https://www.example.com/\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; _ga=GA1.1.123456789.1700000000\r\n\r\n"

const llmHead = "POST /v1/chat/completions HTTP/1.1\r\n" +
	"Host: llm.internal:8000\r\n" +
	"User-Agent: OpenAI/Python 1.30.1\r\n" +
	"Accept: application/json\r\n" +
	"Accept-Encoding: gzip, deflate\r\n" +
	"Authorization: Bearer sk-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH\r\n" +
	"Content-Type: application/json\r\n" +
	"Content-Length: 412\r\n" +
	"X-Stainless-Lang: python\r\n" +
	"X-Stainless-Package-Version: 1.30.1\r\n" +
	"X-Stainless-OS: Linux\r\n" +
	"X-Stainless-Arch: x64\r\n" +
	"X-Stainless-Runtime: CPython\r\n" +
	"X-Stainless-Runtime-Version: 3.11.2\r\n" +
	"Connection: keep-alive\r\n\r\n"

func benchParse(b *testing.B, head string) {
	buf := []byte(head)
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := ParseRequest(buf, &r, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRequestCurl(b *testing.B)    { benchParse(b, curlHead) }
func BenchmarkParseRequestBrowser(b *testing.B) { benchParse(b, browserHead) }
func BenchmarkParseRequestLLMPost(b *testing.B) { benchParse(b, llmHead) }

func BenchmarkParseResponse(b *testing.B) {
	buf := []byte("HTTP/1.1 200 OK\r\nServer: uvicorn\r\nDate: Sun, 22 Nov 2026 02:40:35 GMT\r\n" +
		"Content-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n")
	var r Response
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := ParseResponse(buf, &r, ResponseOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendRequestHead(b *testing.B) {
	var r Request
	if _, err := ParseRequest([]byte(llmHead), &r, Limits{}); err != nil {
		b.Fatal(err)
	}
	f := Forward{URI: []byte("/v1/chat/completions"), Host: []byte("backend"), XForwardedFor: []byte("127.0.0.1"),
		Connection: []byte{}, Framing: BodyLength, ContentLength: 412}
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendRequestHead(dst[:0], &r, &f)
	}
}

func BenchmarkChunkedDecode(b *testing.B) {
	var enc []byte
	for i := 0; i < 64; i++ {
		enc = AppendChunk(enc, []byte("data: {\"choices\":[{\"delta\":{\"content\":\" token\"}}]}\n\n"))
	}
	enc = AppendLastChunk(enc, nil)
	var d ChunkedDecoder
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		d.Reset()
		src := enc
		for len(src) > 0 && !d.Done() {
			n, _, err := d.Decode(src)
			if err != nil {
				b.Fatal(err)
			}
			src = src[n:]
		}
	}
}

func TestParseRequestAllocs(t *testing.T) {
	for _, head := range []string{curlHead, browserHead, llmHead, strings.Replace(curlHead, "/api", "/a/../api%2F", 1)} {
		buf := []byte(head)
		var r Request
		if _, err := ParseRequest(buf, &r, Limits{}); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = ParseRequest(buf, &r, Limits{}) }); n != 0 {
			t.Errorf("%v allocs per parse, want 0:\n%s", n, head)
		}
	}
}
