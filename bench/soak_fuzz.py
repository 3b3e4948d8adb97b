#!/usr/bin/env python3
"""soak_fuzz.py - the request generator of `make soak-fuzz` (bench/soak_fuzz.sh).

Sends mutated HTTPS requests to a running `meshcert server` for a given time:
methods, paths (long, percent-encoded, invalid UTF-8, deep), query parameters
(watch, resourceVersion, dryRun, fieldManager, labelSelector, ...), headers
(content types, bearer spelling, huge and many headers, lying Content-Length),
bodies mutated from valid seeds (truncated, deeply nested, huge fields, invalid
UTF-8, wrong types), watches opened and abandoned, slow readers. Requests are
written as raw bytes over TLS so that nothing a client library would refuse
is left out. Every few seconds /healthz must answer.

Beside the fuzzer, a canary writer makes only valid writes (create, update,
merge patch, apply, delete) in namespace "canary" of every cluster and records
the last acknowledged state of each object; the fuzzer never writes there.
`verify` checks, after the server's restart, that every acknowledged write is
present (and every acknowledged delete absent).

Python 3 standard library only. Usage:
  soak_fuzz.py seed   --data-dir D --base URL --clusters a,b
  soak_fuzz.py run    --data-dir D --base URL --clusters a,b --seconds N --pid P --state F
  soak_fuzz.py verify --data-dir D --base URL --clusters a,b --state F
"""
import argparse
import base64
import collections
import json
import os
import random
import socket
import ssl
import sys
import threading
import time
import urllib.parse

CANARY_NS = "canary"
FUZZ_NS = "fuzz"
RESOURCES = [
    ("", "v1", "configmaps", True),
    ("", "v1", "secrets", True),
    ("", "v1", "pods", True),
    ("", "v1", "events", True),
    ("", "v1", "namespaces", False),
    ("", "v1", "serviceaccounts", True),
    ("coordination.k8s.io", "v1", "leases", True),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", False),
    ("certificates.smh.solo.io", "v1alpha2", "issuedcertificates", True),
    ("certificates.smh.solo.io", "v1alpha2", "certificaterequests", True),
    ("certificates.smh.solo.io", "v1alpha2", "podbouncedirectives", True),
    ("rbac.authorization.k8s.io", "v1", "roles", True),
    ("authorization.k8s.io", "v1", "selfsubjectaccessreviews", False),
    ("authentication.k8s.io", "v1", "selfsubjectreviews", False),
    ("apps", "v1", "deployments", True),
    ("nosuch.example.com", "v9", "widgets", True),
]
CONTENT_TYPES = [
    "application/json", "application/json; charset=utf-8", "application/yaml",
    "application/apply-patch+yaml", "application/merge-patch+json",
    "application/strategic-merge-patch+json", "application/json-patch+json",
    "application/vnd.kubernetes.protobuf", "application/x-www-form-urlencoded",
    "text/plain", "multipart/form-data; boundary=x", "application/json;;;", "",
    "application/" + "x" * 3000, "APPLICATION/JSON", "application/yaml; charset=latin1",
]
ACCEPTS = [
    "application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
    "application/json;as=Table;v=v1;g=meta.k8s.io", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
    "*/*", "text/html", "application/vnd.kubernetes.protobuf;stream=watch", "application/json;stream=watch",
    "", "application/" + "y" * 500,
]
METHODS = ["GET"] * 6 + ["POST"] * 4 + ["PUT"] * 3 + ["PATCH"] * 4 + ["DELETE"] * 2 + [
    "HEAD", "OPTIONS", "TRACE", "CONNECT", "get", "FOO", "P\x00ST", "G" * 300, "PROPFIND"]
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def tokens_of(data_dir, clusters):
    out = {}
    for c in clusters:
        with open(os.path.join(data_dir, "tokens", c)) as f:
            out[c] = f.read().strip()
    return out


def tls_context(data_dir):
    ctx = ssl.create_default_context(cafile=os.path.join(data_dir, "ca-cert.pem"))
    ctx.check_hostname = False
    return ctx


class Conn:
    """One raw request over a fresh TLS connection."""

    def __init__(self, host, port, ctx):
        self.host, self.port, self.ctx = host, port, ctx

    def open(self, timeout=10):
        raw = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            return self.ctx.wrap_socket(raw, server_hostname=self.host)
        except Exception:
            raw.close()
            raise

    def exchange(self, request, timeout=10, max_read=64 << 20, slow=False):
        """Sends request bytes, reads the reply until close; returns (status, body)."""
        s = self.open(timeout)
        try:
            s.settimeout(timeout)
            s.sendall(request)
            chunks, total = [], 0
            deadline = time.monotonic() + timeout
            while total < max_read and time.monotonic() < deadline:
                try:
                    d = s.recv(1 if slow else 65536)
                except socket.timeout:
                    break
                if not d:
                    break
                chunks.append(d)
                total += len(d)
                if slow:
                    time.sleep(0.02)
                    if total > 60:
                        time.sleep(1)  # then stop reading, and hang up
                        break
            data = b"".join(chunks)
        finally:
            try:
                s.close()
            except Exception:
                pass
        return parse_status(data), data


def parse_status(data):
    line = data.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return 0 if not data else -1


def reply_body(data):
    head, _, body = data.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = [], body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            try:
                n = int(size_line.split(b";")[0], 16)
            except ValueError:
                break
            if n == 0:
                break
            out.append(rest[:n])
            rest = rest[n + 2:]
        body = b"".join(out)
    return body


def build_request(method, path, host, headers, body):
    if isinstance(method, str):
        method = method.encode("latin-1", "replace")
    if isinstance(path, str):
        path = path.encode("utf-8", "surrogateescape")
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: " + host.encode()]
    has_length = any(k.lower() in (b"content-length", b"transfer-encoding") for k, _ in headers)
    for k, v in headers:
        lines.append(k + b": " + v)
    if body is not None and not has_length:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


# ---------------------------------------------------------------- seeds

def seed_objects(ns, i):
    meta = {"name": "obj-%d" % i, "namespace": ns, "labels": {"app": "w%d" % (i % 5), "tier": "x"}}
    return [
        ("", "v1", "configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                                  "data": {"k": "v" * (i % 50), "n": str(i)}}),
        ("", "v1", "secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": meta,
                               "type": "Opaque", "data": {"key": base64.b64encode(b"s3cret").decode()}}),
        ("", "v1", "pods", {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        ("certificates.smh.solo.io", "v1alpha2", "issuedcertificates",
         {"apiVersion": "certificates.smh.solo.io/v1alpha2", "kind": "IssuedCertificate", "metadata": meta,
          "spec": {"hosts": ["spiffe://cluster.local/ns/istio-system/sa/citadel"], "org": "Istio",
                   "signingCertificateSecret": {"name": "root-ca", "namespace": "meshcert"},
                   "issuedCertificateSecret": {"name": "cacerts", "namespace": "istio-system"}}}),
        ("certificates.smh.solo.io", "v1alpha2", "podbouncedirectives",
         {"apiVersion": "certificates.smh.solo.io/v1alpha2", "kind": "PodBounceDirective", "metadata": meta,
          "spec": {"podsToBounce": [{"namespace": "apps", "labels": {"app": "x"}}]}}),
        ("coordination.k8s.io", "v1", "leases",
         {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
          "spec": {"holderIdentity": "h", "leaseDurationSeconds": 15}}),
    ]


def to_yaml(obj, indent=0):
    """A tiny JSON-to-YAML writer for the seeds (block style, quoted scalars)."""
    pad = "  " * indent
    if isinstance(obj, dict):
        if not obj:
            return pad + "{}\n"
        out = ""
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out += "%s%s:\n%s" % (pad, json.dumps(k), to_yaml(v, indent + 1))
            else:
                out += "%s%s: %s\n" % (pad, json.dumps(k), json.dumps(v))
        return out
    if isinstance(obj, list):
        out = ""
        for v in obj:
            if isinstance(v, (dict, list)) and v:
                inner = to_yaml(v, indent + 1).lstrip()
                out += "%s- %s" % (pad, inner)
            else:
                out += "%s- %s\n" % (pad, json.dumps(v))
        return out
    return pad + json.dumps(obj) + "\n"


# ---------------------------------------------------------------- mutation

class Fuzzer:
    def __init__(self, rng, clusters, tokens):
        self.r = rng
        self.clusters = clusters
        self.tokens = tokens
        self.known_rvs = ["0", "1", "2", "100"]

    def choice(self, xs):
        return self.r.choice(xs)

    def rand_bytes(self, n):
        return bytes(self.r.getrandbits(8) for _ in range(n))

    def weird_segment(self):
        r = self.r.random()
        if r < 0.15:
            return "a" * self.r.choice([64, 253, 254, 300, 1000, 5000, 20000])
        if r < 0.3:
            return "".join("%%%02X" % self.r.getrandbits(8) for _ in range(self.r.randint(1, 30)))
        if r < 0.4:
            return "%ff%fe%c0%af%ed%a0%80"
        if r < 0.5:
            return self.rand_bytes(self.r.randint(1, 20)).decode("latin-1")
        if r < 0.6:
            return self.choice(["..", ".", "", "%2e%2e", "%2F", "%00", "*", "~", "a b", "name?x=1", "#frag"])
        if r < 0.7:
            return "\u00e9\u4e2d\U0001F600"
        if r < 0.8:
            return "UPPER.case-Name_x"
        return "n" + str(self.r.randint(0, 50))

    def name(self):
        if self.r.random() < 0.6:
            return "obj-%d" % self.r.randint(0, 40)
        return self.weird_segment()

    def namespace(self):
        r = self.r.random()
        if r < 0.6:
            return FUZZ_NS
        if r < 0.75:
            return self.choice(["default", "kube-system", "meshcert", "nosuchns"])
        return self.weird_segment()

    def path(self):
        r = self.r.random()
        cluster = self.choice(self.clusters) if self.r.random() < 0.92 else self.weird_segment()
        prefix = "/clusters/" + cluster if self.r.random() < 0.95 else ""
        if r < 0.07:
            tail = self.choice(["/api", "/apis", "/version", "/openapi/v2", "/openapi/v3",
                                "/openapi/v3/api/v1", "/openapi/v3/apis/certificates.smh.solo.io/v1alpha2",
                                "/apis/certificates.smh.solo.io", "/apis/certificates.smh.solo.io/v1alpha2",
                                "/api/v1", "/healthz", "/livez", "/readyz", "/", "", "/metrics",
                                "/openapi/v3/apis/%ff/v1", "/apis/" + "g" * 2000])
            return prefix + tail
        if r < 0.1:  # deep
            return prefix + "/api/v1" + "/x" * self.r.choice([50, 500, 5000])
        group, version, plural, namespaced = self.choice(RESOURCES)
        base = "/api/" + version if not group else "/apis/%s/%s" % (group, version)
        if self.r.random() < 0.05:
            base = self.choice(["/api/v2", "/apis/%s" % group, "/apis//v1", "/api//v1"])
        p = prefix + base
        if namespaced and self.r.random() < 0.85:
            p += "/namespaces/" + self.namespace()
        p += "/" + (plural if self.r.random() < 0.93 else self.weird_segment())
        if self.r.random() < 0.6:
            p += "/" + self.name()
            if self.r.random() < 0.15:
                p += "/" + self.choice(["status", "scale", "log", "exec", "finalize", "x", "status/x"])
        if self.r.random() < 0.05:
            p += "/"
        if self.r.random() < 0.05:
            p = p.replace("/", "//", 1)
        return p

    def query(self, method):
        params = []
        pool = [
            ("watch", ["true", "1", "false", "yes", "", "%ff"]),
            ("resourceVersion", ["0", "", "-1", "abc", "99999999999999999999999", "1"] + self.known_rvs[-5:]),
            ("resourceVersionMatch", ["NotOlderThan", "Exact", "bogus"]),
            ("timeoutSeconds", ["0", "1", "2", "-5", "x", "999999999999"]),
            ("dryRun", ["All", "all", "", "Bogus", "All,All"]),
            ("fieldManager", ["fuzzer", "", "m" * 200, "\xff\xfe", "kubectl-client-side-apply", "%00"]),
            ("force", ["true", "false", "maybe"]),
            ("labelSelector", ["app=w1", "app in (w1,w2)", "!tier", "app!=w1,tier", "a in (b", "==",
                               "app notin ()", "x" * 70 + "=y", "a=b,c=d,e=f,g=h", "a in (" + ",".join("v%d" % i for i in range(500)) + ")",
                               "(((", "app=%ff", "tier,tier,tier", "1nvalid=/"]),
            ("fieldSelector", ["metadata.name=obj-1", "metadata.namespace!=fuzz", "spec.x=y", "=", "a==b"]),
            ("limit", ["1", "0", "-1", "500", "abc", "18446744073709551616"]),
            ("continue", ["", "abc", base64.b64encode(b'{"rv":1,"start":"z"}').decode(), "%%%", "e30="]),
            ("allowWatchBookmarks", ["true", "false", "x"]),
            ("sendInitialEvents", ["true", "false"]),
            ("propagationPolicy", ["Foreground", "Background", "Orphan", "x"]),
            ("gracePeriodSeconds", ["0", "-1", "x"]),
            ("pretty", ["true", "1"]),
            ("fieldValidation", ["Strict", "Warn", "Ignore", "x"]),
            ("as", ["Table"]),
        ]
        for _ in range(self.r.choice([0, 0, 1, 1, 2, 3, 5])):
            k, vals = self.choice(pool)
            params.append((k, self.choice(vals)))
        if self.r.random() < 0.05:
            params.append((self.weird_segment(), self.weird_segment()))
        if self.r.random() < 0.03:
            params += [("labelSelector", "a=b")] * 200
        if not params:
            return ""
        parts = []
        for k, v in params:
            if self.r.random() < 0.85:
                parts.append(urllib.parse.quote(k, safe="") + "=" + urllib.parse.quote(v, safe=",=!()"))
            else:
                parts.append(k if self.r.random() < 0.5 else k + "=" + v)
        return "?" + "&".join(parts)

    def headers(self, cluster_hint):
        h = []
        tok = self.tokens.get(cluster_hint) or self.tokens[self.choice(self.clusters)]
        r = self.r.random()
        if r < 0.75:
            h.append((b"Authorization", b"Bearer " + tok.encode()))
        elif r < 0.8:
            h.append((b"Authorization", self.choice([b"bearer ", b"BEARER ", b"Bearer  ", b"Bearer\t"]) + tok.encode()))
        elif r < 0.85:
            h.append((b"Authorization", b"Bearer " + self.tokens[self.choice(self.clusters)].encode() + b"x"))
        elif r < 0.88:
            h.append((b"Authorization", b"Basic " + base64.b64encode(b"admin:admin")))
        elif r < 0.9:
            h.append((b"Authorization", b"Bearer " + b"t" * 100000))
        elif r < 0.92:
            h.append((b"Authorization", b"Bearer " + tok.encode()))
            h.append((b"Authorization", b"Bearer other"))
        if self.r.random() < 0.85:
            ct = self.choice(CONTENT_TYPES)
            h.append((b"Content-Type", ct.encode()))
        if self.r.random() < 0.4:
            h.append((b"Accept", self.choice(ACCEPTS).encode()))
        if self.r.random() < 0.03:
            h.append((b"X-Huge", b"h" * self.r.choice([8000, 16000, 70000, 200000])))
        if self.r.random() < 0.03:
            h += [(b"X-Many-%d" % i, b"v") for i in range(self.r.choice([100, 1000]))]
        if self.r.random() < 0.02:
            h.append((b"X-Bytes", self.rand_bytes(30).replace(b"\r", b"").replace(b"\n", b"")))
        if self.r.random() < 0.02:
            h.append((b"Impersonate-User", b"system:admin"))
        if self.r.random() < 0.02:
            h.append((b"Expect", b"100-continue"))
        if self.r.random() < 0.02:
            h.append((b"Content-Encoding", b"gzip"))
        if self.r.random() < 0.03:
            h.append((b"Accept-Encoding", b"gzip, deflate, br"))
        return h

    def near_valid(self):
        """A request the server should accept, or nearly: the right verb for
        the path, a valid token and content type, a seed body with at most one
        mutation, a few query parameters. Reaches the handlers' success paths,
        which fully mutated requests rarely do."""
        cluster = self.choice(self.clusters)
        g, v, plural, obj = self.choice(seed_objects(FUZZ_NS, self.r.randint(0, 60)))
        base = "/clusters/%s%s/namespaces/%s/%s" % (cluster, "/api/v1" if not g else "/apis/%s/%s" % (g, v),
                                                   FUZZ_NS, plural)
        name = obj["metadata"]["name"]
        headers = [(b"Authorization", b"Bearer " + self.tokens[cluster].encode())]
        op = self.r.random()
        ct = "application/json"
        if op < 0.3:
            method, path = "POST", base
        elif op < 0.45:
            method, path = "PUT", base + "/" + name
        elif op < 0.55:
            method, path, ct = "PATCH", base + "/" + name, "application/merge-patch+json"
            obj = {"metadata": {"labels": {"p": str(self.r.randint(0, 9))}}}
        elif op < 0.65:
            method, path, ct = "PATCH", base + "/" + name, "application/apply-patch+yaml"
        elif op < 0.7:
            method, path, ct = "PATCH", base + "/" + name, "application/json-patch+json"
            obj = [{"op": "add", "path": "/metadata/labels/j", "value": "1"}]
        elif op < 0.8:
            method, path = "DELETE", base + "/" + name
            obj = None
        else:
            method, path = "GET", base + ("/" + name if self.r.random() < 0.5 else "")
            obj = None
        if method == "POST" and self.r.random() < 0.3:
            obj["metadata"] = {"generateName": "gen-", "namespace": FUZZ_NS}
        q = ""
        if method == "PATCH" and "apply" in ct:
            q = "?fieldManager=" + self.choice(["a", "b", "kubectl"]) + self.choice(["", "&force=true"])
        elif self.r.random() < 0.3:
            q = self.query(method)
        body = None
        if obj is not None:
            if self.r.random() < 0.3:
                obj = self.mutate_json(obj)
            body = (to_yaml(obj) if "yaml" in ct else json.dumps(obj)).encode()
        headers.append((b"Content-Type", ct.encode()))
        return method, path, q, headers, ct, body

    # bodies
    def seed_body(self, ns):
        _, _, _, obj = self.choice(seed_objects(ns, self.r.randint(0, 40)))
        return obj

    def mutate_json(self, obj, depth=0):
        if depth > 6:
            return obj
        r = self.r.random()
        if isinstance(obj, dict) and obj:
            k = self.choice(list(obj.keys()))
            if r < 0.4:
                obj[k] = self.mutate_json(obj[k], depth + 1)
            elif r < 0.5:
                del obj[k]
            elif r < 0.7:
                obj[k] = self.wrong_value()
            elif r < 0.8:
                obj[self.weird_segment()[:100]] = self.wrong_value()
            else:
                obj[k] = self.mutate_json(obj[k], depth + 1)
            return obj
        if isinstance(obj, list):
            if obj and r < 0.5:
                i = self.r.randrange(len(obj))
                obj[i] = self.mutate_json(obj[i], depth + 1)
            else:
                obj.append(self.wrong_value())
            return obj
        return self.wrong_value()

    def wrong_value(self):
        return self.choice([None, True, 0, -1, 1e308, 2 ** 64, -2 ** 63, 1.5, "", "x" * 300, [], {},
                            {"a": {"b": {"c": 1}}}, ["a", 1, None], "\u0000", "\ud800", "2026-13-45T99:99:99Z",
                            "fuzz", "obj-1", {"name": 5}, "-", "a" * 70, "A_B", "\u00ff" * 10])

    def body(self, method, path, ct):
        ns = FUZZ_NS
        r = self.r.random()
        if r < 0.04:
            return b""
        if r < 0.07:
            return self.rand_bytes(self.r.randint(1, 2000))
        if r < 0.10:
            d = self.r.choice([100, 1000, 10000, 100000])
            return self.choice([b"[" * d + b"]" * d, b'{"a":' * d + b"1" + b"}" * d, b"[" * d])
        if r < 0.13:  # huge fields
            obj = self.seed_body(ns)
            n = self.r.choice([100000, 1 << 20, (3 << 20) - 200, 3 << 20, 4 << 20])
            obj.setdefault("metadata", {}).setdefault("annotations", {})["big"] = "z" * n
            return json.dumps(obj).encode()
        if r < 0.16:  # json-patch documents
            ops = [{"op": self.choice(["add", "remove", "replace", "move", "copy", "test", "bogus"]),
                    "path": self.choice(["/metadata/labels/a", "/data/k", "/", "", "/spec/hosts/-", "/a~2b", "/metadata/labels/~1x",
                                         "/data/" + "k" * 300, "/spec/hosts/99999999999"]),
                    "value": self.wrong_value(), "from": self.choice(["/data/k", "/metadata", "/x"])}
                   for _ in range(self.r.randint(0, 6))]
            return json.dumps(ops).encode()
        if r < 0.19:  # YAML specials
            return self.choice([
                b"a: &x [1,2]\nb: *x\n",
                b"lol: &a [\"lol\",\"lol\",\"lol\",\"lol\"]\nlol2: &b [*a,*a,*a,*a]\nlol3: [*b,*b,*b,*b]\n",
                b"---\napiVersion: v1\n---\nkind: ConfigMap\n",
                b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y1, namespace: fuzz}\ndata: {k: !!binary aGVsbG8=}\n",
                b"{" * 200 + b"}" * 200,
                b"- " * 500 + b"x\n",
                b"key: \"\\ud800\"\n",
                b"? complex\n: key\n",
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y2\n  namespace: fuzz\ndata:\n  k: 1e999\n",
                b"\t\tbad: indent\n",
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: obj-1\n  namespace: fuzz\n  labels: {a: b}\n",
                b"%YAML 1.1\n%TAG ! tag:x,2000:\n--- !foo\na: b\n",
                b"\xff\xfe\x00a\x00:\x00 \x00b",
            ])
        if r < 0.21:  # protobuf-ish
            return b"k8s\x00" + self.rand_bytes(self.r.randint(0, 300))
        obj = self.seed_body(ns)
        if self.r.random() < 0.3 and "merge-patch" in ct:
            obj = {"metadata": {"labels": {"p": self.choice(["1", None, "x" * 64])}}, "data": {"k": None}}
        for _ in range(self.r.choice([0, 1, 1, 2, 3, 6])):
            obj = self.mutate_json(obj)
        if "yaml" in ct and self.r.random() < 0.8:
            data = to_yaml(obj).encode()
        else:
            data = json.dumps(obj, ensure_ascii=self.r.random() < 0.5).encode("utf-8", "surrogatepass")
        r2 = self.r.random()
        if r2 < 0.1 and data:  # truncate
            data = data[: self.r.randrange(len(data))]
        elif r2 < 0.2 and data:  # flip bytes
            b = bytearray(data)
            for _ in range(self.r.randint(1, 5)):
                b[self.r.randrange(len(b))] = self.r.getrandbits(8)
            data = bytes(b)
        elif r2 < 0.23:
            data = data.replace(b'"k"', b'"k", "k"', 1) if b'"k"' in data else data + b"{}"
        elif r2 < 0.26:
            data = data.replace(b"obj-", b"\xc3\x28obj-", 1)
        return data


def is_canary_write(method, path_bytes):
    """The fuzzer never writes the canary namespace, nor whole collections
    above a namespace (a DELETE there could remove it)."""
    if method.upper() not in WRITE_METHODS and method not in WRITE_METHODS:
        return False
    p = path_bytes.decode("latin-1")
    decoded = p
    for _ in range(3):
        decoded = urllib.parse.unquote(decoded, errors="replace")
    low = (p + " " + decoded).lower()
    if "canary" in low or "/.." in decoded or "/./" in decoded:
        return True
    if method.upper() not in ("POST",):
        segs = [s for s in decoded.split("?")[0].split("/")]
        if "namespaces" not in segs:
            return method.upper() == "DELETE"
        i = segs.index("namespaces")
        if i + 1 >= len(segs) or not segs[i + 1]:
            return True
        if method.upper() == "DELETE" and i + 2 >= len(segs):
            return True  # a namespace itself
    return False


# ---------------------------------------------------------------- canary

class Canary:
    """Valid writes only, in namespace canary; keeps the acknowledged state."""

    def __init__(self, conn, clusters, tokens, rng):
        self.conn, self.clusters, self.tokens, self.r = conn, clusters, tokens, rng
        self.expected = {}   # (cluster, name) -> data value, or None when deleted
        self.uncertain = set()
        self.acks = 0
        self.unacked = 0
        self.seq = 0
        self.errors = []

    def req(self, cluster, method, path, body=None, ct="application/json"):
        h = [(b"Authorization", b"Bearer " + self.tokens[cluster].encode())]
        if body is not None:
            h.append((b"Content-Type", ct.encode()))
        full = "/clusters/%s/api/v1/namespaces/%s/configmaps%s" % (cluster, CANARY_NS, path)
        try:
            status, data = self.conn.exchange(build_request(method, full, "127.0.0.1", h, body), timeout=15)
        except Exception:
            return 0, b""
        return status, data

    def step(self):
        cluster = self.r.choice(self.clusters)
        names = [n for (c, n) in self.expected if c == cluster and self.expected[(c, n)] is not None]
        self.seq += 1
        value = "v%d" % self.seq
        op = self.r.random()
        if op < 0.4 or not names:
            name = "canary-%d" % self.seq
            body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": name, "namespace": CANARY_NS}, "data": {"v": value}}).encode()
            status, data = self.req(cluster, "POST", "", body)
            ok = status == 201
        else:
            name = self.r.choice(names)
            if op < 0.55:
                body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": name, "namespace": CANARY_NS}, "data": {"v": value}}).encode()
                status, data = self.req(cluster, "PUT", "/" + name, body)
                ok = status == 200
            elif op < 0.7:
                status, data = self.req(cluster, "PATCH", "/" + name, json.dumps({"data": {"v": value}}).encode(),
                                        "application/merge-patch+json")
                ok = status == 200
            elif op < 0.85:
                body = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  v: %s\n"
                        % (name, CANARY_NS, value)).encode()
                status, data = self.req(cluster, "PATCH", "/%s?fieldManager=canary&force=true" % name, body,
                                        "application/apply-patch+yaml")
                ok = status in (200, 201)
            else:
                status, data = self.req(cluster, "DELETE", "/" + name)
                ok = status == 200
                value = None
        key = (cluster, name)
        if ok:
            self.expected[key] = value
            self.acks += 1
            self.uncertain.discard(key)
        elif status in (0, -1) or status >= 500:
            # no answer: the write may or may not have happened
            self.unacked += 1
            self.uncertain.add(key)
        else:
            self.unacked += 1
            if len(self.errors) < 20:
                self.errors.append("%s %s on %s answered %d: %s" % (
                    "write", name, cluster, status, reply_body(data)[:300].decode("latin-1")))

    def save(self, path):
        out = {"expected": [[c, n, v] for (c, n), v in self.expected.items() if (c, n) not in self.uncertain],
               "uncertain": len(self.uncertain), "acks": self.acks, "unacked": self.unacked, "errors": self.errors}
        with open(path, "w") as f:
            json.dump(out, f)


# ---------------------------------------------------------------- runner

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_status = collections.Counter()
        self.by_method = collections.Counter()
        self.requests = 0
        self.conn_errors = collections.Counter()
        self.watches = 0
        self.slow = 0
        self.health_ok = 0
        self.health_fail = []
        self.server_gone = None
        self.guarded = 0
        self.stalled = 0  # replies that took the whole timeout (not watches, not slow readers)
        self.stalled_sample = []
        self.s500 = []
        self.rss = []  # (seconds, VmRSS kB) at each health check
        self.t0 = time.monotonic()

    def add(self, method, status, what=None):
        with self.lock:
            self.requests += 1
            self.by_status[status] += 1
            self.by_method[method if len(method) < 12 and method.isprintable() else "(weird)"] += 1
            if status >= 500 and len(self.s500) < 30 and what:
                self.s500.append(what)


def fuzz_worker(args, stats, stop, seed, ctx, host, port, tokens):
    rng = random.Random(seed)
    fz = Fuzzer(rng, args.clusters, tokens)
    conn = Conn(host, port, ctx)
    while not stop.is_set():
        if rng.random() < args.valid_share:
            method, path, q, headers, ct, body = fz.near_valid()
        else:
            method = fz.choice(METHODS)
            path = fz.path()
            q = fz.query(method)
            cluster = path.split("/")[2] if path.startswith("/clusters/") else ""
            headers = fz.headers(cluster)
            ct = next((v.decode("latin-1") for k, v in headers if k == b"Content-Type"), "")
            body = fz.body(method, path, ct) if method.upper() in WRITE_METHODS or rng.random() < 0.05 else None
        framing_lie = False
        if rng.random() < 0.02 and body:
            framing_lie = True
            headers.append((b"Content-Length", str(len(body) + rng.choice([-5, 1, 1000, 2 ** 40])).encode()))
        if rng.random() < 0.02 and body is not None:
            framing_lie = True
            headers.append((b"Transfer-Encoding", b"chunked"))
            body = rng.choice([b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n", b"zz\r\nabc\r\n", b"5\r\nab"])
        try:
            full = (path + q).encode("latin-1")
        except UnicodeEncodeError:
            full = (path + q).encode("utf-8", "surrogateescape")
        if args.avoid_known_crashes:  # see bench/RESULTS.md, soak-fuzz findings
            if method == "GET" and len(full.split(b"?")[0]) > 900:
                full = full[:900]  # 1: discovery.c reads an unset segment
            if not body and "yaml" in ct.lower():
                body = b"a: b\n"  # 2: libyaml asserts on an empty YAML body
        if is_canary_write(method, full) or (body and b"canary" in body.lower()):
            stats.guarded += 1
            method = "GET"
        watch = b"watch=" in full and b"watch=false" not in full
        req = build_request(method, full, host, headers, body)
        try:
            slow = rng.random() < 0.02
            t0 = time.monotonic()
            status, data = conn.exchange(req, timeout=0.5 if watch else 5, slow=slow)
            if time.monotonic() - t0 > 4 and not slow and not framing_lie:
                with stats.lock:
                    stats.stalled += 1
                    if len(stats.stalled_sample) < 10:
                        stats.stalled_sample.append("%s %s (%d header lines, %s body bytes)" % (
                            method[:10], full[:120].decode("latin-1"), len(headers), len(body or b"")))
            if watch:
                with stats.lock:
                    stats.watches += 1
            if slow:
                with stats.lock:
                    stats.slow += 1
            if status >= 200 and status < 300 and b'"resourceVersion":"' in data[:4000]:
                i = data.find(b'"resourceVersion":"')
                rv = data[i + 19: data.find(b'"', i + 19)].decode("latin-1")
                if rv.isdigit():
                    fz.known_rvs = (fz.known_rvs + [rv])[-20:]
            stats.add(method, status, "%s %s -> %d %s" % (
                method[:10], full[:200].decode("latin-1"), status, reply_body(data)[:200].decode("latin-1")))
        except Exception as e:  # connection reset, TLS error, timeout
            stats.add(method, 0)
            with stats.lock:
                stats.conn_errors[type(e).__name__] += 1


def watch_holder(args, stats, stop, seed, ctx, host, port, tokens):
    """Holds up to 30 watches open, never or slowly reading them, drops them at random."""
    rng = random.Random(seed)
    conn = Conn(host, port, ctx)
    held = []
    while not stop.is_set():
        try:
            c = rng.choice(args.clusters)
            g, v, plural, namespaced = rng.choice(RESOURCES[:11])
            base = "/api/v1" if not g else "/apis/%s/%s" % (g, v)
            ns = "/namespaces/" + rng.choice([FUZZ_NS, "default", CANARY_NS]) if namespaced and rng.random() < 0.7 else ""
            q = "?watch=true&" + rng.choice(["resourceVersion=0", "allowWatchBookmarks=true", "labelSelector=app%3Dw1",
                                             "resourceVersion=1", "timeoutSeconds=5", "sendInitialEvents=true&resourceVersionMatch=NotOlderThan"])
            path = "/clusters/%s%s%s/%s%s" % (c, base, ns, plural, q)
            s = conn.open(5)
            s.sendall(build_request("GET", path, host, [(b"Authorization", b"Bearer " + tokens[c].encode())], None)
                      .replace(b"Connection: close\r\n", b""))
            if rng.random() < 0.5:
                s.settimeout(2)
                try:
                    s.recv(200)
                except Exception:
                    pass
            held.append((time.monotonic() + rng.uniform(1, 30), s))
            with stats.lock:
                stats.watches += 1
        except Exception as e:
            with stats.lock:
                stats.conn_errors["watch-" + type(e).__name__] += 1
        now = time.monotonic()
        keep = []
        for until, s in held:
            if until < now or len(held) > 30:
                try:
                    if rng.random() < 0.5:
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    s.close()
                except Exception:
                    pass
            else:
                keep.append((until, s))
        held = keep
        stop.wait(rng.uniform(0.1, 1.0))
    for _, s in held:
        try:
            s.close()
        except Exception:
            pass


def canary_worker(args, canary, stop):
    while not stop.is_set():
        canary.step()
        stop.wait(0.05)


def health_worker(args, stats, stop, ctx, host, port):
    conn = Conn(host, port, ctx)
    while not stop.wait(args.health_every):
        if not os.path.exists("/proc/%d" % args.pid):
            stats.server_gone = time.time()
            stop.set()
            return
        try:
            with open("/proc/%d/status" % args.pid) as f:
                rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            with stats.lock:
                stats.rss.append((round(time.monotonic() - stats.t0), rss))
        except (OSError, StopIteration, ValueError):
            pass
        try:
            status, _ = conn.exchange(build_request("GET", "/healthz", host, [], None), timeout=10)
        except Exception as e:
            status = "%s" % type(e).__name__
        with stats.lock:
            if status == 200:
                stats.health_ok += 1
            else:
                stats.health_fail.append("%s: %s" % (time.strftime("%H:%M:%S"), status))


def host_port(base):
    u = urllib.parse.urlsplit(base)
    return u.hostname, u.port


def cmd_run(args):
    host, port = host_port(args.base)
    ctx = tls_context(args.data_dir)
    tokens = tokens_of(args.data_dir, args.clusters)
    stats = Stats()
    stop = threading.Event()
    master = random.Random(args.seed)
    canary = Canary(Conn(host, port, ctx), args.clusters, tokens, random.Random(master.random()))
    threads = [threading.Thread(target=fuzz_worker, args=(args, stats, stop, master.random(), ctx, host, port, tokens), daemon=True)
               for _ in range(args.workers)]
    threads.append(threading.Thread(target=watch_holder, args=(args, stats, stop, master.random(), ctx, host, port, tokens), daemon=True))
    threads.append(threading.Thread(target=canary_worker, args=(args, canary, stop), daemon=True))
    threads.append(threading.Thread(target=health_worker, args=(args, stats, stop, ctx, host, port), daemon=True))
    for t in threads:
        t.start()
    start = time.monotonic()
    next_report = start + 60
    try:
        while not stop.wait(1):
            now = time.monotonic()
            if now - start >= args.seconds:
                break
            if now >= next_report:
                next_report += 60
                print("soak-fuzz: %4d s, %d requests, %d canary writes acknowledged, health %d ok / %d failed"
                      % (now - start, stats.requests, canary.acks, stats.health_ok, len(stats.health_fail)), flush=True)
    except KeyboardInterrupt:
        pass
    stop.set()
    for t in threads:
        t.join(30)
    canary.save(args.state)
    out = {
        "seconds": round(time.monotonic() - start, 1), "seed": args.seed, "requests": stats.requests,
        "by_status": {str(k): v for k, v in sorted(stats.by_status.items())},
        "by_method": dict(stats.by_method.most_common()),
        "connection_errors": dict(stats.conn_errors), "watches": stats.watches, "slow_readers": stats.slow,
        "stalled": stats.stalled, "stalled_sample": stats.stalled_sample,
        "guarded_writes_turned_into_gets": stats.guarded, "health_ok": stats.health_ok,
        "health_failed": stats.health_fail, "server_gone": stats.server_gone is not None,
        "replies_5xx_sample": stats.s500, "rss_kb": stats.rss, "canary_acknowledged": canary.acks, "canary_unacknowledged": canary.unacked,
        "canary_uncertain": len(canary.uncertain), "canary_errors": canary.errors,
    }
    with open(args.stats, "w") as f:
        json.dump(out, f, indent=1)
    return 0 if stats.server_gone is None and not stats.health_fail else 1


def api(conn, host, token, method, path, body=None, ct="application/json"):
    h = [(b"Authorization", b"Bearer " + token.encode())]
    if body is not None:
        h.append((b"Content-Type", ct.encode()))
    status, data = conn.exchange(build_request(method, path, host, h, body), timeout=30)
    return status, reply_body(data)


def cmd_seed(args):
    host, port = host_port(args.base)
    conn = Conn(host, port, tls_context(args.data_dir))
    tokens = tokens_of(args.data_dir, args.clusters)
    crd_dir = args.crds
    count = 0
    for c in args.clusters:
        t = tokens[c]
        for ns in (FUZZ_NS, CANARY_NS, "apps", "meshcert", "istio-system"):
            s, b = api(conn, host, t, "POST", "/clusters/%s/api/v1/namespaces" % c,
                       json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}).encode())
            if s not in (201, 409):
                print("seed: namespace %s on %s: %d %s" % (ns, c, s, b[:200]), file=sys.stderr)
                return 1
        for f in sorted(os.listdir(crd_dir)):
            with open(os.path.join(crd_dir, f), "rb") as fh:
                s, b = api(conn, host, t, "POST", "/clusters/%s/apis/apiextensions.k8s.io/v1/customresourcedefinitions" % c,
                           fh.read(), "application/yaml")
            if s not in (201, 409):
                print("seed: crd %s on %s: %d %s" % (f, c, s, b[:200]), file=sys.stderr)
                return 1
        time.sleep(0.5)
        for i in range(41):
            for g, v, plural, obj in seed_objects(FUZZ_NS, i):
                base = "/api/v1" if not g else "/apis/%s/%s" % (g, v)
                for attempt in range(20):
                    s, b = api(conn, host, t, "POST", "/clusters/%s%s/namespaces/%s/%s" % (c, base, FUZZ_NS, plural),
                               json.dumps(obj).encode())
                    if s != 404:
                        break
                    time.sleep(0.2)  # CRD not served yet
                if s not in (201, 409):
                    print("seed: %s %s on %s: %d %s" % (plural, obj["metadata"]["name"], c, s, b[:300]), file=sys.stderr)
                    return 1
                count += 1
        # a few big objects for the slow readers and lists
        for i in range(8):
            obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big-%d" % i, "namespace": FUZZ_NS},
                   "data": {"k": "b" * 200000}}
            s, b = api(conn, host, t, "POST", "/clusters/%s/api/v1/namespaces/%s/configmaps" % (c, FUZZ_NS),
                       json.dumps(obj).encode())
            count += s == 201
    print("soak-fuzz: seeded %d objects on %s" % (count, ",".join(args.clusters)))
    return 0


def cmd_verify(args):
    host, port = host_port(args.base)
    conn = Conn(host, port, tls_context(args.data_dir))
    tokens = tokens_of(args.data_dir, args.clusters)
    with open(args.state) as f:
        state = json.load(f)
    present = {}
    for c in args.clusters:
        s, b = api(conn, host, tokens[c], "GET", "/clusters/%s/api/v1/namespaces/%s/configmaps" % (c, CANARY_NS))
        if s != 200:
            print("verify: list canary on %s: %d" % (c, s), file=sys.stderr)
            return 1
        for item in json.loads(b)["items"]:
            present[(c, item["metadata"]["name"])] = (item.get("data") or {}).get("v")
    missing, wrong, resurrected, checked = [], [], [], 0
    for c, n, v in state["expected"]:
        checked += 1
        if v is None:
            if (c, n) in present:
                resurrected.append("%s/%s" % (c, n))
        elif (c, n) not in present:
            missing.append("%s/%s" % (c, n))
        elif present[(c, n)] != v:
            wrong.append("%s/%s: %s, expected %s" % (c, n, present[(c, n)], v))
    result = {"canary_checked": checked, "canary_missing": missing, "canary_wrong_value": wrong,
              "canary_deleted_but_present": resurrected}
    with open(args.stats, "w") as f:
        json.dump(result, f, indent=1)
    return 0 if not (missing or wrong or resurrected) else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["seed", "run", "verify"])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--base", required=True)
    p.add_argument("--clusters", required=True, type=lambda s: s.split(","))
    p.add_argument("--seconds", type=float, default=3600)
    p.add_argument("--pid", type=int, default=0)
    p.add_argument("--state", default="canary.json")
    p.add_argument("--stats", default="stats.json")
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--avoid-known-crashes", action="store_true",
                   help="step around the crashes the first soaks found (bench/RESULTS.md): "
                        "GET paths over 900 bytes, empty YAML bodies")
    p.add_argument("--valid-share", type=float, default=0.3,
                   help="share of near-valid requests (right verb, token and type; one mutation at most)")
    p.add_argument("--health-every", type=float, default=10)
    p.add_argument("--crds", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "crds"))
    args = p.parse_args()
    return {"seed": cmd_seed, "run": cmd_run, "verify": cmd_verify}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
