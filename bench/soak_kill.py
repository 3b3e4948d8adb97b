#!/usr/bin/env python3
"""soak_kill.py - the driver of `make soak-kill` (bench/soak_kill.sh).

Runs the whole workflow as real processes on loopback: `meshcert server`
(clusters mgmt, east, west), `meshcert issuer --generate-root` on mgmt, one
`meshcert agent` per managed cluster, east and west registered with
`meshcert cluster register` and policy flags. Then ROUNDS rounds; each round
  - writes a ledger ConfigMap on every cluster,
  - creates one issuance (alternately on east and west): a PodBounceDirective,
    two pods it selects, and an IssuedCertificate writing istio-system/cacerts-N,
  - SIGKILLs one of server, issuer, agent-east, agent-west, chosen at random,
    at a random moment, and restarts it 0-300 ms later (the server on the
    same port and data directory),
  - plays a Deployment: every pod that disappeared is replaced at once by a
    new pod with the same labels (which must never be bounced: its issuance
    already bounced the originals).
Afterwards it lets everything converge and checks:
  - 0 lost acknowledged writes (every create answered 201 is present; a pod
    may instead be gone when a directive recorded its bounce);
  - 0 IssuedCertificates with two live keys (one key Secret owned by each, and
    the output's ca-key.pem equals it);
  - 0 pods bounced twice for one issuance (no replacement bounced, no uid twice
    in a directive's status, at most the two originals recorded);
  - 0 broken chains (`openssl verify` of every output, one root for all);
  - every process still stops with exit status 0 on SIGTERM.
Python 3 standard library + the openssl CLI. Child pids are written to
WORK/pids so that the shell wrapper can stop them if this driver dies.
Usage: soak_kill.py --meshcert BIN --work DIR --rounds N [--seed S]
"""
import argparse
import base64
import http.client
import json
import os
import random
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
APPS = "apps"
SPIFFE = "spiffe://cluster.local/ns/istio-system/sa/citadel"
MANAGED = ["east", "west"]
PRIVATE_KEY_TYPE = "certificates.smh.solo.io/generated_private_key"


def log(msg):
    print("soak-kill: " + msg, flush=True)


class Fail(Exception):
    pass


class Soak:
    def __init__(self, args):
        self.a = args
        self.bin = args.meshcert
        self.work = args.work
        self.data = os.path.join(self.work, "data")
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.rng = random.Random(args.seed)
        self.procs = {}  # name -> Popen
        self.port = 0
        self.tokens = {}
        self.ctx = None
        self.kills = {"server": 0, "issuer": 0, "agent-east": 0, "agent-west": 0}
        self.acked = []          # (cluster, path) of every create answered 201
        self.lost_answers = 0    # creates answered 409 after a lost answer
        self.pods = {}           # uid -> {cluster, name, app, original, gone}
        self.replacements = 0
        self.retries = 0

    # ------------------------------------------------------------ processes
    def write_pids(self):
        with open(os.path.join(self.work, "pids"), "w") as f:
            for p in self.procs.values():
                if p and p.poll() is None:
                    f.write("%d\n" % p.pid)

    def spawn(self, name, argv):
        out = open(os.path.join(self.logs, name + ".log"), "ab")
        out.write(("\n==== start %s\n" % time.strftime("%H:%M:%S")).encode())
        out.flush()
        self.procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        self.write_pids()

    def start_server(self):
        self.spawn("server", [self.bin, "server", "--data-dir", self.data, "--listen", "127.0.0.1:%d" % self.port,
                              "--cluster", "mgmt", "--cluster", "east", "--cluster", "west", "--log-level", "warn"])
        deadline = time.monotonic() + 30
        sj = os.path.join(self.data, "server.json")
        while time.monotonic() < deadline:
            if self.procs["server"].poll() is not None:
                raise Fail("the server exited at start (logs/server.log)")
            try:
                port = json.load(open(sj))["port"]
            except Exception:
                port = 0
            if port and (not self.port or port == self.port):
                if not self.ctx:
                    self.ctx = ssl.create_default_context(cafile=os.path.join(self.data, "ca-cert.pem"))
                    self.ctx.check_hostname = False
                try:
                    c = http.client.HTTPSConnection("127.0.0.1", port, context=self.ctx, timeout=2)
                    c.request("GET", "/healthz")
                    if c.getresponse().status == 200:
                        self.port = port
                        return
                except Exception:
                    pass
            time.sleep(0.05)
        raise Fail("the server did not answer /healthz within 30 s")

    def kubeconfig(self, cluster):
        return os.path.join(self.data, "kubeconfigs", cluster + ".yaml")

    def start_issuer(self):
        self.spawn("issuer", [self.bin, "issuer", "--kubeconfig", self.kubeconfig("mgmt"), "--namespace", NS,
                              "--generate-root", "--root-key-type", "ec-p256",
                              "--leader-elect-lease-duration", "2s", "--leader-elect-renew-deadline", "1500ms",
                              "--leader-elect-retry-period", "250ms", "--log-level", "info"])

    def start_agent(self, cluster):
        self.spawn("agent-" + cluster, [self.bin, "agent", "--kubeconfig", self.kubeconfig(cluster), "--namespace", NS,
                                        "--watch-namespaces", "istio-system," + APPS,
                                        "--key-type", "ec-p256", "--log-level", "info"])

    def start(self, name):
        if name == "server":
            self.start_server()
        elif name == "issuer":
            self.start_issuer()
        else:
            self.start_agent(name.split("-", 1)[1])

    def kill9(self, name):
        p = self.procs.get(name)
        if p and p.poll() is None:
            p.kill()
            p.wait()
        self.procs[name] = None
        self.write_pids()

    def check_alive(self):
        for name, p in self.procs.items():
            if p is not None and p.poll() is not None:
                raise Fail("%s exited by itself with status %s (logs/%s.log)" % (name, p.returncode, name))

    def stop_all(self, clean):
        """SIGTERM everything (clients first); returns {name: exit status}."""
        statuses = {}
        order = [n for n in self.procs if n != "server"] + ["server"]
        for name in order:
            p = self.procs.get(name)
            if not p:
                continue
            if p.poll() is None:
                p.send_signal(signal.SIGTERM if clean else signal.SIGKILL)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    statuses[name] = "did not exit within 20 s of SIGTERM"
                    continue
            statuses[name] = p.returncode
        self.procs = {}
        self.write_pids()
        return statuses

    # ------------------------------------------------------------ API
    def api(self, cluster, method, path, body=None, ctype="application/json", tries=400):
        """One request, retried while the server is down (no answer, 5xx)."""
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        for attempt in range(tries):
            try:
                c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=10)
                headers = {"Authorization": "Bearer " + self.tokens[cluster]}
                if data is not None:
                    headers["Content-Type"] = ctype
                c.request(method, "/clusters/" + cluster + path, body=data, headers=headers)
                r = c.getresponse()
                text = r.read()
                c.close()
                if r.status >= 500:
                    raise OSError("status %d" % r.status)
                try:
                    return r.status, json.loads(text) if text else None
                except ValueError:
                    return r.status, None
            except (OSError, http.client.HTTPException, ssl.SSLError, socket.timeout):
                self.retries += 1
                time.sleep(0.05)
        raise Fail("%s %s on %s: no answer after %d tries" % (method, path, cluster, tries))

    def create(self, cluster, path, obj, ctype="application/json", track=True):
        """Creates obj; 201 is an acknowledged write; 409 after a retry means an
        earlier attempt committed and its answer was lost."""
        status, reply = self.api(cluster, "POST", path, obj, ctype)
        name = obj["metadata"]["name"] if isinstance(obj, dict) else None
        if status == 201:
            if track:
                self.acked.append((cluster, path + "/" + name))
            return reply
        if status == 409:
            self.lost_answers += 1
            st, reply = self.api(cluster, "GET", path + "/" + name)
            return reply if st == 200 else None
        if status == 404 and attempt_crd(path):
            return None
        raise Fail("create %s/%s on %s answered %d: %s" % (path, name, cluster, status, json.dumps(reply)[:300]))

    def create_retry_404(self, cluster, path, obj, ctype="application/json"):
        for _ in range(100):
            r = self.create(cluster, path, obj, ctype)
            if r is not None:
                return r
            time.sleep(0.1)
        raise Fail("create %s on %s: still 404 (CRD not served?)" % (path, cluster))

    # ------------------------------------------------------------ setup
    def setup(self):
        self.start_server()
        for c in ["mgmt"] + MANAGED:
            self.tokens[c] = open(os.path.join(self.data, "tokens", c)).read().strip()
        ns = lambda n: {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
        self.create("mgmt", "/api/v1/namespaces", ns(NS), track=False)
        crds = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "crds")
        for c in MANAGED:
            for n in (NS, "istio-system", APPS):
                self.create(c, "/api/v1/namespaces", ns(n), track=False)
            for f in sorted(os.listdir(crds)):
                st, reply = self.api(c, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                     open(os.path.join(crds, f), "rb").read(), "application/yaml")
                if st not in (201, 409):
                    raise Fail("CRD %s on %s: %d" % (f, c, st))
            # register with an issuance policy (the operator's command)
            r = subprocess.run([self.bin, "cluster", "register", c, "--keep-kubeconfig",
                                "--kubeconfig", self.kubeconfig("mgmt"),
                                "--kubeconfig-file", self.kubeconfig(c), "--trust-domain", "cluster.local",
                                "--dns-suffix", "istio-system.svc", "--org", "Istio", "--root", NS + "/root-ca"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            if r.returncode != 0:
                raise Fail("cluster register %s: %s" % (c, r.stdout.decode()[-500:]))
        self.start_issuer()
        for c in MANAGED:
            self.start_agent(c)

    # ------------------------------------------------------------ rounds
    def create_pod(self, cluster, app, name, original):
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": APPS, "labels": {"app": "w%03d" % app}},
               "spec": {"containers": [{"name": "app", "image": "workload"}]}}
        reply = self.create(cluster, "/api/v1/namespaces/%s/pods" % APPS, pod)
        uid = reply["metadata"]["uid"]
        self.pods[uid] = {"cluster": cluster, "name": name, "app": app, "original": original, "gone": False}

    def create_issuance(self, i):
        cluster = MANAGED[i % 2]
        d = "bounce-%03d" % i
        self.create_retry_404(cluster, "%s/namespaces/%s/podbouncedirectives" % (CRD_BASE, NS), {
            "apiVersion": GV, "kind": "PodBounceDirective", "metadata": {"name": d, "namespace": NS},
            "spec": {"podsToBounce": [{"namespace": APPS, "labels": {"app": "w%03d" % i}}]}})
        for p in "ab":
            self.create_pod(cluster, i, "w%03d-%s" % (i, p), True)
        self.create_retry_404(cluster, "%s/namespaces/%s/issuedcertificates" % (CRD_BASE, NS), {
            "apiVersion": GV, "kind": "IssuedCertificate", "metadata": {"name": "mesh-%03d" % i, "namespace": NS},
            "spec": {"hosts": [SPIFFE], "org": "Istio",
                     "signingCertificateSecret": {"name": "root-ca", "namespace": NS},
                     "issuedCertificateSecret": {"name": "cacerts-%03d" % i, "namespace": "istio-system"},
                     "podBounceDirective": {"name": d, "namespace": NS}}})

    def write_ledger(self, i):
        for c in ["mgmt"] + MANAGED:
            self.create(c, "/api/v1/namespaces/%s/configmaps" % NS, {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ledger-%03d" % i, "namespace": NS},
                "data": {"round": str(i)}})

    def replace_bounced(self):
        """The Deployment: every pod gone is replaced at once (same labels)."""
        for c in MANAGED:
            st, lst = self.api(c, "GET", "/api/v1/namespaces/%s/pods" % APPS)
            if st != 200:
                raise Fail("list pods on %s: %d" % (c, st))
            live = {item["metadata"]["uid"] for item in lst["items"]}
            for uid, p in list(self.pods.items()):
                if p["cluster"] == c and not p["gone"] and uid not in live:
                    p["gone"] = True
                    self.replacements += 1
                    self.create_pod(c, p["app"], "w%03d-r%d" % (p["app"], self.replacements), False)

    def run_rounds(self):
        victims = list(self.kills)
        t0 = time.monotonic()
        for i in range(self.a.rounds):
            self.check_alive()
            # the kill lands while this round's writes are in flight (a killed
            # server leaves them unanswered; they are retried, as a client would)
            victim = self.rng.choice(victims)
            delay, down = self.rng.uniform(0, 0.8), self.rng.uniform(0, 0.3)
            errors = []

            def kill_and_restart():
                try:
                    time.sleep(delay)
                    self.kill9(victim)
                    self.kills[victim] += 1
                    time.sleep(down)
                    self.start(victim)
                except Fail as e:
                    errors.append(e)

            killer = threading.Thread(target=kill_and_restart)
            killer.start()
            self.write_ledger(i)
            self.create_issuance(i)
            self.replace_bounced()
            extra = 0
            while killer.is_alive():  # keep writes in flight across the kill
                extra += 1
                c = self.rng.choice(["mgmt"] + MANAGED)
                self.create(c, "/api/v1/namespaces/%s/configmaps" % NS, {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "ledger-%03d-%d" % (i, extra), "namespace": NS},
                    "data": {"round": str(i)}})
            killer.join()
            if errors:
                raise errors[0]
            self.replace_bounced()
            if (i + 1) % 10 == 0:
                log("round %d/%d, %.0f s, kills %s" % (i + 1, self.a.rounds, time.monotonic() - t0, self.kills))
        return time.monotonic() - t0

    # ------------------------------------------------------------ convergence and checks
    def ics(self, c):
        st, lst = self.api(c, "GET", "%s/namespaces/%s/issuedcertificates" % (CRD_BASE, NS))
        return lst["items"]

    def converge(self, timeout):
        t0 = time.monotonic()
        total = self.a.rounds
        while True:
            self.check_alive()
            self.replace_bounced()
            done, states = 0, {}
            for c in MANAGED:
                for ic in self.ics(c):
                    s = (ic.get("status") or {}).get("state", "")
                    states[s] = states.get(s, 0) + 1
                    if s == "FINISHED" and ic["status"].get("observedGeneration") == ic["metadata"].get("generation"):
                        done += 1
            if done == total:
                return time.monotonic() - t0, states
            if time.monotonic() - t0 > timeout:
                raise Fail("not converged within %d s: %d of %d FINISHED, states %s" % (timeout, done, total, states))
            time.sleep(0.5)

    def secret_value(self, secret, key):
        v = (secret.get("data") or {}).get(key)
        return base64.b64decode(v).decode() if v else None

    def check(self):
        problems = {"lost_writes": [], "two_keys": [], "double_bounce": [], "broken_chain": [], "other": []}
        # lost acknowledged writes
        bounced_uids = set()
        for c in MANAGED:
            st, lst = self.api(c, "GET", "%s/namespaces/%s/podbouncedirectives" % (CRD_BASE, NS))
            for d in lst["items"]:
                recs = (d.get("status") or {}).get("bouncedPods") or []
                uids = [r.get("uid") for r in recs]
                bounced_uids.update(uids)
                if len(uids) != len(set(uids)):
                    problems["double_bounce"].append("%s %s records a pod twice" % (c, d["metadata"]["name"]))
                if len(uids) > 2:
                    problems["double_bounce"].append("%s %s records %d bounces for 2 pods" % (c, d["metadata"]["name"], len(uids)))
                for u in uids:
                    p = self.pods.get(u)
                    if p is None or not p["original"]:
                        problems["double_bounce"].append("%s %s records pod %s, not one of its originals" % (
                            c, d["metadata"]["name"], p["name"] if p else u))
        for c, path in self.acked:
            st, obj = self.api(c, "GET", path)
            if st == 200:
                continue
            if "/pods/" in path:
                uid = next((u for u, p in self.pods.items() if p["cluster"] == c and path.endswith("/" + p["name"])), None)
                if uid in bounced_uids:
                    continue
            problems["lost_writes"].append("%s %s: %d" % (c, path, st))
        # one live key each, output holds it; chains
        roots = set()
        chains_ok = 0
        for i in range(self.a.rounds):
            c = MANAGED[i % 2]
            name = "mesh-%03d" % i
            st, ic = self.api(c, "GET", "%s/namespaces/%s/issuedcertificates/%s" % (CRD_BASE, NS, name))
            if st != 200:
                continue  # counted as a lost write
            st, secrets = self.api(c, "GET", "/api/v1/namespaces/%s/secrets" % NS)
            keys = [s for s in secrets["items"] if s.get("type") == PRIVATE_KEY_TYPE and any(
                o.get("uid") == ic["metadata"]["uid"] for o in s["metadata"].get("ownerReferences") or [])]
            st, out = self.api(c, "GET", "/api/v1/namespaces/istio-system/secrets/cacerts-%03d" % i)
            if len(keys) != 1:
                problems["two_keys"].append("%s %s: %d key Secrets" % (c, name, len(keys)))
            if st != 200:
                problems["broken_chain"].append("%s cacerts-%03d: %d" % (c, i, st))
                continue
            if keys and self.secret_value(keys[0], "private-key") != self.secret_value(out, "ca-key.pem"):
                problems["two_keys"].append("%s %s: ca-key.pem is not the key Secret's key" % (c, name))
            d = os.path.join(self.work, "out", "%03d" % i)
            os.makedirs(d, exist_ok=True)
            for k in ("ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"):
                v = self.secret_value(out, k)
                if v is None:
                    problems["broken_chain"].append("%s cacerts-%03d has no %s" % (c, i, k))
                    break
                open(os.path.join(d, k), "w").write(v)
            else:
                roots.add(open(os.path.join(d, "root-cert.pem")).read())
                r = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(d, "root-cert.pem"), "-untrusted",
                                    os.path.join(d, "cert-chain.pem"), os.path.join(d, "ca-cert.pem")],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                cert_pub = subprocess.run(["openssl", "x509", "-noout", "-pubkey", "-in", os.path.join(d, "ca-cert.pem")],
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
                key_pub = subprocess.run(["openssl", "pkey", "-pubout", "-in", os.path.join(d, "ca-key.pem")],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
                if r.returncode != 0:
                    problems["broken_chain"].append("%s cacerts-%03d: %s" % (c, i, r.stdout.decode().strip()[-200:]))
                elif not cert_pub or cert_pub != key_pub:
                    problems["broken_chain"].append("%s cacerts-%03d: ca-key.pem does not match ca-cert.pem" % (c, i))
                else:
                    chains_ok += 1
        if len(roots) > 1:
            problems["broken_chain"].append("%d different roots among the outputs" % len(roots))
        # bounces: each original bounced once (gone), no replacement bounced
        self.replace_bounced()
        never = [p["name"] for p in self.pods.values() if p["original"] and not p["gone"]]
        second = [p["name"] for p in self.pods.values() if not p["original"] and p["gone"]]
        for n in second:
            problems["double_bounce"].append("replacement pod %s was bounced (a second bounce for one issuance)" % n)
        if never:
            problems["other"].append("%d original pods never bounced: %s" % (len(never), never[:5]))
        return problems, chains_ok


def attempt_crd(path):
    return path.startswith(CRD_BASE)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--meshcert", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--converge-seconds", type=float, default=0)
    args = p.parse_args()
    s = Soak(args)
    stopping = {"sig": None}

    def on_signal(sig, frame):
        stopping["sig"] = sig
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    log("%s, %d rounds, seed %d, work %s" % (args.meshcert, args.rounds, args.seed, args.work))
    rc = 1
    try:
        s.setup()
        secs = s.run_rounds()
        log("%d rounds in %.1f s; converging" % (args.rounds, secs))
        conv, states = s.converge(args.converge_seconds or 60 + 2 * args.rounds)
        problems, chains_ok = s.check()
        statuses = s.stop_all(clean=True)
        bad_exit = {n: st for n, st in statuses.items() if st != 0}
        total = sum(len(v) for v in problems.values())
        print("soak-kill summary (seed %d):" % args.seed)
        print("  rounds               %d in %.1f s, converged %.1f s later" % (args.rounds, secs, conv))
        print("  SIGKILLs             %s (total %d)" % (s.kills, sum(s.kills.values())))
        print("  acknowledged creates %d (answers lost to a kill, found present: %d; requests retried: %d)" % (
            len(s.acked), s.lost_answers, s.retries))
        print("  pods                 %d originals, %d replacements made by the Deployment loop" % (
            sum(1 for p in s.pods.values() if p["original"]), s.replacements))
        print("  lost acknowledged writes         %d" % len(problems["lost_writes"]))
        print("  IssuedCertificates with 2 keys   %d" % len(problems["two_keys"]))
        print("  pods bounced twice for 1 issuance %d" % len(problems["double_bounce"]))
        print("  broken chains                    %d (%d outputs verified by openssl)" % (
            len(problems["broken_chain"]), chains_ok))
        print("  other problems                   %d" % len(problems["other"]))
        print("  exit status after SIGTERM        %s" % (statuses if bad_exit else "all 0"))
        for k, v in problems.items():
            for x in v[:10]:
                print("    %s: %s" % (k, x))
        rc = 0 if total == 0 and not bad_exit else 1
    except Fail as e:
        print("soak-kill FAILED: %s (kills so far %s)" % (e, s.kills), file=sys.stderr)
    except KeyboardInterrupt:
        print("soak-kill: interrupted", file=sys.stderr)
        rc = 130
    finally:
        s.stop_all(clean=False)
    print("soak-kill OK" if rc == 0 else "soak-kill FAILED")
    return rc


if __name__ == "__main__":
    sys.exit(main())
