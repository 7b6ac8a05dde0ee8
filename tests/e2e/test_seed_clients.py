#!/usr/bin/env python3
"""The seed's own clients (../shared/seeds/001) against a real `modeld serve`, unchanged:
the Python ModelDownloader (Debian's python3-requests) and the bash monitor (curl, jq).

The seed's scripts hard-code http://localhost:8000, so the test runs in a private network
namespace (it re-executes itself under `unshare -n`), where that port is its own and
nothing leaves the machine. Exit code 77 (skipped) where namespaces are not allowed."""
import hashlib
import http.server
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = pathlib.Path(__file__).resolve().parent
MODELD = os.environ.get("MODELD_BIN", str(HERE.parent.parent / "build" / "modeld"))
SEED = HERE.parent.parent.parent / "shared" / "seeds"

if os.environ.get("MODELD_IN_NETNS") != "1":
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("skipped: needs root and unshare for a private network namespace")
        sys.exit(77)
    env = dict(os.environ, MODELD_IN_NETNS="1")
    cmd = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', sys.executable,
           *sys.argv]
    sys.exit(subprocess.call(cmd, env=env))

sys.path.insert(0, str(HERE))
from seed_model_downloader import ModelDownloader  # noqa: E402


class Origin(http.server.ThreadingHTTPServer):
    """Serves files from a directory; /slow/NAME trickles the file out (about 2 MB/s)."""
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients (modeld's size probe) hang up after the headers: not an error


def make_handler(root):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

        def do_GET(self):
            if not self.path.startswith("/slow/"):
                return super().do_GET()
            data = (root / self.path[len("/slow/"):]).read_bytes()
            first, last, status = 0, len(data) - 1, 200
            rng = self.headers.get("Range", "")
            if rng.startswith("bytes="):  # one range, as download tools ask for
                a, _, b = rng[6:].partition("-")
                first = int(a or 0)
                last = min(int(b), len(data) - 1) if b else len(data) - 1
                status = 206
            self.send_response(status)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", '"%s"' % hashlib.sha256(data).hexdigest()[:16])
            self.send_header("Content-Length", str(last - first + 1))
            if status == 206:
                self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, len(data)))
            self.end_headers()
            try:
                for i in range(first, last + 1, 64 * 1024):
                    chunk = data[i:min(i + 64 * 1024, last + 1)]
                    self.wfile.write(chunk)
                    with SENT_LOCK:
                        SENT[0] += len(chunk)
                        if SENT[0] >= SENT_TRIGGER[0]:
                            SENT_EVENT.set()
                    time.sleep(0.03)  # throttling the origin, not synchronising the test
            except (BrokenPipeError, ConnectionResetError):
                pass
    return Handler


# Bytes the throttled path has sent; SENT_EVENT fires once they reach SENT_TRIGGER.
SENT = [0]
SENT_TRIGGER = [1 << 62]
SENT_LOCK = threading.Lock()
SENT_EVENT = threading.Event()


class SeedClientsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = pathlib.Path(tempfile.mkdtemp(prefix="modeld_seed_"))
        cls.www = cls.tmp / "www"
        cls.www.mkdir()
        cls.files = {}
        for name, size in [("resnet50.pth", 3 << 20), ("resnet18.pth", 1 << 20),
                           ("mobilenet.pth", 2 << 20), ("efficientnet.pth", 1 << 20),
                           ("slow.bin", 6 << 20), ("pause.bin", 6 << 20)]:
            data = os.urandom(size)
            (cls.www / name).write_bytes(data)
            cls.files[name] = hashlib.sha256(data).hexdigest()
        cls.origin = Origin(("127.0.0.1", 0), make_handler(cls.www))
        threading.Thread(target=cls.origin.serve_forever, daemon=True).start()
        cls.origin_url = "http://127.0.0.1:%d" % cls.origin.server_address[1]
        # The origin is on loopback, which modeld refuses unless allowed (SSRF protection).
        env = dict(os.environ, MODELD_HOME=str(cls.tmp / "home"), HF_HUB_CACHE=str(cls.tmp / "hf"),
                   MODELD_ALLOW_PRIVATE_UPSTREAMS="1")
        cls.server = subprocess.Popen(
            [MODELD, "--data-dir", str(cls.tmp / "data"), "serve", "--listen", "127.0.0.1:8000"],
            stderr=subprocess.PIPE, text=True, env=env)
        for line in cls.server.stderr:  # blocks until the server says it is listening
            if "listening on" in line:
                break
        else:
            raise RuntimeError("modeld serve did not start")
        threading.Thread(target=lambda: [None for _ in cls.server.stderr], daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(timeout=30)
        cls.origin.shutdown()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def url(self, name):
        return "%s/%s" % (self.origin_url, name)

    def test_client_is_the_seed_unchanged(self):
        seeds = list(SEED.glob("001_*.txt")) if SEED.exists() else []
        if not seeds:
            self.skipTest("shared/ is not beside the repository")
        seed = seeds[0].read_text()
        block = seed.split("### Python Model Downloader")[1].split("```python\n", 1)[1]
        cls = block.split("# Usage Examples")[0].rstrip()
        ours = (HERE / "seed_model_downloader.py").read_text()
        self.assertIn(cls, ours)

    def test_download_model_with_progress_callback(self):
        seen = []
        d = ModelDownloader()
        result = d.download_model("resnet50", "v1.0", download_url=self.url("resnet50.pth"),
                                  progress_callback=seen.append, retry_count=5, timeout=60)
        self.assertEqual(result["status"], "completed", result)
        self.assertEqual(result["installation"]["status"], "success")
        self.assertTrue(result["installation"]["ready_for_inference"])
        got = hashlib.sha256(pathlib.Path(result["file_path"]).read_bytes()).hexdigest()
        self.assertEqual(got, self.files["resnet50.pth"])
        self.assertTrue(seen and all("progress" in s for s in seen))
        self.assertTrue(d.verify_download("resnet50", "v1.0"))
        self.assertFalse(d.verify_download("resnet50", "v9"))

    def test_download_batch(self):
        d = ModelDownloader()
        models = [{"model_name": n.split(".")[0], "version": "v1.0", "download_url": self.url(n)}
                  for n in ["resnet18.pth", "mobilenet.pth", "efficientnet.pth"]]
        results = d.download_batch(models, max_concurrent=2)
        self.assertEqual(sorted(results), ["efficientnet", "mobilenet", "resnet18"])
        for name, r in results.items():
            self.assertEqual(r["status"], "completed", (name, r))
            self.assertTrue(d.verify_download(name, "v1.0"))

    def test_download_status_and_errors(self):
        d = ModelDownloader()
        missing = d.download_model("unknown-model")
        self.assertEqual(missing["status"], "failed")
        self.assertIn("404", missing["error"])
        status = d.get_download_status("dwnld_000000000000")
        self.assertEqual(status["status"], "failed")
        import requests
        r = requests.post("http://localhost:8000/model-download",
                          json={"model_name": "x", "download_url": self.url("resnet50.pth")})
        self.assertEqual(r.status_code, 200)
        status = d.get_download_status(r.json()["download_id"])
        self.assertIn(status["status"], ["started", "downloading", "completed"])

    def test_pull_hands_the_download_to_the_running_server(self):
        # The server's data dir: the server downloads (a server over another store does not).
        env = dict(os.environ, MODELD_HOME=str(self.tmp / "data"))
        env.pop("MODELD_URL", None)
        out = subprocess.run([MODELD, "pull", self.url("resnet18.pth"), "--name", "viacli:v1",
                              "--sha256", self.files["resnet18.pth"]],
                             capture_output=True, text=True, env=env)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("downloading through the modeld server at http://127.0.0.1:8000", out.stderr)
        self.assertTrue(ModelDownloader().verify_download("viacli", "v1"))
        self.assertTrue(out.stdout.strip().endswith("resnet18.pth"), out.stdout)
        again = subprocess.run([MODELD, "pull", self.url("resnet18.pth"), "--name", "viacli:v1"],
                               capture_output=True, text=True, env=env)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("already installed", again.stderr)
        # Another data dir: this process downloads (from the loopback origin), and says why.
        env = dict(os.environ, MODELD_HOME=str(self.tmp / "cli-home"),
                   MODELD_ALLOW_PRIVATE_UPSTREAMS="1")
        env.pop("MODELD_URL", None)
        other = subprocess.run([MODELD, "pull", self.url("resnet18.pth"), "--name", "viacli:v1"],
                               capture_output=True, text=True, env=env)
        self.assertEqual(other.returncode, 0, other.stderr)
        self.assertIn("downloading in this process", other.stderr)
        self.assertTrue((self.tmp / "cli-home" / "models" / "viacli" / "v1").exists())

    def test_ctrl_c_pauses_on_the_server_and_pulling_again_resumes(self):
        env = dict(os.environ, MODELD_HOME=str(self.tmp / "data"))  # the server's
        with SENT_LOCK:
            SENT[0] = 0
            SENT_TRIGGER[0] = 1 << 20
            SENT_EVENT.clear()
        cmd = [MODELD, "pull", self.origin_url + "/slow/pause.bin", "--name", "paused:v1"]
        p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
        self.assertTrue(SENT_EVENT.wait(60))
        p.send_signal(2)  # SIGINT
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 130, err)
        self.assertIn("paused on the server", err)
        import requests
        listing = requests.get("http://localhost:8000/model-download").json()["downloads"]
        mine = [d for d in listing if d["model_name"] == "paused"]
        self.assertEqual(mine[0]["state"], "paused")
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(ModelDownloader().verify_download("paused", "v1"))

    def test_bash_monitor(self):
        import requests
        r = requests.post("http://localhost:8000/model-download",
                          json={"model_name": "slowmodel", "download_url": self.origin_url + "/slow/slow.bin"})
        self.assertEqual(r.status_code, 200, r.text)
        download_id = r.json()["download_id"]
        script = (HERE / "seed_monitor.sh").read_text()
        # The script as the seed has it: it monitors until stopped.
        out = subprocess.run(["timeout", "2", "bash", "-c", script], capture_output=True, text=True)
        self.assertIn("Active downloads:", out.stdout)
        self.assertIn("  - slowmodel", out.stdout)
        # Its check_download function (the script minus its last line, which starts the loop).
        functions = script.rstrip().rsplit("\n", 1)[0]
        out = subprocess.run(["bash", "-c", functions + "\ncheck_download " + download_id],
                             capture_output=True, text=True)
        progress = json.loads(out.stdout)
        self.assertEqual(progress["download_id"], download_id)
        self.assertIn("percentage", progress["progress"])
        d = ModelDownloader()
        done = d._monitor_download(download_id, progress_callback=lambda _: None)
        self.assertEqual(done["status"], "completed")


class ServerKillTest(unittest.TestCase):
    """kill -9 of the server mid-download; started again, the job resumes and completes."""

    def start_server(self):
        env = dict(os.environ, MODELD_HOME=str(self.tmp / "home"), HF_HUB_CACHE=str(self.tmp / "hf"),
                   MODELD_ALLOW_PRIVATE_UPSTREAMS="1")  # a loopback origin
        server = subprocess.Popen(
            [MODELD, "--data-dir", str(self.tmp / "data"), "serve", "--listen", "127.0.0.1:8001"],
            stderr=subprocess.PIPE, text=True, env=env)
        lines = []
        for line in server.stderr:
            lines.append(line)
            if "listening on" in line:
                break
        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
        return server, "".join(lines)

    def test_kill9_then_restart_resumes(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="modeld_kill_"))
        www = self.tmp / "www"
        www.mkdir()
        data = os.urandom(12 << 20)
        (www / "big.bin").write_bytes(data)
        origin = Origin(("127.0.0.1", 0), make_handler(www))
        threading.Thread(target=origin.serve_forever, daemon=True).start()
        url = "http://127.0.0.1:%d/slow/big.bin" % origin.server_address[1]
        import requests
        server, _ = self.start_server()
        try:
            with SENT_LOCK:
                SENT[0] = 0
                SENT_TRIGGER[0] = 5 << 20
                SENT_EVENT.clear()
            r = requests.post("http://localhost:8001/model-download",
                              json={"model_name": "big", "version": "v1",
                                    "download_url": url,
                                    "checksum": "sha256:" + hashlib.sha256(data).hexdigest()})
            self.assertEqual(r.status_code, 200, r.text)
            download_id = r.json()["download_id"]
            self.assertTrue(SENT_EVENT.wait(60), "the download never got going")
            server.kill()  # SIGKILL: no chance to checkpoint or say goodbye
            server.wait()
            with SENT_LOCK:
                before = SENT[0]
            server, banner = self.start_server()
            self.assertIn("resuming 1 download", banner)
            done = ModelDownloader("http://localhost:8001")._monitor_download(
                download_id, progress_callback=lambda _: None)
            self.assertEqual(done["status"], "completed", done)
            got = hashlib.sha256(pathlib.Path(done["file_path"]).read_bytes()).hexdigest()
            self.assertEqual(got, hashlib.sha256(data).hexdigest())
            with SENT_LOCK:
                after = SENT[0] - before
            self.assertLess(after, len(data) - (3 << 20), "the restart fetched only what was missing")
        finally:
            server.terminate()
            server.wait(timeout=30)
            origin.shutdown()
            shutil.rmtree(self.tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
