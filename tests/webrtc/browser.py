#!/usr/bin/env python3
"""Drive Debian's headless Chromium through chromedriver (W3C WebDriver over
plain HTTP, standard library only) against the element's push-to-talk page.

As a library::

    with Browser(wav="tone.wav") as b:
        b.open("http://127.0.0.1:PORT/")
        b.hold("#talk")
        b.wait_for("document.body.dataset.state == 'talking'", 20)
        b.release("#talk")

As a program (the Rust test runs it and reads its stdout)::

    python3 tests/webrtc/browser.py --wav tone.wav --url http://127.0.0.1:PORT/ \
        --hold-seconds 3 [--press-count N --gap-seconds G] [--user U --password P] \
        [--end hangup|close|kill|stay] [--linger S] [--pointer mouse|touch]

stdout is one JSON object a line, each with "event" and "t" (seconds since
the program started, wall clock; browser-side events are timed in the
browser). The last line is always {"event": "done", ...}; see EVENTS below.
Exit status 0 when the page did what was asked, 1 when it did not (the
reason on stderr and in "done"), 2 when the browser could not be started.

Chromium needs: /usr/bin/chromium and /usr/bin/chromedriver (Debian's
chromium and chromium-driver). The fake microphone plays the WAV in a loop
(16-bit PCM, any rate and channel count; Chromium resamples it).
"""

import argparse
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

EVENTS = """
started   {chromedriver_port}                  chromedriver and Chromium are up
opened    {url}                                the page is loaded
state     {state, status}                      the page's data-state or #status changed (timed in the browser)
pressed   {n}                                  pointer down on #talk (press n, from 1)
credentials {user}                             the page asked for credentials; they were typed and submitted
released  {n, talked, level_max, packets_sent, bytes_sent, codec}
                                               pointer up; talked = seconds from state "talking" to release;
                                               level_max = highest #meter data-level seen while talking (RMS, 0..1);
                                               packets_sent/bytes_sent = the sender's outbound-rtp totals so far
                                               (getStats), codec = its mimeType/clockRate/channels
ended     {how}                                hangup: the page's DELETE was answered (state idle);
                                               close: the tab was closed (pagehide sent its DELETE);
                                               kill: Chromium was killed (SIGKILL, nothing sent);
                                               stay: the page was left connected for --linger seconds
done      {ok, state, status[, reason]}        last line; state/status the page's last known
"""

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # W3C web element key

# Records the page's state changes in the browser (a MutationObserver, so
# that short states are not missed between two polls).
WATCH_JS = """
if (!window.__pttEvents) {
  window.__pttEvents = [];
  let last = null;
  const record = () => {
    const state = document.body.dataset.state || '';
    const el = document.getElementById('status');
    const status = el ? el.textContent : '';
    const key = state + '\\n' + status;
    if (key === last) return;
    last = key;
    window.__pttEvents.push({state, status, wall: Date.now() / 1000});
  };
  new MutationObserver(record).observe(document.body, {
    attributes: true, attributeFilter: ['data-state'], subtree: true,
    childList: true, characterData: true});
  record();
}
"""

STATS_JS = """
const pc = window.ptt && window.ptt.pc;
if (!pc) return null;
const stats = await pc.getStats();
for (const r of stats.values()) {
  if (r.type !== 'outbound-rtp' || r.kind !== 'audio') continue;
  const c = r.codecId && stats.get(r.codecId);
  return {packets_sent: r.packetsSent, bytes_sent: r.bytesSent,
          codec: c ? `${c.mimeType}/${c.clockRate}/${c.channels || 1}` : null};
}
return {packets_sent: 0, bytes_sent: 0, codec: null};
"""


class WebDriverError(Exception):
    pass


class Browser:
    """One chromedriver and one headless Chromium with a fake microphone.

    A context manager: on exit the session is deleted, and chromedriver,
    Chromium and their children (one process group, started here) are
    killed; the temporary profile is removed.
    """

    def __init__(self, wav=None, loop_wav=True, chromedriver=CHROMEDRIVER, binary=CHROMIUM,
                 extra_args=(), startup_timeout=30.0, insecure=False):
        self.wav = wav
        self.loop_wav = loop_wav
        self.chromedriver = chromedriver
        self.binary = binary
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.insecure = insecure
        self.port = None
        self.session = None
        self.driver = None
        self.tmp = None
        self._pointer_type = "mouse"

    # --- lifecycle -----------------------------------------------------------
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        self.tmp = tempfile.mkdtemp(prefix="ptt-chromium-")
        self._log = open(os.path.join(self.tmp, "chromedriver.log"), "wb")
        # --port=0: chromedriver binds a free port itself and prints it on
        # stdout ("ChromeDriver was started successfully on port N."), so no
        # port is guessed and none can be taken by someone else meanwhile.
        self.driver = subprocess.Popen(
            [self.chromedriver, "--port=0"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._log, start_new_session=True)
        lines = queue.Queue()

        def pump():  # keeps reading, so a chatty stdout never blocks chromedriver
            for line in self.driver.stdout:
                lines.put(line.decode("utf-8", "replace"))
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + self.startup_timeout
        while self.port is None:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise WebDriverError("chromedriver did not report its port") from None
            if line is None:
                raise WebDriverError(f"chromedriver exited ({self.driver.wait()})")
            m = re.search(r"started successfully on port (\d+)", line)
            if m:
                self.port = int(m.group(1))
        self.session = self._new_session()

    def _new_session(self):
        args = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            "--allow-loopback-in-peer-connection",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--no-first-run", "--no-default-browser-check",
            "--user-data-dir=" + os.path.join(self.tmp, "profile"),
        ]
        if self.wav:
            # Looping by default: a held button must not run out of sound.
            path = os.path.abspath(self.wav)
            args.append("--use-file-for-fake-audio-capture=" + path + ("" if self.loop_wav else "%noloop"))
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": self.binary, "args": args + self.extra_args},
            "goog:loggingPrefs": {"browser": "ALL"},
            # For a device's self-signed certificate (tls-certificate tests).
            "acceptInsecureCerts": self.insecure,
        }}}
        value = self._http("POST", "/session", caps, timeout=self.startup_timeout)
        return value["sessionId"]

    def kill(self):
        """Kills Chromium and chromedriver at once (SIGKILL): a browser that
        vanishes without a word."""
        self._kill_group(signal.SIGKILL)
        self.session = None

    def close(self):
        if self.session:
            try:
                self._http("DELETE", f"/session/{self.session}", timeout=15)
            except Exception:
                pass
            self.session = None
        if self.driver:
            self._kill_group(signal.SIGTERM)
            try:
                self.driver.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self._kill_group(signal.SIGKILL)
            self.driver.wait()
            self.driver = None
        if self.tmp:
            self._kill_strays(signal.SIGKILL)
            self._log.close()
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def _kill_group(self, sig):
        # The group chromedriver leads (start_new_session): it and Chromium.
        if self.driver:
            try:
                os.killpg(self.driver.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        self._kill_strays(sig)

    def _kill_strays(self, sig):
        # Chromium processes that left the group would still name our profile.
        mark = ("--user-data-dir=" + os.path.join(self.tmp, "profile")).encode() if self.tmp else None
        if not mark:
            return
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if mark in f.read():
                        os.kill(int(pid), sig)
            except (OSError, ProcessLookupError):
                pass

    def chromedriver_log(self, tail=4000):
        try:
            with open(os.path.join(self.tmp, "chromedriver.log"), "rb") as f:
                return f.read()[-tail:].decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    # --- WebDriver -----------------------------------------------------------
    def _http(self, method, path, body=None, timeout=60):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                payload = json.loads(res.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                v = json.loads(e.read()).get("value", {})
                msg = f"{v.get('error')}: {v.get('message', '').splitlines()[0] if v.get('message') else ''}"
            except Exception:
                msg = str(e)
            raise WebDriverError(f"{method} {path}: {msg}") from None
        return payload.get("value")

    def _cmd(self, method, path, body=None, timeout=60):
        if not self.session:
            raise WebDriverError("no session")
        return self._http(method, f"/session/{self.session}{path}", body, timeout)

    def open(self, url):
        self._cmd("POST", "/url", {"url": url})

    def execute(self, js, *args):
        """Runs `js` as a function body (use `return`); a returned promise is
        awaited. Elements returned come back as W3C element references."""
        return self._cmd("POST", "/execute/sync", {"script": js, "args": list(args)})

    def wait_for(self, js_condition, timeout=10.0, interval=0.05):
        """Polls the expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.execute("return (" + js_condition + ");")
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not true after {timeout} s: {js_condition} (last: {value!r})")
            time.sleep(interval)

    def find(self, css):
        value = self._cmd("POST", "/element", {"using": "css selector", "value": css})
        return value[ELEMENT]

    def click(self, css):
        self._cmd("POST", f"/element/{self.find(css)}/click", {})

    def type(self, css, text):
        element = self.find(css)
        self._cmd("POST", f"/element/{element}/clear", {})
        self._cmd("POST", f"/element/{element}/value", {"text": text})

    def _pointer(self, actions, pointer_type):
        self._cmd("POST", "/actions", {"actions": [{
            "type": "pointer", "id": "ptt-" + pointer_type,
            "parameters": {"pointerType": pointer_type}, "actions": actions}]})

    def hold(self, css, pointer_type="mouse"):
        """Pointer down on the element's centre (and stays down)."""
        self._pointer_type = pointer_type
        element = self.find(css)
        if pointer_type == "touch":
            # chromedriver 156 loses a touch pointerUp sent in a later
            # Actions call than its pointerDown (no touchend, no pointerup),
            # so touches go through DevTools' Input domain instead.
            r = self._cmd("GET", f"/element/{element}/rect")
            self._touch = {"x": r["x"] + r["width"] / 2, "y": r["y"] + r["height"] / 2}
            self.cdp("Input.dispatchTouchEvent", type="touchStart", touchPoints=[self._touch])
            return
        self._pointer([{"type": "pointerMove", "duration": 0, "origin": {ELEMENT: element}, "x": 0, "y": 0},
                       {"type": "pointerDown", "button": 0}], pointer_type)

    def release(self, css=None):
        """Pointer up, where the pointer is (on the element held)."""
        if self._pointer_type == "touch":
            self.cdp("Input.dispatchTouchEvent", type="touchEnd", touchPoints=[])
            return
        self._pointer([{"type": "pointerUp", "button": 0}], self._pointer_type)

    def cdp(self, cmd, **params):
        """A Chrome DevTools Protocol command (chromedriver's goog/cdp)."""
        return self._cmd("POST", "/goog/cdp/execute", {"cmd": cmd, "params": params})

    def logs(self):
        """The browser console since the last call (chromedriver's legacy
        log endpoint): [{level, message, timestamp}]."""
        try:
            return self._cmd("POST", "/se/log", {"type": "browser"}) or []
        except WebDriverError:
            return []

    def new_tab(self):
        handle = self._cmd("POST", "/window/new", {"type": "tab"})["handle"]
        return handle

    def close_tab(self, switch_to):
        """Closes the current tab (its pagehide runs) and switches to another."""
        self._cmd("DELETE", "/window")
        self._cmd("POST", "/window", {"handle": switch_to})


# --- the program -------------------------------------------------------------
class Failed(Exception):
    pass


class Terminated(Exception):
    pass


class Run:
    def __init__(self, args):
        self.args = args
        self.t0 = time.time()
        self.state = None
        self.status = None
        self.level_max = 0.0
        self.talking_since = None
        self.b = None

    def emit(self, event, t=None, **fields):
        line = {"event": event, "t": round((t if t is not None else time.time()) - self.t0, 3)}
        line.update(fields)
        print(json.dumps(line), flush=True)

    def drain(self):
        """Emits the page's recorded state changes; returns the state."""
        for e in self.b.execute("return window.__pttEvents ? window.__pttEvents.splice(0) : [];") or []:
            self.state, self.status = e["state"], e["status"]
            if self.state == "talking" and self.talking_since is None:
                self.talking_since = e["wall"]
            elif self.state != "talking":
                self.talking_since = None
            self.emit("state", t=e["wall"], state=self.state, status=self.status)
        if self.state == "talking":
            level = float(self.b.execute("return document.getElementById('meter').dataset.level;") or 0)
            self.level_max = max(self.level_max, level)
        return self.state

    def pause(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.drain()
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))

    def wait_state(self, wanted, timeout):
        deadline = time.monotonic() + timeout
        while self.drain() not in wanted:
            if time.monotonic() > deadline:
                raise Failed(f"no state in {sorted(wanted)} after {timeout} s "
                             f"(state {self.state!r}, status {self.status!r})")
            time.sleep(0.05)
        return self.state

    def sign_in(self, attempted):
        if self.args.user is None:
            raise Failed(f"the page asks for credentials and none were given ({self.status})")
        if attempted:
            raise Failed(f"credentials refused: {self.status}")
        self.b.release()
        self.b.type("#user", self.args.user)
        self.b.type("#password", self.args.password or "")
        self.b.click("#signin")
        self.emit("credentials", user=self.args.user)
        state = self.wait_state({"connected", "auth", "error"}, self.args.connect_timeout)
        if state == "auth":
            raise Failed(f"credentials refused: {self.status}")
        if state == "error":
            raise Failed(self.status)

    def press(self, n):
        signed_in = False
        while True:
            self.b.hold("#talk", self.args.pointer)
            self.emit("pressed", n=n)
            state = self.wait_state({"talking", "auth", "error"}, self.args.connect_timeout)
            if state == "talking":
                return
            if state == "error":
                raise Failed(self.status)
            self.sign_in(signed_in)
            signed_in = True

    def talk(self, n):
        self.level_max = 0.0
        self.press(n)
        # Hold for --hold-seconds of talking (from state "talking").
        self.pause(max(0.0, self.args.hold_seconds - (time.time() - self.talking_since)))
        talked = round(time.time() - self.talking_since, 3)
        self.b.release()
        stats = self.b.execute(STATS_JS) or {}
        self.emit("released", n=n, talked=talked, level_max=round(self.level_max, 3), **stats)
        if self.wait_state({"connected", "error"}, self.args.connect_timeout) == "error":
            raise Failed(self.status)

    def end(self):
        how = self.args.end
        if how == "hangup":
            self.b.click("#hangup")
            if self.wait_state({"idle", "error"}, 10) == "error":
                raise Failed(self.status)
        elif how == "close":
            # A second tab first: closing the last one would quit Chromium
            # before the pagehide DELETE (keepalive) is out.
            other = self.b.new_tab()
            self.b.close_tab(other)
            time.sleep(self.args.linger)
        elif how == "kill":
            self.b.kill()
        elif how == "stay":
            self.pause(self.args.linger)
        self.emit("ended", how=how)

    def run(self):
        a = self.args
        with Browser(wav=a.wav, loop_wav=not a.no_loop, insecure=a.insecure) as b:
            self.b = b
            self.emit("started", chromedriver_port=b.port)
            try:
                b.open(a.url)
                if not b.execute("return !!document.getElementById('talk');"):
                    raise Failed(f"no push-to-talk page at {a.url} ({b.execute('return document.title;')!r})")
                b.execute(WATCH_JS)
                self.emit("opened", url=a.url)
                self.drain()
                for n in range(1, a.press_count + 1):
                    if n > 1:
                        self.pause(a.gap_seconds)
                    self.talk(n)
                self.end()
            except (Failed, TimeoutError, WebDriverError) as e:
                self.report_logs(b)
                raise Failed(str(e)) from None
            finally:
                if a.verbose:
                    self.report_logs(b)

    def report_logs(self, b):
        for entry in (b.logs() if b.session else []):
            print(f"console {entry.get('level')}: {entry.get('message')}", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="events (JSON lines on stdout):\n" + EVENTS)
    p.add_argument("--url", required=True, help="the page, e.g. http://127.0.0.1:PORT/ (#token=T for a bearer token)")
    p.add_argument("--wav", help="the fake microphone's WAV (looped); default: Chromium's beep")
    p.add_argument("--no-loop", action="store_true", help="play the WAV once (%%noloop)")
    p.add_argument("--hold-seconds", type=float, default=3.0, help="talking time per press (default 3)")
    p.add_argument("--press-count", type=int, default=1, help="presses (default 1)")
    p.add_argument("--gap-seconds", type=float, default=1.0, help="between presses (default 1)")
    p.add_argument("--user", help="typed when the page asks for credentials")
    p.add_argument("--password", help="with --user")
    p.add_argument("--end", choices=["hangup", "close", "kill", "stay"], default="hangup",
                   help="after the presses: Hang up button (default), close the tab (pagehide DELETE), "
                        "kill Chromium (vanished peer), or stay connected --linger seconds")
    p.add_argument("--linger", type=float, default=1.0,
                   help="seconds Chromium stays up after --end close or stay (default 1)")
    p.add_argument("--connect-timeout", type=float, default=20.0,
                   help="longest wait for the page to reach a state (default 20)")
    p.add_argument("--pointer", choices=["mouse", "touch", "pen"], default="mouse")
    p.add_argument("--insecure", action="store_true", help="accept any TLS certificate (self-signed https)")
    p.add_argument("--verbose", action="store_true", help="browser console on stderr")
    p.add_argument("--quit-on-stdin-eof", action="store_true",
                   help="quit (cleaning up) when stdin closes: give it a pipe and drop it to stop this program")
    args = p.parse_args()

    # SIGTERM unwinds like an exception, so Chromium is always cleaned up
    # (once: a second SIGTERM must not cut the cleanup short).
    def terminate(*_):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated("terminated (SIGTERM or stdin closed)")
    signal.signal(signal.SIGTERM, terminate)
    if args.quit_on_stdin_eof:
        def watch_stdin():
            while os.read(0, 4096):  # the raw fd: no buffer lock at exit
                pass
            os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=watch_stdin, daemon=True).start()

    run = Run(args)
    try:
        run.run()
    except Failed as e:
        run.emit("done", ok=False, state=run.state, status=run.status, reason=str(e))
        print(f"browser.py: {e}", file=sys.stderr)
        return 1
    except Terminated as e:
        run.emit("done", ok=False, state=run.state, status=run.status, reason=str(e))
        print(f"browser.py: {e}", file=sys.stderr)
        return 143
    except (WebDriverError, OSError) as e:
        run.emit("done", ok=False, state=run.state, status=run.status, reason=f"browser: {e}")
        print(f"browser.py: could not run the browser: {e}", file=sys.stderr)
        return 2
    run.emit("done", ok=True, state=run.state, status=run.status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
