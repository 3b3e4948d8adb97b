#!/usr/bin/env python3
"""scale.py - the driver of `make bench-scale` (bench/scale.sh).

For each size N it runs, as real processes on 127.0.0.1 over HTTPS:
  - `meshcert server` with clusters mgmt and c0001..cN (--metrics-addr: the
    server's request counters by verb and code);
  - namespaces and the CRDs on every managed cluster, every cluster registered
    with `meshcert cluster register` (2 at a time);
  - `meshcert issuer --generate-root --root-key-type ec-p256` on mgmt;
  - bench_scale_agents: one agent per cluster in one process (each with only
    its cluster's kubeconfig, its own client; one shared watch I/O thread),
    which also prints when each IssuedCertificate enters FINISHED.
Then it measures:
  1. issuance: one IssuedCertificate (EC P-256) per cluster created at once;
     wall time until all are FINISHED; CPU (utime+stime, /proc/<pid>/stat)
     of issuer, agents and server against `bench_pki ceiling N` (the crypto
     alone, same OpenSSL, same run); server requests per issuance by verb
     (counters after - before, less the bench's own creates); 429 and 5xx
     answers; RSS, threads, sockets; every output chain verified by openssl;
  2. issuer restart: SIGTERM, start again, time until its /readyz names no
     cluster whose caches are not synced;
  3. renewal storm: every IssuedCertificate gets a new rotate annotation (as
     `meshcert rotate --all` writes it, from the bench's 4 connections); time
     to the first and last
     FINISHED, their spread, and the peak request rate at the server (its
     counters sampled every 0.25 s, the highest 1 s window).
Prints one table for all sizes. Python 3 standard library + openssl CLI.
Child pids go to WORK/pids so that the shell wrapper can stop them.
Usage: scale.py --meshcert BIN --agents BIN --pki-bench BIN --work DIR --sizes 10,100,1000
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

GV = "certificates.smh.solo.io/v1alpha2"
CRD_BASE = "/apis/certificates.smh.solo.io/v1alpha2"
NS = "meshcert"
SPIFFE = "spiffe://cluster.local/ns/istio-system/sa/citadel"
ROTATE_ANNOTATION = "certificates.smh.solo.io/rotate"
TICK = os.sysconf("SC_CLK_TCK")
METRIC = re.compile(r'^meshcert_apiserver_requests_total\{verb="([^"]*)",code="([^"]*)"\} (\S+)$')
# Targets at N = 1 000 (issue 13).
TARGET_WALL, TARGET_CPU_RATIO, TARGET_REQS, TARGET_RSS_MIB = 30.0, 5.0, 12.0, 64.0


def log(msg):
    print("bench-scale: " + msg, flush=True)


class Fail(Exception):
    pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_cpu(pid):
    """utime + stime of a process (all its threads), seconds."""
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_status(pid):
    out = {}
    for line in open("/proc/%d/status" % pid):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0]) / 1024.0  # MiB
        elif k == "Threads":
            out[k] = int(v)
    return out


def proc_sockets(pid):
    n = 0
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            if os.readlink(os.path.join(d, fd)).startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


class Size:
    """One size N: the processes, the measurements."""

    def __init__(self, args, n):
        self.a = args
        self.n = n
        self.work = os.path.join(args.work, "n%d" % n)
        self.data = os.path.join(self.work, "data")
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.clusters = ["c%04d" % i for i in range(1, n + 1)]
        self.procs = {}
        self.tokens = {}
        self.ctx = None
        self.port = 0
        self.metrics_port = free_port()
        self.issuer_metrics_port = free_port()
        self.finished = []  # (time, cluster) from the agents process
        self.finished_lock = threading.Lock()
        self.samples = []   # (time, total requests) at the server
        self.sampling = False
        self.r = {"n": n}
        self.local = threading.local()

    # ------------------------------------------------------------ processes
    def write_pids(self):
        with open(os.path.join(self.a.work, "pids"), "w") as f:
            for p in self.procs.values():
                if p and p.poll() is None:
                    f.write("%d\n" % p.pid)

    def spawn(self, name, argv, stdout=None):
        out = open(os.path.join(self.logs, name + ".log"), "ab")
        p = subprocess.Popen(argv, stdout=stdout or out, stderr=out, stdin=subprocess.DEVNULL)
        out.close()
        self.procs[name] = p
        self.write_pids()
        return p

    def check_alive(self):
        for name, p in self.procs.items():
            if p is not None and p.poll() is not None:
                raise Fail("%s exited with status %s (%s/%s.log)" % (name, p.returncode, self.logs, name))

    def stop(self, name, sig=signal.SIGTERM):
        p = self.procs.get(name)
        if p and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(120 if name == "agents" else 30)  # 1 000 agents take a while to free
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs[name] = None
        self.write_pids()
        return p.returncode if p else None

    def stop_all(self):
        for name in [n for n in self.procs if n != "server"] + ["server"]:
            self.stop(name)

    def kubeconfig(self, cluster):
        return os.path.join(self.data, "kubeconfigs", cluster + ".yaml")

    def start_server(self):
        argv = [self.a.meshcert, "server", "--data-dir", self.data, "--listen", "127.0.0.1:0",
                "--metrics-addr", "127.0.0.1:%d" % self.metrics_port, "--log-level", "warn", "--cluster", "mgmt"]
        for c in self.clusters:
            argv += ["--cluster", c]
        self.spawn("server", argv)
        deadline = time.monotonic() + 120
        sj = os.path.join(self.data, "server.json")
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                self.port = json.load(open(sj))["port"]
                self.ctx = ssl.create_default_context(cafile=os.path.join(self.data, "ca-cert.pem"))
                self.ctx.check_hostname = False
                c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=5)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    return
            except (OSError, ValueError, KeyError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        raise Fail("the server did not answer /healthz within 120 s")

    # ------------------------------------------------------------ API (the bench's own requests)
    def api(self, cluster, method, path, body=None, ctype="application/json"):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                                                 timeout=60)
        if cluster not in self.tokens:
            self.tokens[cluster] = open(os.path.join(self.data, "tokens", cluster)).read().strip()
        headers = {"Authorization": "Bearer " + self.tokens[cluster]}
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        if data is not None:
            headers["Content-Type"] = ctype
        try:
            conn.request(method, "/clusters/" + cluster + path, body=data, headers=headers)
            r = conn.getresponse()
            text = r.read()
        except (OSError, http.client.HTTPException):
            self.local.conn = None
            raise
        return r.status, (json.loads(text) if text and text[:1] == b"{" else None)

    def parallel(self, fn, items, workers=4):
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(fn, items):
                pass

    def scrape(self, port=None):
        c = http.client.HTTPConnection("127.0.0.1", port or self.metrics_port, timeout=10)
        c.request("GET", "/metrics")
        counts = {}
        for line in c.getresponse().read().decode().splitlines():
            m = METRIC.match(line)
            if m:
                counts[(m.group(1), m.group(2))] = float(m.group(3))
        return counts

    def issuer_watch_restarts(self):
        """The issuer's meshcert_watch_restarts_total, summed over reasons."""
        c = http.client.HTTPConnection("127.0.0.1", self.issuer_metrics_port, timeout=10)
        c.request("GET", "/metrics")
        return sum(float(line.split()[-1]) for line in c.getresponse().read().decode().splitlines()
                   if line.startswith("meshcert_watch_restarts_total"))

    def sampler(self):
        while self.sampling:
            try:
                self.samples.append((time.monotonic(), sum(self.scrape().values())))
            except OSError:
                pass
            time.sleep(0.25)

    def peak_rate(self, t0, t1):
        """Highest request rate over a 1 s window of the samples in [t0, t1]."""
        s = [x for x in self.samples if t0 - 0.5 <= x[0] <= t1 + 0.5]
        best, j = 0.0, 0
        for i in range(len(s)):
            while s[i][0] - s[j][0] > 1.0:
                j += 1
            if s[i][0] - s[j][0] >= 0.7:
                best = max(best, (s[i][1] - s[j][1]) / (s[i][0] - s[j][0]))
        return best

    # ------------------------------------------------------------ setup
    def setup(self):
        t = time.monotonic()
        self.start_server()
        self.r["server_start_s"] = time.monotonic() - t
        ns = lambda n: {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
        crd_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "crds")
        crds = [open(os.path.join(crd_dir, f), "rb").read() for f in sorted(os.listdir(crd_dir))
                if f.endswith(".yaml")]  # not the Kustomization

        def prepare(c):
            for n in ((NS,) if c == "mgmt" else (NS, "istio-system")):
                st, _ = self.api(c, "POST", "/api/v1/namespaces", ns(n))
                if st not in (201, 409):
                    raise Fail("namespace %s on %s: %d" % (n, c, st))
            for crd in crds:
                st, _ = self.api(c, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd,
                                 "application/yaml")
                if st not in (201, 409):
                    raise Fail("CRD on %s: %d" % (c, st))

        def register(c):
            r = subprocess.run([self.a.meshcert, "cluster", "register", c, "--kubeconfig", self.kubeconfig("mgmt"),
                                "--kubeconfig-file", self.kubeconfig(c), "--trust-domain", "cluster.local",
                                "--org", "Istio", "--root", NS + "/root-ca"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
            if r.returncode != 0:
                raise Fail("cluster register %s: %s" % (c, r.stdout.decode()[-500:]))

        self.parallel(prepare, ["mgmt"] + self.clusters)
        self.parallel(register, self.clusters, workers=2)
        self.r["setup_s"] = time.monotonic() - t
        self.start_issuer()
        t_agents = time.monotonic()
        agents = self.spawn("agents", [self.a.agents, "--namespace", NS, "--key-type", "ec-p256", "--workers", "1",
                                       "--log-level", "warn"] + [self.kubeconfig(c) for c in self.clusters],
                            stdout=subprocess.PIPE)
        self.agents_ready = threading.Event()
        threading.Thread(target=self.read_agents, args=(agents,), daemon=True).start()
        deadline = time.monotonic() + 120 + self.n
        while not self.agents_ready.is_set():
            self.check_alive()
            if time.monotonic() > deadline:
                raise Fail("the agents were not synced within %d s" % (120 + self.n))
            time.sleep(0.1)
        self.r["agents_sync_s"] = time.monotonic() - t_agents
        self.r["issuer_sync_first_s"] = self.wait_issuer_synced(time.monotonic() + 120 + self.n)
        self.settle()
        log("N=%d: server, issuer and %d agents up, all synced (setup %.1f s)" % (
            self.n, self.n, time.monotonic() - t))

    def settle(self, quiet_s=2.0, timeout_s=300):
        """Waits until the server's count of WATCH requests stops moving for
        quiet_s: a synced informer has its list but its watch may still be
        connecting (TLS handshakes on the I/O thread), which must not land in
        the measurements. (The other verbs never stop: Lease renewals.)"""
        deadline = time.monotonic() + timeout_s
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            self.check_alive()
            total = sum(v for (verb, _), v in self.scrape().items() if verb == "WATCH")
            if total != last:
                last, since = total, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return
            time.sleep(0.25)
        raise Fail("the server's request counters did not settle within %d s" % timeout_s)

    def start_issuer(self):
        self.spawn("issuer", [self.a.meshcert, "issuer", "--kubeconfig", self.kubeconfig("mgmt"), "--namespace", NS,
                              "--generate-root", "--root-key-type", "ec-p256",
                              "--metrics-addr", "127.0.0.1:%d" % self.issuer_metrics_port, "--log-level", "warn"])

    def read_agents(self, p):
        for line in p.stdout:
            f = line.decode().split()
            if f and f[0] == "ready":
                self.agents_ready.set()
            elif f and f[0] == "finished":
                with self.finished_lock:
                    self.finished.append((float(f[3]), f[1]))

    def wait_issuer_synced(self, deadline):
        """Seconds until the issuer's /readyz is 200 naming no unsynced cluster."""
        t = time.monotonic()
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.issuer_metrics_port, timeout=5)
                c.request("GET", "/readyz")
                r = c.getresponse()
                body = r.read().decode()
                if r.status == 200 and "not synced" not in body and "leading" in body:
                    return time.monotonic() - t
            except OSError:
                pass
            time.sleep(0.05)
        raise Fail("the issuer did not sync every cluster in time (%s/issuer.log)" % self.logs)

    def wait_finished(self, since, deadline_s):
        """Times of the first FINISHED of each cluster after since."""
        deadline = time.monotonic() + deadline_s
        while True:
            with self.finished_lock:
                first = {}
                for t, c in self.finished:
                    if t >= since and c not in first:
                        first[c] = t
            if len(first) == self.n:
                return sorted(first.values())
            self.check_alive()
            if time.monotonic() > deadline:
                raise Fail("%d of %d IssuedCertificates FINISHED after %.0f s" % (len(first), self.n, deadline_s))
            time.sleep(0.02)

    def cpu(self):
        return {k: proc_cpu(self.procs[k].pid) for k in ("server", "issuer", "agents")}

    # ------------------------------------------------------------ phases
    def issuance(self):
        before, cpu0, restarts0 = self.scrape(), self.cpu(), self.issuer_watch_restarts()
        t0 = time.monotonic()

        def create(c):
            st, reply = self.api(c, "POST", "%s/namespaces/%s/issuedcertificates" % (CRD_BASE, NS), {
                "apiVersion": GV, "kind": "IssuedCertificate", "metadata": {"name": "mesh", "namespace": NS},
                "spec": {"hosts": [SPIFFE], "org": "Istio", "keyType": "ec-p256",
                         "signingCertificateSecret": {"name": "root-ca", "namespace": NS},
                         "issuedCertificateSecret": {"name": "cacerts", "namespace": "istio-system"}}})
            if st != 201:
                raise Fail("create IssuedCertificate on %s: %d %s" % (c, st, json.dumps(reply)[:300]))

        self.parallel(create, self.clusters)
        times = self.wait_finished(t0, 120 + self.n)
        t_all = times[-1]
        time.sleep(1.0)  # let the last writes after FINISHED land in the counters
        after, cpu1 = self.scrape(), self.cpu()
        r = self.r
        r["wall_s"] = t_all - t0
        r["issuer_watch_restarts"] = self.issuer_watch_restarts() - restarts0
        r["cpu"] = {k: cpu1[k] - cpu0[k] for k in cpu1}
        r["cpu_total"] = sum(r["cpu"].values())
        by_verb, codes = {}, {}
        for (verb, code), v in after.items():
            d = v - before.get((verb, code), 0)
            by_verb[verb] = by_verb.get(verb, 0) + d
            codes[code] = codes.get(code, 0) + d
        by_verb["POST"] = by_verb.get("POST", 0) - self.n  # the bench's own IssuedCertificate creates
        r["per_issuance"] = {v: d / self.n for v, d in by_verb.items() if d}
        r["per_issuance_total"] = sum(by_verb.values()) / self.n
        r["refused"] = sum(d for c, d in codes.items() if c == "429" or c.startswith("5"))
        r["codes"] = {c: int(d) for c, d in codes.items() if d}
        r["peak_rate_issue"] = self.peak_rate(t0, t_all)
        for k in ("issuer", "agents", "server"):
            r[k] = proc_status(self.procs[k].pid)
        r["server_sockets"] = proc_sockets(self.procs["server"].pid)
        r["issuer_sockets"] = proc_sockets(self.procs["issuer"].pid)
        r["agents_sockets"] = proc_sockets(self.procs["agents"].pid)
        log("N=%d: all %d FINISHED in %.2f s; CPU %s" % (self.n, self.n, r["wall_s"],
                                                         {k: round(v, 2) for k, v in r["cpu"].items()}))
        self.verify_chains()

    def verify_chains(self):
        """openssl verify of every output's ca-cert.pem against its root-cert.pem (one root for all)."""
        out = os.path.join(self.work, "out")
        os.makedirs(out, exist_ok=True)
        roots = set()
        import base64

        def fetch(c):
            st, s = self.api(c, "GET", "/api/v1/namespaces/istio-system/secrets/cacerts")
            if st != 200:
                raise Fail("output Secret on %s: %d" % (c, st))
            d = s.get("data") or {}
            cert, chain = base64.b64decode(d["ca-cert.pem"]).decode(), base64.b64decode(d["cert-chain.pem"]).decode()
            if not chain.startswith(cert.strip()):
                raise Fail("%s: cert-chain.pem does not start with ca-cert.pem" % c)
            roots.add(base64.b64decode(d["root-cert.pem"]).decode())
            open(os.path.join(out, c + ".pem"), "w").write(cert)

        self.parallel(fetch, self.clusters)
        if len(roots) != 1:
            raise Fail("%d different roots among the outputs" % len(roots))
        root = os.path.join(out, "root.pem")
        open(root, "w").write(roots.pop())
        ok = 0
        for i in range(0, self.n, 200):
            files = [os.path.join(out, c + ".pem") for c in self.clusters[i:i + 200]]
            r = subprocess.run(["openssl", "verify", "-CAfile", root] + files, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            ok += sum(1 for line in r.stdout.decode().splitlines() if line.endswith(": OK"))
        if ok != self.n:
            raise Fail("%d of %d chains verify" % (ok, self.n))
        self.r["verified"] = ok

    def restart_issuer(self):
        self.stop("issuer")
        t0 = time.monotonic()
        self.start_issuer()
        self.wait_issuer_synced(time.monotonic() + 120 + self.n)
        self.r["issuer_resync_s"] = time.monotonic() - t0

    def storm(self):
        before, cpu0 = self.scrape(), self.cpu()
        t0 = time.monotonic()
        # What `meshcert rotate --all` writes (the rotate annotation, a merge
        # patch per IssuedCertificate), from 4 keep-alive connections: the CLI
        # visits the clusters one after the other (a TLS handshake, a GET of the
        # registration, a LIST and a PATCH each), which would spread the storm.
        token = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "-" + os.urandom(4).hex()

        def annotate(c):
            st, reply = self.api(c, "PATCH", "%s/namespaces/%s/issuedcertificates/mesh" % (CRD_BASE, NS),
                                 json.dumps({"metadata": {"annotations": {ROTATE_ANNOTATION: token}}}).encode(),
                                 "application/merge-patch+json")
            if st != 200:
                raise Fail("rotate annotation on %s: %d %s" % (c, st, json.dumps(reply)[:300]))

        self.parallel(annotate, self.clusters)
        t_rotated = time.monotonic()
        times = self.wait_finished(t0, 120 + self.n)
        time.sleep(1.0)
        after, cpu1 = self.scrape(), self.cpu()
        total = sum(after.values()) - sum(before.values()) - self.n  # less the bench's own PATCHes
        codes = {}
        for (verb, code), v in after.items():
            codes[code] = codes.get(code, 0) + v - before.get((verb, code), 0)
        self.r.update({
            "storm_annotate_s": t_rotated - t0, "storm_first_s": times[0] - t0, "storm_last_s": times[-1] - t0,
            "storm_spread_s": times[-1] - times[0], "storm_peak_rate": self.peak_rate(t0, times[-1]),
            "storm_requests_per": total / self.n,
            "storm_refused": sum(d for c, d in codes.items() if c == "429" or c.startswith("5")),
            "storm_cpu": sum(cpu1[k] - cpu0[k] for k in cpu1)})
        log("N=%d: renewal storm: first FINISHED %.2f s, last %.2f s after the rotate annotations" % (
            self.n, times[0] - t0, times[-1] - t0))

    def ceiling(self):
        r = subprocess.run([self.a.pki_bench, "ceiling", str(self.n)], stdout=subprocess.PIPE, check=True)
        self.r["ceiling_s"] = float(r.stdout.decode().split()[2])

    def count_log_problems(self):
        n = 0
        for name in ("issuer", "agents"):
            for line in open(os.path.join(self.logs, name + ".log"), errors="replace"):
                if re.search(r"timed out|timeout|429|too many requests", line, re.I):
                    n += 1
        self.r["client_timeouts_429_log_lines"] = n

    def run(self):
        self.r["load_start"] = open("/proc/loadavg").read().split()[:3]
        self.setup()
        self.sampling = True
        sampler = threading.Thread(target=self.sampler, daemon=True)
        sampler.start()
        try:
            self.issuance()
            self.restart_issuer()
            self.storm()
        finally:
            self.sampling = False
            sampler.join()
        self.ceiling()
        self.count_log_problems()
        self.r["load_end"] = open("/proc/loadavg").read().split()[:3]
        statuses = {}
        for name in ["issuer", "agents", "server"]:
            statuses[name] = self.stop(name)
        self.r["exit"] = statuses
        return self.r


def table(results):
    cols = [r["n"] for r in results]
    rows = []

    def row(label, fn):
        rows.append([label] + [fn(r) for r in results])

    row("load average at start (1/5/15 min)", lambda r: "/".join(r["load_start"]))
    row("setup: server start / clusters prepared and registered (s)",
        lambda r: "%.1f / %.1f" % (r["server_start_s"], r["setup_s"]))
    row("setup: agents synced / issuer synced after (s)",
        lambda r: "%.1f / %.1f" % (r["agents_sync_s"], r["issuer_sync_first_s"]))
    row("wall time to all FINISHED (s)", lambda r: "%.2f" % r["wall_s"])
    row("CPU issuer / agents / server (s)",
        lambda r: "%.2f / %.2f / %.2f" % (r["cpu"]["issuer"], r["cpu"]["agents"], r["cpu"]["server"]))
    row("CPU total (s)", lambda r: "%.2f" % r["cpu_total"])
    row("crypto ceiling: N keygen+CSR+issue (s)", lambda r: "%.3f" % r["ceiling_s"])
    row("CPU total / ceiling", lambda r: "%.1f" % (r["cpu_total"] / r["ceiling_s"]))
    row("API requests per issuance (server)", lambda r: "%.2f" % r["per_issuance_total"])
    row("  by verb", lambda r: " ".join("%s %.2f" % kv for kv in sorted(r["per_issuance"].items())))
    row("answers 429 or 5xx (issuance / storm)", lambda r: "%d / %d" % (r["refused"], r["storm_refused"]))
    row("client log lines: timeout/429", lambda r: "%d" % r["client_timeouts_429_log_lines"])
    row("issuer watch restarts during issuance", lambda r: "%d" % r["issuer_watch_restarts"])
    row("peak server request rate, issuance (/s)", lambda r: "%.0f" % r["peak_rate_issue"])
    row("issuer RSS (MiB) / threads", lambda r: "%.1f / %d" % (r["issuer"]["VmRSS"], r["issuer"]["Threads"]))
    row("agents process RSS (MiB) / threads", lambda r: "%.1f / %d" % (r["agents"]["VmRSS"], r["agents"]["Threads"]))
    row("server RSS (MiB) / threads", lambda r: "%.1f / %d" % (r["server"]["VmRSS"], r["server"]["Threads"]))
    row("server open sockets", lambda r: "%d" % r["server_sockets"])
    row("issuer / agents sockets", lambda r: "%d / %d" % (r["issuer_sockets"], r["agents_sockets"]))
    row("chains verified (openssl)", lambda r: "%d" % r["verified"])
    row("restarted issuer: all clusters synced (s)", lambda r: "%.2f" % r["issuer_resync_s"])
    row("storm: all annotated (s)", lambda r: "%.2f" % r["storm_annotate_s"])
    row("storm: first / last FINISHED (s)", lambda r: "%.2f / %.2f" % (r["storm_first_s"], r["storm_last_s"]))
    row("storm: spread first-to-last (s)", lambda r: "%.2f" % r["storm_spread_s"])
    row("storm: peak server request rate (/s)", lambda r: "%.0f" % r["storm_peak_rate"])
    row("storm: requests per renewal (all)", lambda r: "%.2f" % r["storm_requests_per"])
    row("storm: CPU total (s)", lambda r: "%.2f" % r["storm_cpu"])
    row("exit status after SIGTERM", lambda r: "/".join(str(r["exit"][k]) for k in ("issuer", "agents", "server")))
    print()
    print("| measure | " + " | ".join("N = %d" % c for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    big = next((r for r in results if r["n"] == 1000), None)
    if big:
        print()
        checks = [
            ("all FINISHED <= 30 s", big["wall_s"] <= TARGET_WALL, "%.2f s" % big["wall_s"]),
            ("total CPU <= 5x ceiling", big["cpu_total"] / big["ceiling_s"] <= TARGET_CPU_RATIO,
             "%.1fx" % (big["cpu_total"] / big["ceiling_s"])),
            ("<= 12 API requests per issuance", big["per_issuance_total"] <= TARGET_REQS,
             "%.2f" % big["per_issuance_total"]),
            ("issuer RSS <= 64 MiB", big["issuer"]["VmRSS"] <= TARGET_RSS_MIB, "%.1f MiB" % big["issuer"]["VmRSS"]),
            ("no 429 or 5xx", big["refused"] + big["storm_refused"] == 0,
             "%d" % (big["refused"] + big["storm_refused"])),
        ]
        small = results[0]
        checks.append(("issuer threads flat in N", big["issuer"]["Threads"] <= small["issuer"]["Threads"],
                       "%d at N=%d, %d at N=1000" % (small["issuer"]["Threads"], small["n"], big["issuer"]["Threads"])))
        print("| target (N = 1 000) | result | |")
        print("|---|---|---|")
        for name, ok, val in checks:
            print("| %s | %s | %s |" % (name, val, "met" if ok else "MISSED"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--meshcert", required=True)
    p.add_argument("--agents", required=True)
    p.add_argument("--pki-bench", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--sizes", default="10,100,1000")
    args = p.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x]

    def on_signal(sig, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    results, rc = [], 1
    size = None
    try:
        for n in sizes:
            log("N=%d: starting (load average %s)" % (n, open("/proc/loadavg").read().split()[:3]))
            size = Size(args, n)
            results.append(size.run())
            json.dump(results, open(os.path.join(args.work, "results.json"), "w"), indent=1)
            size = None
        table(results)
        rc = 0
    except Fail as e:
        print("bench-scale FAILED: %s" % e, file=sys.stderr)
    except KeyboardInterrupt:
        print("bench-scale: interrupted", file=sys.stderr)
        rc = 130
    finally:
        if size:
            size.stop_all()
    return rc


if __name__ == "__main__":
    sys.exit(main())
