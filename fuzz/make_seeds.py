#!/usr/bin/env python3
"""Writes the seed corpus fuzz/corpus/<target>/ (small, meaningful inputs: real headers,
real catalog entries, journal files in the engine's format, archives of every kind with
the entries Extract refuses). Run again after changing it; the output is deterministic
except for archives compressed by external tools. Usage: fuzz/make_seeds.py"""
import bz2, gzip, hashlib, io, json, lzma, os, shutil, struct, subprocess, tarfile, zipfile, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def many(target, items):
    for i, v in enumerate(items):
        put(target, "seed-%02d" % i, v)


SHA256 = hashlib.sha256(b"weights").hexdigest()
SHA1 = hashlib.sha1(b"weights").hexdigest()

# ---- JSON bodies, Hub answers, config -------------------------------------------------
many("json", [
    '{"model_name": "resnet50", "version": "v1.0", "download_url": "https://example.org/models/resnet50.pth",'
    ' "checksum": "sha256:%s", "force_download": false, "options": {"chunk_size": 1048576, "timeout": 30,'
    ' "retry_count": 3, "verify_ssl": true}, "metadata": {"tags": ["vision"], "x": null}}' % SHA256,
    '[{"type":"file","oid":"%s","size":1234,"path":"config.json"},{"type":"directory","path":"onnx"},'
    '{"type":"file","size":4068,"path":"model.safetensors","lfs":{"oid":"%s","size":4068,"pointerSize":134}}]'
    % (SHA1, SHA256),
    '{"data_dir": "/var/lib/modeld", "catalogs": ["mine=/etc/modeld/catalog.json"], "max_concurrent": 3}',
    '{"a": "\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\/", "b": [1, -1, 1.5e300, -0.0, 18446744073709551615, '
    '-9223372036854775808, 1e-320, 123456789012345678901234567890], "c": true, "d": false, "e": null}',
    "[" * 127 + "]" * 127,
    "[" * 129 + "]" * 129,
    '{"s": "[[[[{{{{", "t": "\\"[[["}',
    '""', "0", "[]", "{}", " \t\r\n[ 1 , 2 ] ", '{"a":1,"a":2}', '{"a":}', "[1,]", b"\xef\xbb\xbf{}",
    '"\\ud800"', b'"\xff"', b'{"a":1}\x00[[[', "1e400", "-", "tru", "[\"\\u0000\"]",
])

# ---- checksums ------------------------------------------------------------------------
many("checksum", [
    "sha256:" + SHA256, SHA256, "SHA-256:" + SHA256.upper(), "  sha512:" + hashlib.sha512(b"w").hexdigest() + "\n",
    "sha1:" + SHA1, "md5:" + hashlib.md5(b"w").hexdigest(), "git-sha1:" + SHA1, hashlib.md5(b"w").hexdigest(),
    "sha256:" + SHA256[:-1] + "g", "crc32:1234abcd", ":", "sha256:", "sha-2-5-6:" + SHA256,
])

# ---- HTTP headers -----------------------------------------------------------------------
many("content_range", [
    "bytes 0-99/1000", "bytes 0-0/1", "bytes 500-999/*", "bytes */1000", " bytes  1 - 2 / 3 ",
    "bytes 18446744073709551614-18446744073709551614/18446744073709551615",
    "bytes 0-18446744073709551616/5", "bytes 5-4/10", "bytes 0-9/10", "bytes 0-10/10", "bytes=0-9/10",
    "bytes -1-5/10", "bytes 0x10-0x20/100",
])
many("retry_after", [
    "120", "0", "  5  ", "86401", "99999999999999999999", "18446744073709551615",
    "Wed, 21 Oct 2015 07:28:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT", "Thu, 01 Jan 1970 00:00:00 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT", "Sat, 01 Jan 2300 00:00:00 GMT", "Mon, 01 Jan 1600 00:00:00 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT", "-1", "1.5",
])
many("content_disposition", [
    'attachment; filename="model.bin"',
    "attachment; filename*=UTF-8''na%C3%AFve%20file.txt",
    "attachment; filename*=UTF-8''%zz",
    "inline; filename=x%G1.bin",
    'attachment; filename="a;b.txt"; filename*=utf-8\'\'a%3Bb.txt',
    "attachment;filename=ggml-tiny.bin",
    "attachment; filename*=UTF-8''%4",
    "attachment; filename*=UTF-8''model.safetensors; filename=\"model.safetensors\";",
    "attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd",
    "attachment; FILENAME=\"\"",
    "attachment; xfilename=a; filename=b",
])
many("header_line", [
    "HTTP/1.1 206 Partial Content\r\n", "HTTP/2 200\r\n", "HTTP/1.0 -20 x", "HTTP/1.1 99999", "HTTP/",
    "Content-Range: bytes 0-99/1000\r\n", "ETag:  \"abc\"\r\n", "Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n",
    "X-Linked-Etag: \"%s\"\r\n" % SHA256, "Location: https://cdn-lfs.hf.co/repos/a/b?X-Amz-Signature=x\r\n",
    "Content-Length: 18446744073709551616\r\n", "\r\n", ": empty name\r\n", "   : x", "NoColon\r\n",
    "Content-Disposition: attachment; filename*=UTF-8''%zz\r\n",
])
many("link_header", [
    '<https://huggingface.co/api/models/org/name/tree/main?recursive=true&cursor=ZXlKbU1qQT0>; rel="next"',
    '<https://h/a?page=1>; rel="prev", <https://h/a?page=3>; rel="next", <https://h/a?page=9>; rel="last"',
    "<https://h/a>; rel=next", "<a>, <b>; rel=\"next\"", "<>; rel=next", "<no-end; rel=next",
    "rel=next <x>", '<a,b>; rel="next"', ">; <", "",
])

# ---- URLs and names ---------------------------------------------------------------------
many("url", [
    "https://huggingface.co/org/name/resolve/main/model-Q4_K_M.gguf?download=true",
    "http://user:pass@127.0.0.1:8080/a%2Fb/c%20d.bin", "http://[::1]:80/x", "HTTPS://EXAMPLE.org",
    "https://example.org:443/", "http://h:/", "http://h:0080/", "http://h:99999999999999999999/",
    "http://%41.COM/%7e", "ftp://x/y", "file:///etc/passwd", "//host/path", "relative/path/file.bin",
    "https://cdn-lfs.hf.co/repos/ab/cd/e?response-content-disposition=attachment%3B&Expires=1",
    "http://h/a/..%2F..%2Fetc/passwd", "http://h/%2E%2E", "https://[v1.x:y]/", "http://h?x#y", "",
])
many("model_ref", [
    "resnet50:v1.0", "Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", "a/b/c/d:1", "a/b/c/d/e:1", ".hidden:1",
    "name", "name:", "a::b", "../etc/passwd", "model/weights.bin", "a/./b", "a\\b", "a//b", "v1.0+build.7",
    "onnx/model.onnx", "x" * 201, "/abs/path", "a/" + "b" * 256, "tab\there", "-dash:1",
])

# ---- catalogs ---------------------------------------------------------------------------
with open(os.path.join(ROOT, "catalog", "default.json"), "rb") as f:
    put("catalog", "default.json", f.read())
put("catalog", "small.json", json.dumps({
    "name": "mine",
    "models": [
        {"name": "acme/cls", "description": "A classifier", "tags": ["vision"], "latest": "v2",
         "versions": [
             {"version": "v1", "files": [
                 {"url": "https://example.org/cls/v1/model.onnx", "size": 1234, "sha256": SHA256},
                 {"path": "config/labels.txt", "url": "http://127.0.0.1:8080/labels.txt",
                  "checksum": "sha1:" + SHA1}]},
             {"version": "v2", "files": [{"url": "https://example.org/cls/v2/model.onnx"}]}]},
        {"name": "cls-gguf", "versions": [
            {"version": "Q4_K_M", "huggingface": {"repo": "acme/cls-GGUF", "revision": "main",
                                                  "quantization": "Q4_K_M", "include": ["*.json"],
                                                  "exclude": ["*.md"]}}]},
    ]}, indent=1))
many("catalog", [
    '{"name":"c","models":[{"name":"m","versions":[{"version":"v","files":[{"url":"https://h/a/../x"}]}]}]}',
    '{"name":"c","models":[{"name":"m","versions":[{"version":"v","files":[{"url":"https://h/x","path":"../x"}]}]}]}',
    '{"name":"c","models":[{"name":"m","latest":"V","versions":[{"version":"v","huggingface":{"repo":"a/b"}}]}]}',
    '{"name":"c","models":[{"name":"M","versions":[{"version":"v","huggingface":{"repo":"a/b"}}]},'
    '{"name":"m","versions":[{"version":"v","huggingface":{"repo":"a/b"}}]}]}',
    '{"name":"huggingface","models":[]}', '{"models":[]}', '{"name":"c","models":{}}',
    '{"name":"c","models":[{"name":"m","versions":[{"version":"v","files":[{"url":"https://h/x","size":-1}]}]}]}',
    '{"name":"c","models":[{"name":"m","versions":[{"version":"v","files":[{"url":"https://h/%2E%2E"}]}]}]}',
    '{"name":"c","models":[{"name":"m","versions":[{"version":"v","files":[{"url":"https://h/%8E%2E"}]}]}]}',
])

# ---- journals: the engine's format (docs/journal.md) -----------------------------------------
def record(state):
    payload = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload

MAGIC = b"MDJRNL1\n"
s1 = {"v": 1, "url": "https://example.org/models/resnet50.pth", "etag": '"abc"',
      "last_modified": "Wed, 21 Oct 2026 07:28:00 GMT", "size": 1073741824,
      "written": [[0, 536870912], [541065216, 545259520]]}
s2 = dict(s1, written=[[0, 1073741824]])
s3 = {"v": 1, "url": "u", "etag": "", "last_modified": "", "written": []}
put("journal", "two-records", MAGIC + record(s1) + record(s2))
put("journal", "torn-tail", MAGIC + record(s1) + record(s2)[:-7])
put("journal", "bad-crc", MAGIC + record(s1) + record(s2)[:9] + b"X" + record(s2)[10:])
put("journal", "no-size", MAGIC + record(s3))
put("journal", "fractional", MAGIC + record(s3) + record(dict(s3, size=1.5)) + record(dict(s3, v=1e300)))
put("journal", "negative", MAGIC + record(dict(s3, written=[[-1, 5]])))
put("journal", "huge-length", MAGIC + struct.pack("<II", 0xFFFFFFFF, 0) + b"{}")
put("journal", "magic-only", MAGIC)
put("journal", "zeros", b"\0" * 64)
put("journal", "not-json", MAGIC + struct.pack("<II", 3, zlib.crc32(b"{{{")) + b"{{{")

# ---- job records: what PullRequestToJson writes -------------------------------------------------
job = {"url": "https://example.org/m.bin", "name": "resnet50", "version": "v1.0", "checksum": "sha256:" + SHA256,
       "headers": ["Authorization: Bearer x"], "force": False, "source": "", "include": [], "exclude": [],
       "quantization": "", "revision": "", "extract": True, "keep_archive": False, "description": "d",
       "tags": ["a"], "metadata": {"k": [1, {"n": None}]}, "priority": 0,
       "options": {"max_connections": 16, "retry_count": 5, "connect_timeout_ms": 30000,
                   "stall_timeout_ms": 30000, "total_timeout_ms": 0, "buffer_size": 262144, "verify_ssl": True}}
hub = dict(job, url="", name="Qwen/Qwen2.5-0.5B-Instruct-GGUF", version="Q4_K_M", source="huggingface",
           include=["*.gguf"], quantization="Q4_K_M", revision="main", checksum=None)
del hub["checksum"]
many("job_record", [
    json.dumps(job), json.dumps(hub), '{"name":"a","version":"b"}', '{"name":1,"version":"b"}',
    '{"name":"a","version":"b","checksum":"nope"}', '{"name":"a","version":"b","options":[]}',
    '{"name":"a","version":"b","headers":"x"}', "", "[]", "{",
    '{"name":"a","version":"b","priority":1e300}', '{"name":"a","version":"b","priority":18446744073709551616}',
    '{"name":"a","version":"b","options":{"buffer_size":-1,"stall_timeout_ms":1e300}}',
])

# ---- the generic API's POST /models/{name}/load body (Ollama's keep_alive) ---------------
many("load_request", [
    '{"version": "v1", "mlock": true, "keep_alive": "1h30m"}', '{"keep_alive": 300}',
    '{"keep_alive": 0}', '{"keep_alive": -1}', '{"keep_alive": "-1s"}', '{"keep_alive": "500ms"}',
    '{"keep_alive": "5m3"}', '{"keep_alive": "soon"}', '{"keep_alive": 1e300}', '{"keep_alive": true}',
    '{"keep_alive": "0.0001ms"}', '{"version": ""}', '{"version": "../x"}', '', '[]', '{',
    # POST /gc's body, read from the same bytes
    '{"partials_older_than_hours": 0.5, "dry_run": true, "hf_cache": false}',
    '{"partials_older_than_hours": 0}', '{"partials_older_than_hours": -1}',
    '{"partials_older_than_hours": 1e300}', '{"dry_run": "yes"}',
    # PATCH /settings' and PATCH /model-download/{id}'s, from the same bytes
    '{"max_rate": 10485760}', '{"max_rate": 0}', '{"max_rate": -1}', '{"max_rate": 1e13}',
    '{"max_connections_per_host": 8}', '{"max_rate": 5, "max_connections_per_host": 300}',
    '{"max_rate": "10M"}', '{}',
])

# ---- Pieces' POST /models/create body (a SeededModel) -----------------------------------
many("pieces_model", [
    '{"name": "Llama 3 8B (mine)", "version": "1.0.0", "cloud": false, "type": "BALANCED",'
    ' "usage": "CODE_CONVERSATION", "created": {"value": "2025-01-01T00:00:00.000Z"},'
    ' "unique": "https://example.com/m.gguf", "description": "d", "cpu": true,'
    ' "capabilities": {"images": true}, "foundation": "LLAMA_3_8B"}',
    '{"name": "x", "version": "v1", "id": "not-mine", "downloaded": true, "unique": "hf://org/x:Q4_K_M"}',
    '{"name": "x", "version": "v1", "type": "FAST"}', '{"name": "x", "version": "v1", "usage": "CHAT"}',
    '{"name": "!!!", "version": "1"}', '{"name": "x"}', '{"version": "1"}', '{"name": 1, "version": "1"}',
    '{"name": "a/b/c/d/e", "version": "1/2"}', '{"name": "x", "version": ".hidden"}', '', '[]', '{',
])

# ---- the generic API's POST /model-download body (../shared/seeds/001) -----------------
many("download_request", [
    '{"model_name": "resnet50", "version": "v1.0", "download_url": "https://example.org/models/resnet50.pth",'
    ' "checksum": "sha256:%s", "force_download": false, "options": {"chunk_size": 1048576, "timeout": 30,'
    ' "retry_count": 3, "verify_ssl": true, "extract_after_download": true, "cleanup_temp_files": false},'
    ' "metadata": {"description": "ResNet-50", "tags": ["vision", 7], "x": null}}' % SHA256,
    '{"model_name": "Qwen/Qwen2.5-0.5B-Instruct-GGUF", "quantization": "Q4_K_M", "revision": "main",'
    ' "include": ["*.gguf", "*.json"], "exclude": "*.md", "priority": 100, "wait": true, "source": "huggingface"}',
    '{"model_name": "m"}', '{"model_name": "m", "version": ""}', '{"model_name": ""}', '{}', '[]', '',
    '{"model_name": "m", "download_url": "ftp://h/x"}', '{"model_name": "m", "checksum": "md5:00"}',
    '{"model_name": "m", "options": {"timeout": 0}}', '{"model_name": "m", "options": {"chunk_size": 1.5}}',
    '{"model_name": "m", "options": {"retry_count": 18446744073709551615}}',
    '{"model_name": "m", "priority": -101}', '{"model_name": "m", "priority": 1e300}',
    '{"model_name": "m", "options": []}', '{"model_name": "m", "metadata": "x"}',
    '{"model_name": "../etc", "version": "1"}', '{"model_name": "m", "include": [1]}',
    '{"model_name": "m", "options": {"timeout": 30}}', '{"model_name": "m", "options": {"timeout": 600}}',
    '{"model_name": "m", "model_name": 5}', '{"model_name": "m", "force_download": "yes"}',
    '{"model_name": "mine", "version": "q8", "from": "Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q8_0", "quantization": "Q8_0"}',
    '{"model_name": "m", "from": "../x"}', '{"model_name": "m", "from": 1}',
])

# ---- command-line specs -------------------------------------------------------------------
many("listen_spec", [
    "127.0.0.1:8000", "127.0.0.1:11434=ollama", "[::1]:8000=generic,pieces", "0.0.0.0:1234=lmstudio,jan",
    "=ollama", "127.0.0.1:1=", "h:1=a,,b", "h:1=a,", "unix:/run/modeld.sock", "a=b=c", "127.0.0.1:11434",
])
many("catalog_spec", [
    "mine=/etc/modeld/catalog.json", "/etc/modeld/catalog.json", "https://example.org/catalog.json",
    "acme=https://example.org/c.json?x=1", "./a=b.json", "=x", "=a=b", "a=", "a==b", "", "a/b=c",
])

# ---- what users name as a model ------------------------------------------------------------
many("pull_target", [
    "resnet50:v1.0", "Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", "hf://Qwen/Qwen2.5-0.5B-Instruct",
    "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf",
    "https://huggingface.co/org/name/tree/refs%2Fpr%2F1", "https://huggingface.co/org/name",
    "https://example.org/models/resnet50.pth?download=1", "my-model\nhttps://example.org/x.bin",
    "bad name\nhttps://example.org/x.bin", "hf://org/name/blob/v1/sub/dir/file.json", "hf://org",
    "hf://Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf", "hf://org/name/sub/dir/f.json",
    "https://huggingface.co/a%2Fb/c", "https://example.org/", "https://example.org/%E2%9C%93.tar.gz",
    "ftp://example.org/x", "a/b/c/d/e", "../x", "hf://org/name/resolve//x", "org/name/resolve/main/",
])

# ---- request headers the server checks (Host, Origin, Content-Type; one a line) -------------
many("access_policy", [
    "127.0.0.1:8000\nhttp://127.0.0.1:8000\napplication/json",
    "localhost:8000\nhttp://localhost:8000\napplication/json; charset=utf-8",
    "[::1]:8000\nhttp://[::1]:8000\napplication/merge-patch+json",
    "evil.example:8000\nhttps://evil.example\ntext/plain",
    "127.0.0.1\nnull\napplication/x-www-form-urlencoded",
    "[::ffff:127.0.0.1]:80\nhttp://[::ffff:127.0.0.1]\nmultipart/form-data; boundary=x",
    "app.example:8080\nhttp://App.example:8080/\nAPPLICATION/JSON",
    "127.0.0.1:0\nhttp://127.0.0.1:99999\napplication/json+x",
    "127.1\nhttp://user@127.0.0.1\n application/json ",
    "[fe80::1%25eth0]:8000\nhttp://[fe80::1%eth0]:8000\napplication/jsonx",
    "\n\n", "::1\nhttp://::1\n",
    "[localhost]:8000\nhttp://[%25]:8000\napplication/json",
])

# ---- request targets ---------------------------------------------------------------------
many("router", [
    "/models", "/models/Qwen/Qwen2.5-0.5B", "//models//a", "/models/a%2Fb", "/model-download",
    "/model-download/3f2a/progress?token=x&wait=true", "/model-download/%00/progress", "/catalog/default/models/a/b",
    "/models?x=1&x=2&&=&y", "/models/%zz", "*", "http://h/models", "/models/a+b?q=a+b%20c", "/",
    "/model-download/a/b/progress", "/model-download//progress",
])

# ---- what modeld echoes and logs -------------------------------------------------------------
many("redact", [
    "https://user:secret@example.org/m.bin?token=abc&x=1#frag",
    "https://cdn-lfs.hf.co/repos/a/b?X-Amz-Signature=abc&X-Amz-Credential=def&Expires=1",
    "/model-download/1/progress?token=abc", "GET https://h/x?sig=1: HTTP 404 (see http://u:p@h/)",
    "https://h/?%74oken=abc", "https://h/?TOKEN=a&Token=b&key", "http://a@b@c/", "no url here",
    "https://h/#?token=a", "httphttps://h?token=x", "https://h/?token=a;sig=b", "'https://h/?key=v'.",
    "http:h?token=a&u=https://x", "https://h/?#?token=a",
])

# ---- the Hub's tree listing ------------------------------------------------------------------
# The Hub mirror: the first byte picks Range (0, then an 8-byte size), If-None-Match (1),
# a paths-info body (2) or a tree page from the upstream (3).
SIZE = struct.pack("<Q", 1000)
many("hub_mirror", [
    b"\x00" + SIZE + b"bytes=0-0", b"\x00" + SIZE + b"bytes=10-", b"\x00" + SIZE + b"bytes=-5",
    b"\x00" + SIZE + b"bytes=990-2000", b"\x00" + SIZE + b"bytes=1000-", b"\x00" + SIZE + b"bytes=5-1",
    b"\x00" + SIZE + b"bytes=0-1,5-6", b"\x00" + SIZE + b"items=0-1", b"\x00" + SIZE + b"bytes=-0",
    b'\x01"abc"', b'\x01W/"abc", "def"', b"\x01*", b"\x01", b'\x01""',
    b'\x02{"paths": ["config.json", "gguf"], "expand": true}', b'\x02{"paths": "a.txt"}',
    b'\x02{"paths": 5}', b"\x02{}", b"\x02[]",
    b'\x03[{"type": "file", "oid": "' + SHA1.encode() + b'", "size": 23, "path": "config.json"},'
    b' {"type": "directory", "oid": "' + SHA1.encode() + b'", "size": 0, "path": "gguf"},'
    b' {"type": "file", "oid": "' + SHA1.encode() + b'", "size": 9, "path": "gguf/a.gguf",'
    b' "lfs": {"oid": "' + SHA256.encode() + b'", "size": 9, "pointerSize": 134}, "xetHash": "00"}]',
    b'\x03[{"type": "file", "oid": "x", "size": 1, "path": "../etc/passwd"}]',
    b'\x03[{"type": "file", "oid": "x", "size": 1, "path": ".git/config"}]',
    b'\x03[{"type": "file", "oid": "x", "size": -1, "path": "a"}]',
    b'\x03[{"type": "file", "oid": "x", "size": 1, "path": "a", "lfs": {"oid": "AB"}}]',
    b'\x03[{"type": "submodule", "path": "s"}]', b"\x03{}",
])

many("hub_tree", [
    '[{"type":"file","oid":"%s","size":1234,"path":"config.json"},{"type":"directory","oid":"d","path":"onnx"},'
    '{"type":"file","oid":"%s","size":134,"path":"onnx/model.onnx","lfs":{"oid":"%s","size":4068,"pointerSize":134}}]'
    % (SHA1, SHA1, SHA256),
    '[{"type":"file","oid":"a","size":1,"path":"w [1]%2F?#.bin"},{"type":"file","oid":"b","path":"caf\\u00e9/x"}]',
    '[{"type":"file","oid":"a","size":1.5,"path":"x"}]', '[{"type":"file","oid":"a","size":-1,"path":"x"}]',
    '[{"type":"file","oid":"a","size":1,"path":"../x"}]', '[{"type":"file","oid":"a","size":1,"path":".git/config"}]',
    '[{"type":"file","oid":"a","size":1,"path":"x","lfs":{"oid":5}}]', '[{"type":"file","size":1,"path":"x"}]',
    '[{"type":"file","oid":"a","path":"b"},{"type":"file","oid":"a","path":"a"}]', "[]", "{}", "", "[1,null]",
])

# ---- addresses for the SSRF policy: 16 address bytes, then an --allow-upstream entry ----------
def addr(v6, entry):
    return bytes(v6) + entry.encode()

V4 = lambda a, b, c, d: [0] * 10 + [0xff, 0xff, a, b, c, d]
many("upstream_address", [
    addr(V4(127, 0, 0, 1), "10.0.0.0/8"), addr(V4(169, 254, 169, 254), "169.254.169.254"),
    addr(V4(8, 8, 8, 8), "fd00::/8"), addr([0] * 15 + [1], "::1"), addr([0] * 16, "0.0.0.0/0"),
    addr([0xfd, 0, 0x0e, 0xc2] + [0] * 10 + [0x02, 0x54], "fd00:ec2::254/128"),
    addr([0, 0x64, 0xff, 0x9b] + [0] * 8 + [10, 1, 2, 3], "64:ff9b::/96"),
    addr([0xfe, 0x80] + [0] * 13 + [1], "proxy.internal"), addr([0] * 12 + [192, 168, 1, 1], "[::ffff:10.0.0.1]"),
    addr([0x20, 0x01, 0x0d, 0xb8] + [0] * 12, "10.0.0.0/33"), addr([0xfc] + [0] * 15, "a/b"),
    addr(V4(100, 64, 0, 1), "1.2.3.4/"), addr(V4(172, 16, 0, 1), "::/0"), addr(V4(0, 0, 0, 5), "-1"),
])

# ---- archives ---------------------------------------------------------------------------
tarfile.RECORDSIZE = 512  # no padding to 10 KiB: just the two end blocks


def tar_bytes(entries, fmt=tarfile.GNU_FORMAT):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for name, kind, data, link in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.type = kind
            if link:
                info.linkname = link
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    return out.getvalue()


good = [("model/", tarfile.DIRTYPE, b"", ""), ("model/weights.bin", tarfile.REGTYPE, b"w" * 100, ""),
        ("./model/config.json", tarfile.REGTYPE, b'{"a":1}', ""),
        ("model/alias.bin", tarfile.SYMTYPE, b"", "weights.bin"),
        ("model/hard.bin", tarfile.LNKTYPE, b"", "model/weights.bin")]
plain = tar_bytes(good)
put("archive", "good.tar", plain)
put("archive", "good-pax.tar", tar_bytes(good, tarfile.PAX_FORMAT))
put("archive", "good.tar.gz", gzip.compress(plain, mtime=0))
put("archive", "good.tar.bz2", bz2.compress(plain))
put("archive", "good.tar.xz", lzma.compress(plain))
if shutil.which("zstd"):
    put("archive", "good.tar.zst", subprocess.run(["zstd", "-q", "-c"], input=plain, check=True,
                                                  stdout=subprocess.PIPE).stdout)
put("archive", "slip.tar", tar_bytes([("ok.txt", tarfile.REGTYPE, b"fine", ""),
                                      ("../../evil.sh", tarfile.REGTYPE, b"boom", "")]))
put("archive", "absolute.tar", tar_bytes([("/tmp/abs-evil", tarfile.REGTYPE, b"boom", "")]))
put("archive", "link-out.tar", tar_bytes([("sub/", tarfile.DIRTYPE, b"", ""),
                                          ("sub/escape", tarfile.SYMTYPE, b"", "../../../etc/passwd"),
                                          ("sub/escape/x", tarfile.REGTYPE, b"boom", "")]))
put("archive", "hard-out.tar", tar_bytes([("h", tarfile.LNKTYPE, b"", "../../etc/passwd")]))
put("archive", "dangling.tar", tar_bytes([("a", tarfile.SYMTYPE, b"", "missing")]))
put("archive", "devices.tar", tar_bytes([("null", tarfile.CHRTYPE, b"", ""), ("fifo", tarfile.FIFOTYPE, b"", "")]))
put("archive", "duplicate.tar", tar_bytes([("a.txt", tarfile.REGTYPE, b"one", ""),
                                           ("a.txt", tarfile.REGTYPE, b"two", "")]))
put("archive", "under-link.tar", tar_bytes([("a.txt", tarfile.REGTYPE, b"one", ""),
                                            ("dir", tarfile.SYMTYPE, b"", "a.txt"),
                                            ("dir/b.txt", tarfile.REGTYPE, b"two", "")]))
put("archive", "over-file.tar", tar_bytes([("d/f", tarfile.REGTYPE, b"one", ""),
                                           ("d", tarfile.SYMTYPE, b"", "d/f")]))
put("archive", "link-loop.tar", tar_bytes([("a", tarfile.SYMTYPE, b"", "b"), ("b", tarfile.SYMTYPE, b"", "a")]))
put("archive", "bomb.tar.gz", gzip.compress(tar_bytes([("zeros", tarfile.REGTYPE, b"\0" * (1 << 20), "")]),
                                            mtime=0))
put("archive", "truncated.tar.gz", gzip.compress(plain, mtime=0)[:200])
z = io.BytesIO()
with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
    zf.writestr(zipfile.ZipInfo("model/", (1980, 1, 1, 0, 0, 0)), b"")
    zf.writestr(zipfile.ZipInfo("model/weights.bin", (1980, 1, 1, 0, 0, 0)), b"w" * 100)
    zf.writestr(zipfile.ZipInfo("model/config.json", (1980, 1, 1, 0, 0, 0)), b'{"a":1}')
    link = zipfile.ZipInfo("model/alias.bin", (1980, 1, 1, 0, 0, 0))
    link.create_system = 3
    link.external_attr = (0o120777 << 16)
    zf.writestr(link, b"weights.bin")
put("archive", "good.zip", z.getvalue())
z = io.BytesIO()
with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
    zf.writestr(zipfile.ZipInfo("../../evil.sh", (1980, 1, 1, 0, 0, 0)), b"boom")
    zf.writestr(zipfile.ZipInfo("C:\\win\\x", (1980, 1, 1, 0, 0, 0)), b"boom")
put("archive", "slip.zip", z.getvalue())

# The entry checker on its own (archive_entry_fuzz.cc's format: flags, NAME\0, LINK\0).
def entries(*items):
    return b"".join(bytes([flags]) + name.encode() + b"\0" + link.encode() + b"\0" for flags, name, link in items)

DIR, FILE, SYM, OTHER, HARD = 0, 1, 2, 3, 4
many("archive_entry", [
    entries((DIR, "./", ""), (DIR, "model/", ""), (FILE, "model/weights.bin", ""),
            (FILE, "./model/config.json", ""), (SYM, "model/alias.bin", "weights.bin"),
            (FILE | HARD, "model/hard.bin", "model/weights.bin")),
    entries((FILE, "ok.txt", ""), (FILE, "../../evil.sh", "")),
    entries((FILE, "/abs", "")),
    entries((DIR, "sub/", ""), (SYM, "sub/escape", "../../../etc/passwd"), (FILE, "sub/escape/x", "")),
    entries((FILE | HARD, "h", "../../etc/passwd")),
    entries((SYM, "a", "b"), (SYM, "b", "a")),
    entries((FILE, "d/f", ""), (SYM, "d", "d/f")),
    entries((FILE, "a.txt", ""), (FILE, "a.txt", "")),
    entries((OTHER, "dev", "")),
    entries((SYM | 8, "s", "")),
    entries((FILE, "a//b/./c", ""), (SYM, "l", "a/b/c/../c")),
])
# ---- model files (formats/): GGUF headers, safetensors, config.json ---------------------
# GGUF as llama.cpp writes it (gguf-py's layout): every value type, v2 and v3, nested
# arrays, a custom alignment, a split part, and the refusals (huge counts, a string past
# the end, 5 dimensions, overflowing dims, a non-UTF-8 key, unknown types, truncation).
GT = dict(U8=0, I8=1, U16=2, I16=3, U32=4, I32=5, F32=6, BOOL=7, STR=8, ARR=9, U64=10, I64=11, F64=12)
FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}
GGML = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144), 30: (1, 2)}


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gval(t, v):
    if t == GT["STR"]:
        return gstr(v)
    if t == GT["ARR"]:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gval(et, i) for i in items)
    return struct.pack(FMT[t], v)


def gguf(kvs, tensors=(), version=3, alignment=32, n_tensors=None, n_kv=None, cut=None):
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors) if n_tensors is None else n_tensors,
                                 len(kvs) if n_kv is None else n_kv)
    for k, t, v in kvs:
        out += gstr(k) + struct.pack("<I", t) + gval(t, v)
    offset, sizes = 0, []
    for name, dims, typ in tensors:
        out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", typ, offset)
        n = 1
        for d in dims:
            n *= d
        block, size = GGML.get(typ, (1, 1))
        offset += -(-(n // block * size) // alignment) * alignment
    out += b"\0" * (-len(out) % alignment) + b"\0" * min(offset, 1 << 16)  # (huge dims: cut)
    return out[:cut] if cut is not None else out


LLAMA_KVS = [("general.architecture", GT["STR"], "llama"), ("general.name", GT["STR"], "tiny"),
             ("general.file_type", GT["U32"], 15), ("llama.context_length", GT["U32"], 2048),
             ("llama.embedding_length", GT["U32"], 64), ("llama.block_count", GT["U32"], 1),
             ("tokenizer.ggml.tokens", GT["ARR"], (GT["STR"], ["<s>", "</s>", "a", "\u00e9"])),
             ("tokenizer.ggml.scores", GT["ARR"], (GT["F32"], [0.0, -1.0, -2.5, 1e30]))]
EVERY_TYPE = [("u8", GT["U8"], 255), ("i8", GT["I8"], -128), ("u16", GT["U16"], 65535), ("i16", GT["I16"], -1),
              ("u32", GT["U32"], 2**32 - 1), ("i32", GT["I32"], -2**31), ("f32", GT["F32"], float("nan")),
              ("b", GT["BOOL"], 2), ("s", GT["STR"], b"\xff\xc3("), ("u64", GT["U64"], 2**64 - 1),
              ("i64", GT["I64"], -2**63), ("f64", GT["F64"], float("-inf")),
              ("nested", GT["ARR"], (GT["ARR"], [(GT["I32"], [1, 2]), (GT["STR"], ["x"]), (GT["ARR"], [(GT["U8"], [])])]))]
TENSORS = [("token_embd.weight", [64, 4], 8), ("blk.0.attn_q.weight", [256, 2], 12), ("norm", [64], 0),
           ("out", [64, 4], 1), ("scalar", [], 0)]
SPLIT = [("split.no", GT["U16"], 1), ("split.count", GT["U16"], 3), ("split.tensors.count", GT["I32"], 9)]
many("gguf", [
    gguf(LLAMA_KVS, TENSORS),
    gguf(LLAMA_KVS + EVERY_TYPE, TENSORS[:2], version=2),
    gguf(LLAMA_KVS + [("general.alignment", GT["U32"], 64)], TENSORS, alignment=64),
    gguf(SPLIT, TENSORS[2:]),
    gguf(EVERY_TYPE),
    gguf([], n_tensors=2**60),
    gguf([], n_kv=2**60),
    gguf([("k", GT["STR"], "v")])[:-1] + b"\xff" * 8,
    gguf([("k", GT["ARR"], (GT["U64"], []))])[:-8] + struct.pack("<Q", 2**60),
    gguf([], [("t", [1, 1, 1, 1, 1], 0)]),
    gguf([], [("t", [2**32, 2**32], 0)]),
    gguf([(b"\xc0\xaf", GT["BOOL"], 1)]),
    gguf([("k", GT["U8"], 0)])[:-5] + struct.pack("<IB", 13, 0),  # value type 13
    gguf([], [("t", [32], 99)]),
    gguf([("d", GT["ARR"], (GT["ARR"], [(GT["ARR"], [(GT["ARR"], [(GT["ARR"], [(GT["U8"], [1])])])])]))]),
    gguf(LLAMA_KVS, TENSORS, cut=200),
    gguf(LLAMA_KVS, TENSORS, version=1),
])

many("safetensors", [
    b"".join([struct.pack("<Q", len(h)), h, b"\0" * n]) for h, n in [
        (b'{"__metadata__":{"format":"pt"},"embed":{"dtype":"BF16","shape":[4,8],"data_offsets":[0,64]},'
         b'"norm":{"dtype":"F32","shape":[8],"data_offsets":[64,96]}}    ', 96),
        (b'{"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"e":{"dtype":"F16","shape":[0,3],"data_offsets":[8,8]}}', 8),
        (b'{"f4":{"dtype":"F4","shape":[3,2],"data_offsets":[0,3]},"f6":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[3,6]}}', 6),
        (b'{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', 4),
        (b'{"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}', 4),
        (b'{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4),
        (b'{"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 4),
        (b'{"t":{"dtype":"X","shape":[1],"data_offsets":[0,1]}}', 1),
        (b'{"__metadata__":{"a":1}}', 0),
        (b'{}', 0),
    ]
] + [
    struct.pack("<Q", 100_000_000) + b"{}",
    struct.pack("<Q", 2**64 - 1),
    '{"metadata":{"total_size":1234},"weight_map":{"a":"model-00001-of-00002.safetensors",'
    '"b":"model-00002-of-00002.safetensors"}}',
    '{"weight_map":{"a":1}}',
])

many("hf_config", [
    '{"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","hidden_size":896,'
    '"max_position_embeddings":32768,"num_hidden_layers":24,"torch_dtype":"bfloat16","vocab_size":151936}',
    '{"model_type":"gpt2","n_positions":1024,"n_ctx":1024,"n_embd":768,"n_layer":12}',
    '{"max_seq_len":8192,"d_model":4096,"dtype":"float16"}',
    '{"model_type":"llava","architectures":["LlavaForConditionalGeneration"],'
    '"text_config":{"max_position_embeddings":4096,"hidden_size":4096,"num_hidden_layers":32}}',
    '{"architectures":"x","model_type":3,"max_position_embeddings":-1,"n_positions":1e300}',
    '[]', '{', '{"text_config":[]}',
])

print("seeds written to", OUT)
